package dhcp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what the server sees.
type Metrics struct {
	Packets *prometheus.CounterVec // by message type and result
	Dropped *prometheus.CounterVec // by reason, before the handler
}

// NewMetrics registers the DHCP counters with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Packets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outpost_dhcp_packets_total",
			Help: "DHCP requests handled, by message type and result.",
		}, []string{"type", "result"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outpost_dhcp_dropped_total",
			Help: "DHCP datagrams dropped before handling, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.Packets, m.Dropped)
	return m
}

// maxPacket bounds what is read; anything larger is dropped as oversized.
// DHCP messages on Ethernet fit in 1500 bytes; 4 KiB leaves room for jumbo
// frames without reading unbounded input.
const maxPacket = 4096

// minPacket is the fixed BOOTP header plus the magic cookie.
const minPacket = 240

// HandleFunc answers one request.
type HandleFunc func(ctx context.Context, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, Result)

// Server reads requests from a connection and writes the handler's replies.
type Server struct {
	Handle HandleFunc
	Log    *slog.Logger
	M      *Metrics // may be nil
	// ReplyToPeer sends every reply back to the sender's address, as the
	// PXE boot server on port 4011 must.
	ReplyToPeer bool
	// Workers is how many handlers run at once; several in flight let
	// lease writes share one commit. They are long-lived: a goroutine per
	// packet would grow a fresh stack into the SQLite code every time.
	Workers int
	// Sweep, when set, is called every sweepEvery while serving, and once
	// with final set after the last reply (Handler.FlushOffers).
	Sweep func(final bool)
}

const sweepEvery = time.Second

type inbound struct {
	req  *dhcpv4.DHCPv4
	peer net.Addr
}

// Serve handles packets from conn until ctx is done. It closes conn.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	workers := s.Workers
	if workers <= 0 {
		workers = 64
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	queue := make(chan inbound, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range queue {
				s.handle(ctx, conn, in.req, in.peer)
			}
		}()
	}
	stopSweeps := s.sweeps()
	defer func() {
		close(queue)
		wg.Wait()
		stopSweeps()
	}()
	// One buffer serves every read: FromBytes copies what it keeps.
	buf := make([]byte, maxPacket+1)
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			s.Log.Warn("dhcp: read failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if n > maxPacket {
			s.drop("oversized")
			continue
		}
		if n < minPacket {
			s.drop("truncated")
			continue
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			s.drop("malformed")
			continue
		}
		queue <- inbound{req: req, peer: peer}
	}
}

// sweeps calls Sweep every sweepEvery until the returned func is called;
// that func waits for a sweep under way, then sweeps a last time.
func (s *Server) sweeps() func() {
	if s.Sweep == nil {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.Sweep(false)
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
		s.Sweep(true)
	}
}

func (s *Server) drop(reason string) {
	if s.M != nil {
		s.M.Dropped.WithLabelValues(reason).Inc()
	}
}

func (s *Server) handle(ctx context.Context, conn net.PacketConn, req *dhcpv4.DHCPv4, peer net.Addr) {
	resp, res := s.Handle(ctx, req)
	if s.M != nil {
		s.M.Packets.WithLabelValues(req.MessageType().String(), string(res)).Inc()
	}
	if resp == nil {
		return
	}
	dst := replyAddr(req, resp, peer, s.ReplyToPeer)
	if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil && ctx.Err() == nil {
		s.Log.Warn("dhcp: reply not sent", "to", dst, "err", err)
	}
}

// replyAddr applies RFC 2131 section 4.1: relays get the reply on the
// server port; clients with an address get it unicast; the rest get a
// broadcast. A peer on a non-client port (a test or a local tool) gets it
// back where it came from.
func replyAddr(req, resp *dhcpv4.DHCPv4, peer net.Addr, toPeer bool) net.Addr {
	if !isZero(req.GatewayIPAddr) {
		return &net.UDPAddr{IP: req.GatewayIPAddr, Port: dhcpv4.ServerPort}
	}
	up, _ := peer.(*net.UDPAddr)
	if toPeer && up != nil {
		return up
	}
	if resp.MessageType() == dhcpv4.MessageTypeNak {
		return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	}
	if !isZero(req.ClientIPAddr) {
		return &net.UDPAddr{IP: req.ClientIPAddr, Port: dhcpv4.ClientPort}
	}
	if up != nil && !isZero(up.IP) && up.Port != dhcpv4.ClientPort {
		return up
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}
