package sqlite

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/boot/dhcp"
)

// TestOutboxRowsMatchSnapshot: what the triggers queue for a change is
// what a snapshot and SyncedRows say for that row, for every table.
func TestOutboxRowsMatchSnapshot(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	if _, err := s.Outbox(ctx, 0, 10, 1<<20); err != nil {
		t.Fatal(err)
	}
	// Nothing is queued before sync is enabled.
	m, _ := s.CreateMachine(ctx, NewMachine{Serial: "SN-1", MACs: []string{"52:54:00:00:00:01"}}, "t", "")
	if cs, _ := s.Outbox(ctx, 0, 100, 1<<20); len(cs) != 0 {
		t.Fatalf("%d changes queued with sync off", len(cs))
	}
	if err := s.EnableSync(ctx, "lon1"); err != nil {
		t.Fatal(err)
	}
	snap, _ := s.Outbox(ctx, 0, 1000, 1<<20)
	tables := map[string]bool{}
	for _, c := range snap {
		tables[c.Tbl] = true
	}
	if !tables["machines"] || !tables["interfaces"] || !tables["audit_log"] {
		t.Fatalf("snapshot covers %v", tables)
	}
	// Changes in every synced table, through the store's own methods.
	s.Transition(ctx, m.ID, appliance.StateFrozen, "t", "x")
	mac, _ := net.ParseMAC("52:54:00:00:00:01")
	s.SaveLease(ctx, dhcp.Lease{IP: netip.MustParseAddr("10.0.0.5"), MAC: mac, State: dhcp.StateBound, Expires: time.Now().Add(time.Hour), Updated: time.Now()})
	s.CreateJob(ctx, NewJob{Action: appliance.ActionPower, MachineID: m.ID, MaxAttempts: 1, Params: map[string]string{"op": "on"}}, "t")
	cs, _ := s.Outbox(ctx, 0, 1000, 1<<20)
	latest := map[string]json.RawMessage{}
	for _, c := range cs {
		if c.Op == "upsert" {
			latest[c.Tbl+"/"+c.Key] = c.Row
		}
		if c.TS == 0 {
			t.Fatalf("change %d has no time", c.Seq)
		}
	}
	for _, table := range SyncedTables() {
		rows, err := s.SyncedRows(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		for k, row := range rows {
			var a, b any
			json.Unmarshal(row, &a)
			json.Unmarshal(latest[table+"/"+k], &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("%s %s: outbox %s, table %s", table, k, latest[table+"/"+k], row)
			}
		}
	}
	// Trimming happens only up to what HQ acknowledged.
	last := cs[len(cs)-1].Seq
	if err := s.Acked(ctx, last-2); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.Outbox(ctx, 0, 1000, 1<<20); len(left) != 2 || left[0].Seq != last-1 {
		t.Fatalf("after the ack: %+v", left)
	}
	st, _ := s.Sync(ctx)
	if st.AckedSeq != last-2 || st.Backlog != 2 || st.SiteID != "lon1" {
		t.Fatalf("state %+v", st)
	}
	if err := s.EnableSync(ctx, "par1"); !appliance.IsCode(err, appliance.CodeConflict) {
		t.Fatalf("enabling as another site: %v", err)
	}
}

// Backlog is counted from sequence numbers, so the outbox must stay
// gapless after acked_seq, also after a resnapshot of an empty inventory.
func TestBacklogAfterEmptyResnapshot(t *testing.T) {
	s := open(t, "")
	ctx := context.Background()
	if err := s.EnableSync(ctx, "lon1"); err != nil {
		t.Fatal(err)
	}
	m, _ := s.CreateMachine(ctx, NewMachine{Serial: "SN-1"}, "t", "")
	cs, _ := s.Outbox(ctx, 0, 1000, 1<<20)
	if len(cs) == 0 {
		t.Fatal("nothing queued")
	}
	s.Acked(ctx, cs[len(cs)-1].Seq)
	// Only the audit log is left after the machine goes; wipe it all as a
	// rebuilt site would have nothing.
	if _, err := s.w.ExecContext(ctx, `DELETE FROM audit_log; DELETE FROM machines WHERE id = ?`, m.ID); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Sync(ctx)
	s.Acked(ctx, st.LastSeq)
	if err := s.Resnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Sync(ctx); st.Backlog != 0 {
		t.Fatalf("empty resnapshot: %+v", st)
	}
	s.CreateMachine(ctx, NewMachine{Serial: "SN-2"}, "t", "")
	queued, _ := s.Outbox(ctx, 0, 1000, 1<<20)
	st, _ = s.Sync(ctx)
	if st.Backlog != int64(len(queued)) || len(queued) == 0 || queued[0].Seq != st.AckedSeq+1 {
		t.Fatalf("backlog %d, queued %d from %d, acked %d", st.Backlog, len(queued), queued[0].Seq, st.AckedSeq)
	}
}
