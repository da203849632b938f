package dhcp

import (
	"context"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// FuzzHandle feeds arbitrary datagrams through parsing and both handler
// modes. Nothing may panic, and any reply must be a well-formed BOOTREPLY
// to the requesting client.
func FuzzHandle(f *testing.F) {
	for _, p := range []*dhcpv4.DHCPv4{
		req(dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01", biosPXE...),
		req(dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01", ipxe...),
		req(dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01", httpEFI...),
		req(dhcpv4.MessageTypeRequest, "52:54:00:00:00:01", withServerID("10.0.0.1"), withRequested("10.0.0.100")),
		req(dhcpv4.MessageTypeRequest, "52:54:00:00:00:01", withCI("10.0.0.100")),
		req(dhcpv4.MessageTypeRelease, "52:54:00:00:00:01", withCI("10.0.0.100")),
		req(dhcpv4.MessageTypeDecline, "52:54:00:00:00:01", withRequested("10.0.0.100")),
		req(dhcpv4.MessageTypeInform, "52:54:00:00:00:01", withCI("10.0.0.50")),
		req(dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01", withGI("10.1.0.1"), withOpt(82, "\x01\x04port")),
	} {
		f.Add(p.ToBytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < minPacket || len(b) > maxPacket {
			return // the server drops these before parsing
		}
		p, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		for _, proxy := range []bool{false, true} {
			fx := newFixture(t, func(c *Config) {
				if proxy {
					c.Proxy, c.Subnets = true, nil
				}
			})
			// Twice, so that the second pass sees the first one's state.
			for i := 0; i < 2; i++ {
				r, _ := fx.h.Handle(context.Background(), p)
				if r == nil {
					continue
				}
				if r.OpCode != dhcpv4.OpcodeBootReply || r.TransactionID != p.TransactionID ||
					r.ClientHWAddr.String() != p.ClientHWAddr.String() {
					t.Fatalf("bad reply %s to %s", r.Summary(), p.Summary())
				}
				if _, err := dhcpv4.FromBytes(r.ToBytes()); err != nil {
					t.Fatalf("reply does not parse: %v", err)
				}
			}
			fx.h.HandleBootServer(p)
		}
	})
}
