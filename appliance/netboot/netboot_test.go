package netboot

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/boot"
)

func newService(t *testing.T) *Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Service{Store: st, Cfg: Config{Base: "http://10.0.0.1", Kernel: "recon/vmlinuz",
		Initrds: []string{"recon/initramfs.cpio.gz"}, Cmdline: "console=ttyS0", TokenTTL: time.Minute,
		Policy: appliance.BootPolicy{Arches: []boot.Arch{boot.ArchBIOS, boot.ArchEFIx64}}}}
}

var tokenRe = regexp.MustCompile(`outpost\.token=(\S+)`)

func TestBootUnknownMachine(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	mac, _ := net.ParseMAC("52:54:00:00:00:01")
	d, err := s.Boot(ctx, boot.Client{MAC: mac, Serial: "SN77", Firmware: boot.Firmware{IPXE: true}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != boot.ActionLinux || d.Kernel != "http://10.0.0.1/images/recon/vmlinuz" ||
		len(d.Initrds) != 1 || !strings.Contains(d.Cmdline, "outpost.mode=recon") ||
		!strings.Contains(d.Cmdline, "initrd=initramfs.cpio.gz") || !strings.Contains(d.Cmdline, "console=ttyS0") {
		t.Fatalf("decision %+v", d)
	}
	m, err := s.Store.MachineByMAC(ctx, "52:54:00:00:00:01")
	if err != nil || m.State != appliance.StateDiscovered || m.Serial != "SN77" {
		t.Fatalf("discovered machine %+v %v", m, err)
	}
	tok := tokenRe.FindStringSubmatch(d.Cmdline)[1]
	if err := s.Store.ConsumeToken(ctx, tok, "52:54:00:00:00:01", "recon", nil); err != nil {
		t.Fatalf("the token on the command line is not a recon token for this MAC: %v", err)
	}
	// Booting again still gets recon, with a fresh token.
	d2, _ := s.Boot(ctx, boot.Client{MAC: mac, Firmware: boot.Firmware{IPXE: true}})
	if tokenRe.FindStringSubmatch(d2.Cmdline)[1] == tok {
		t.Fatal("token reused across boots")
	}
}

func TestBootByState(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	for i, tc := range []struct {
		state  appliance.State
		action boot.Action
		mode   string
	}{
		{appliance.StateReady, boot.ActionLinux, "wait"},
		{appliance.StateInstalling, boot.ActionLinux, "install"},
		{appliance.StateRecycling, boot.ActionLinux, "wipe"},
		{appliance.StateDeployed, boot.ActionLocal, ""},
		{appliance.StateBroken, boot.ActionLocal, ""},
	} {
		mac := net.HardwareAddr{0x52, 0x54, 0, 0, 1, byte(i)}
		m, err := s.Store.CreateMachine(ctx, sqlite.NewMachine{Serial: "S" + string(tc.state), MACs: []string{mac.String()}, State: tc.state}, "t", "")
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.Boot(ctx, boot.Client{MAC: mac, Firmware: boot.Firmware{Arch: boot.ArchEFIx64, IPXE: true}})
		if err != nil {
			t.Fatal(err)
		}
		if d.Action != tc.action || (tc.mode != "" && !strings.Contains(d.Cmdline, "outpost.mode="+tc.mode)) ||
			(tc.mode != "" && !strings.Contains(d.Cmdline, "outpost.machine=")) {
			t.Errorf("%s: %+v", tc.state, d)
		}
		if d.Reason == "" {
			t.Errorf("%s: no reason", tc.state)
		}
		if tc.action == boot.ActionLinux {
			tok := tokenRe.FindStringSubmatch(d.Cmdline)[1]
			if err := s.Store.ConsumeToken(ctx, tok, mac.String(), tc.mode, nil); err != nil {
				t.Errorf("%s: token: %v", tc.state, err)
			}
		}
		_ = m
	}
}

func TestHost(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	s.Store.CreateMachine(ctx, sqlite.NewMachine{Serial: "A", Hostname: "web-1", MACs: []string{"52:54:00:00:00:01"}}, "t", "")
	s.Store.SetReservation(ctx, "52:54:00:00:00:01", netip.MustParseAddr("10.0.0.10"), "t")
	mac, _ := net.ParseMAC("52:54:00:00:00:01")
	h, ok, err := s.Host(ctx, mac)
	if err != nil || !ok || h.IP.String() != "10.0.0.10" || h.Hostname != "web-1" {
		t.Fatalf("Host = %+v %v %v", h, ok, err)
	}
	other, _ := net.ParseMAC("52:54:00:00:00:02")
	if _, ok, err := s.Host(ctx, other); ok || err != nil {
		t.Fatalf("unknown MAC: %v %v", ok, err)
	}
}
