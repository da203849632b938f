package dhcp

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"
)

// The pool's lines of leases must give what a walk of the pool would:
// an unused address while there is one, else a free one changed no later
// than any other free one, and nothing while every address is held.
func TestPoolAgainstWalk(t *testing.T) {
	s := Subnet{Prefix: netip.MustParsePrefix("10.0.0.0/24"),
		PoolStart: netip.MustParseAddr("10.0.0.10"), PoolEnd: netip.MustParseAddr("10.0.0.29")}
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		p := newPool(s)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		addr := func() netip.Addr {
			a := s.PoolStart
			for range rng.IntN(p.size) {
				a = a.Next()
			}
			return a
		}
		for step := range 2000 {
			switch rng.IntN(5) {
			case 0, 1:
				st := []LeaseState{StateOffered, StateBound, StateDeclined}[rng.IntN(3)]
				p.put(&Lease{IP: addr(), MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(rng.IntN(30))}, State: st,
					Expires: now.Add(time.Duration(rng.IntN(60)) * time.Second), Updated: now})
			case 2:
				if l := p.byIP[addr()]; l != nil {
					l.State, l.Expires, l.Updated = StateReleased, now, now
					p.changed(l)
				}
			case 3:
				now = now.Add(time.Duration(rng.IntN(5)) * time.Second)
			case 4:
				got, ok := p.next(now)
				unused, free := 0, []*Lease{}
				for a := s.PoolStart; a.Compare(s.PoolEnd) <= 0; a = a.Next() {
					l, used := p.byIP[a]
					switch {
					case !used:
						unused++
					case !l.held(now):
						free = append(free, l)
					}
				}
				if !ok {
					if unused > 0 || len(free) > 0 {
						t.Fatalf("seed %d step %d: exhausted with %d unused and %d free", seed, step, unused, len(free))
					}
					continue
				}
				l, used := p.byIP[got]
				if !used {
					continue
				}
				if unused > 0 {
					t.Fatalf("seed %d step %d: gave used %s while %d are unused", seed, step, got, unused)
				}
				if l.held(now) {
					t.Fatalf("seed %d step %d: gave held %s (%s until %v, now %v)", seed, step, got, l.State, l.Expires, now)
				}
				for _, f := range free {
					if f.Updated.Before(l.Updated) {
						t.Fatalf("seed %d step %d: gave %s changed %v; %s was free since %v", seed, step, got, l.Updated, f.IP, f.Updated)
					}
				}
			}
		}
		if n := len(p.expiry.h) + len(p.free.h); n > 4*p.inPool+64+1 {
			t.Fatalf("seed %d: %d heap entries for %d leases", seed, n, p.inPool)
		}
	}
}
