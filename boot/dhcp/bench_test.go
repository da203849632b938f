package dhcp

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// BenchmarkWrappedPool is a DISCOVER from a new client to a /16 pool whose
// every address has been used once and run out: it must not walk the pool.
func BenchmarkWrappedPool(b *testing.B) {
	cfg := testConfig()
	cfg.Subnets[0].Prefix = netip.MustParsePrefix("10.0.0.0/16")
	cfg.Subnets[0].PoolStart = netip.MustParseAddr("10.0.1.0")
	cfg.Subnets[0].PoolEnd = netip.MustParseAddr("10.0.255.254")
	cfg.ServerID = netip.MustParseAddr("10.0.0.1")
	cfg.Subnets = cfg.Subnets[:1]
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	clk := newClock()
	h := NewHandler(cfg, Deps{Booter: hosts{}, Leases: &leaseLog{}, Now: clk.now})
	// Every address used once, all expired.
	var ls []Lease
	for a := cfg.Subnets[0].PoolStart; a.Compare(cfg.Subnets[0].PoolEnd) <= 0; a = a.Next() {
		ls = append(ls, Lease{IP: a, MAC: net.HardwareAddr{2, 1, 0, 0, a.As4()[2], a.As4()[3]}, State: StateBound, Expires: clk.t.Add(-time.Minute), Updated: clk.t.Add(-time.Hour)})
	}
	h.Restore(ls)
	b.ResetTimer()
	for i := range b.N {
		mac := net.HardwareAddr{2, 2, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
		d := req(dhcpv4.MessageTypeDiscover, mac.String())
		if _, res := h.Handle(context.Background(), d); res != ResultOffer {
			b.Fatal(res)
		}
	}
}
