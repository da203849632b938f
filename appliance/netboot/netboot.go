// Package netboot answers the boot services' questions from the inventory:
// it implements boot.Booter on the SQLite store and the pure boot decision.
package netboot

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
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
}

// Host returns the reservation for a MAC from the inventory.
func (s *Service) Host(ctx context.Context, mac net.HardwareAddr) (boot.Host, bool, error) {
	ip, hostname, ok, err := s.Store.Reservation(ctx, mac.String())
	if err != nil || !ok {
		return boot.Host{}, false, err
	}
	h := boot.Host{Hostname: hostname}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return boot.Host{}, false, fmt.Errorf("reservation for %s: %w", mac, err)
		}
		h.IP = a
	}
	return h, true, nil
}

// Boot looks the machine up, records it as discovered if it is new, and
// turns the pure decision into a script decision.
func (s *Service) Boot(ctx context.Context, c boot.Client) (boot.Decision, error) {
	m, err := s.Store.MachineByMAC(ctx, c.MAC.String())
	var mp *appliance.Machine
	switch {
	case err == nil:
		mp = &m
	case appliance.IsCode(err, appliance.CodeNotFound):
		key, _ := appliance.IdentityKey(c.Serial, c.UUID, "")
		m, err = s.Store.Discover(ctx, c.MAC.String(), key)
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
		// The BMC's EFI boot flag follows the firmware the machine last
		// booted with.
		fw := "bios"
		if c.Firmware.EFI() {
			fw = "efi"
		}
		if err := s.Store.SetFirmware(ctx, mp.ID, fw); err != nil {
			return boot.Decision{}, err
		}
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
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	tok, err := s.Store.IssueToken(ctx, sqlite.Token{
		MAC: c.MAC.String(), Purpose: string(d.Mode), Expires: now().Add(s.Cfg.TokenTTL),
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
