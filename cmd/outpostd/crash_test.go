package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

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
	const n = 3000
	cmd := helperCmd(context.Background(), h, "burst")
	cmd.Env = append(os.Environ(), "OUTPOST_TEST_HELPER=burst", "BURST_N="+strconv.Itoa(n),
		"BURST_SERVER=10.69.0.1", "BURST_GIADDR=10.69.0.2")
	burst := lab.Start(t, "burst", cmd)

	acked := func() int { return strings.Count(burst.Out.String(), "ACK ") }
	lab.WaitFor(t, 2*time.Minute, "300 ACKs before the crash", func() bool { return acked() >= 300 })
	s.proc.Kill()
	before := acked()
	t.Logf("killed outpostd with SIGKILL after %d ACKs", before)
	time.Sleep(500 * time.Millisecond)
	s.start(t)
	burst.WaitOutput(t, 5*time.Minute, "DONE")

	want := map[string]string{}
	for _, l := range strings.Split(burst.Out.String(), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "ACK" {
			want[f[1]] = f[2]
		}
	}
	if len(want) != n {
		t.Fatalf("%d of %d clients were ACKed after the restart", len(want), n)
	}
	got := s.leases(t)
	missing := 0
	for mac, ip := range want {
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
	t.Logf("%d leases ACKed, %d before the SIGKILL; all present after restart", len(want), before)
}

// burstHelper runs DORA for BURST_N clients through a relay address and
// prints "ACK mac ip" the moment each ACK arrives. It retries through a
// server outage.
func burstHelper() int {
	n, _ := strconv.Atoi(os.Getenv("BURST_N"))
	server := &net.UDPAddr{IP: net.ParseIP(os.Getenv("BURST_SERVER")), Port: 67}
	giaddr := net.ParseIP(os.Getenv("BURST_GIADDR")).To4()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: giaddr, Port: 67})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	var mu sync.Mutex
	waiting := map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			p, err := dhcpv4.FromBytes(buf[:k])
			if err != nil {
				continue
			}
			mu.Lock()
			ch := waiting[p.TransactionID]
			mu.Unlock()
			if ch != nil {
				select {
				case ch <- p:
				default:
				}
			}
		}
	}()
	exchange := func(p *dhcpv4.DHCPv4, want dhcpv4.MessageType) *dhcpv4.DHCPv4 {
		ch := make(chan *dhcpv4.DHCPv4, 4)
		mu.Lock()
		waiting[p.TransactionID] = ch
		mu.Unlock()
		defer func() { mu.Lock(); delete(waiting, p.TransactionID); mu.Unlock() }()
		for {
			conn.WriteTo(p.ToBytes(), server)
			select {
			case r := <-ch:
				if r.MessageType() == want {
					return r
				}
				return nil
			case <-time.After(time.Second):
			}
		}
	}
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			mac := net.HardwareAddr{0x02, 0, 0, 0, byte(i >> 8), byte(i)}
			for {
				xid := dhcpv4.TransactionID{byte(i >> 8), byte(i), 0, 1}
				d := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, HWType: iana.HWTypeEthernet, TransactionID: xid,
					ClientIPAddr: net.IPv4zero, YourIPAddr: net.IPv4zero, ServerIPAddr: net.IPv4zero, GatewayIPAddr: giaddr,
					ClientHWAddr: mac, Options: dhcpv4.Options{}}
				d.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeDiscover))
				off := exchange(d, dhcpv4.MessageTypeOffer)
				if off == nil {
					continue
				}
				xid[3] = 2
				r := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, HWType: iana.HWTypeEthernet, TransactionID: xid,
					ClientIPAddr: net.IPv4zero, YourIPAddr: net.IPv4zero, ServerIPAddr: net.IPv4zero, GatewayIPAddr: giaddr,
					ClientHWAddr: mac, Options: dhcpv4.Options{}}
				r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
				r.UpdateOption(dhcpv4.OptServerIdentifier(off.ServerIdentifier()))
				r.UpdateOption(dhcpv4.OptRequestedIPAddress(off.YourIPAddr))
				ack := exchange(r, dhcpv4.MessageTypeAck)
				if ack == nil {
					continue
				}
				outMu.Lock()
				fmt.Fprintf(out, "ACK %s %s\n", mac, ack.YourIPAddr)
				out.Flush()
				outMu.Unlock()
				return
			}
		}(i)
	}
	wg.Wait()
	fmt.Fprintln(out, "DONE")
	out.Flush()
	return 0
}
