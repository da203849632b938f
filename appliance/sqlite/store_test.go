package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/boot"
	"github.com/outpostdc/outpost/boot/dhcp"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "outpost.db")
	}
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenSetsPragmas(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	for _, tc := range []struct {
		db   *sql.DB
		name string
		want string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "foreign_keys", "1"},
		{s.w, "synchronous", "2"},
		{s.r, "foreign_keys", "1"},
		{s.r, "query_only", "1"},
	} {
		var v string
		if err := tc.db.QueryRowContext(ctx, "PRAGMA "+tc.name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.name, v, tc.want)
		}
	}
	if _, err := s.r.ExecContext(ctx, `INSERT INTO machines (serial, state, created_at, updated_at) VALUES ('x', 'ready', 0, 0)`); err == nil {
		t.Error("reader pool accepted a write")
	}
	if v, _ := s.SchemaVersion(ctx); v < 1 {
		t.Errorf("schema version %d", v)
	}
}

func TestMigrationsRunOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outpost.db")
	s := open(t, path)
	if _, err := s.CreateMachine(context.Background(), NewMachine{Serial: "SN1"}, "test", ""); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := open(t, path)
	if _, err := s2.MachineBySerial(context.Background(), "SN1"); err != nil {
		t.Fatalf("data lost on reopen: %v", err)
	}
}

func TestTransitions(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	m, err := s.CreateMachine(ctx, NewMachine{Serial: "SN1", MACs: []string{"52:54:00:00:00:01"}}, "alice", "racked")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		to     appliance.State
		reason string
		err    string
	}{
		{appliance.StateAllocated, "", ""},
		{appliance.StateDeployed, "", "allocated machine cannot become deployed"},
		{appliance.StateInstalling, "", ""},
		{appliance.StateFrozen, "", "reason is required"},
		{appliance.StateFrozen, "network audit", ""},
		{appliance.StateReady, "", "unfreeze returns it to installing"},
		{appliance.StateInstalling, "audit done", ""},
		{appliance.StateDeployed, "", ""},
		{appliance.StateBroken, "disk died", ""},
		{appliance.StateRecycling, "", ""},
		{appliance.StateReady, "", ""},
	}
	for _, st := range steps {
		before, _ := s.Machine(ctx, m.ID)
		got, err := s.Transition(ctx, m.ID, st.to, "alice", st.reason)
		if st.err != "" {
			if err == nil || !strings.Contains(err.Error(), st.err) {
				t.Fatalf("-> %s: err %v, want %q", st.to, err, st.err)
			}
			after, _ := s.Machine(ctx, m.ID)
			if after.State != before.State || after.UpdatedAt != before.UpdatedAt {
				t.Fatalf("failed transition changed the machine: %+v", after)
			}
			continue
		}
		if err != nil {
			t.Fatalf("-> %s: %v", st.to, err)
		}
		if got.State != st.to {
			t.Fatalf("state %s, want %s", got.State, st.to)
		}
		if st.to == appliance.StateFrozen && (got.FrozenFrom != appliance.StateInstalling || got.StateReason != "network audit") {
			t.Fatalf("frozen machine: %+v", got)
		}
		if st.to == appliance.StateBroken && got.StateReason != "disk died" {
			t.Fatalf("broken reason %q", got.StateReason)
		}
	}
	audit, err := s.Audit(ctx, m.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	// create + one entry per successful transition, each with its actor.
	if len(audit) != 1+8 {
		t.Fatalf("%d audit entries: %+v", len(audit), audit)
	}
	for _, a := range audit {
		if a.Actor != "alice" {
			t.Fatalf("audit actor %q", a.Actor)
		}
	}
	if a := audit[len(audit)-3]; a.From != appliance.StateDeployed || a.To != appliance.StateBroken || a.Reason != "disk died" {
		t.Fatalf("audit entry %+v", a)
	}
	if _, err := s.Unfreeze(ctx, m.ID, "alice", ""); err == nil || !appliance.IsCode(err, appliance.CodeConflict) {
		t.Fatalf("unfreeze of a ready machine: %v", err)
	}
	if _, err := s.Transition(ctx, 999, appliance.StateReady, "alice", ""); !appliance.IsCode(err, appliance.CodeNotFound) {
		t.Fatalf("missing machine: %v", err)
	}
}

func TestMachinesAndMACs(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	a, err := s.CreateMachine(ctx, NewMachine{Serial: "SN-A", Rack: "r1", Hostname: "db-1", MACs: []string{"52:54:00:00:00:0A", "52-54-00-00-00-0b"}}, "t", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMachine(ctx, NewMachine{Serial: "SN-B", MACs: []string{"52:54:00:00:00:0a"}}, "t", ""); !appliance.IsCode(err, appliance.CodeConflict) {
		t.Fatalf("MAC on two machines: %v", err)
	}
	if _, err := s.MachineBySerial(ctx, "SN-B"); !appliance.IsCode(err, appliance.CodeNotFound) {
		t.Fatal("failed create left a machine behind")
	}
	if _, err := s.CreateMachine(ctx, NewMachine{Serial: "SN-A"}, "t", ""); !appliance.IsCode(err, appliance.CodeConflict) {
		t.Fatalf("duplicate serial: %v", err)
	}
	if _, err := s.CreateMachine(ctx, NewMachine{Serial: "SN-C", MACs: []string{"nope"}}, "t", ""); !appliance.IsCode(err, appliance.CodeInvalid) {
		t.Fatalf("bad MAC: %v", err)
	}
	got, err := s.MachineByMAC(ctx, "52:54:00:00:00:0B")
	if err != nil || got.ID != a.ID || len(got.Interfaces) != 2 {
		t.Fatalf("by MAC: %+v %v", got, err)
	}
	s.CreateMachine(ctx, NewMachine{Serial: "SN-D", Rack: "r2", State: appliance.StateDeployed}, "t", "")
	for _, tc := range []struct {
		f    appliance.MachineFilter
		want []string
	}{
		{appliance.MachineFilter{}, []string{"SN-A", "SN-D"}},
		{appliance.MachineFilter{Rack: "r2"}, []string{"SN-D"}},
		{appliance.MachineFilter{State: appliance.StateDeployed}, []string{"SN-D"}},
		{appliance.MachineFilter{Query: "db-"}, []string{"SN-A"}},
		{appliance.MachineFilter{Query: "00:0b"}, []string{"SN-A"}},
		{appliance.MachineFilter{Query: "%"}, nil},
		{appliance.MachineFilter{MAC: "52:54:00:00:00:0a"}, []string{"SN-A"}},
		{appliance.MachineFilter{AfterID: a.ID}, []string{"SN-D"}},
		{appliance.MachineFilter{Limit: 1}, []string{"SN-A"}},
	} {
		ms, err := s.Machines(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.Serial)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("Machines(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	if _, err := s.Machines(ctx, appliance.MachineFilter{State: "nope"}); !appliance.IsCode(err, appliance.CodeInvalid) {
		t.Fatalf("bad state filter: %v", err)
	}
	counts, _ := s.CountByState(ctx)
	if counts[appliance.StateReady] != 1 || counts[appliance.StateDeployed] != 1 {
		t.Fatalf("counts %v", counts)
	}
	h := "db-2"
	m, err := s.UpdateMachine(ctx, a.ID, MachinePatch{Hostname: &h}, "bob")
	if err != nil || m.Hostname != "db-2" {
		t.Fatalf("update: %+v %v", m, err)
	}
	bad := "a\nb"
	if _, err := s.UpdateMachine(ctx, a.ID, MachinePatch{Rack: &bad}, "bob"); !appliance.IsCode(err, appliance.CodeInvalid) {
		t.Fatalf("bad rack: %v", err)
	}
}

func TestReservations(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	s.CreateMachine(ctx, NewMachine{Serial: "A", Hostname: "a", MACs: []string{"52:54:00:00:00:01"}}, "t", "")
	s.CreateMachine(ctx, NewMachine{Serial: "B", MACs: []string{"52:54:00:00:00:02"}}, "t", "")
	if err := s.SetReservation(ctx, "52:54:00:00:00:01", netip.MustParseAddr("10.0.0.10"), "t"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetReservation(ctx, "52:54:00:00:00:02", netip.MustParseAddr("10.0.0.10"), "t"); !appliance.IsCode(err, appliance.CodeConflict) {
		t.Fatalf("double reservation: %v", err)
	}
	if err := s.SetReservation(ctx, "52:54:00:00:00:03", netip.MustParseAddr("10.0.0.11"), "t"); !appliance.IsCode(err, appliance.CodeNotFound) {
		t.Fatalf("unknown MAC: %v", err)
	}
	ip, host, ok, err := s.Reservation(ctx, "52:54:00:00:00:01")
	if err != nil || !ok || ip != "10.0.0.10" || host != "a" {
		t.Fatalf("Reservation = %q %q %v %v", ip, host, ok, err)
	}
	if err := s.SetReservation(ctx, "52:54:00:00:00:01", netip.Addr{}, "t"); err != nil {
		t.Fatal(err)
	}
	if ip, _, _, _ := s.Reservation(ctx, "52:54:00:00:00:01"); ip != "" {
		t.Fatalf("cleared reservation is %q", ip)
	}
}

func TestDiscover(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	m, err := s.Discover(ctx, "52:54:00:00:00:01", "")
	if err != nil || m.State != appliance.StateDiscovered || m.Serial != "mac:52:54:00:00:00:01" {
		t.Fatalf("%+v %v", m, err)
	}
	again, _ := s.Discover(ctx, "52:54:00:00:00:01", "SN9")
	if again.ID != m.ID {
		t.Fatal("a known MAC made a second machine")
	}
	k, _ := s.Discover(ctx, "52:54:00:00:00:02", "SN9")
	other, _ := s.Discover(ctx, "52:54:00:00:00:03", "SN9")
	if other.ID != k.ID || len(other.Interfaces) != 2 {
		t.Fatalf("second NIC of SN9 made another machine: %+v", other)
	}
}

func TestTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "db"), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	issue := func(mac, purpose string, ttl time.Duration) string {
		tok, err := s.IssueToken(ctx, Token{MAC: mac, Purpose: purpose, Expires: now.Add(ttl)})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := issue("52:54:00:00:00:01", "recon", time.Hour)
	expired := issue("52:54:00:00:00:01", "recon", -time.Second)
	for _, tc := range []struct {
		name, tok, mac, purpose, why string
	}{
		{"missing", "", "52:54:00:00:00:01", "recon", "missing token"},
		{"forged", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "52:54:00:00:00:01", "recon", "unknown token"},
		{"other MAC", good, "52:54:00:00:00:02", "recon", "not issued to"},
		{"other purpose", good, "52:54:00:00:00:01", "install", "not valid for install"},
		{"expired", expired, "52:54:00:00:00:01", "recon", "expired"},
		{"bad MAC", good, "xx", "recon", "not valid for MAC"},
	} {
		err := s.ConsumeToken(ctx, tc.tok, tc.mac, tc.purpose, nil)
		if !appliance.IsCode(err, appliance.CodeUnauthorized) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: %v, want unauthorized %q", tc.name, err, tc.why)
		}
	}
	// A failing callback leaves the token unspent.
	if err := s.ConsumeToken(ctx, good, "52:54:00:00:00:01", "recon", func(*sql.Tx, Token) error {
		return appliance.Errorf(appliance.CodeInvalid, "bad report")
	}); !appliance.IsCode(err, appliance.CodeInvalid) {
		t.Fatal(err)
	}
	if err := s.ConsumeToken(ctx, good, "52:54:00:00:00:01", "recon", nil); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := s.ConsumeToken(ctx, good, "52:54:00:00:00:01", "recon", nil); !appliance.IsCode(err, appliance.CodeUnauthorized) {
		t.Fatalf("replay: %v", err)
	}
}

func TestLeasesGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outpost.db")
	s := open(t, path)
	ctx := context.Background()
	var wg gosync.WaitGroup
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 500; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			l := dhcp.Lease{IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}),
				MAC: net.HardwareAddr{0x52, 0x54, 0, 0, byte(i >> 8), byte(i)}, State: dhcp.StateBound,
				Expires: base.Add(time.Hour), Updated: base}
			// Events queued meanwhile share the leases' commits.
			s.Record(boot.Event{Time: base, Kind: boot.EventDHCP, MAC: l.MAC, IP: l.IP, Summary: "REQUEST -> ACK " + l.IP.String()})
			if err := s.SaveLease(ctx, l); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	s.Close()
	s2 := open(t, path)
	got, err := s2.LoadLeases(ctx)
	if err != nil || len(got) != 500 {
		t.Fatalf("%d leases after reopen, %v", len(got), err)
	}
	for _, i := range []int{0, 255, 499} {
		mac := net.HardwareAddr{0x52, 0x54, 0, 0, byte(i >> 8), byte(i)}
		if evs, err := s2.Events(ctx, mac.String(), 0); err != nil || len(evs) != 1 || !strings.HasPrefix(evs[0].Summary, "REQUEST -> ACK 10.0.") {
			t.Fatalf("events of %s: %+v %v", mac, evs, err)
		}
	}
	if !got[0].Expires.Equal(base.Add(time.Hour)) || got[0].State != dhcp.StateBound {
		t.Fatalf("lease %+v", got[0])
	}
	// Upsert by address.
	l := got[0]
	l.State = dhcp.StateReleased
	if err := s2.SaveLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	all, _ := s2.ListLeases(ctx, LeaseFilter{})
	act, _ := s2.ListLeases(ctx, LeaseFilter{Active: true})
	if len(all) != 500 || len(act) != 0 {
		// the clock is real: base is in the past, so none is active.
		t.Fatalf("all %d active %d", len(all), len(act))
	}
}

func TestTimeline(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	m, _ := s.CreateMachine(ctx, NewMachine{Serial: "SN1", MACs: []string{"52:54:00:00:00:01", "52:54:00:00:00:02"}}, "t", "racked")
	mac1, _ := net.ParseMAC("52:54:00:00:00:01")
	t0 := time.Now()
	s.SaveLease(ctx, dhcp.Lease{IP: netip.MustParseAddr("10.0.0.5"), MAC: mac1, State: dhcp.StateBound, Expires: t0.Add(time.Hour), Updated: t0})
	s.Record(boot.Event{Time: t0, Kind: boot.EventDHCP, MAC: mac1, Summary: "DISCOVER -> OFFER"})
	// TFTP knows only the address; the store finds the MAC from the lease.
	s.Record(boot.Event{Time: t0.Add(time.Millisecond), Kind: boot.EventTFTP, IP: netip.MustParseAddr("10.0.0.5"), Summary: "RRQ undionly.kpxe"})
	mac2, _ := net.ParseMAC("52:54:00:00:00:02")
	s.Record(boot.Event{Time: t0.Add(2 * time.Millisecond), Kind: boot.EventHTTP, MAC: mac2, Summary: "script: local",
		Detail: map[string]any{"reason": "deployed"}})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tl, err := s.Timeline(ctx, m.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range tl {
		got = append(got, e.Source+":"+e.Summary)
	}
	want := []string{"audit:create -> ready: racked", "boot:DISCOVER -> OFFER", "boot:RRQ undionly.kpxe", "boot:script: local"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("timeline\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(string(tl[3].Detail), `"reason":"deployed"`) {
		t.Fatalf("detail %s", tl[3].Detail)
	}
	evs, _ := s.Events(ctx, "52:54:00:00:00:01", 0)
	if len(evs) != 2 || evs[1].MAC != "52:54:00:00:00:01" {
		t.Fatalf("events by MAC: %+v", evs)
	}
	n, err := s.PruneEvents(ctx, t0.Add(time.Millisecond))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
}

func TestEventQueueDropsWhenFull(t *testing.T) {
	dropped := 0
	var mu gosync.Mutex
	// Read only after Flush returns: the writer logs before it closes
	// Flush's marker, so no lock is needed.
	var logs strings.Builder
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "db"), Options{EventQueue: 1,
		Log: slog.New(slog.NewTextHandler(&logs, nil)), OnEventDrop: func() {
			mu.Lock()
			dropped++
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 10000; i++ {
		s.Record(boot.Event{Time: time.Now(), Kind: boot.EventDHCP, Summary: "x"})
	}
	mu.Lock()
	defer mu.Unlock()
	if dropped == 0 {
		t.Fatal("a queue of one took 10000 events without dropping")
	}
	// The writer says so in its log, before the next batch is written.
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "events dropped") {
		t.Fatalf("no warning about the drops in the log:\n%s", logs.String())
	}
}

func TestEventsFoldRepeats(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	mac, _ := net.ParseMAC("52:54:00:00:00:01")
	t0 := time.Now()
	script := func(i int, fw string) boot.Event {
		return boot.Event{Time: t0.Add(time.Duration(i) * time.Microsecond), Kind: boot.EventHTTP, MAC: mac,
			Summary: "script: local (deployed: boot the local disk)", Detail: map[string]any{"firmware": fw, "action": "local"}}
	}
	const n = 1000
	for i := 0; i < n; i++ {
		s.Record(script(i, "bios"))
	}
	s.Record(script(n, "uefi-x64")) // another detail: its own row
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events(ctx, mac.String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	total, folded := 0, 0
	for _, e := range evs {
		var d struct {
			Count    int
			Firmware string
			Last     time.Time
		}
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Firmware == "uefi-x64":
			if d.Count != 0 || e.Summary != "script: local (deployed: boot the local disk)" {
				t.Errorf("the odd one out was folded: %+v", e)
			}
		case d.Count == 0:
			total++
		default:
			total += d.Count
			folded++
			if !strings.HasSuffix(e.Summary, fmt.Sprintf(" (%d times)", d.Count)) || !d.Last.After(e.Time) {
				t.Errorf("folded row %+v: summary or last time wrong", e)
			}
		}
	}
	if total != n || folded == 0 || len(evs) > 5 {
		t.Fatalf("%d rows hold %d of %d events (%d folded)", len(evs), total, n, folded)
	}
}

func TestCloseWritesQueuedEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outpost.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("52:54:00:00:00:01")
	const n = 600
	for i := 0; i < n; i++ {
		// Distinct summaries: none folds, each needs its own row.
		s.Record(boot.Event{Time: time.Now(), Kind: boot.EventDHCP, MAC: mac, Summary: fmt.Sprint("step ", i)})
		if i == n/2 {
			// Long enough for the writer to hold some in its batch,
			// waiting for the linger timer, when Close comes.
			time.Sleep(eventLinger / 4)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	evs, err := s.Events(context.Background(), mac.String(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Fatalf("%d of %d queued events written at close", len(evs), n)
	}
}

func TestGeneration(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	g := s.Generation()
	m, err := s.CreateMachine(ctx, NewMachine{Serial: "SN1", MACs: []string{"52:54:00:00:00:01"}}, "t", "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Generation() == g {
		t.Fatal("a new machine left the generation")
	}
	g = s.Generation()
	if _, err := s.Transition(ctx, m.ID, appliance.StateBroken, "t", "fan"); err != nil {
		t.Fatal(err)
	}
	if s.Generation() == g {
		t.Fatal("a state change left the generation")
	}
	// Leases and boot events change no machine: caches keyed on the
	// generation must survive a boot's DHCP and HTTP steps.
	g = s.Generation()
	mac, _ := net.ParseMAC("52:54:00:00:00:01")
	if err := s.SaveLease(ctx, dhcp.Lease{IP: netip.MustParseAddr("10.0.0.5"), MAC: mac, State: dhcp.StateBound,
		Expires: time.Now().Add(time.Hour), Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Record(boot.Event{Time: time.Now(), Kind: boot.EventHTTP, MAC: mac, Summary: "script"})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Generation() != g {
		t.Fatal("a lease or a boot event changed the generation")
	}
}

func TestMultiRow(t *testing.T) {
	got := multiRow("INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = excluded.b", 3)
	want := "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT (a) DO UPDATE SET b = excluded.b"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestInventoryMACs(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	if _, err := s.CreateMachine(ctx, NewMachine{Serial: "SN1", MACs: []string{"52:54:00:00:00:01", "52:54:00:00:00:02"}}, "t", ""); err != nil {
		t.Fatal(err)
	}
	macs, ok, err := s.InventoryMACs(ctx, 2)
	if err != nil || !ok || len(macs) != 2 {
		t.Fatalf("InventoryMACs = %v %v %v", macs, ok, err)
	}
	if _, in := macs[[6]byte{0x52, 0x54, 0, 0, 0, 2}]; !in {
		t.Fatalf("52:54:00:00:00:02 missing from %v", macs)
	}
	if macs, ok, err := s.InventoryMACs(ctx, 1); err != nil || ok || macs != nil {
		t.Fatalf("over the limit: %v %v %v", macs, ok, err)
	}
}
