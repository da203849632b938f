package dhcp

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// LeaseState is where an address stands.
type LeaseState string

// Lease states. Only bound leases are persisted as in use; released and
// declined are persisted so that a restart does not forget them.
const (
	StateOffered  LeaseState = "offered"
	StateBound    LeaseState = "bound"
	StateReleased LeaseState = "released"
	StateDeclined LeaseState = "declined"
)

// Lease is one address's binding.
type Lease struct {
	IP       netip.Addr
	MAC      net.HardwareAddr // empty for declined addresses
	Hostname string
	State    LeaseState
	Expires  time.Time
	Updated  time.Time
}

// LeaseStore persists leases. It is the handler's only way to storage.
type LeaseStore interface {
	// SaveLease must not return until l is durable: a reply is sent only
	// after it returns nil.
	SaveLease(ctx context.Context, l Lease) error
}

// held reports whether the address is unavailable to other clients at t.
func (l *Lease) held(t time.Time) bool {
	switch l.State {
	case StateOffered, StateBound, StateDeclined:
		return t.Before(l.Expires)
	}
	return false
}

// pool tracks one subnet's addresses in memory. The store is the durable
// copy; the pool is rebuilt from it at start.
type pool struct {
	subnet Subnet
	byIP   map[netip.Addr]*Lease
	byMAC  map[string]*Lease
	cursor netip.Addr
	// fullUntil is when a held address may next come free, set when a
	// scan found none: until then an exhausted pool answers without
	// scanning, so a flood of new MACs costs no more once it is full.
	// Anything that frees an address clears it.
	fullUntil time.Time
}

func newPool(s Subnet) *pool {
	return &pool{
		subnet: s,
		byIP:   make(map[netip.Addr]*Lease),
		byMAC:  make(map[string]*Lease),
		cursor: s.PoolStart,
	}
}

// freed clears the exhausted mark after a change that may free an address.
func (p *pool) freed() { p.fullUntil = time.Time{} }

func (p *pool) put(l *Lease) {
	p.freed()
	if old, ok := p.byIP[l.IP]; ok && len(old.MAC) > 0 {
		if cur := p.byMAC[string(old.MAC)]; cur == old {
			delete(p.byMAC, string(old.MAC))
		}
	}
	p.byIP[l.IP] = l
	if len(l.MAC) > 0 {
		if prev, ok := p.byMAC[string(l.MAC)]; ok && prev != l && prev.IP != l.IP {
			// A client holds one address per subnet; forget the old one.
			if prev.State == StateOffered || prev.State == StateBound {
				prev.State = StateReleased
			}
		}
		p.byMAC[string(l.MAC)] = l
	}
}

// forMAC returns the client's current lease, if any.
func (p *pool) forMAC(mac net.HardwareAddr) *Lease { return p.byMAC[string(mac)] }

// freeFor reports whether ip may be given to mac at t.
func (p *pool) freeFor(ip netip.Addr, mac net.HardwareAddr, t time.Time) bool {
	l, ok := p.byIP[ip]
	if !ok {
		return true
	}
	if len(l.MAC) > 0 && string(l.MAC) == string(mac) && l.State != StateDeclined {
		return true
	}
	return !l.held(t)
}

// next finds a free pool address, preferring ones never used, then the
// one that has been free the longest. Reservations live outside the pool,
// so they need no check here.
func (p *pool) next(t time.Time) (netip.Addr, bool) {
	if t.Before(p.fullUntil) {
		return netip.Addr{}, false
	}
	var oldest netip.Addr
	var oldestT, soonest time.Time
	start := p.cursor
	a := start
	for {
		l, used := p.byIP[a]
		if !used {
			p.cursor = p.step(a)
			return a, true
		}
		if !l.held(t) {
			if !oldest.IsValid() || l.Updated.Before(oldestT) {
				oldest, oldestT = a, l.Updated
			}
		} else if soonest.IsZero() || l.Expires.Before(soonest) {
			soonest = l.Expires
		}
		a = p.step(a)
		if a == start {
			break
		}
	}
	if !oldest.IsValid() {
		p.fullUntil = soonest
	}
	return oldest, oldest.IsValid()
}

func (p *pool) step(a netip.Addr) netip.Addr {
	if a == p.subnet.PoolEnd {
		return p.subnet.PoolStart
	}
	return a.Next()
}

// inUse counts bound, unexpired leases.
func (p *pool) inUse(t time.Time) int {
	n := 0
	for _, l := range p.byIP {
		if l.State == StateBound && t.Before(l.Expires) {
			n++
		}
	}
	return n
}
