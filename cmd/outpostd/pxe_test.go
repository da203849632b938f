package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/cmd/internal/lab"
)

// markerInitrd builds a tiny initrd whose /init prints a marker and the
// kernel command line on the console, then powers off.
func markerInitrd(t *testing.T, dst string) {
	t.Helper()
	lab.RequireCmd(t, "busybox", "cpio", "gzip")
	root := t.TempDir()
	for _, d := range []string{"bin", "proc", "dev", "sys"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755)
	initScript := `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
echo "OUTPOST-MARKER up; cmdline: $(/bin/busybox cat /proc/cmdline)" > /dev/console
/bin/busybox poweroff -f
`
	os.WriteFile(filepath.Join(root, "init"), []byte(initScript), 0o755)
	cmd := exec.Command("sh", "-c", "find . | cpio -o -H newc --quiet | gzip -1 > "+dst)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initrd: %v\n%s", err, out)
	}
}

const pxeConfig = `
dhcp:
  router_advertisements: true
  chain_ipxe_roms: true
  subnets:
    - {prefix: 10.70.0.0/24, pool: 10.70.0.100-10.70.0.199, router: 10.70.0.1}
boot:
  kernel: kernel/vmlinuz
  initrds: [marker.cpio.gz]
  cmdline: console=ttyS0,115200 panic=-1
`

// TestPXEBoot boots real firmware from outpostd under QEMU (TCG): SeaBIOS
// with QEMU's iPXE ROM, and OVMF with EDK2's own PXE client. Each reaches
// the marker initrd through DHCP, TFTP and HTTP, and the API's timeline
// shows every step.
func TestPXEBoot(t *testing.T) {
	s := newSite(t, "10.70.0.1/24", pxeConfig)
	markerInitrd(t, filepath.Join(s.images, "marker.cpio.gz"))
	for _, tc := range []struct {
		name string
		fw   lab.Firmware
		mac  string
		want []string
	}{
		{"bios", lab.BIOS, "52:54:00:70:00:01", []string{
			"dhcp: DISCOVER -> OFFER 10.70.0.100 undionly.kpxe", "REQUEST -> ACK 10.70.0.100 undionly.kpxe",
			"tftp: RRQ undionly.kpxe sent",
			"REQUEST -> ACK 10.70.0.100 http://10.70.0.1/boot.ipxe",
			"http: script: linux (unknown machine: recon to ingest it)",
			"http: GET /images/kernel/vmlinuz", "http: GET /images/marker.cpio.gz"}},
		{"uefi", lab.UEFI, "52:54:00:70:00:02", []string{
			"dhcp: DISCOVER -> OFFER 10.70.0.", " ipxe.efi", "tftp: RRQ ipxe.efi sent",
			"http://10.70.0.1/boot.ipxe",
			"http: script: linux (unknown machine: recon to ingest it)",
			"http: GET /images/kernel/vmlinuz", "http: GET /images/marker.cpio.gz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := &lab.VM{Name: tc.name, Firmware: tc.fw, MACs: []string{tc.mac}, Taps: []string{s.net.AddTap(t)}, NS: s.net.NS}
			start := time.Now()
			p := vm.Start(t)
			p.WaitOutput(t, lab.BootTimeout, "OUTPOST-MARKER up")
			t.Logf("%s: power-on to marker in %.1fs", tc.name, time.Since(start).Seconds())
			console := p.Out.String()
			if !strings.Contains(console, "outpost.mode=recon") || !strings.Contains(console, "outpost.token=") {
				t.Fatalf("kernel command line lacks the recon arguments:\n%s", console)
			}
			tl := s.macTimeline(t, tc.mac)
			t.Logf("timeline of %s:\n%s", tc.mac, tl)
			for _, w := range tc.want {
				if !strings.Contains(tl, w) {
					t.Errorf("timeline lacks %q", w)
				}
			}
		})
	}
}
