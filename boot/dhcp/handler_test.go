package dhcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/outpostdc/outpost/boot"
)

// leaseLog is the persistence callback the handler is given in these
// tests: it keeps what was saved, like the store's group commit does.
type leaseLog struct {
	mu    sync.Mutex
	saved []Lease
	fail  error
}

func (l *leaseLog) SaveLease(_ context.Context, x Lease) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.saved = append(l.saved, x)
	return nil
}

// latest returns the last saved state of each address.
func (l *leaseLog) latest() []Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[netip.Addr]int{}
	var out []Lease
	for _, x := range l.saved {
		if i, ok := seen[x.IP]; ok {
			out[i] = x
			continue
		}
		seen[x.IP] = len(out)
		out = append(out, x)
	}
	return out
}

// hosts answers Booter.Host from a map; Boot is not used by DHCP.
type hosts map[string]boot.Host

func (h hosts) Host(_ context.Context, mac net.HardwareAddr) (boot.Host, bool, error) {
	x, ok := h[mac.String()]
	return x, ok, nil
}

func (hosts) Boot(context.Context, boot.Client) (boot.Decision, error) {
	return boot.Decision{}, errors.New("not used")
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time         { return c.t }
func (c *clock) add(d time.Duration)    { c.t = c.t.Add(d) }
func newClock() *clock                  { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func mustMAC(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }

var testXID = dhcpv4.TransactionID{0xde, 0xad, 0xbe, 0xef}

func testConfig() Config {
	c := Config{
		ServerID: netip.MustParseAddr("10.0.0.1"),
		Subnets: []Subnet{{
			Prefix:    netip.MustParsePrefix("10.0.0.0/24"),
			PoolStart: netip.MustParseAddr("10.0.0.100"),
			PoolEnd:   netip.MustParseAddr("10.0.0.102"),
			Router:    netip.MustParseAddr("10.0.0.1"),
			DNS:       []netip.Addr{netip.MustParseAddr("10.0.0.1")},
			Domain:    "dc1.example",
		}, {
			Prefix:    netip.MustParsePrefix("10.1.0.0/24"),
			PoolStart: netip.MustParseAddr("10.1.0.10"),
			PoolEnd:   netip.MustParseAddr("10.1.0.20"),
			Router:    netip.MustParseAddr("10.1.0.1"),
		}},
		LeaseTime: time.Hour,
		Boot:      BootFiles{BIOS: "undionly.kpxe", EFIx64: "ipxe.efi", HTTPBase: "http://10.0.0.1"},
	}
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

type fixture struct {
	h      *Handler
	leases *leaseLog
	clk    *clock
	hosts  hosts
	events *eventLog
}

// eventLog keeps recorded timeline steps.
type eventLog struct {
	mu  sync.Mutex
	evs []boot.Event
}

func (l *eventLog) Record(e boot.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, e)
}

// take returns the steps recorded since the last call.
func (l *eventLog) take() []boot.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.evs
	l.evs = nil
	return out
}

func newFixture(t *testing.T, mod func(*Config)) *fixture {
	t.Helper()
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{leases: &leaseLog{}, clk: newClock(), hosts: hosts{}, events: &eventLog{}}
	f.h = NewHandler(cfg, Deps{Booter: f.hosts, Leases: f.leases, Now: f.clk.now, Recorder: f.events})
	return f
}

// req builds a client request.
func req(mt dhcpv4.MessageType, mac string, mods ...func(*dhcpv4.DHCPv4)) *dhcpv4.DHCPv4 {
	p := &dhcpv4.DHCPv4{
		OpCode: dhcpv4.OpcodeBootRequest, HWType: iana.HWTypeEthernet, TransactionID: testXID,
		ClientIPAddr: net.IPv4zero, YourIPAddr: net.IPv4zero, ServerIPAddr: net.IPv4zero, GatewayIPAddr: net.IPv4zero,
		ClientHWAddr: mustMAC(mac), Options: dhcpv4.Options{},
	}
	p.UpdateOption(dhcpv4.OptMessageType(mt))
	for _, m := range mods {
		m(p)
	}
	return p
}

func withOpt(code uint8, v string) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.Options[code] = []byte(v) }
}
func withRequested(ip string) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.UpdateOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(ip))) }
}
func withServerID(ip string) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.UpdateOption(dhcpv4.OptServerIdentifier(net.ParseIP(ip))) }
}
func withCI(ip string) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.ClientIPAddr = net.ParseIP(ip).To4() }
}
func withGI(ip string) func(*dhcpv4.DHCPv4) {
	return func(p *dhcpv4.DHCPv4) { p.GatewayIPAddr = net.ParseIP(ip).To4() }
}

var (
	biosPXE = []func(*dhcpv4.DHCPv4){withOpt(93, "\x00\x00"), withOpt(60, "PXEClient:Arch:00000:UNDI:002001")}
	efiPXE  = []func(*dhcpv4.DHCPv4){withOpt(93, "\x00\x07"), withOpt(60, "PXEClient:Arch:00007:UNDI:003000")}
	ipxe    = []func(*dhcpv4.DHCPv4){withOpt(93, "\x00\x00"), withOpt(60, "PXEClient:Arch:00000:UNDI:002001"), withOpt(77, "iPXE")}
	httpEFI = []func(*dhcpv4.DHCPv4){withOpt(93, "\x00\x10"), withOpt(60, "HTTPClient:Arch:00016:UNDI:003001")}
)

// reply builds an expected server reply field by field.
type want struct {
	mt                 dhcpv4.MessageType
	yiaddr, siaddr     string
	ciaddr, giaddr     string
	file               string
	flags              uint16
	opts               []dhcpv4.Option
	raw                map[uint8]string
	leased, dnsOptions bool
}

func (w want) packet(mac string) *dhcpv4.DHCPv4 {
	ip := func(s string) net.IP {
		if s == "" {
			return net.IPv4zero
		}
		return net.ParseIP(s).To4()
	}
	p := &dhcpv4.DHCPv4{
		OpCode: dhcpv4.OpcodeBootReply, HWType: iana.HWTypeEthernet, TransactionID: testXID, Flags: w.flags,
		ClientIPAddr: ip(w.ciaddr), YourIPAddr: ip(w.yiaddr), ServerIPAddr: ip(w.siaddr), GatewayIPAddr: ip(w.giaddr),
		ClientHWAddr: mustMAC(mac), BootFileName: w.file, Options: dhcpv4.Options{},
	}
	p.UpdateOption(dhcpv4.OptMessageType(w.mt))
	p.UpdateOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.0.1")))
	if w.leased {
		p.UpdateOption(dhcpv4.OptIPAddressLeaseTime(time.Hour))
		p.UpdateOption(dhcpv4.OptRenewTimeValue(30 * time.Minute))
		p.UpdateOption(dhcpv4.OptRebindingTimeValue(52*time.Minute + 30*time.Second))
	}
	if w.dnsOptions {
		p.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)))
		p.UpdateOption(dhcpv4.OptRouter(net.ParseIP("10.0.0.1")))
		p.UpdateOption(dhcpv4.OptDNS(net.ParseIP("10.0.0.1")))
		p.UpdateOption(dhcpv4.OptDomainName("dc1.example"))
	}
	for _, o := range w.opts {
		p.UpdateOption(o)
	}
	for k, v := range w.raw {
		p.Options[k] = []byte(v)
	}
	return p
}

func pxeOpts(file string) []dhcpv4.Option {
	return []dhcpv4.Option{
		dhcpv4.OptBootFileName(file), dhcpv4.OptClassIdentifier("PXEClient"), dhcpv4.OptTFTPServerName("10.0.0.1"),
		dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}),
	}
}

func assertPacket(t *testing.T, got *dhcpv4.DHCPv4, want *dhcpv4.DHCPv4) {
	t.Helper()
	if got == nil {
		t.Fatalf("no reply; want\n%s", want.Summary())
	}
	if !bytes.Equal(got.ToBytes(), want.ToBytes()) {
		t.Fatalf("reply differs\ngot:\n%s\nwant:\n%s", got.Summary(), want.Summary())
	}
}

// TestReplies compares whole reply packets for each kind of client.
func TestReplies(t *testing.T) {
	const mac = "52:54:00:00:00:01"
	for _, tc := range []struct {
		name   string
		mod    func(*Config)
		prime  []*dhcpv4.DHCPv4 // sent first, replies ignored
		req    *dhcpv4.DHCPv4
		want   *want
		result Result
	}{
		{
			name:   "plain client gets an address and no boot options",
			req:    req(dhcpv4.MessageTypeDiscover, mac),
			want:   &want{mt: dhcpv4.MessageTypeOffer, yiaddr: "10.0.0.100", leased: true, dnsOptions: true},
			result: ResultOffer,
		},
		{
			name:   "BIOS PXE gets undionly.kpxe over TFTP",
			req:    req(dhcpv4.MessageTypeDiscover, mac, biosPXE...),
			want:   &want{mt: dhcpv4.MessageTypeOffer, yiaddr: "10.0.0.100", siaddr: "10.0.0.1", file: "undionly.kpxe", leased: true, dnsOptions: true, opts: pxeOpts("undionly.kpxe")},
			result: ResultOffer,
		},
		{
			name:   "UEFI x64 PXE gets ipxe.efi",
			req:    req(dhcpv4.MessageTypeDiscover, mac, efiPXE...),
			want:   &want{mt: dhcpv4.MessageTypeOffer, yiaddr: "10.0.0.100", siaddr: "10.0.0.1", file: "ipxe.efi", leased: true, dnsOptions: true, opts: pxeOpts("ipxe.efi")},
			result: ResultOffer,
		},
		{
			name:   "UEFI x64 with snponly.efi configured",
			mod:    func(c *Config) { c.Boot.EFIx64 = "snponly.efi" },
			req:    req(dhcpv4.MessageTypeDiscover, mac, efiPXE...),
			want:   &want{mt: dhcpv4.MessageTypeOffer, yiaddr: "10.0.0.100", siaddr: "10.0.0.1", file: "snponly.efi", leased: true, dnsOptions: true, opts: pxeOpts("snponly.efi")},
			result: ResultOffer,
		},
		{
			name: "UEFI HTTP gets a URL and HTTPClient",
			req:  req(dhcpv4.MessageTypeDiscover, mac, httpEFI...),
			want: &want{mt: dhcpv4.MessageTypeOffer, yiaddr: "10.0.0.100", siaddr: "10.0.0.1", file: "http://10.0.0.1/tftp/ipxe.efi", leased: true, dnsOptions: true,
				opts: []dhcpv4.Option{dhcpv4.OptBootFileName("http://10.0.0.1/tftp/ipxe.efi"), dhcpv4.OptClassIdentifier("HTTPClient")}},
			result: ResultOffer,
		},
		{
			name: "iPXE gets the script URL and 175.176=1",
			req:  req(dhcpv4.MessageTypeDiscover, mac, ipxe...),
			want: &want{mt: dhcpv4.MessageTypeOffer, yiaddr: "10.0.0.100", siaddr: "10.0.0.1", file: "http://10.0.0.1/boot.ipxe", leased: true, dnsOptions: true,
				opts: []dhcpv4.Option{dhcpv4.OptBootFileName("http://10.0.0.1/boot.ipxe")}, raw: map[uint8]string{175: "\xb0\x01\x01"}},
			result: ResultOffer,
		},
		{
			name:   "REQUEST after OFFER is ACKed",
			prime:  []*dhcpv4.DHCPv4{req(dhcpv4.MessageTypeDiscover, mac)},
			req:    req(dhcpv4.MessageTypeRequest, mac, withServerID("10.0.0.1"), withRequested("10.0.0.100")),
			want:   &want{mt: dhcpv4.MessageTypeAck, yiaddr: "10.0.0.100", leased: true, dnsOptions: true},
			result: ResultAck,
		},
		{
			name:   "renewal from ciaddr is ACKed with ciaddr echoed",
			prime:  []*dhcpv4.DHCPv4{req(dhcpv4.MessageTypeDiscover, mac), req(dhcpv4.MessageTypeRequest, mac, withServerID("10.0.0.1"), withRequested("10.0.0.100"))},
			req:    req(dhcpv4.MessageTypeRequest, mac, withCI("10.0.0.100")),
			want:   &want{mt: dhcpv4.MessageTypeAck, yiaddr: "10.0.0.100", ciaddr: "10.0.0.100", leased: true, dnsOptions: true},
			result: ResultAck,
		},
		{
			name:   "request for an address on another network is NAKed",
			req:    req(dhcpv4.MessageTypeRequest, mac, withRequested("192.168.1.5")),
			want:   &want{mt: dhcpv4.MessageTypeNak, opts: []dhcpv4.Option{dhcpv4.OptMessage("address not on this subnet")}},
			result: ResultNak,
		},
		{
			name: "relayed DISCOVER is answered from the relay's subnet, option 82 echoed",
			req: req(dhcpv4.MessageTypeDiscover, mac, withGI("10.1.0.1"),
				withOpt(82, "\x01\x04port")),
			want: &want{mt: dhcpv4.MessageTypeOffer, yiaddr: "10.1.0.10", giaddr: "10.1.0.1", leased: true,
				opts: []dhcpv4.Option{dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)), dhcpv4.OptRouter(net.ParseIP("10.1.0.1"))},
				raw:  map[uint8]string{82: "\x01\x04port"}},
			result: ResultOffer,
		},
		{
			name:   "relayed NAK sets the broadcast bit",
			req:    req(dhcpv4.MessageTypeRequest, mac, withGI("10.1.0.1"), withRequested("10.0.0.100")),
			want:   &want{mt: dhcpv4.MessageTypeNak, giaddr: "10.1.0.1", flags: 0x8000, opts: []dhcpv4.Option{dhcpv4.OptMessage("address not on this subnet")}},
			result: ResultNak,
		},
		{
			name:   "relay from an unknown network is ignored",
			req:    req(dhcpv4.MessageTypeDiscover, mac, withGI("172.16.0.1")),
			result: ResultNoSubnet,
		},
		{
			name:   "INFORM gets network options and no lease",
			req:    req(dhcpv4.MessageTypeInform, mac, withCI("10.0.0.50")),
			want:   &want{mt: dhcpv4.MessageTypeAck, ciaddr: "10.0.0.50", dnsOptions: true},
			result: ResultInform,
		},
		{
			name: "ProxyDHCP answers PXE with boot options and no address",
			mod:  func(c *Config) { c.Proxy = true; c.Subnets = nil },
			req:  req(dhcpv4.MessageTypeDiscover, mac, withOpt(97, "\x00uuiduuiduuiduuid"), biosPXE[0], biosPXE[1]),
			want: &want{mt: dhcpv4.MessageTypeOffer, siaddr: "10.0.0.1", file: "undionly.kpxe", opts: pxeOpts("undionly.kpxe"),
				raw: map[uint8]string{97: "\x00uuiduuiduuiduuid"}},
			result: ResultProxy,
		},
		{
			name:   "ProxyDHCP ignores clients that are not PXE",
			mod:    func(c *Config) { c.Proxy = true; c.Subnets = nil },
			req:    req(dhcpv4.MessageTypeDiscover, mac),
			result: ResultIgnored,
		},
		{
			name:   "ProxyDHCP leaves REQUESTs to the address server",
			mod:    func(c *Config) { c.Proxy = true; c.Subnets = nil },
			req:    req(dhcpv4.MessageTypeRequest, mac, append(biosPXE, withRequested("10.0.0.7"))...),
			result: ResultIgnored,
		},
		{
			name:   "REQUEST naming another server is not answered",
			req:    req(dhcpv4.MessageTypeRequest, mac, withServerID("10.0.0.2"), withRequested("10.0.0.100")),
			result: ResultOtherServer,
		},
		{
			name: "BOOTREPLY from a client is dropped",
			req: func() *dhcpv4.DHCPv4 {
				p := req(dhcpv4.MessageTypeDiscover, mac)
				p.OpCode = dhcpv4.OpcodeBootReply
				return p
			}(),
			result: ResultMalformed,
		},
		{
			name: "non-Ethernet hardware is dropped",
			req: func() *dhcpv4.DHCPv4 {
				p := req(dhcpv4.MessageTypeDiscover, mac)
				p.HWType = iana.HWTypeIEEE802
				return p
			}(),
			result: ResultMalformed,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.mod)
			ctx := context.Background()
			for _, p := range tc.prime {
				f.h.Handle(ctx, p)
			}
			got, res := f.h.Handle(ctx, tc.req)
			if res != tc.result {
				t.Fatalf("result %q, want %q", res, tc.result)
			}
			if tc.want == nil {
				if got != nil {
					t.Fatalf("unexpected reply:\n%s", got.Summary())
				}
				return
			}
			assertPacket(t, got, tc.want.packet(mac))
		})
	}
}

func TestBootServerReply(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Proxy = true; c.Subnets = nil })
	r := req(dhcpv4.MessageTypeRequest, "52:54:00:00:00:09", append(efiPXE, withCI("10.0.0.77"))...)
	got, res := f.h.HandleBootServer(r)
	if res != ResultProxy {
		t.Fatalf("result %q", res)
	}
	w := want{mt: dhcpv4.MessageTypeAck, ciaddr: "10.0.0.77", siaddr: "10.0.0.1", file: "ipxe.efi", opts: pxeOpts("ipxe.efi")}
	assertPacket(t, got, w.packet("52:54:00:00:00:09"))
	if _, res := f.h.HandleBootServer(req(dhcpv4.MessageTypeRequest, "52:54:00:00:00:09")); res != ResultIgnored {
		t.Fatalf("non-PXE request on 4011: %q", res)
	}
}

// dora runs DISCOVER then REQUEST and returns the bound address.
func (f *fixture) dora(t *testing.T, mac string) netip.Addr {
	t.Helper()
	ctx := context.Background()
	off, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, mac))
	if res != ResultOffer {
		t.Fatalf("%s: DISCOVER -> %q", mac, res)
	}
	ack, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, mac, withServerID("10.0.0.1"), withRequested(off.YourIPAddr.String())))
	if res != ResultAck {
		t.Fatalf("%s: REQUEST %s -> %q", mac, off.YourIPAddr, res)
	}
	a, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	return a
}

func TestLeaseLifecycle(t *testing.T) {
	ctx := context.Background()
	const a, b, c, d = "52:54:00:00:00:0a", "52:54:00:00:00:0b", "52:54:00:00:00:0c", "52:54:00:00:00:0d"

	t.Run("same client keeps its address", func(t *testing.T) {
		f := newFixture(t, nil)
		first := f.dora(t, a)
		if again := f.dora(t, a); again != first {
			t.Fatalf("second DORA got %s, first %s", again, first)
		}
	})

	t.Run("ACK only after the lease is saved", func(t *testing.T) {
		f := newFixture(t, nil)
		ip := f.dora(t, a)
		got := f.leases.latest()
		if len(got) != 1 || got[0].IP != ip || got[0].State != StateBound || got[0].MAC.String() != a {
			t.Fatalf("saved %+v", got)
		}
		if !got[0].Expires.Equal(f.clk.t.Add(time.Hour)) {
			t.Fatalf("expiry %v", got[0].Expires)
		}
	})

	t.Run("store failure means no ACK and no lease held", func(t *testing.T) {
		f := newFixture(t, nil)
		off, _ := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, a))
		f.leases.fail = errors.New("disk full")
		ack, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, a, withServerID("10.0.0.1"), withRequested(off.YourIPAddr.String())))
		if ack != nil || res != ResultStoreError {
			t.Fatalf("got %v, %q", ack, res)
		}
		if n := f.h.LeasesInUse(); n != 0 {
			t.Fatalf("%d leases in use after a failed save", n)
		}
	})

	t.Run("renew and rebind extend the lease", func(t *testing.T) {
		f := newFixture(t, nil)
		ip := f.dora(t, a)
		f.clk.add(40 * time.Minute)
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, a, withCI(ip.String()))); res != ResultAck {
			t.Fatalf("renew: %q", res)
		}
		f.clk.add(55 * time.Minute) // past the first expiry
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, a, withCI(ip.String()), func(p *dhcpv4.DHCPv4) { p.SetBroadcast() })); res != ResultAck {
			t.Fatalf("rebind: %q", res)
		}
		l := f.leases.latest()[0]
		if !l.Expires.Equal(f.clk.t.Add(time.Hour)) {
			t.Fatalf("expiry %v, want %v", l.Expires, f.clk.t.Add(time.Hour))
		}
	})

	t.Run("another client cannot take a bound address", func(t *testing.T) {
		f := newFixture(t, nil)
		ip := f.dora(t, a)
		r, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, b, withRequested(ip.String())))
		if res != ResultNak || r.MessageType() != dhcpv4.MessageTypeNak {
			t.Fatalf("init-reboot for a taken address: %q", res)
		}
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, b, withCI(ip.String()))); res != ResultNak {
			t.Fatalf("renew of someone else's address: %q", res)
		}
	})

	t.Run("release frees the address", func(t *testing.T) {
		f := newFixture(t, nil)
		ipA := f.dora(t, a)
		f.dora(t, b)
		f.dora(t, c)
		// Pool of three is full.
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, d)); res != ResultExhausted {
			t.Fatalf("full pool: %q", res)
		}
		if res := releaseOf(f, a, ipA); res != ResultReleased {
			t.Fatalf("release: %q", res)
		}
		if got := f.dora(t, d); got != ipA {
			t.Fatalf("after release got %s, want %s", got, ipA)
		}
		saved := f.leases.latest()
		for _, l := range saved {
			if l.IP == ipA && (l.State != StateBound || l.MAC.String() != d) {
				t.Fatalf("stored %+v", l)
			}
		}
	})

	t.Run("release by a stranger is ignored", func(t *testing.T) {
		f := newFixture(t, nil)
		ip := f.dora(t, a)
		if res := releaseOf(f, b, ip); res != ResultIgnored {
			t.Fatalf("release: %q", res)
		}
		if f.h.LeasesInUse() != 1 {
			t.Fatal("lease lost")
		}
	})

	t.Run("declined address is held out, then reused", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.DeclineHold = 10 * time.Minute })
		ip := f.dora(t, a)
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDecline, a, withRequested(ip.String()))); res != ResultDeclined {
			t.Fatalf("decline: %q", res)
		}
		for _, m := range []string{b, c} {
			if got := f.dora(t, m); got == ip {
				t.Fatalf("%s got the declined address", m)
			}
		}
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, d)); res != ResultExhausted {
			t.Fatalf("declined address offered while held: %q", res)
		}
		f.clk.add(11 * time.Minute)
		if got := f.dora(t, d); got != ip {
			t.Fatalf("after the hold got %s, want %s", got, ip)
		}
	})

	t.Run("expired leases are reused, longest-free first", func(t *testing.T) {
		f := newFixture(t, nil)
		ipA := f.dora(t, a)
		f.clk.add(time.Minute)
		f.dora(t, b)
		f.dora(t, c)
		f.clk.add(2 * time.Hour)
		if got := f.dora(t, d); got != ipA {
			t.Fatalf("got %s, want the oldest expired %s", got, ipA)
		}
	})

	t.Run("unanswered offers expire", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.OfferHold = 30 * time.Second })
		for _, m := range []string{a, b, c} {
			if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, m)); res != ResultOffer {
				t.Fatal(res)
			}
		}
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, d)); res != ResultExhausted {
			t.Fatalf("offers not held: %q", res)
		}
		f.clk.add(31 * time.Second)
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, d)); res != ResultOffer {
			t.Fatalf("expired offer not reused: %q", res)
		}
	})

	t.Run("a full pool frees by expiry and by release, in order", func(t *testing.T) {
		f := newFixture(t, func(c *Config) { c.OfferHold = 30 * time.Second })
		offered := map[string]string{}
		for _, m := range []string{a, b, c} {
			off, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, m))
			if res != ResultOffer {
				t.Fatal(res)
			}
			offered[m] = off.YourIPAddr.String()
			f.clk.add(time.Second)
		}
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, d)); res != ResultExhausted {
			t.Fatalf("full pool: %q", res)
		}
		// c takes another server's offer: its address is free at once,
		// though a's offer expires first.
		f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, c, withServerID("10.0.0.9"), withRequested("192.168.0.3")))
		if off, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, d)); res != ResultOffer || off.YourIPAddr.String() != offered[c] {
			t.Fatalf("freed address not offered: %q %v", res, off)
		}
		const e = "52:54:00:00:00:0e"
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, e)); res != ResultExhausted {
			t.Fatalf("full again: %q", res)
		}
		// a's offer, made at t0, runs out at t0+30s, one second before b's.
		f.clk.add(26 * time.Second) // t0+29s
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, e)); res != ResultExhausted {
			t.Fatalf("an offer freed before it expired: %q", res)
		}
		f.clk.add(time.Second)
		if off, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, e)); res != ResultOffer || off.YourIPAddr.String() != offered[a] {
			t.Fatalf("expired offer: %q %v, want %s", res, off, offered[a])
		}
	})

	t.Run("a pool whose every address was used once reuses the longest free", func(t *testing.T) {
		f := newFixture(t, nil)
		t0 := f.clk.t
		// Restored leases, all run out, changed at different times.
		f.h.Restore([]Lease{
			{IP: netip.MustParseAddr("10.0.0.100"), MAC: mustMAC(a), State: StateBound, Expires: t0.Add(-time.Minute), Updated: t0.Add(-2 * time.Hour)},
			{IP: netip.MustParseAddr("10.0.0.101"), MAC: mustMAC(b), State: StateReleased, Expires: t0.Add(-3 * time.Hour), Updated: t0.Add(-3 * time.Hour)},
			{IP: netip.MustParseAddr("10.0.0.102"), MAC: mustMAC(c), State: StateBound, Expires: t0.Add(time.Hour), Updated: t0},
		})
		for _, want := range []string{"10.0.0.101", "10.0.0.100"} {
			m := fmt.Sprintf("52:54:00:00:01:%s", want[len(want)-2:])
			if off, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, m)); res != ResultOffer || off.YourIPAddr.String() != want {
				t.Fatalf("%s: %q %v, want %s", m, res, off, want)
			}
		}
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, d)); res != ResultExhausted {
			t.Fatalf("c's bound lease given away: %q", res)
		}
	})

	t.Run("choosing another server frees the offer", func(t *testing.T) {
		f := newFixture(t, nil)
		off, _ := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, a))
		f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, a, withServerID("10.0.0.9"), withRequested("192.168.0.3")))
		f.dora(t, b)
		f.dora(t, c)
		if got := f.dora(t, d); got.String() != off.YourIPAddr.String() {
			t.Fatalf("offer not freed: d got %s", got)
		}
	})

	t.Run("restart restores leases", func(t *testing.T) {
		f := newFixture(t, nil)
		ipA := f.dora(t, a)
		ipB := f.dora(t, b)
		g := newFixture(t, nil)
		g.clk = f.clk
		g.h.deps.Now = f.clk.now
		g.h.Restore(f.leases.latest())
		if g.h.LeasesInUse() != 2 {
			t.Fatalf("%d leases after restore", g.h.LeasesInUse())
		}
		if got := g.dora(t, b); got != ipB {
			t.Fatalf("b got %s after restart, had %s", got, ipB)
		}
		if _, res := g.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, c, withRequested(ipA.String()))); res != ResultNak {
			t.Fatalf("c took a's address after restart: %q", res)
		}
		if _, res := g.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, a, withCI(ipA.String()))); res != ResultAck {
			t.Fatalf("a could not renew after restart: %q", res)
		}
	})

	t.Run("reservation outside the pool", func(t *testing.T) {
		f := newFixture(t, nil)
		f.hosts[a] = boot.Host{IP: netip.MustParseAddr("10.0.0.10"), Hostname: "web-1"}
		off, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, a))
		if res != ResultOffer || off.YourIPAddr.String() != "10.0.0.10" || off.HostName() != "web-1" {
			t.Fatalf("offer %v %q", off, res)
		}
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, a, withServerID("10.0.0.1"), withRequested("10.0.0.10"))); res != ResultAck {
			t.Fatalf("request: %q", res)
		}
		// A pool address is NAKed so the client moves to its reservation.
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, a, withCI("10.0.0.100"))); res != ResultNak {
			t.Fatalf("renew of a pool address by a reserved client: %q", res)
		}
		// Nobody else may take a non-pool address.
		if _, res := f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, b, withRequested("10.0.0.11"))); res != ResultNak {
			t.Fatalf("stranger got a non-pool address: %q", res)
		}
	})
}

func releaseOf(f *fixture, mac string, ip netip.Addr) Result {
	_, res := f.h.Handle(context.Background(), req(dhcpv4.MessageTypeRelease, mac, withCI(ip.String())))
	return res
}

func TestReplyAddr(t *testing.T) {
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: 68}
	for _, tc := range []struct {
		name   string
		req    *dhcpv4.DHCPv4
		mt     dhcpv4.MessageType
		peer   *net.UDPAddr
		toPeer bool
		want   string
	}{
		{"relay", req(dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01", withGI("10.1.0.1")), dhcpv4.MessageTypeOffer, &net.UDPAddr{IP: net.ParseIP("10.1.0.1"), Port: 67}, false, "10.1.0.1:67"},
		{"new client", req(dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01"), dhcpv4.MessageTypeOffer, &net.UDPAddr{IP: net.IPv4zero, Port: 68}, false, bcast.String()},
		{"renewing client", req(dhcpv4.MessageTypeRequest, "52:54:00:00:00:01", withCI("10.0.0.5")), dhcpv4.MessageTypeAck, &net.UDPAddr{IP: net.ParseIP("10.0.0.5"), Port: 68}, false, "10.0.0.5:68"},
		{"NAK to a renewing client is broadcast", req(dhcpv4.MessageTypeRequest, "52:54:00:00:00:01", withCI("10.0.0.5")), dhcpv4.MessageTypeNak, &net.UDPAddr{IP: net.ParseIP("10.0.0.5"), Port: 68}, false, bcast.String()},
		{"local tool on another port", req(dhcpv4.MessageTypeDiscover, "52:54:00:00:00:01"), dhcpv4.MessageTypeOffer, &net.UDPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000}, false, "127.0.0.1:40000"},
		{"PXE boot server", req(dhcpv4.MessageTypeRequest, "52:54:00:00:00:01", withCI("10.0.0.5")), dhcpv4.MessageTypeAck, &net.UDPAddr{IP: net.ParseIP("10.0.0.5"), Port: 4011}, true, "10.0.0.5:4011"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &dhcpv4.DHCPv4{Options: dhcpv4.Options{}}
			resp.UpdateOption(dhcpv4.OptMessageType(tc.mt))
			if got := replyAddr(tc.req, resp, tc.peer, tc.toPeer).String(); got != tc.want {
				t.Fatalf("reply to %s, want %s", got, tc.want)
			}
		})
	}
}

func TestChainIPXEROM(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ChainIPXEROMs = true })
	ctx := context.Background()
	const mac = "52:54:00:00:00:0e"
	file := func(xid byte, mt dhcpv4.MessageType, mods ...func(*dhcpv4.DHCPv4)) string {
		p := req(mt, mac, append(ipxe, mods...)...)
		p.TransactionID = dhcpv4.TransactionID{0, 0, 0, xid}
		r, _ := f.h.Handle(ctx, p)
		if r == nil {
			t.Fatalf("no reply to %s", mt)
		}
		return r.BootFileNameOption()
	}
	steps := []struct {
		xid  byte
		mt   dhcpv4.MessageType
		mods []func(*dhcpv4.DHCPv4)
		want string
	}{
		{1, dhcpv4.MessageTypeDiscover, nil, "undionly.kpxe"}, // the ROM
		{1, dhcpv4.MessageTypeRequest, []func(*dhcpv4.DHCPv4){withServerID("10.0.0.1"), withRequested("10.0.0.100")}, "undionly.kpxe"},
		{2, dhcpv4.MessageTypeDiscover, nil, "http://10.0.0.1/boot.ipxe"}, // the chained binary
		{2, dhcpv4.MessageTypeRequest, []func(*dhcpv4.DHCPv4){withServerID("10.0.0.1"), withRequested("10.0.0.100")}, "http://10.0.0.1/boot.ipxe"},
	}
	for _, s := range steps {
		if got := file(s.xid, s.mt, s.mods...); got != s.want {
			t.Fatalf("xid %d %s: file %q, want %q", s.xid, s.mt, got, s.want)
		}
	}
	f.clk.add(3 * time.Minute) // the next boot's ROM is chained again
	if got := file(3, dhcpv4.MessageTypeDiscover); got != "undionly.kpxe" {
		t.Fatalf("next boot: %q", got)
	}
}

// TestChainEFI: EDK2 is sent ipxe.efi; the iPXE it loads must then get
// the script even with ROM chaining on, or it would load itself forever.
func TestChainEFI(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ChainIPXEROMs = true })
	ctx := context.Background()
	const mac = "52:54:00:00:00:0f"
	p := req(dhcpv4.MessageTypeDiscover, mac, efiPXE...)
	p.TransactionID = dhcpv4.TransactionID{1}
	if r, _ := f.h.Handle(ctx, p); r.BootFileNameOption() != "ipxe.efi" {
		t.Fatalf("EDK2 got %q", r.BootFileNameOption())
	}
	p = req(dhcpv4.MessageTypeDiscover, mac, append(efiPXE, withOpt(77, "iPXE"))...)
	p.TransactionID = dhcpv4.TransactionID{2}
	if r, _ := f.h.Handle(ctx, p); r.BootFileNameOption() != "http://10.0.0.1/boot.ipxe" {
		t.Fatalf("chained iPXE got %q", r.BootFileNameOption())
	}
}

// An exchange the client completes is one timeline row; an OFFER nobody
// takes is recorded on its own once it has waited offerWait.
func TestOfferSteps(t *testing.T) {
	ctx := context.Background()
	const a, b, c = "52:54:00:00:00:0a", "52:54:00:00:00:0b", "52:54:00:00:00:0c"
	summaries := func(evs []boot.Event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.Summary)
		}
		return out
	}
	f := newFixture(t, nil)
	t0 := f.clk.t
	off, _ := f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, a))
	if evs := f.events.take(); len(evs) != 0 {
		t.Fatalf("OFFER recorded before its REQUEST: %q", summaries(evs))
	}
	f.clk.add(time.Second)
	f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, a, withServerID("10.0.0.1"), withRequested(off.YourIPAddr.String())))
	evs := f.events.take()
	if got := summaries(evs); len(got) != 1 || got[0] != "DISCOVER -> OFFER 10.0.0.100 ; REQUEST -> ACK 10.0.0.100 " {
		t.Fatalf("completed exchange: %q", got)
	}
	if !evs[0].Time.Equal(t0) || evs[0].Detail["answered"] != t0.Add(time.Second) {
		t.Fatalf("exchange row at %v answered %v, want %v and %v", evs[0].Time, evs[0].Detail["answered"], t0, t0.Add(time.Second))
	}

	// b never asks: its OFFER waits offerWait, then stands alone.
	f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, b))
	f.clk.add(offerWait - time.Millisecond)
	f.h.FlushOffers(false)
	if evs := f.events.take(); len(evs) != 0 {
		t.Fatalf("OFFER recorded before offerWait: %q", summaries(evs))
	}
	f.clk.add(time.Millisecond)
	f.h.FlushOffers(false)
	if got := summaries(f.events.take()); len(got) != 1 || got[0] != "DISCOVER -> OFFER 10.0.0.101 " {
		t.Fatalf("unanswered offer: %q", got)
	}
	// Its late REQUEST is a row of its own.
	f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, b, withServerID("10.0.0.1"), withRequested("10.0.0.101")))
	if got := summaries(f.events.take()); len(got) != 1 || got[0] != "REQUEST -> ACK 10.0.0.101 " {
		t.Fatalf("late REQUEST: %q", got)
	}

	// c takes another server's offer: ours is recorded at once.
	f.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, c))
	f.h.Handle(ctx, req(dhcpv4.MessageTypeRequest, c, withServerID("10.0.0.9"), withRequested("192.168.0.3")))
	if got := summaries(f.events.take()); len(got) != 1 || got[0] != "DISCOVER -> OFFER 10.0.0.102 " {
		t.Fatalf("offer declined for another server: %q", got)
	}

	// A retransmitted DISCOVER records the OFFER it replaces; a final
	// flush records what still waits.
	f2 := newFixture(t, nil)
	f2.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, a))
	f2.clk.add(time.Second)
	f2.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, a))
	if got := summaries(f2.events.take()); len(got) != 1 {
		t.Fatalf("retransmission: %q", got)
	}
	f2.h.FlushOffers(true)
	if got := summaries(f2.events.take()); len(got) != 1 || got[0] != "DISCOVER -> OFFER 10.0.0.100 " {
		t.Fatalf("final flush: %q", got)
	}
	if len(f2.h.offers) != 0 || len(f2.h.offerOrder) != 0 {
		t.Fatalf("left held: %d offers, %d in order", len(f2.h.offers), len(f2.h.offerOrder))
	}

	// With maxHeldOffers waiting, a new OFFER is recorded at once.
	for i := range maxHeldOffers {
		f2.h.offers[offerKey{xid: dhcpv4.TransactionID{byte(i >> 8), byte(i)}}] = boot.Event{}
	}
	f2.h.Handle(ctx, req(dhcpv4.MessageTypeDiscover, b))
	if got := summaries(f2.events.take()); len(got) != 1 || got[0] != "DISCOVER -> OFFER 10.0.0.101 " {
		t.Fatalf("with the hold full: %q", got)
	}
}
