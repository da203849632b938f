package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/cmd/internal/lab"
)

const clientsNet = `
dhcp:
  router_advertisements: false
  subnets:
    - {prefix: 10.66.0.0/24, pool: 10.66.0.100-10.66.0.199, router: 10.66.0.1, dns: [10.66.0.1]}
`

// hook is a dhclient/udhcpc script that logs what it was told and, for
// dhclient, puts the address on the interface, as dhclient-script would,
// so that the RELEASE can be sent.
func hook(t *testing.T) (script, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "hook.log")
	script = filepath.Join(dir, "hook.sh")
	body := "#!/bin/sh\necho \"reason=$reason ip=$new_ip_address file=$new_filename next=$new_next_server " +
		"op=$1 uip=$ip boot_file=$boot_file bootfile=$bootfile siaddr=$siaddr\" >> " + log + "\n" +
		"case \"$reason\" in BOUND|RENEW|REBIND|REBOOT) ip addr replace \"$new_ip_address/$new_subnet_mask\" dev \"$interface\";; esac\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, log
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, _ := os.ReadFile(p)
	return string(b)
}

// TestDhclient: ISC dhclient gets a lease, keeps it across an outpostd
// restart, and releases it.
func TestDhclient(t *testing.T) {
	lab.RequireCmd(t, "dhclient")
	s := newSite(t, "10.66.0.1/24", clientsNet)
	const mac = "52:54:00:aa:00:01"
	h := s.net.AddHost(t, mac)
	script, hookLog := hook(t)
	dir := t.TempDir()
	leaseFile, pidFile := filepath.Join(dir, "leases"), filepath.Join(dir, "pid")
	dhclient := func(args ...string) string {
		base := []string{"-4", "-1", "-v", "-sf", script, "-lf", leaseFile, "-pf", pidFile}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := h.Cmd(ctx, "dhclient", append(append(base, args...), "eth0")...).CombinedOutput()
		if err != nil {
			t.Fatalf("dhclient %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	stop := func() {
		// -x stops the daemon without releasing the lease.
		dhclient("-x")
	}

	out := dhclient()
	m := regexp.MustCompile(`bound to (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no lease:\n%s", out)
	}
	ip := m[1]
	if !strings.HasPrefix(ip, "10.66.0.1") || !strings.Contains(readFile(t, hookLog), "reason=BOUND ip="+ip) {
		t.Fatalf("bound to %s; hook saw:\n%s", ip, readFile(t, hookLog))
	}
	stop()
	if got := s.leases(t)[mac]; got != ip+" bound" {
		t.Fatalf("API lease for %s: %q, want %q", mac, got, ip+" bound")
	}

	s.restart(t, false)
	if got := s.leases(t)[mac]; got != ip+" bound" {
		t.Fatalf("after restart the API shows %q", got)
	}
	// dhclient starts from its lease file: INIT-REBOOT for the same address.
	out = dhclient()
	if !strings.Contains(out, "DHCPREQUEST for "+ip) || !strings.Contains(out, "bound to "+ip) {
		t.Fatalf("lease not kept across the restart:\n%s", out)
	}
	if strings.Contains(out, "DHCPNAK") {
		t.Fatalf("NAKed after restart:\n%s", out)
	}
	stop()

	t.Logf("dhclient -r:\n%s", dhclient("-r"))
	lab.WaitFor(t, 10*time.Second, "release recorded", func() bool { return s.leases(t)[mac] == ip+" released" })
	tl := s.macTimeline(t, mac)
	for _, want := range []string{"DISCOVER -> OFFER " + ip, "REQUEST -> ACK " + ip, "RELEASE " + ip} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}
}

// TestUdhcpcPXE: busybox udhcpc posing as PXE firmware is offered the
// right iPXE binary.
func TestUdhcpcPXE(t *testing.T) {
	lab.RequireCmd(t, "busybox")
	s := newSite(t, "10.67.0.1/24", strings.ReplaceAll(clientsNet, "10.66.", "10.67."))
	for _, tc := range []struct {
		mac, arch, class, want string
	}{
		{"52:54:00:bb:00:07", "0007", "PXEClient:Arch:00007:UNDI:003000", "ipxe.efi"},
		{"52:54:00:bb:00:00", "0000", "PXEClient:Arch:00000:UNDI:002001", "undionly.kpxe"},
	} {
		h := s.net.AddHost(t, tc.mac)
		script, log := hook(t)
		out := h.Run(t, "busybox", "udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "5", "-T", "1",
			"-s", script, "-V", tc.class, "-x", "0x5d:"+tc.arch, "-O", "bootfile", "-O", "tftp")
		got := readFile(t, log)
		if !strings.Contains(got, "op=bound") || !strings.Contains(got, "boot_file="+tc.want) || !strings.Contains(got, "bootfile="+tc.want) {
			t.Fatalf("%s: udhcpc was not offered %s:\n%s\n%s", tc.arch, tc.want, got, out)
		}
		if !strings.Contains(got, "siaddr=10.67.0.1") {
			t.Fatalf("next-server missing:\n%s", got)
		}
		if tl := s.macTimeline(t, tc.mac); !strings.Contains(tl, "OFFER") || !strings.Contains(tl, tc.want) {
			t.Fatalf("timeline:\n%s", tl)
		}
	}
}

func sha(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestTFTPClients: atftp, curl and tftp-hpa fetch the iPXE binaries, with
// and without blksize; traversal and writes are refused.
func TestTFTPClients(t *testing.T) {
	lab.RequireCmd(t, "atftp", "curl", "tftp")
	s := newSite(t, "10.68.0.1/24", strings.ReplaceAll(clientsNet, "10.66.", "10.68."))
	h := s.net.AddHost(t, "52:54:00:cc:00:01")
	lab.Run(t, "ip", "-n", h.NS, "addr", "add", "10.68.0.50/24", "dev", "eth0")
	out := t.TempDir()
	srv := "10.68.0.1"
	ipxe := filepath.Join(imagesDir(t), "ipxe")

	h.Run(t, "atftp", "--option", "blksize 1428", "--option", "tsize enable", "-g", "-r", "undionly.kpxe", "-l", filepath.Join(out, "a"), srv)
	h.Run(t, "curl", "-sS", "--tftp-blksize", "1428", "-o", filepath.Join(out, "b"), "tftp://"+srv+"/ipxe.efi")
	h.Run(t, "tftp", "-m", "binary", srv, "-c", "get", "snponly.efi", filepath.Join(out, "c"))
	for f, src := range map[string]string{"a": "undionly.kpxe", "b": "ipxe.efi", "c": "snponly.efi"} {
		if sha(t, filepath.Join(out, f)) != sha(t, filepath.Join(ipxe, src)) {
			t.Errorf("%s differs from images/ipxe/%s", f, src)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"atftp", "-g", "-r", "../../../../etc/hostname", "-l", filepath.Join(out, "t1"), srv},
		{"atftp", "-g", "-r", "/../kernel/vmlinuz", "-l", filepath.Join(out, "t2"), srv},
		{"curl", "-sS", "-o", filepath.Join(out, "t3"), "tftp://" + srv + "/..%2F..%2Fetc%2Fhostname"},
	} {
		o, err := h.Cmd(ctx, args[0], args[1:]...).CombinedOutput()
		if err == nil {
			t.Errorf("%v succeeded: %s", args, o)
		}
	}
	for _, f := range []string{"t1", "t2", "t3"} {
		if b, err := os.ReadFile(filepath.Join(out, f)); err == nil && len(b) > 0 {
			t.Errorf("traversal fetched %d bytes into %s", len(b), f)
		}
	}
	os.WriteFile(filepath.Join(out, "up"), []byte("payload"), 0o644)
	if o, err := h.Cmd(ctx, "atftp", "-p", "-r", "uploaded", "-l", filepath.Join(out, "up"), srv).CombinedOutput(); err == nil {
		t.Errorf("write accepted: %s", o)
	}
	if _, err := os.Stat(filepath.Join(ipxe, "uploaded")); err == nil {
		t.Error("a write request created a file")
	}
	// Every transfer is in the timeline of the host's MAC? The host has no
	// lease, so the events are kept by address; the metrics count them.
	var metrics string
	{
		o, err := s.net.Cmd(ctx, "curl", "-sS", "-H", "Authorization: Bearer "+s.token, "http://"+srv+"/metrics").CombinedOutput()
		if err != nil {
			t.Fatal(err)
		}
		metrics = string(o)
	}
	for _, want := range []string{`outpost_tftp_requests_total{result="ok"} 3`, `outpost_tftp_requests_total{result="refused"}`, `outpost_tftp_requests_total{result="refused_write"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
