package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/cmd/internal/lab"
)

// The appliance lab: a management network (the test host is 192.168.77.1)
// and a provisioning network, each a bridge in one namespace. VM 1 boots
// the appliance image with a NIC on each; VM 2 is a server on the
// provisioning network.
const (
	mgmtMAC   = "52:54:00:0a:00:01"
	provMAC   = "52:54:00:0b:00:01"
	serverMAC = "52:54:00:0c:00:01"
	mgmtIP    = "192.168.77.10"
	provIP    = "10.77.0.1"
)

type applianceLab struct {
	net      *lab.Net
	mgmtTap  string
	provTap  string
	kernel   string
	initrd   string
	http     *http.Client
	token    string
	vm       *lab.Proc
	console  io.WriteCloser
	bootedAt time.Time
}

func newApplianceLab(t *testing.T) *applianceLab {
	t.Helper()
	lab.RequireRoot(t)
	root, err := lab.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "images", "appliance")
	l := &applianceLab{kernel: filepath.Join(dir, "vmlinuz"), initrd: filepath.Join(dir, "initramfs.cpio.zst")}
	for _, f := range []string{l.kernel, l.initrd} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v: build the appliance image first (make images)", err)
		}
	}
	l.net = lab.NewNet(t, "192.168.77.1/24")
	l.net.AddBridge(t, "prov")
	l.mgmtTap = l.net.AddTap(t)
	l.provTap = l.net.AddTapOn(t, "prov")
	l.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: lab.DialIn(l.net.NS),
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return l
}

// boot starts VM 1 on disk with the given kernel command line extra.
func (l *applianceLab) boot(t *testing.T, disk, cmdline string) {
	t.Helper()
	vm := &lab.VM{Name: "outpost", NS: l.net.NS, MACs: []string{mgmtMAC, provMAC}, Taps: []string{l.mgmtTap, l.provTap},
		MemMB: 1024, Disks: []string{disk}, Kernel: l.kernel, Initrd: l.initrd,
		Append: "console=ttyS0 earlyprintk=ttyS0 " + cmdline}
	l.bootedAt = time.Now()
	l.vm, l.console = vm.StartConsole(t)
}

// powerOff cuts VM 1's power: nothing in its page cache reaches the disk.
func (l *applianceLab) powerOff() { l.vm.Kill() }

// waitConsole waits for s on the serial console.
func (l *applianceLab) waitConsole(t *testing.T, d time.Duration, s string) {
	t.Helper()
	l.vm.WaitOutput(t, d, s)
}

// typeLine types a command at the console's shell.
func (l *applianceLab) typeLine(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(l.console, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// ask types a command that prints marker=VALUE and returns VALUE.
func (l *applianceLab) ask(t *testing.T, marker, cmd string) string {
	t.Helper()
	// The shell redraws its line with escape sequences; the answer ends one.
	re := regexp.MustCompile(`(?m)` + marker + `=([A-Za-z0-9._+/-]+)\r?$`)
	start := len(l.vm.Out.String())
	l.typeLine(t, fmt.Sprintf("echo %s=$(%s)", marker, cmd))
	var v string
	lab.WaitFor(t, 30*time.Second, "the console to answer "+marker, func() bool {
		if m := re.FindStringSubmatch(l.vm.Out.String()[start:]); m != nil {
			v = m[1]
		}
		return v != ""
	})
	return v
}

func (l *applianceLab) api(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "https://"+mgmtIP+path, r)
	if l.token != "" {
		req.Header.Set("Authorization", "Bearer "+l.token)
	}
	resp, err := l.http.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
	return resp.StatusCode
}

// healthy reports whether outpostd answers on the management network:
// before login an answer that asks for credentials counts.
func healthy(t *testing.T, l *applianceLab) bool {
	code := l.api(t, "GET", "/api/v1/health", nil, nil)
	return code == 200 || l.token == "" && code == 401
}

// noDHCP checks that nobody answers DHCP on the provisioning network.
func noDHCP(t *testing.T, h *lab.Host) {
	t.Helper()
	out, err := h.Cmd(lab.Context(t, 30*time.Second), "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "3", "-T", "1", "-s", "/bin/true").CombinedOutput()
	if err == nil {
		t.Fatalf("a DHCP server answered on the provisioning network of an unconfigured box:\n%s", out)
	}
}

func sha(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func blankDisk(t *testing.T, mb int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.raw")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, mb<<20); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestApplianceRefusesForeignDisk: a data disk that holds someone's
// filesystem is never formatted, even when the command line names it.
func TestApplianceRefusesForeignDisk(t *testing.T) {
	l := newApplianceLab(t)
	disk := blankDisk(t, 256)
	lab.Run(t, "mkfs.ext4", "-q", "-L", "scratch", disk)
	before := sha(t, disk)
	probe := l.net.AddHostOn(t, "prov", "")
	l.boot(t, disk, "outpost.format=/dev/vda")
	l.waitConsole(t, lab.BootTimeout, `not formatting /dev/vda: it holds an ext2/3/4 filesystem labelled "scratch"`)
	l.waitConsole(t, time.Minute, "mode        unconfigured")
	l.waitConsole(t, time.Minute, "to configure: outpost-init configure -h")
	noDHCP(t, probe)
	l.powerOff()
	if after := sha(t, disk); after != before {
		t.Fatal("the foreign disk was changed")
	}
	t.Log("foreign ext4 disk left untouched; the box came up unconfigured and served no DHCP")
}

// TestAppliance boots the appliance on a blank data disk, configures it
// from the console, provisions a second VM through it, and checks
// supervision and persistence across a power cut.
func TestAppliance(t *testing.T) {
	l := newApplianceLab(t)
	disk := blankDisk(t, 512)
	probe := l.net.AddHostOn(t, "prov", "")

	// First boot: the blank disk named on the command line is formatted;
	// with no configuration the box serves nothing.
	l.boot(t, disk, "outpost.format=/dev/vda")
	l.waitConsole(t, lab.BootTimeout, "data: /dev/vda formatted as OUTPOST-DATA")
	l.waitConsole(t, time.Minute, "data: /dev/vda mounted on /var/lib/outpost")
	l.waitConsole(t, time.Minute, "mode        unconfigured")
	noDHCP(t, probe)

	// A technician configures it at the console.
	l.waitConsole(t, time.Minute, "Tools: outpost, outpost tui")
	l.typeLine(t, "")
	time.Sleep(2 * time.Second)
	l.typeLine(t, "outpost-init configure -site lab1 -hostname outpost-lab -mgmt "+mgmtMAC+" -mgmt-address "+mgmtIP+"/24 -mgmt-gateway 192.168.77.1 -prov "+provMAC+" -prov-address "+provIP+"/16")
	l.waitConsole(t, time.Minute, "wrote /var/lib/outpost/outpost.yaml")
	l.waitConsole(t, 2*time.Minute, "outpostd ready")
	lab.WaitFor(t, time.Minute, "the API over the management network", func() bool { return healthy(t, l) })
	pw := l.ask(t, "PW", "cat /var/lib/outpost/initial-admin-password")
	var login struct {
		Token string `json:"token"`
	}
	if code := l.api(t, "POST", "/api/v1/login", map[string]string{"user": "admin", "password": pw}, &login); code != 200 {
		t.Fatalf("login: %d", code)
	}
	l.token = login.Token

	// VM 2 PXE-boots from the appliance and is ingested.
	srvTap := l.net.AddTapOn(t, "prov")
	server := &lab.VM{Name: "server", NS: l.net.NS, MACs: []string{serverMAC}, Taps: []string{srvTap}, Serial: "APPL-SRV-1", MemMB: 512}
	pxeStart := time.Now()
	srv := server.Start(t)
	var ms struct {
		Machines []struct {
			ID     int64  `json:"id"`
			Serial string `json:"serial"`
			State  string `json:"state"`
		} `json:"machines"`
	}
	lab.WaitFor(t, 6*time.Minute, "VM 2 in the inventory", func() bool {
		l.api(t, "GET", "/api/v1/machines?serial=APPL-SRV-1", nil, &ms)
		return len(ms.Machines) == 1 && ms.Machines[0].State == "ready"
	})
	t.Logf("VM 2 PXE-booted through the appliance and was ingested in %s", time.Since(pxeStart).Round(time.Second))
	srv.Kill()
	id := ms.Machines[0].ID

	// Supervision: an acknowledged change, then outpostd killed.
	if code := l.api(t, "POST", fmt.Sprintf("/api/v1/machines/%d/state", id), map[string]string{"state": "frozen", "reason": "appliance test"}, nil); code != 200 {
		t.Fatalf("freeze: %d", code)
	}
	pid := l.ask(t, "PID", "cat /run/outpost/outpostd.pid")
	if _, err := strconv.Atoi(pid); err != nil {
		t.Fatalf("pid %q", pid)
	}
	killed := time.Now()
	l.typeLine(t, "kill -9 "+pid)
	l.waitConsole(t, 10*time.Second, "outpostd was killed by signal 9")
	l.waitConsole(t, 10*time.Second, "outpost: outpostd started (pid ")
	restarted := time.Since(killed)
	lab.WaitFor(t, 30*time.Second, "outpostd back", func() bool { return healthy(t, l) })
	serving := time.Since(killed)
	if restarted > 5*time.Second {
		t.Fatalf("outpostd was restarted %s after kill -9; want under 5s", restarted)
	}
	t.Logf("outpostd killed with SIGKILL: running again after %s, answering the API over the management network after %s (TCG)",
		restarted.Round(10*time.Millisecond), serving.Round(10*time.Millisecond))
	var m struct {
		State string `json:"state"`
	}
	if l.api(t, "GET", fmt.Sprintf("/api/v1/machines/%d", id), nil, &m); m.State != "frozen" {
		t.Fatalf("after the kill the machine is %q, not frozen", m.State)
	}

	// Persistence: cut the power and boot again, opt-in still on the
	// command line; the disk now holds the box's data and is kept.
	idle := l.rss(t)
	l.powerOff()
	l.boot(t, disk, "outpost.format=/dev/vda")
	offer := l.firstOffer(t, probe)
	t.Logf("boot to first DHCP offer on the provisioning network: %s (TCG)", offer.Round(100*time.Millisecond))
	l.waitConsole(t, time.Minute, "data: data partition /dev/vda (label OUTPOST-DATA)")
	lab.WaitFor(t, time.Minute, "the API after the reboot", func() bool { return healthy(t, l) })
	if strings.Contains(l.vm.Out.String(), "formatted as") {
		t.Fatal("the data disk was formatted again")
	}
	if l.api(t, "GET", fmt.Sprintf("/api/v1/machines/%d", id), nil, &m); m.State != "frozen" {
		t.Fatalf("after the reboot VM 2 is %q", m.State)
	}
	t.Log("after a power cut and reboot the inventory still holds VM 2, frozen")

	// Memory: idle, and during a burst of 1,000 DHCP clients.
	t.Logf("outpostd RSS idle: %.1f MiB (before reboot %.1f MiB)", float64(l.rss(t))/(1<<20), float64(idle)/(1<<20))
	peak := l.burst(t, probe, 1000)
	t.Logf("outpostd RSS peak during a 1,000-client DHCP burst: %.1f MiB", float64(peak)/(1<<20))
}

// firstOffer waits until a DHCP client on the provisioning network gets
// an answer and returns the time since the VM was started.
func (l *applianceLab) firstOffer(t *testing.T, h *lab.Host) time.Duration {
	t.Helper()
	deadline := time.Now().Add(lab.BootTimeout)
	for time.Now().Before(deadline) {
		err := h.Cmd(lab.Context(t, 10*time.Second), "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "1", "-T", "1", "-s", "/bin/true").Run()
		if err == nil {
			return time.Since(l.bootedAt)
		}
	}
	t.Fatal("no DHCP answer on the provisioning network after the reboot")
	return 0
}

var rssRe = regexp.MustCompile(`(?m)^process_resident_memory_bytes ([0-9.e+]+)$`)

// rss reads outpostd's resident memory from its metrics.
func (l *applianceLab) rss(t *testing.T) int64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+mgmtIP+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+l.token)
	resp, err := l.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := rssRe.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no process_resident_memory_bytes in /metrics (%d)", resp.StatusCode)
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return int64(f)
}

// burst runs n DHCP clients through a relay address on the provisioning
// network and returns the highest RSS seen meanwhile.
func (l *applianceLab) burst(t *testing.T, h *lab.Host, n int) int64 {
	t.Helper()
	relay := "10.77.0.2"
	lab.Run(t, "ip", "-n", h.NS, "addr", "add", relay+"/16", "dev", "eth0")
	conn, err := lab.ListenPacketIn(h.NS, "udp4", relay+":67")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	macs := make([]net.HardwareAddr, n)
	for i := range macs {
		macs[i] = net.HardwareAddr{0x02, 0x77, 0, 0, byte(i >> 8), byte(i)}
	}
	done := make(chan error, 1)
	acks := 0
	start := time.Now()
	go func() {
		done <- lab.DORA(lab.Context(t, 5*time.Minute), conn, &net.UDPAddr{IP: net.ParseIP(provIP), Port: 67}, net.ParseIP(relay), macs, 64,
			func(net.HardwareAddr, net.IP) { acks++ })
	}()
	var peak int64
	for {
		select {
		case err := <-done:
			if err != nil || acks != n {
				t.Fatalf("burst: %d of %d acked: %v", acks, n, err)
			}
			peak = max(peak, l.rss(t))
			t.Logf("%d clients leased in %s", n, time.Since(start).Round(100*time.Millisecond))
			return peak
		case <-time.After(200 * time.Millisecond):
			peak = max(peak, l.rss(t))
		}
	}
}
