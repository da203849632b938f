package dhcp

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Serve answers over a real socket, sweeps while it serves, and sweeps a
// last time, after the last reply, whether it stops by its context or by
// its connection closing.
func TestServeSweeps(t *testing.T) {
	for _, how := range []string{"context", "connection"} {
		t.Run(how, func(t *testing.T) {
			conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var sweeps []bool
			handled := 0
			srv := &Server{
				Log: slog.New(slog.DiscardHandler),
				Handle: func(_ context.Context, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, Result) {
					mu.Lock()
					handled++
					mu.Unlock()
					r, _ := dhcpv4.NewReplyFromRequest(req)
					return r, ResultOffer
				},
				Sweep: func(final bool) {
					mu.Lock()
					defer mu.Unlock()
					sweeps = append(sweeps, final)
				},
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, conn) }()

			cl, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			d, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 0, 1})
			if _, err := cl.Write(d.ToBytes()); err != nil {
				t.Fatal(err)
			}
			cl.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1500)
			n, err := cl.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if r, err := dhcpv4.FromBytes(buf[:n]); err != nil || r.TransactionID != d.TransactionID {
				t.Fatalf("reply %v %v", r, err)
			}
			time.Sleep(sweepEvery + 200*time.Millisecond)
			if how == "context" {
				cancel()
			} else {
				conn.Close()
			}
			select {
			case <-served:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return")
			}
			mu.Lock()
			defer mu.Unlock()
			if handled != 1 || len(sweeps) < 2 || sweeps[0] || !sweeps[len(sweeps)-1] {
				t.Fatalf("handled %d, sweeps %v: want 1, and periodic sweeps then one final", handled, sweeps)
			}
			for _, final := range sweeps[:len(sweeps)-1] {
				if final {
					t.Fatalf("final sweep before the end: %v", sweeps)
				}
			}
		})
	}
}

// Requests read into one reused buffer must not share it: each of many
// requests in flight at once is answered with its own MAC and xid.
func TestServeKeepsRequestsApart(t *testing.T) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := &Server{
		Log:     slog.New(slog.DiscardHandler),
		Workers: 4,
		Handle: func(_ context.Context, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, Result) {
			<-release // hold the workers so later reads overwrite the buffer
			r, _ := dhcpv4.NewReplyFromRequest(req)
			return r, ResultOffer
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx, conn)
	cl, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 64
	want := map[dhcpv4.TransactionID]string{}
	for i := range n {
		mac := net.HardwareAddr{2, 0, 0, 0, 1, byte(i)}
		d, _ := dhcpv4.NewDiscovery(mac)
		want[d.TransactionID] = mac.String()
		if _, err := cl.Write(d.ToBytes()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	for range n {
		m, err := cl.Read(buf)
		if err != nil {
			t.Fatalf("%d replies missing: %v", len(want), err)
		}
		r, err := dhcpv4.FromBytes(buf[:m])
		if err != nil {
			t.Fatal(err)
		}
		mac, ok := want[r.TransactionID]
		if !ok || mac != r.ClientHWAddr.String() {
			t.Fatalf("reply xid %s for %s: request and reply mixed up", r.TransactionID, r.ClientHWAddr)
		}
		delete(want, r.TransactionID)
	}
}
