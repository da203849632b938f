// Package dhcp is Outpost's DHCPv4 server: a handler that turns one request
// packet into at most one reply packet, and a loop that serves it on a
// connection the caller opens. Addresses are kept in memory and made
// durable through LeaseStore before any ACK leaves.
package dhcp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/outpostdc/outpost/boot"
)

// Result says what the handler did with a packet, for metrics and logs.
type Result string

// Results. Anything but the first five means no reply was sent.
const (
	ResultOffer       Result = "offer"
	ResultAck         Result = "ack"
	ResultNak         Result = "nak"
	ResultInform      Result = "inform"
	ResultProxy       Result = "proxy"
	ResultReleased    Result = "released"
	ResultDeclined    Result = "declined"
	ResultIgnored     Result = "ignored"
	ResultOtherServer Result = "other_server"
	ResultNoSubnet    Result = "no_subnet"
	ResultExhausted   Result = "pool_exhausted"
	ResultStoreError  Result = "store_error"
	ResultLookupError Result = "lookup_error"
	ResultMalformed   Result = "malformed"
)

// Deps are the handler's collaborators.
type Deps struct {
	Booter   boot.Booter
	Leases   LeaseStore
	Recorder boot.Recorder // may be nil
	Now      func() time.Time
	Log      *slog.Logger
}

// Handler answers DHCPv4 requests. It does I/O only through its Deps.
type Handler struct {
	cfg  Config
	deps Deps

	mu    sync.Mutex
	pools []*pool
	// chained remembers iPXE ROMs just sent Outpost's iPXE binary.
	chained map[string]chainState
	// offers holds DISCOVER -> OFFER steps briefly, so that an exchange
	// the client completes makes one timeline row, not two: at thousands
	// of exchanges a second the second row costs a fifth of the CPU.
	offers     map[offerKey]boot.Event
	offerOrder []heldOffer // oldest first; entries already taken are skipped
}

// offerKey names one exchange: a client's MAC and its transaction ID.
type offerKey struct {
	mac [6]byte
	xid dhcpv4.TransactionID
}

type heldOffer struct {
	k  offerKey
	at time.Time
}

// offerWait is how long an OFFER's timeline step waits for its REQUEST
// before it is recorded on its own; maxHeldOffers bounds the steps
// waiting, past which they are recorded at once.
const (
	offerWait     = 3 * time.Second
	maxHeldOffers = 1 << 14
)

// chainState tells an iPXE ROM from the iPXE binary it loads: both say
// "iPXE". The ROM's exchange is answered with the binary; a different
// transaction from the same MAC soon after is the binary itself, and gets
// the script. The answers alternate, so no loop is possible.
type chainState struct {
	xid dhcpv4.TransactionID
	at  time.Time
}

// chainWindow is how long after a chain the next iPXE request counts as
// coming from the chained binary.
const chainWindow = 2 * time.Minute

// NewHandler returns a handler for cfg, which must have been validated.
func NewHandler(cfg Config, d Deps) *Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Recorder == nil {
		d.Recorder = boot.RecorderFunc(func(boot.Event) {})
	}
	h := &Handler{cfg: cfg, deps: d, chained: map[string]chainState{}, offers: map[offerKey]boot.Event{}}
	for _, s := range cfg.Subnets {
		h.pools = append(h.pools, newPool(s))
	}
	return h
}

// Restore loads leases from storage; call it before serving.
func (h *Handler) Restore(leases []Lease) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range leases {
		l := leases[i]
		if p := h.poolFor(l.IP); p != nil {
			p.put(&l)
		}
	}
}

// LeasesInUse counts bound, unexpired leases.
func (h *Handler) LeasesInUse() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	now := h.deps.Now()
	for _, p := range h.pools {
		n += p.inUse(now)
	}
	return n
}

func (h *Handler) poolFor(a netip.Addr) *pool {
	for _, p := range h.pools {
		if p.subnet.Contains(a) {
			return p
		}
	}
	return nil
}

// Handle returns the reply to req, or nil when none is due.
func (h *Handler) Handle(ctx context.Context, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, Result) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return nil, ResultMalformed
	}
	fw := Detect(req)
	mt := req.MessageType()
	if h.cfg.Proxy {
		if mt != dhcpv4.MessageTypeDiscover || !fw.PXE {
			return nil, ResultIgnored
		}
		r := h.reply(req, dhcpv4.MessageTypeOffer)
		file := h.bootOptions(r, req, fw)
		if file == "" {
			return nil, ResultIgnored
		}
		h.record(req, fw, netip.Addr{}, "DISCOVER -> proxy OFFER "+file, file)
		return r, ResultProxy
	}
	switch mt {
	case dhcpv4.MessageTypeDiscover:
		return h.discover(ctx, req, fw)
	case dhcpv4.MessageTypeRequest:
		return h.request(ctx, req, fw)
	case dhcpv4.MessageTypeDecline:
		return nil, h.decline(ctx, req)
	case dhcpv4.MessageTypeRelease:
		return nil, h.release(ctx, req)
	case dhcpv4.MessageTypeInform:
		return h.inform(req)
	}
	return nil, ResultIgnored
}

// HandleBootServer answers a PXE client's request on port 4011, which EDK2
// sends after a ProxyDHCP offer. The reply carries boot options only.
func (h *Handler) HandleBootServer(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, Result) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || len(req.ClientHWAddr) != 6 ||
		req.MessageType() != dhcpv4.MessageTypeRequest {
		return nil, ResultIgnored
	}
	fw := Detect(req)
	if !fw.PXE {
		return nil, ResultIgnored
	}
	r := h.reply(req, dhcpv4.MessageTypeAck)
	r.ClientIPAddr = req.ClientIPAddr
	file := h.bootOptions(r, req, fw)
	if file == "" {
		return nil, ResultIgnored
	}
	h.record(req, fw, netip.Addr{}, "boot server REQUEST -> ACK "+file, file)
	return r, ResultProxy
}

// subnetFor picks the subnet a request belongs to: the relay's, the
// client's current address's, or the server's own.
func (h *Handler) subnetFor(req *dhcpv4.DHCPv4) *pool {
	if a, ok := addr4(req.GatewayIPAddr); ok {
		return h.poolFor(a)
	}
	if a, ok := addr4(req.ClientIPAddr); ok {
		if p := h.poolFor(a); p != nil {
			return p
		}
	}
	return h.poolFor(h.cfg.ServerID)
}

func (h *Handler) discover(ctx context.Context, req *dhcpv4.DHCPv4, fw boot.Firmware) (*dhcpv4.DHCPv4, Result) {
	p := h.subnetFor(req)
	if p == nil {
		return nil, ResultNoSubnet
	}
	mac := req.ClientHWAddr
	host, hasHost, err := h.deps.Booter.Host(ctx, mac)
	if err != nil {
		h.deps.Log.Error("dhcp: reservation lookup failed", "mac", mac, "err", err)
		return nil, ResultLookupError
	}
	now := h.deps.Now()

	h.mu.Lock()
	ip, ok := h.pick(p, req, host, hasHost, now)
	if ok {
		cur := p.byIP[ip]
		if cur == nil || cur.State != StateBound || string(cur.MAC) != string(mac) || !cur.held(now) {
			p.put(&Lease{IP: ip, MAC: cloneMAC(mac), Hostname: host.Hostname, State: StateOffered,
				Expires: now.Add(h.cfg.OfferHold), Updated: now})
		}
	}
	h.mu.Unlock()
	if !ok {
		h.deps.Log.Warn("dhcp: pool exhausted", "subnet", p.subnet.Prefix, "mac", mac)
		return nil, ResultExhausted
	}

	r := h.reply(req, dhcpv4.MessageTypeOffer)
	h.addressOptions(r, p.subnet, ip, host.Hostname)
	file := h.bootOptions(r, req, fw)
	h.holdOffer(req, h.event(req, fw, ip, "DISCOVER -> OFFER "+ip.String()+" "+file, file))
	return r, ResultOffer
}

// pick chooses the address to offer. Call with h.mu held.
func (h *Handler) pick(p *pool, req *dhcpv4.DHCPv4, host boot.Host, hasHost bool, now time.Time) (netip.Addr, bool) {
	mac := req.ClientHWAddr
	if hasHost && host.IP.IsValid() && p.subnet.Contains(host.IP) {
		if p.freeFor(host.IP, mac, now) {
			return host.IP, true
		}
		h.deps.Log.Warn("dhcp: reserved address is held by another client", "ip", host.IP, "mac", mac)
	}
	if cur := p.forMAC(mac); cur != nil && cur.State != StateDeclined && p.subnet.InPool(cur.IP) && p.freeFor(cur.IP, mac, now) {
		return cur.IP, true
	}
	if a, ok := addr4(req.RequestedIPAddress()); ok && p.subnet.InPool(a) && p.freeFor(a, mac, now) {
		return a, true
	}
	return p.next(now)
}

func (h *Handler) request(ctx context.Context, req *dhcpv4.DHCPv4, fw boot.Firmware) (*dhcpv4.DHCPv4, Result) {
	mac := req.ClientHWAddr
	sid, hasSID := addr4(req.ServerIdentifier())
	requested, hasReq := addr4(req.RequestedIPAddress())
	ciaddr, hasCI := addr4(req.ClientIPAddr)

	if hasSID && sid != h.cfg.ServerID {
		// The client chose another server: free what we offered.
		if e, ok := h.takeOffer(req); ok {
			h.deps.Recorder.Record(e)
		}
		h.mu.Lock()
		if p := h.subnetFor(req); p != nil {
			if cur := p.forMAC(mac); cur != nil && cur.State == StateOffered {
				cur.State = StateReleased
				cur.Expires = h.deps.Now()
				p.changed(cur)
			}
		}
		h.mu.Unlock()
		return nil, ResultOtherServer
	}
	var ip netip.Addr
	switch {
	case hasReq:
		ip = requested // SELECTING or INIT-REBOOT
	case hasCI:
		ip = ciaddr // RENEWING or REBINDING
	default:
		return nil, ResultMalformed
	}
	p := h.subnetFor(req)
	if p == nil {
		return nil, ResultNoSubnet
	}
	if !p.subnet.Contains(ip) {
		return h.nak(req, fw, ip, "address not on this subnet")
	}
	host, hasHost, err := h.deps.Booter.Host(ctx, mac)
	if err != nil {
		h.deps.Log.Error("dhcp: reservation lookup failed", "mac", mac, "err", err)
		return nil, ResultLookupError
	}
	reservedHere := hasHost && host.IP == ip
	if hasHost && host.IP.IsValid() && p.subnet.Contains(host.IP) && host.IP != ip {
		// The client must move to its reservation.
		return h.nak(req, fw, ip, "client has a reservation at "+host.IP.String())
	}
	now := h.deps.Now()

	h.mu.Lock()
	if !p.freeFor(ip, mac, now) {
		h.mu.Unlock()
		return h.nak(req, fw, ip, "address held by another client")
	}
	if !reservedHere && !p.subnet.InPool(ip) {
		h.mu.Unlock()
		return h.nak(req, fw, ip, "address outside the pool")
	}
	prev := p.byIP[ip]
	var prevCopy Lease
	if prev != nil {
		prevCopy = *prev
	}
	l := &Lease{IP: ip, MAC: cloneMAC(mac), Hostname: host.Hostname, State: StateBound,
		Expires: now.Add(h.cfg.LeaseTime), Updated: now}
	p.put(l)
	h.mu.Unlock()

	if err := h.deps.Leases.SaveLease(ctx, *l); err != nil {
		h.deps.Log.Error("dhcp: lease not saved; no ACK sent", "ip", ip, "mac", mac, "err", err)
		h.mu.Lock()
		if p.byIP[ip] == l {
			if prev != nil {
				*prev = prevCopy
				p.put(prev)
			} else {
				p.remove(ip)
			}
		}
		h.mu.Unlock()
		return nil, ResultStoreError
	}

	r := h.reply(req, dhcpv4.MessageTypeAck)
	r.ClientIPAddr = req.ClientIPAddr
	h.addressOptions(r, p.subnet, ip, host.Hostname)
	file := h.bootOptions(r, req, fw)
	h.record(req, fw, ip, "REQUEST -> ACK "+ip.String()+" "+file, file)
	return r, ResultAck
}

// holdOffer keeps an OFFER's step for its REQUEST, or records it now when
// too many wait. A retransmitted DISCOVER records the step it replaces.
func (h *Handler) holdOffer(req *dhcpv4.DHCPv4, e boot.Event) {
	k := offerKey{mac: [6]byte(req.ClientHWAddr), xid: req.TransactionID}
	h.mu.Lock()
	prev, had := h.offers[k]
	full := !had && len(h.offers) >= maxHeldOffers
	if !full {
		h.offers[k] = e
		h.offerOrder = append(h.offerOrder, heldOffer{k: k, at: e.Time})
	}
	h.mu.Unlock()
	if had {
		h.deps.Recorder.Record(prev)
	}
	if full {
		h.deps.Recorder.Record(e)
	}
}

// takeOffer removes and returns the held OFFER step of req's exchange.
func (h *Handler) takeOffer(req *dhcpv4.DHCPv4) (boot.Event, bool) {
	if len(req.ClientHWAddr) != 6 {
		return boot.Event{}, false
	}
	k := offerKey{mac: [6]byte(req.ClientHWAddr), xid: req.TransactionID}
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.offers[k]
	if ok {
		delete(h.offers, k)
	}
	return e, ok
}

// FlushOffers records the OFFER steps that have waited offerWait for a
// REQUEST, or all of them when final. The server calls it every second
// and when it stops.
func (h *Handler) FlushOffers(final bool) {
	cutoff := h.deps.Now().Add(-offerWait)
	var out []boot.Event
	h.mu.Lock()
	n := 0
	for _, o := range h.offerOrder {
		if !final && o.at.After(cutoff) {
			break
		}
		n++
		if e, ok := h.offers[o.k]; ok && e.Time.Equal(o.at) {
			delete(h.offers, o.k)
			out = append(out, e)
		}
	}
	h.offerOrder = h.offerOrder[n:]
	if len(h.offerOrder) == 0 {
		h.offerOrder = nil // let a burst's backing array go
	}
	h.mu.Unlock()
	for _, e := range out {
		h.deps.Recorder.Record(e)
	}
}

func (h *Handler) nak(req *dhcpv4.DHCPv4, fw boot.Firmware, ip netip.Addr, why string) (*dhcpv4.DHCPv4, Result) {
	r := h.reply(req, dhcpv4.MessageTypeNak)
	r.UpdateOption(dhcpv4.OptMessage(why))
	if !isZero(req.GatewayIPAddr) {
		r.SetBroadcast()
	}
	h.record(req, fw, ip, "REQUEST "+ip.String()+" -> NAK: "+why, "")
	return r, ResultNak
}

func (h *Handler) decline(ctx context.Context, req *dhcpv4.DHCPv4) Result {
	ip, ok := addr4(req.RequestedIPAddress())
	if !ok {
		return ResultMalformed
	}
	now := h.deps.Now()
	h.mu.Lock()
	p := h.poolFor(ip)
	var l *Lease
	if p != nil {
		if cur := p.byIP[ip]; cur != nil && string(cur.MAC) == string(req.ClientHWAddr) {
			l = &Lease{IP: ip, State: StateDeclined, Expires: now.Add(h.cfg.DeclineHold), Updated: now}
			p.put(l)
			delete(p.byMAC, string(req.ClientHWAddr))
		}
	}
	h.mu.Unlock()
	if l == nil {
		return ResultIgnored
	}
	h.deps.Log.Warn("dhcp: client declined address; it is out of the pool for a while",
		"ip", ip, "mac", req.ClientHWAddr, "hold", h.cfg.DeclineHold)
	h.record(req, Detect(req), ip, "DECLINE "+ip.String(), "")
	if err := h.deps.Leases.SaveLease(ctx, *l); err != nil {
		h.deps.Log.Error("dhcp: declined address not saved", "ip", ip, "err", err)
		return ResultStoreError
	}
	return ResultDeclined
}

func (h *Handler) release(ctx context.Context, req *dhcpv4.DHCPv4) Result {
	ip, ok := addr4(req.ClientIPAddr)
	if !ok {
		return ResultMalformed
	}
	now := h.deps.Now()
	h.mu.Lock()
	var l Lease
	found := false
	if p := h.poolFor(ip); p != nil {
		if cur := p.byIP[ip]; cur != nil && string(cur.MAC) == string(req.ClientHWAddr) && cur.State == StateBound {
			cur.State, cur.Expires, cur.Updated = StateReleased, now, now
			l, found = *cur, true
			p.changed(cur)
		}
	}
	h.mu.Unlock()
	if !found {
		return ResultIgnored
	}
	h.record(req, Detect(req), ip, "RELEASE "+ip.String(), "")
	if err := h.deps.Leases.SaveLease(ctx, l); err != nil {
		h.deps.Log.Error("dhcp: release not saved", "ip", ip, "err", err)
		return ResultStoreError
	}
	return ResultReleased
}

func (h *Handler) inform(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, Result) {
	ci, ok := addr4(req.ClientIPAddr)
	if !ok {
		return nil, ResultMalformed
	}
	p := h.subnetFor(req)
	if p == nil {
		return nil, ResultNoSubnet
	}
	r := h.reply(req, dhcpv4.MessageTypeAck)
	r.ClientIPAddr = req.ClientIPAddr
	h.networkOptions(r, p.subnet)
	fw := Detect(req)
	file := h.bootOptions(r, req, fw)
	h.record(req, fw, ci, "INFORM -> ACK "+file, file)
	return r, ResultInform
}

// reply starts a reply to req. Building it by hand, rather than with
// dhcpv4.NewReplyFromRequest, avoids drawing a transaction ID we discard.
func (h *Handler) reply(req *dhcpv4.DHCPv4, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	r := &dhcpv4.DHCPv4{
		OpCode:        dhcpv4.OpcodeBootReply,
		HWType:        req.HWType,
		TransactionID: req.TransactionID,
		Flags:         req.Flags,
		ClientIPAddr:  net.IPv4zero,
		YourIPAddr:    net.IPv4zero,
		ServerIPAddr:  net.IPv4zero,
		GatewayIPAddr: req.GatewayIPAddr,
		ClientHWAddr:  req.ClientHWAddr,
		Options:       dhcpv4.Options{},
	}
	r.UpdateOption(dhcpv4.OptMessageType(mt))
	r.UpdateOption(dhcpv4.OptServerIdentifier(h.cfg.ServerID.AsSlice()))
	for _, c := range []dhcpv4.OptionCode{dhcpv4.OptionRelayAgentInformation, dhcpv4.OptionClientIdentifier} {
		if v := req.Options.Get(c); v != nil {
			r.Options[c.Code()] = v
		}
	}
	return r
}

func (h *Handler) addressOptions(r *dhcpv4.DHCPv4, s Subnet, ip netip.Addr, hostname string) {
	r.YourIPAddr = ip.AsSlice()
	lt := h.cfg.LeaseTime
	r.UpdateOption(dhcpv4.OptIPAddressLeaseTime(lt))
	r.UpdateOption(dhcpv4.OptRenewTimeValue(lt / 2))
	r.UpdateOption(dhcpv4.OptRebindingTimeValue(lt * 7 / 8))
	if hostname != "" {
		r.UpdateOption(dhcpv4.OptHostName(hostname))
	}
	h.networkOptions(r, s)
}

func (h *Handler) networkOptions(r *dhcpv4.DHCPv4, s Subnet) {
	r.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(s.Prefix.Bits(), 32)))
	if s.Router.IsValid() {
		r.UpdateOption(dhcpv4.OptRouter(s.Router.AsSlice()))
	}
	if len(s.DNS) > 0 {
		ips := make([]net.IP, len(s.DNS))
		for i, a := range s.DNS {
			ips[i] = a.AsSlice()
		}
		r.UpdateOption(dhcpv4.OptDNS(ips...))
	}
	if s.Domain != "" {
		r.UpdateOption(dhcpv4.OptDomainName(s.Domain))
	}
}

// bootOptions adds what a PXE, HTTP-boot or iPXE client needs, and returns
// the boot file, or "" when the client gets none.
func (h *Handler) bootOptions(r, req *dhcpv4.DHCPv4, fw boot.Firmware) string {
	if !fw.PXE && !fw.IPXE {
		return ""
	}
	if fw.IPXE && h.cfg.ChainIPXEROMs && !h.fromChain(req) {
		fw.IPXE = false
	}
	c, ok := h.cfg.Boot.Choose(fw)
	if !ok {
		return ""
	}
	if !fw.IPXE && h.cfg.ChainIPXEROMs {
		h.noteChain(req)
	}
	r.ServerIPAddr = h.cfg.Boot.TFTPServer.AsSlice()
	if len(c.File) < 128 {
		r.BootFileName = c.File
	}
	r.UpdateOption(dhcpv4.OptBootFileName(c.File))
	switch {
	case fw.IPXE:
		// 175.176 = 1 stops iPXE waiting for ProxyDHCP offers.
		r.UpdateOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(optIPXEEncap), []byte{176, 1, 1}))
	case fw.HTTP:
		r.UpdateOption(dhcpv4.OptClassIdentifier("HTTPClient"))
	default:
		r.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
		r.UpdateOption(dhcpv4.OptTFTPServerName(h.cfg.Boot.TFTPServer.String()))
		// PXE option 43, sub-option 6 (discovery control) = 8: take the
		// boot file from this reply and skip boot server discovery.
		r.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}))
	}
	if v := req.Options.Get(dhcpv4.OptionClientMachineIdentifier); v != nil {
		r.Options[dhcpv4.OptionClientMachineIdentifier.Code()] = v
	}
	return c.File
}

// fromChain reports whether an iPXE request comes from the iPXE binary
// this MAC was just sent, rather than from the exchange that sent it.
func (h *Handler) fromChain(req *dhcpv4.DHCPv4) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, ok := h.chained[string(req.ClientHWAddr)]
	return ok && h.deps.Now().Sub(st.at) < chainWindow && st.xid != req.TransactionID
}

// noteChain remembers that this exchange is sending an iPXE binary.
func (h *Handler) noteChain(req *dhcpv4.DHCPv4) {
	now := h.deps.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.chained) > 4096 {
		for k, v := range h.chained {
			if now.Sub(v.at) >= chainWindow {
				delete(h.chained, k)
			}
		}
	}
	if st, ok := h.chained[string(req.ClientHWAddr)]; ok && st.xid == req.TransactionID {
		return
	}
	h.chained[string(req.ClientHWAddr)] = chainState{xid: req.TransactionID, at: now}
}

// record records a step, in one row with the OFFER of its exchange when
// that is still held.
func (h *Handler) record(req *dhcpv4.DHCPv4, fw boot.Firmware, ip netip.Addr, summary, file string) {
	e := h.event(req, fw, ip, summary, file)
	if o, ok := h.takeOffer(req); ok {
		e.Detail["answered"] = e.Time
		e.Time, e.Summary = o.Time, o.Summary+"; "+e.Summary
	}
	h.deps.Recorder.Record(e)
}

func (h *Handler) event(req *dhcpv4.DHCPv4, fw boot.Firmware, ip netip.Addr, summary, file string) boot.Event {
	d := map[string]any{"firmware": fw.String(), "xid": fmt.Sprintf("%#x", req.TransactionID[:])}
	if file != "" {
		d["file"] = file
	}
	if a, ok := addr4(req.GatewayIPAddr); ok {
		d["relay"] = a.String()
	}
	return boot.Event{
		Time: h.deps.Now(), Kind: boot.EventDHCP, MAC: cloneMAC(req.ClientHWAddr), IP: ip,
		Summary: summary, Detail: d,
	}
}

// addr4 converts a packet address, treating nil and 0.0.0.0 as absent.
func addr4(ip net.IP) (netip.Addr, bool) {
	if isZero(ip) {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip.To4())
	return a, ok
}

func isZero(ip net.IP) bool { return ip == nil || ip.To4() == nil || ip.To4().Equal(net.IPv4zero) }

func cloneMAC(m net.HardwareAddr) net.HardwareAddr { return append(net.HardwareAddr(nil), m...) }
