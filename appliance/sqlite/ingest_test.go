package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/recon"
)

func report(serial, bootMAC string, macs ...string) recon.Report {
	r := recon.Report{Version: recon.ReportVersion, BootMAC: bootMAC,
		System: recon.System{Manufacturer: "Acme", Product: "R640", Serial: serial, UUID: "6f9619ff-8b86-d011-b42d-00c04fc964ff"},
		CPU:    recon.CPU{Sockets: 2, Model: "Xeon", Cores: 32, Threads: 64},
		Memory: recon.Memory{TotalBytes: 256 << 30},
		Disks: []recon.Disk{{Name: "nvme0n1", SizeBytes: 960197124096, Type: recon.DiskNVMe, Serial: "D1"},
			{Name: "nvme1n1", SizeBytes: 960197124096, Type: recon.DiskNVMe, Serial: "D2"}},
		BMC: &recon.BMC{IP: "10.1.0.5", Firmware: "2.45"},
	}
	for i, m := range macs {
		r.NICs = append(r.NICs, recon.NIC{Name: "eth" + string(rune('0'+i)), MAC: m, Booted: m == bootMAC})
	}
	return r
}

type ingestFixture struct {
	s   *Store
	now time.Time
}

func newIngest(t *testing.T) *ingestFixture {
	f := &ingestFixture{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "db"), Options{Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f.s = s
	return f
}

func (f *ingestFixture) token(t *testing.T, mac, purpose string) string {
	t.Helper()
	tok, err := f.s.IssueToken(context.Background(), Token{MAC: mac, Purpose: purpose, Expires: f.now.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const nic1, nic2 = "52:54:00:00:01:01", "52:54:00:00:01:02"

func TestIngestLifecycle(t *testing.T) {
	f := newIngest(t)
	ctx := context.Background()
	// First network boot: a placeholder keyed by MAC.
	d, _ := f.s.Discover(ctx, nic1, "")
	res, err := f.s.Ingest(ctx, f.token(t, nic1, "recon"), report("SN-1", nic1, nic1, nic2), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Machine
	if m.ID != d.ID || m.Serial != "SN-1" || m.State != appliance.StateReady || len(m.Interfaces) != 2 ||
		m.Class != "2x16c-256g-2xnvme960" || m.BMCAddress != "10.1.0.5" || res.AgentToken == "" {
		t.Fatalf("after first report: %+v", res)
	}
	a, err := f.s.VerifyAgent(ctx, res.AgentToken)
	if err != nil || a.MachineID != m.ID || a.MAC != nic1 || a.Mode != "recon" {
		t.Fatalf("agent token: %+v %v", a, err)
	}

	// Second boot, same NIC: same record, nothing changed.
	res, err = f.s.Ingest(ctx, f.token(t, nic1, "wait"), report("SN-1", nic1, nic1, nic2), time.Hour)
	if err != nil || res.Machine.ID != m.ID || res.Created || len(res.Changes) != 0 {
		t.Fatalf("re-ingest: %+v %v", res, err)
	}
	// Boot from the other NIC, with a replaced disk.
	r := report("SN-1", nic2, nic1, nic2)
	r.Disks[1].Serial = "D9"
	res, err = f.s.Ingest(ctx, f.token(t, nic2, "wait"), r, time.Hour)
	if err != nil || res.Machine.ID != m.ID {
		t.Fatalf("other NIC: %+v %v", res, err)
	}
	if got := strings.Join(res.Changes, "\n"); !strings.Contains(got, "disk removed: nvme1n1 nvme 960.2 GB serial D2") ||
		!strings.Contains(got, "disk added: nvme1n1 nvme 960.2 GB serial D9") {
		t.Fatalf("changes:\n%s", got)
	}
	all, _ := f.s.Machines(ctx, appliance.MachineFilter{})
	if len(all) != 1 {
		t.Fatalf("%d machines after three reports of one", len(all))
	}
	audit, _ := f.s.Audit(ctx, m.ID, 0)
	var actions []string
	for _, e := range audit {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); got != "discover,state,reingest,hardware_changed" {
		t.Fatalf("audit: %s", got)
	}
}

func TestIngestMACMovesBetweenMachines(t *testing.T) {
	f := newIngest(t)
	ctx := context.Background()
	a, err := f.s.Ingest(ctx, f.token(t, nic1, "recon"), report("SN-A", nic1, nic1, nic2), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The card with nic2 is moved into another server.
	r := report("SN-B", nic2, nic2)
	r.System.UUID = "7f9619ff-8b86-d011-b42d-00c04fc964ff"
	b, err := f.s.Ingest(ctx, f.token(t, nic2, "recon"), r, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if b.Machine.ID == a.Machine.ID || len(b.Machine.Interfaces) != 1 {
		t.Fatalf("B: %+v", b.Machine)
	}
	am, _ := f.s.Machine(ctx, a.Machine.ID)
	if len(am.Interfaces) != 1 || am.Interfaces[0].MAC != nic1 {
		t.Fatalf("A keeps %+v", am.Interfaces)
	}
	for _, id := range []int64{a.Machine.ID, b.Machine.ID} {
		au, _ := f.s.Audit(ctx, id, 0)
		found := false
		for _, e := range au {
			found = found || e.Action == "mac_moved" && strings.Contains(e.Reason, nic2)
		}
		if !found {
			t.Errorf("machine %d has no mac_moved entry", id)
		}
	}
}

func TestIngestJunkSerialFallsBackToUUID(t *testing.T) {
	f := newIngest(t)
	ctx := context.Background()
	res, err := f.s.Ingest(ctx, f.token(t, nic1, "recon"), report("To Be Filled By O.E.M.", nic1, nic1), time.Hour)
	if err != nil || res.Machine.Serial != "uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff" {
		t.Fatalf("%+v %v", res.Machine, err)
	}
	r := report("0123456789", nic1, nic1)
	r.System.UUID, r.System.ChassisSerial = "", ""
	if _, err := f.s.Ingest(ctx, f.token(t, nic1, "recon"), r, time.Hour); !appliance.IsCode(err, appliance.CodeInvalid) {
		t.Fatalf("no identity: %v", err)
	}
}

func TestIngestRefusals(t *testing.T) {
	f := newIngest(t)
	ctx := context.Background()
	good := f.token(t, nic1, "recon")
	expired, _ := f.s.IssueToken(ctx, Token{MAC: nic1, Purpose: "recon", Expires: f.now.Add(-time.Second)})
	agentOnly := f.token(t, nic1, "agent:recon")
	for _, tc := range []struct {
		name string
		tok  string
		rep  recon.Report
		code appliance.Code
	}{
		{"missing token", "", report("SN-1", nic1, nic1), appliance.CodeUnauthorized},
		{"forged token", "forged-token-forged-token-forged", report("SN-1", nic1, nic1), appliance.CodeUnauthorized},
		{"expired token", expired, report("SN-1", nic1, nic1), appliance.CodeUnauthorized},
		{"another MAC's token", good, report("SN-1", nic2, nic2), appliance.CodeUnauthorized},
		{"agent token is not a boot token", agentOnly, report("SN-1", nic1, nic1), appliance.CodeUnauthorized},
		{"bad version", good, func() recon.Report { r := report("SN-1", nic1, nic1); r.Version = 9; return r }(), appliance.CodeInvalid},
		{"bad NIC MAC", good, func() recon.Report { r := report("SN-1", nic1, nic1); r.NICs[0].MAC = "zz"; return r }(), appliance.CodeInvalid},
	} {
		if _, err := f.s.Ingest(ctx, tc.tok, tc.rep, time.Hour); !appliance.IsCode(err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	if ms, _ := f.s.Machines(ctx, appliance.MachineFilter{}); len(ms) != 0 {
		t.Fatalf("refused reports stored %d machines", len(ms))
	}
	// The bad reports did not spend the good token.
	if _, err := f.s.Ingest(ctx, good, report("SN-1", nic1, nic1), time.Hour); err != nil {
		t.Fatalf("good token after refusals: %v", err)
	}
	if _, err := f.s.Ingest(ctx, good, report("SN-1", nic1, nic1), time.Hour); !appliance.IsCode(err, appliance.CodeUnauthorized) {
		t.Fatalf("replayed token: %v", err)
	}
}
