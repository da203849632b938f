// Package netboot answers the boot services' questions from the inventory:
// it implements boot.Booter on the SQLite store and the pure boot decision.
//
// Machine and reservation lookups are cached per MAC for one store generation, so a
// machine that asks again while nothing in the inventory changed costs no
// SQL; any write to the inventory (not leases or boot events) drops the
// whole cache.
package netboot

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/boot"
)

// Config says where the recon image is and how long boot tokens last.
type Config struct {
	// Base is the URL machines reach outpostd's HTTP service at.
	Base string
	// Kernel and Initrds are paths under /images/.
	Kernel  string
	Initrds []string
	// Cmdline is added to every recon kernel command line.
	Cmdline  string
	TokenTTL time.Duration
	Policy   appliance.BootPolicy
}

// Service implements boot.Booter.
type Service struct {
	Store *sqlite.Store
	Cfg   Config
	Log   *slog.Logger
	Now   func() time.Time

	machines genCache[cached]
	hosts    genCache[hostEntry]
	known    macSet
}

// maxCached bounds each lookup cache; past it a cache starts over.
const maxCached = 1 << 16

// genCache holds lookups by MAC as of one store generation: a write to the
// inventory drops them all. Keys are the MAC's bytes, string(mac) in an
// index allocates nothing.
type genCache[V any] struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]V
}

func (l *genCache[V]) get(gen uint64, mac net.HardwareAddr) (V, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen {
		var zero V
		return zero, false
	}
	v, ok := l.m[string(mac)]
	return v, ok
}

// put stores what was read after Generation returned gen.
func (l *genCache[V]) put(gen uint64, mac net.HardwareAddr, v V) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen < l.gen {
		return // read before a newer write
	}
	if gen > l.gen || len(l.m) >= maxCached {
		l.gen, l.m = gen, make(map[string]V)
	}
	if l.m == nil {
		l.m = make(map[string]V)
	}
	l.m[string(mac)] = v
}

// cached is a machine found by MAC, with the firmware stored for it.
type cached struct {
	m  appliance.Machine // without hardware or interfaces: Decide needs neither
	fw string
}

// hostEntry is a reservation lookup, found or not: a DHCP burst of new
// machines asks twice per machine about MACs the inventory lacks.
type hostEntry struct {
	h  boot.Host
	ok bool
}

// macSet is every MAC in the inventory as of one store generation, so
// that a MAC the inventory lacks (every new machine, every stranger on
// the segment, a flood of made-up MACs) is answered without SQL.
type macSet struct {
	mu       sync.Mutex
	gen      uint64
	macs     map[[6]byte]struct{} // nil: none current
	building bool
	builtAt  time.Time
}

// Rebuilding the set reads the whole interfaces table: while the inventory
// keeps changing it is done at most this often, and lookups go to SQL in
// between, as they would without the set.
const (
	macSetEvery = time.Second
	macSetMax   = 1 << 20
)

// lacks reports whether mac is surely not in the inventory at gen.
func (k *macSet) lacks(gen uint64, mac net.HardwareAddr) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.macs == nil || k.gen != gen || len(mac) != 6 {
		return false
	}
	_, in := k.macs[[6]byte(mac)]
	return !in
}

// refreshKnown rebuilds the set for gen if it is stale, none was built
// in the last macSetEvery and no other caller is at it; callers never
// wait for it.
func (s *Service) refreshKnown(ctx context.Context, gen uint64) {
	k := &s.known
	now := s.now()
	k.mu.Lock()
	current := k.macs != nil && k.gen == gen
	recent := !k.builtAt.IsZero() && now.Sub(k.builtAt) < macSetEvery
	if k.building || current || recent {
		k.mu.Unlock()
		return
	}
	k.building = true
	k.mu.Unlock()
	macs, ok, err := s.Store.InventoryMACs(ctx, macSetMax)
	if err != nil && s.Log != nil {
		s.Log.Warn("netboot: inventory MACs not read; reservations are looked up one by one", "err", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.building, k.builtAt = false, now
	if err != nil || !ok {
		k.macs = nil
		return
	}
	k.gen, k.macs = gen, macs
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Host returns the reservation for a MAC from the inventory.
func (s *Service) Host(ctx context.Context, mac net.HardwareAddr) (boot.Host, bool, error) {
	gen := s.Store.Generation()
	if e, ok := s.hosts.get(gen, mac); ok {
		return e.h, e.ok, nil
	}
	if s.known.lacks(gen, mac) {
		return boot.Host{}, false, nil
	}
	s.refreshKnown(ctx, gen)
	ip, hostname, ok, err := s.Store.Reservation(ctx, mac.String())
	if err != nil {
		return boot.Host{}, false, err
	}
	var h boot.Host
	if ok {
		h.Hostname = hostname
		if ip != "" {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return boot.Host{}, false, fmt.Errorf("reservation for %s: %w", mac, err)
			}
			h.IP = a
		}
	}
	s.hosts.put(gen, mac, hostEntry{h: h, ok: ok})
	return h, ok, nil
}

// Boot looks the machine up, records it as discovered if it is new, and
// turns the pure decision into a script decision.
func (s *Service) Boot(ctx context.Context, c boot.Client) (boot.Decision, error) {
	// The BMC's EFI boot flag follows the firmware the machine last
	// booted with.
	fw := "bios"
	if c.Firmware.EFI() {
		fw = "efi"
	}
	gen := s.Store.Generation()
	if hit, ok := s.machines.get(gen, c.MAC); ok && hit.fw == fw {
		return s.script(ctx, c, &hit.m, appliance.Decide(&hit.m, c.Firmware, s.Cfg.Policy))
	}
	mac := c.MAC.String()
	m, err := s.Store.MachineByMAC(ctx, mac)
	var mp *appliance.Machine
	switch {
	case err == nil:
		mp = &m
	case appliance.IsCode(err, appliance.CodeNotFound):
		key, _ := appliance.IdentityKey(c.Serial, c.UUID, "")
		m, err = s.Store.Discover(ctx, mac, key)
		if err != nil {
			return boot.Decision{}, err
		}
		// Unknown until ingested: decide as for an unknown machine.
		if m.State != appliance.StateDiscovered {
			mp = &m
		}
	default:
		return boot.Decision{}, err
	}
	if mp != nil {
		if err := s.Store.SetFirmware(ctx, mp.ID, fw); err != nil {
			return boot.Decision{}, err
		}
		slim := *mp
		slim.Hardware, slim.Interfaces = nil, nil
		s.machines.put(gen, c.MAC, cached{m: slim, fw: fw})
	}
	d := appliance.Decide(mp, c.Firmware, s.Cfg.Policy)
	return s.script(ctx, c, mp, d)
}

func (s *Service) script(ctx context.Context, c boot.Client, m *appliance.Machine, d appliance.Decision) (boot.Decision, error) {
	out := boot.Decision{Reason: d.Reason, Message: d.Message}
	switch d.Mode {
	case appliance.BootLocal:
		out.Action = boot.ActionLocal
		return out, nil
	case appliance.BootHalt:
		out.Action = boot.ActionHalt
		return out, nil
	}
	tok, err := s.Store.IssueToken(ctx, sqlite.Token{
		MAC: c.MAC.String(), Purpose: string(d.Mode), Expires: s.now().Add(s.Cfg.TokenTTL),
	})
	if err != nil {
		return boot.Decision{}, fmt.Errorf("boot token: %w", err)
	}
	out.Action = boot.ActionLinux
	out.Kernel = s.Cfg.Base + "/images/" + s.Cfg.Kernel
	var args []string
	for _, i := range s.Cfg.Initrds {
		out.Initrds = append(out.Initrds, s.Cfg.Base+"/images/"+i)
		// EFI stub kernels find what iPXE loaded by initrd= on the
		// command line; BIOS kernels ignore it.
		args = append(args, "initrd="+baseName(i))
	}
	args = append(args,
		"outpost.url="+s.Cfg.Base,
		"outpost.mode="+string(d.Mode),
		"outpost.mac="+c.MAC.String(),
		"outpost.token="+tok,
	)
	if m != nil {
		args = append(args, fmt.Sprintf("outpost.machine=%d", m.ID))
	}
	if s.Cfg.Cmdline != "" {
		args = append(args, s.Cfg.Cmdline)
	}
	out.Cmdline = strings.Join(args, " ")
	return out, nil
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
