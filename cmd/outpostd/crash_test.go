package main

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/outpostdc/outpost/cmd/internal/lab"
)

// TestCrashKeepsAckedLeases kills outpostd with SIGKILL in the middle of a
// burst of leases. After a restart, every lease a client saw ACKed must
// still be there.
func TestCrashKeepsAckedLeases(t *testing.T) {
	s := newSite(t, "10.69.0.1/16", `
dhcp:
  subnets:
    - {prefix: 10.69.0.0/16, pool: 10.69.1.0-10.69.40.255}
`)
	h := s.net.AddHost(t, "")
	lab.Run(t, "ip", "-n", h.NS, "addr", "add", "10.69.0.2/16", "dev", "eth0")
	conn, err := lab.ListenPacketIn(h.NS, "udp4", "10.69.0.2:67")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 3000
	macs := make([]net.HardwareAddr, n)
	for i := range macs {
		macs[i] = net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
	}
	var mu sync.Mutex
	acked := map[string]string{}
	done := make(chan error, 1)
	go func() {
		done <- lab.DORA(lab.Context(t, 5*time.Minute), conn, &net.UDPAddr{IP: net.ParseIP("10.69.0.1"), Port: 67},
			net.ParseIP("10.69.0.2"), macs, 64, func(mac net.HardwareAddr, ip net.IP) {
				mu.Lock()
				acked[mac.String()] = ip.String()
				mu.Unlock()
			})
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	lab.WaitFor(t, 2*time.Minute, "300 ACKs before the crash", func() bool { return count() >= 300 })
	s.proc.Kill()
	before := count()
	t.Logf("killed outpostd with SIGKILL after %d ACKs", before)
	time.Sleep(500 * time.Millisecond)
	s.start(t)
	if err := <-done; err != nil {
		t.Fatalf("burst: %v", err)
	}
	if count() != n {
		t.Fatalf("%d of %d clients were ACKed after the restart", count(), n)
	}
	got := s.leases(t)
	missing := 0
	for mac, ip := range acked {
		if got[mac] != ip+" bound" {
			missing++
			if missing < 10 {
				t.Errorf("ACKed %s -> %s, store has %q", mac, ip, got[mac])
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d ACKed leases lost (%d ACKed before the kill)", missing, before)
	}
	t.Logf("%d leases ACKed, %d before the SIGKILL; all present after restart", n, before)
}
