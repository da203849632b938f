package netboot

import (
	"context"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/boot/dhcp"
	"net/netip"
	"time"
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
