// Package lab builds the test networks, processes and VMs the end-to-end
// tests run against: network namespaces joined by veth pairs and a bridge,
// Outpost's own binaries, and QEMU guests on taps.
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireRoot fails the test when not root: namespaces need it, and a
// skipped test would pass for nothing.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test builds network namespaces and needs root: run `make test` as root (CI does)")
	}
}

// RequireCmd fails the test when a program the suite installs is missing.
func RequireCmd(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Fatalf("%s is not installed: run scripts/deps.sh test (make test does)", n)
		}
	}
}

func suffix() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Run runs a command and fails the test with its output if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Net is a test network: a namespace holding a bridge that carries the
// server's address. Hosts and taps join the bridge.
type Net struct {
	NS     string // the server's namespace
	Bridge string
	Addr   netip.Prefix // the server's address and network
	hosts  int
}

// NewNet makes a network; cidr is the server's address, e.g. 10.66.0.1/24.
// Everything is deleted when the test ends.
func NewNet(t testing.TB, cidr string) *Net {
	t.Helper()
	RequireRoot(t)
	n := &Net{NS: "op-" + suffix(), Bridge: "br0", Addr: netip.MustParsePrefix(cidr)}
	Run(t, "ip", "netns", "add", n.NS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", n.NS).Run() })
	n.IP(t, "link", "set", "lo", "up")
	n.IP(t, "link", "add", n.Bridge, "type", "bridge")
	n.IP(t, "addr", "add", cidr, "dev", n.Bridge)
	n.IP(t, "link", "set", n.Bridge, "up")
	return n
}

// IP runs `ip` inside the server namespace.
func (n *Net) IP(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, "ip", append([]string{"-n", n.NS}, args...)...)
}

// Host is a client namespace with one interface, eth0, on the bridge.
type Host struct {
	NS  string
	Dev string
	MAC string
}

// AddHost adds a client namespace with eth0 bridged to the server.
func (n *Net) AddHost(t testing.TB, mac string) *Host {
	t.Helper()
	return n.AddHostOn(t, n.Bridge, mac)
}

// AddHostOn adds a client namespace with eth0 on another bridge.
func (n *Net) AddHostOn(t testing.TB, bridge, mac string) *Host {
	t.Helper()
	n.hosts++
	h := &Host{NS: fmt.Sprintf("%s-h%d", n.NS, n.hosts), Dev: "eth0", MAC: mac}
	Run(t, "ip", "netns", "add", h.NS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", h.NS).Run() })
	peer := fmt.Sprintf("vh%d", n.hosts)
	// Create the pair in the server namespace, then move one end out.
	n.IP(t, "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	n.IP(t, "link", "set", peer, "master", bridge)
	n.IP(t, "link", "set", peer, "up")
	Run(t, "ip", "-n", h.NS, "link", "set", "lo", "up")
	if mac != "" {
		Run(t, "ip", "-n", h.NS, "link", "set", "eth0", "address", mac)
	}
	Run(t, "ip", "-n", h.NS, "link", "set", "eth0", "up")
	return h
}

// Cmd returns a command that runs inside the host's namespace.
func (h *Host) Cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Run runs a command in the host's namespace and returns its output.
func (h *Host) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := h.Cmd(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("[%s] %s %s: %v\n%s", h.NS, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Cmd returns a command that runs inside the server's namespace.
func (n *Net) Cmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// AddTap adds a tap on the bridge for a VM, which must run in n.NS to open it.
func (n *Net) AddTap(t testing.TB) string {
	t.Helper()
	return n.AddTapOn(t, n.Bridge)
}

// AddTapOn adds a tap on another bridge of the namespace.
func (n *Net) AddTapOn(t testing.TB, bridge string) string {
	t.Helper()
	n.hosts++
	tap := fmt.Sprintf("tap%d", n.hosts)
	n.IP(t, "tuntap", "add", "dev", tap, "mode", "tap")
	n.IP(t, "link", "set", tap, "master", bridge)
	n.IP(t, "link", "set", tap, "up")
	return tap
}

// AddBridge adds a bridge with no address: a network the server is not on.
func (n *Net) AddBridge(t testing.TB, name string) {
	t.Helper()
	n.IP(t, "link", "add", name, "type", "bridge")
	n.IP(t, "link", "set", name, "up")
}

// Move puts a tap on another bridge, like moving a cable.
func (n *Net) Move(t testing.TB, tap, bridge string) {
	t.Helper()
	n.IP(t, "link", "set", tap, "master", bridge)
}

// Addr returns the address of a device in a namespace, for assertions.
func Addr(t testing.TB, ns, dev string) string {
	t.Helper()
	out := Run(t, "ip", "-n", ns, "-4", "-o", "addr", "show", "dev", dev)
	f := strings.Fields(out)
	for i, w := range f {
		if w == "inet" && i+1 < len(f) {
			return strings.SplitN(f[i+1], "/", 2)[0]
		}
	}
	return ""
}

// WaitFor polls cond until it holds or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Buffer is a goroutine-safe bytes.Buffer for process output.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
