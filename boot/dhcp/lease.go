package dhcp

import (
	"container/heap"
	"context"
	"encoding/binary"
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
//
// Finding a free address must not cost a walk of the pool: once every
// address of a large pool has been used, a walk per DISCOVER took 12 ms
// for a /16. So a pool keeps its leases in a heap by expiry, and the ones
// that have run out in a heap by when they were last changed; both are
// checked against the lease when popped, so entries made stale by later
// changes cost nothing but their place.
type pool struct {
	subnet Subnet
	byIP   map[netip.Addr]*Lease
	byMAC  map[string]*Lease
	cursor netip.Addr
	size   int // addresses in the dynamic pool
	inPool int // of those, how many have a lease, held or not
	expiry leaseHeap
	free   leaseHeap
}

func newPool(s Subnet) *pool {
	return &pool{
		subnet: s,
		byIP:   make(map[netip.Addr]*Lease),
		byMAC:  make(map[string]*Lease),
		cursor: s.PoolStart,
		size:   poolSize(s),
		expiry: leaseHeap{key: func(l *Lease) time.Time { return l.Expires }},
		free:   leaseHeap{key: func(l *Lease) time.Time { return l.Updated }},
	}
}

func poolSize(s Subnet) int {
	a, b := s.PoolStart.As4(), s.PoolEnd.As4()
	return int(binary.BigEndian.Uint32(b[:])-binary.BigEndian.Uint32(a[:])) + 1
}

// changed notes that l's state or times changed: it goes back in line.
func (p *pool) changed(l *Lease) {
	if !p.subnet.InPool(l.IP) {
		return
	}
	p.expiry.add(l)
	if l.State == StateReleased {
		// Free at once, whatever its expiry says.
		p.free.add(l)
	}
	if len(p.expiry.h)+len(p.free.h) > 4*p.inPool+64 {
		p.compact()
	}
}

// compact rebuilds the heaps from the leases, dropping stale entries.
func (p *pool) compact() {
	p.expiry.h, p.free.h = p.expiry.h[:0], p.free.h[:0]
	for _, l := range p.byIP {
		if p.subnet.InPool(l.IP) {
			p.expiry.h = append(p.expiry.h, heapEntry{ip: l.IP, at: l.Expires})
			if l.State == StateReleased {
				p.free.h = append(p.free.h, heapEntry{ip: l.IP, at: l.Updated})
			}
		}
	}
	heap.Init(&p.expiry)
	heap.Init(&p.free)
}

// remove forgets the address's lease, as if it had never been used.
func (p *pool) remove(ip netip.Addr) {
	if l, ok := p.byIP[ip]; ok {
		p.dropMAC(l)
		delete(p.byIP, ip)
		if p.subnet.InPool(ip) {
			p.inPool--
		}
	}
}

// dropMAC forgets l as its client's lease, unless the client has moved on.
func (p *pool) dropMAC(l *Lease) {
	if cur := p.byMAC[string(l.MAC)]; cur == l {
		delete(p.byMAC, string(l.MAC))
	}
}

func (p *pool) put(l *Lease) {
	old, had := p.byIP[l.IP]
	if had {
		p.dropMAC(old)
	}
	if !had && p.subnet.InPool(l.IP) {
		p.inPool++
	}
	p.byIP[l.IP] = l
	if len(l.MAC) > 0 {
		if prev, ok := p.byMAC[string(l.MAC)]; ok && prev != l && prev.IP != l.IP {
			// A client holds one address per subnet; forget the old one.
			if prev.State == StateOffered || prev.State == StateBound {
				prev.State = StateReleased
				p.changed(prev)
			}
		}
		p.byMAC[string(l.MAC)] = l
	}
	p.changed(l)
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
	if p.inPool < p.size {
		// The cursor only moves forward, so finding the unused addresses
		// costs about one walk of the pool in all.
		a := p.cursor
		for range p.size {
			_, used := p.byIP[a]
			next := p.step(a)
			if !used {
				p.cursor = next
				return a, true
			}
			a = next
		}
		p.cursor = a
	}
	// Leases that have run out join the free line, oldest change first.
	for {
		l, ok := p.expiry.peek(p)
		if !ok || l.held(t) {
			break
		}
		p.expiry.pop()
		p.free.add(l)
	}
	for {
		l, ok := p.free.peek(p)
		if !ok {
			return netip.Addr{}, false
		}
		if !l.held(t) {
			return l.IP, true // left in line: taking it makes the entry stale
		}
		p.free.pop()
	}
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

// heapEntry is an address in line at a time; it is stale once its lease
// says another time.
type heapEntry struct {
	ip netip.Addr
	at time.Time
}

// leaseHeap orders addresses by key(lease), earliest first.
type leaseHeap struct {
	h   []heapEntry
	key func(*Lease) time.Time
}

func (h *leaseHeap) Len() int           { return len(h.h) }
func (h *leaseHeap) Less(i, j int) bool { return h.h[i].at.Before(h.h[j].at) }
func (h *leaseHeap) Swap(i, j int)      { h.h[i], h.h[j] = h.h[j], h.h[i] }
func (h *leaseHeap) Push(x any)         { h.h = append(h.h, x.(heapEntry)) }
func (h *leaseHeap) Pop() any {
	x := h.h[len(h.h)-1]
	h.h = h.h[:len(h.h)-1]
	return x
}

func (h *leaseHeap) add(l *Lease) { heap.Push(h, heapEntry{ip: l.IP, at: h.key(l)}) }
func (h *leaseHeap) pop()         { heap.Pop(h) }

// peek returns the lease of the earliest entry that is not stale,
// dropping stale ones on the way.
func (h *leaseHeap) peek(p *pool) (*Lease, bool) {
	for len(h.h) > 0 {
		e := h.h[0]
		if l, ok := p.byIP[e.ip]; ok && h.key(l).Equal(e.at) {
			return l, true
		}
		heap.Pop(h)
	}
	return nil, false
}
