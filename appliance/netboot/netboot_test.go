package netboot

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/boot"
	"github.com/outpostdc/outpost/boot/httpboot"
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
	// Both answers are cached; writes must show through at once.
	if _, err := s.Store.CreateMachine(ctx, sqlite.NewMachine{Serial: "B", Hostname: "db-1", MACs: []string{other.String()}}, "t", ""); err != nil {
		t.Fatal(err)
	}
	if h, ok, err := s.Host(ctx, other); !ok || err != nil || h.Hostname != "db-1" || h.IP.IsValid() {
		t.Fatalf("after the machine was made: %+v %v %v", h, ok, err)
	}
	if err := s.Store.SetReservation(ctx, "52:54:00:00:00:01", netip.MustParseAddr("10.0.0.11"), "t"); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := s.Host(ctx, mac); h.IP.String() != "10.0.0.11" {
		t.Fatalf("after the reservation moved: %+v", h)
	}
}

// The set of inventory MACs answers for strangers without SQL while the
// inventory stands still, is dropped by any write, and is rebuilt at most
// once per macSetEvery while writes go on.
func TestKnownMACs(t *testing.T) {
	s := newService(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	ctx := context.Background()
	s.Store.CreateMachine(ctx, sqlite.NewMachine{Serial: "A", Hostname: "web-1", MACs: []string{"52:54:00:00:00:01"}}, "t", "")
	known, _ := net.ParseMAC("52:54:00:00:00:01")
	stranger, _ := net.ParseMAC("52:54:00:00:00:09")
	gen := s.Store.Generation()
	if s.known.lacks(gen, stranger) {
		t.Fatal("a set before any lookup")
	}
	if _, ok, err := s.Host(ctx, known); !ok || err != nil {
		t.Fatalf("Host(known) = %v %v", ok, err)
	}
	if !s.known.lacks(gen, stranger) || s.known.lacks(gen, known) {
		t.Fatal("the set built by the first lookup is wrong")
	}
	if _, ok, err := s.Host(ctx, stranger); ok || err != nil {
		t.Fatalf("Host(stranger) = %v %v", ok, err)
	}

	// The stranger is racked: the stale set must not hide it, even before
	// a rebuild is due.
	if _, err := s.Store.CreateMachine(ctx, sqlite.NewMachine{Serial: "B", Hostname: "db-1", MACs: []string{stranger.String()}}, "t", ""); err != nil {
		t.Fatal(err)
	}
	gen2 := s.Store.Generation()
	if s.known.lacks(gen2, stranger) {
		t.Fatal("a set from before the write answered")
	}
	if h, ok, err := s.Host(ctx, stranger); !ok || err != nil || h.Hostname != "db-1" {
		t.Fatalf("Host(stranger) after it was racked = %+v %v %v", h, ok, err)
	}
	other, _ := net.ParseMAC("52:54:00:00:00:0a")
	if s.known.lacks(gen2, other) {
		t.Fatal("rebuilt sooner than macSetEvery")
	}
	now = now.Add(macSetEvery)
	if _, ok, err := s.Host(ctx, other); ok || err != nil {
		t.Fatalf("Host(other) = %v %v", ok, err)
	}
	if !s.known.lacks(gen2, other) || s.known.lacks(gen2, stranger) {
		t.Fatal("not rebuilt once macSetEvery had passed")
	}
}

// A machine that boots again while nothing changed is answered from the
// lookup cache; any write to the inventory must be seen by the next boot.
func TestBootSeesInventoryChanges(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	mac, _ := net.ParseMAC("52:54:00:00:02:01")
	m, err := s.Store.CreateMachine(ctx, sqlite.NewMachine{Serial: "C1", MACs: []string{mac.String()},
		State: appliance.StateDeployed}, "t", "")
	if err != nil {
		t.Fatal(err)
	}
	bios := boot.Client{MAC: mac, Firmware: boot.Firmware{Arch: boot.ArchBIOS, IPXE: true}}
	for i := 0; i < 2; i++ { // the second from the cache
		if d, err := s.Boot(ctx, bios); err != nil || d.Action != boot.ActionLocal {
			t.Fatalf("deployed, boot %d: %+v %v", i, d, err)
		}
	}
	if _, err := s.Store.Transition(ctx, m.ID, appliance.StateRecycling, "t", "decommission"); err != nil {
		t.Fatal(err)
	}
	d, err := s.Boot(ctx, bios)
	if err != nil || d.Action != boot.ActionLinux || !strings.Contains(d.Cmdline, "outpost.mode=wipe") {
		t.Fatalf("after the move to recycling: %+v %v", d, err)
	}
	// The firmware is stored again when it changes, cache or not.
	if _, err := s.Store.Transition(ctx, m.ID, appliance.StateBroken, "t", "disk"); err != nil {
		t.Fatal(err)
	}
	s.Boot(ctx, bios)
	efi := bios
	efi.Firmware.Arch = boot.ArchEFIx64
	d, err = s.Boot(ctx, efi)
	if err != nil || d.Action != boot.ActionLocal || !strings.Contains(d.Message, "disk") {
		t.Fatalf("broken: %+v %v", d, err)
	}
	if fw, err := s.Store.Firmware(ctx, m.ID); err != nil || fw != "efi" {
		t.Fatalf("firmware %q %v, want efi", fw, err)
	}
}

// The timeline still shows each script request and why, through the real
// HTTP handler and the store's batched event writer.
func TestScriptTimeline(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	known := "52:54:00:00:03:01"
	m, err := s.Store.CreateMachine(ctx, sqlite.NewMachine{Serial: "T1", MACs: []string{known},
		State: appliance.StateDeployed}, "t", "")
	if err != nil {
		t.Fatal(err)
	}
	hb := &httpboot.Server{Booter: s, Recorder: s.Store, Log: slog.New(slog.DiscardHandler), Base: s.Cfg.Base}
	ts := httptest.NewServer(hb.Handler())
	defer ts.Close()
	get := func(mac string) string {
		t.Helper()
		resp, err := http.Get(ts.URL + "/boot.ipxe?mac=" + mac + "&platform=pcbios&buildarch=x86_64")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET for %s: %d %s", mac, resp.StatusCode, b)
		}
		return string(b)
	}
	for i := 0; i < 3; i++ {
		if body := get(known); !strings.Contains(body, "sanboot") {
			t.Fatalf("deployed machine got %q", body)
		}
	}
	unknown := "52:54:00:00:03:02"
	if body := get(unknown); !strings.Contains(body, "outpost.token=") {
		t.Fatalf("unknown machine got %q", body)
	}
	if err := s.Store.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tl, err := s.Store.Timeline(ctx, m.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var boots int
	for _, e := range tl {
		if e.Source == "boot" && strings.HasPrefix(e.Summary, "script: local (deployed: boot the local disk)") {
			boots++
		}
	}
	if boots == 0 {
		t.Fatalf("the timeline lacks the deployed machine's script: %+v", tl)
	}
	evs, err := s.Store.Events(ctx, unknown, 0)
	if err != nil || len(evs) != 1 || evs[0].Summary != "script: linux (unknown machine: recon to ingest it)" {
		t.Fatalf("unknown machine's events: %+v %v", evs, err)
	}
}
