package netboot

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/boot"
	"github.com/outpostdc/outpost/boot/dhcp"
	"github.com/outpostdc/outpost/boot/httpboot"
)

// BenchmarkDORA measures one DISCOVER+REQUEST exchange through the DHCP
// handler with the real inventory behind it: reservation lookups in
// SQLite, durable lease commits and timeline events.
func BenchmarkDORA(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := &Service{Store: st}
	cfg := dhcp.Config{ServerID: netip.MustParseAddr("10.99.0.1"), Subnets: []dhcp.Subnet{{
		Prefix: netip.MustParsePrefix("10.99.0.0/16"), PoolStart: netip.MustParseAddr("10.99.1.0"), PoolEnd: netip.MustParseAddr("10.99.255.254")}},
		Boot: dhcp.BootFiles{BIOS: "undionly.kpxe", HTTPBase: "http://10.99.0.1"}}
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	h := dhcp.NewHandler(cfg, dhcp.Deps{Booter: svc, Leases: st, Recorder: st})
	var n atomic.Uint32
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			i := n.Add(1)
			mac := net.HardwareAddr{2, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
			d := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, HWType: iana.HWTypeEthernet, TransactionID: dhcpv4.TransactionID{1},
				ClientIPAddr: net.IPv4zero, YourIPAddr: net.IPv4zero, ServerIPAddr: net.IPv4zero, GatewayIPAddr: net.IPv4(10, 99, 0, 2).To4(),
				ClientHWAddr: mac, Options: dhcpv4.Options{}}
			d.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeDiscover))
			off, _ := h.Handle(ctx, d)
			if off == nil {
				b.Fatal("no offer")
			}
			r := *d
			r.Options = dhcpv4.Options{}
			r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
			r.UpdateOption(dhcpv4.OptServerIdentifier(off.ServerIdentifier()))
			r.UpdateOption(dhcpv4.OptRequestedIPAddress(off.YourIPAddr))
			if ack, res := h.Handle(ctx, &r); ack == nil {
				b.Fatalf("no ack: %s", res)
			}
		}
	})
	b.StopTimer()
	st.Flush(context.Background())
	_ = time.Second
}

// BenchmarkBootScript measures one /boot.ipxe request through httpboot's
// handler with the real inventory behind it: the lookup, the decision, the
// script and the timeline event, whose batch is written inside the timing
// (run with -cpu 1 to charge the writer to the requests, as on the box).
func BenchmarkBootScript(b *testing.B) {
	for _, bc := range []struct {
		name  string
		macs  int
		fresh bool // a new Service, so an empty lookup cache, per request
	}{
		{"same-mac", 1, false},
		{"1000-macs", 1000, false},
		{"uncached", 1000, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "outpost.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			cfg := Config{Base: "http://10.99.0.1", Kernel: "recon/vmlinuz", TokenTTL: time.Minute,
				Policy: appliance.BootPolicy{Arches: []boot.Arch{boot.ArchBIOS}}}
			urls := make([]string, bc.macs)
			for i := range urls {
				mac := net.HardwareAddr{0x52, 0x54, 0, 0xbe, byte(i >> 8), byte(i)}
				if _, err := st.CreateMachine(ctx, sqlite.NewMachine{Serial: fmt.Sprint("BENCH-", i), MACs: []string{mac.String()},
					State: appliance.StateDeployed}, "bench", ""); err != nil {
					b.Fatal(err)
				}
				urls[i] = "/boot.ipxe?mac=" + mac.String() + "&platform=pcbios&buildarch=x86_64"
			}
			hb := &httpboot.Server{Booter: &Service{Store: st, Cfg: cfg}, Recorder: st, Log: slog.New(slog.DiscardHandler),
				M: httpboot.NewMetrics(prometheus.NewRegistry()), Base: cfg.Base}
			h := hb.Handler()
			reqs := make([]*http.Request, len(urls))
			for i, u := range urls {
				reqs[i] = httptest.NewRequest("GET", u, nil)
				reqs[i].RemoteAddr = "10.99.0.2:40000"
			}
			w := &sink{h: http.Header{}}
			// Two passes: the first stores each machine's firmware, which
			// drops the cache; the second fills it.
			for range 2 {
				for _, r := range reqs {
					h.ServeHTTP(w, r)
				}
			}
			if err := st.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if bc.fresh {
					hb.Booter = &Service{Store: st, Cfg: cfg}
				}
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, reqs[i%len(reqs)])
				if w.code != 0 && w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
			if err := st.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// sink is a ResponseWriter that keeps nothing, so that the benchmark
// counts the handler's allocations, not a recorder's.
type sink struct {
	h    http.Header
	code int
}

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) Write(p []byte) (int, error) { return len(p), nil }
func (s *sink) WriteHeader(code int)        { s.code = code }
