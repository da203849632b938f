package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/policy"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/sync/hq"
	"github.com/outpostdc/outpost/sync/hq/hqtest"
	"github.com/outpostdc/outpost/sync/pgtest"
	"github.com/outpostdc/outpost/sync/wire"
)

var cluster *pgtest.Cluster

// sites numbers sites made up by tests.
var sites atomic.Int32

func TestMain(m *testing.M) { pgtest.Main(m, func(c *pgtest.Cluster) { cluster = c }) }

type fixture struct {
	site   *sqlite.Store
	hq     *hq.Store
	srv    *httptest.Server
	up     *Uplink
	policy atomic.Pointer[policy.Config]
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	h := hqtest.Store(t, cluster)
	key, err := h.AddSite(ctx, "lon1", "London 1")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&hq.Server{Store: h, Log: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(srv.Close)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{site: st, hq: h, srv: srv}
	f.up = &Uplink{Store: st, HQ: srv.URL, Key: key, HTTP: srv.Client(), Log: slog.New(slog.DiscardHandler), BatchChanges: 50,
		Apply: &Applier{Store: st, Log: slog.New(slog.DiscardHandler), SetPolicy: func(p policy.Config) { f.policy.Store(&p) }}}
	return f
}

// converged checks HQ holds exactly the site's rows, table by table,
// compared as JSON values.
func (f *fixture) converged(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, table := range sqlite.SyncedTables() {
		want, err := f.site.SyncedRows(ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.hq.Facts(ctx, hq.FactFilter{Kind: table, Site: "lon1", Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: HQ holds %d rows, the site %d", table, len(got), len(want))
		}
		for _, g := range got {
			if !wire.SameJSON(g.Data, want[g.Key]) {
				t.Fatalf("%s %s differs:\nHQ:   %s\nsite: %s", table, g.Key, g.Data, want[g.Key])
			}
		}
	}
	st, _ := f.site.Sync(ctx)
	if st.Backlog != 0 {
		t.Fatalf("outbox holds %d changes", st.Backlog)
	}
}

func TestPushConverges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Rows made before sync is enabled reach HQ through the snapshot.
	m, _ := f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: "SN-EARLY", MACs: []string{"52:54:00:00:00:01"}}, "t", "")
	if err := f.site.EnableSync(ctx, "lon1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 120; i++ {
		if _, err := f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: fmt.Sprintf("SN-%03d", i), Rack: "r1"}, "t", ""); err != nil {
			t.Fatal(err)
		}
	}
	f.site.Transition(ctx, m.ID, appliance.StateFrozen, "tom", "rack audit")
	if err := f.up.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	f.converged(t)
	// Lost acknowledgement: HQ applied, the site did not hear it. The
	// site resends; HQ says it holds it; nothing doubles.
	st, _ := f.site.Sync(ctx)
	f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: "SN-LATE"}, "t", "")
	b, err := f.up.batch(ctx, st.AckedSeq)
	if err != nil || b == nil {
		t.Fatalf("batch: %v %v", b, err)
	}
	if _, err := f.up.push(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := f.up.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	f.converged(t)
	sites, _ := f.hq.Sites(ctx)
	if sites[0].LastContact == nil || sites[0].AckedSeq == 0 {
		t.Fatalf("HQ's view of the site: %+v", sites[0])
	}
}

func TestPartitionIsRecorded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.site.EnableSync(ctx, "lon1")
	// A port nothing listens on: the WAN is down.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	good := f.up.HQ
	f.up.HQ = dead
	f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: "SN-CUT"}, "t", "")
	if err := f.up.Cycle(ctx); err == nil {
		t.Fatal("cycle through a dead link succeeded")
	} else {
		f.site.LinkDown(ctx, err.Error())
	}
	st, _ := f.site.Sync(ctx)
	if st.PartitionedSince.IsZero() || st.Backlog == 0 || st.LastError == "" {
		t.Fatalf("partition not recorded: %+v", st)
	}
	f.up.HQ = good
	if err := f.up.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = f.site.Sync(ctx)
	if !st.PartitionedSince.IsZero() || st.LastContact.IsZero() {
		t.Fatalf("link up not recorded: %+v", st)
	}
	f.converged(t)
}

func TestForgedKeyRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.site.EnableSync(ctx, "lon1")
	f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: "SN-X"}, "t", "")
	f.up.Key = "site_forged"
	err := f.up.Cycle(ctx)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("forged key: %v", err)
	}
	if fs, _ := f.hq.Facts(ctx, hq.FactFilter{Kind: "machines"}); len(fs) != 0 {
		t.Fatalf("a forged batch stored %d facts", len(fs))
	}
	// Malformed and oversized bodies are refused with a clear error.
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"from":1,"changes":[{"seq":1,"tbl":"machines","op":"upsert","key":"1","row":{}}],"extra":1}`, 400},
		{`{"from":1,"changes":[{"seq":2,"tbl":"machines","op":"upsert","key":"1","row":{}}]}`, 400},
		{`not json`, 400},
		{strings.Repeat(" ", wire.MaxBatchBytes+1), 413},
	} {
		req, _ := http.NewRequest("POST", f.srv.URL+wire.PathPush, strings.NewReader(tc.body))
		key, _ := f.hq.AddSite(ctx, fmt.Sprintf("s%d", sites.Add(1)), "x")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("%.40q: %d, want %d", tc.body, resp.StatusCode, tc.code)
		}
	}
	if fs, _ := f.hq.Facts(ctx, hq.FactFilter{Kind: "machines"}); len(fs) != 0 {
		t.Fatalf("refused batches stored %d facts", len(fs))
	}
}

func TestHQLostHistoryResnapshot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.site.EnableSync(ctx, "lon1")
	for i := 0; i < 10; i++ {
		f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: fmt.Sprintf("SN-%d", i)}, "t", "")
	}
	if err := f.up.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	// HQ is restored from a backup taken before any of it.
	f.hq.DB.Exec(ctx, `DELETE FROM facts WHERE site_id = 'lon1'`)
	f.hq.DB.Exec(ctx, `UPDATE sites SET acked_seq = 0 WHERE id = 'lon1'`)
	f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: "SN-AFTER"}, "t", "")
	for i := 0; i < 3; i++ {
		if err := f.up.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	f.converged(t)
}

func intent(seq int64, kind string, body any) wire.Intent {
	b, _ := json.Marshal(body)
	return wire.Intent{Seq: seq, Kind: kind, Body: b, CreatedBy: "alice"}
}

func TestIntentsExactlyOnceAndConflicts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.up.Apply
	m, _ := f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: "SN-FROZEN"}, "t", "")
	free, _ := f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: "SN-FREE"}, "t", "")
	// A technician freezes the machine during a partition...
	f.site.Transition(ctx, m.ID, appliance.StateFrozen, "tom", "cabling audit")
	// ...while HQ asks for a recycle on it.
	out, err := a.Apply(ctx, intent(1, wire.KindJob, wire.JobBody{Serial: "SN-FROZEN", Action: "recycle"}))
	if err != nil || out.Status != "conflict" {
		t.Fatalf("job on a frozen machine: %+v %v", out, err)
	}
	mm, _ := f.site.Machine(ctx, m.ID)
	if mm.State != appliance.StateFrozen {
		t.Fatalf("the intent overwrote the freeze: %s", mm.State)
	}
	cs, _ := f.site.Conflicts(ctx, "open")
	if len(cs) != 1 || !strings.Contains(string(cs[0].SiteValue), "cabling audit") || !strings.Contains(string(cs[0].HQValue), "recycle") {
		t.Fatalf("conflict %+v", cs)
	}
	// Applied exactly once: the same intent again changes nothing.
	if out, _ := a.Apply(ctx, intent(1, wire.KindJob, wire.JobBody{Serial: "SN-FROZEN", Action: "recycle"})); out.Status != "duplicate" {
		t.Fatalf("second apply: %+v", out)
	}
	if cs, _ := f.site.Conflicts(ctx, ""); len(cs) != 1 {
		t.Fatalf("%d conflicts after a replay", len(cs))
	}
	// A job on a free machine is queued, once.
	out, _ = a.Apply(ctx, intent(2, wire.KindJob, wire.JobBody{Serial: "SN-FREE", Action: "power", Params: map[string]string{"op": "on"}}))
	if out.Status != "applied" {
		t.Fatalf("%+v", out)
	}
	if js, _ := f.site.Jobs(ctx, sqlite.JobFilter{MachineID: free.ID}); len(js) != 1 || js[0].Requester != "hq:alice" {
		t.Fatalf("jobs %+v", js)
	}
	// Unfreezing lets the parked intent through, and closes the conflict.
	f.site.Unfreeze(ctx, m.ID, "tom", "audit done")
	if err := a.RetryConflicts(ctx); err != nil {
		t.Fatal(err)
	}
	cs, _ = f.site.Conflicts(ctx, "")
	if cs[0].Status != "resolved" || !strings.Contains(cs[0].Resolution, "applied as job") {
		t.Fatalf("conflict after unfreeze: %+v", cs[0])
	}
	if js, _ := f.site.Jobs(ctx, sqlite.JobFilter{MachineID: m.ID}); len(js) != 1 || js[0].Action != appliance.ActionRecycle {
		t.Fatalf("parked job %+v", js)
	}
	// Policies arrive and are put in force.
	if out, _ := a.Apply(ctx, intent(3, wire.KindPolicy, wire.PolicyBody{MaxSite: 7, MaxPerRack: 2})); out.Status != "applied" {
		t.Fatalf("%+v", out)
	}
	if p := f.policy.Load(); p == nil || p.MaxSite != 7 || p.MaxPerRack != 2 {
		t.Fatalf("policy %+v", p)
	}
	// A bad intent is recorded as failed and does not block the next.
	if out, _ := a.Apply(ctx, intent(4, wire.KindJob, wire.JobBody{Serial: "NOPE", Action: "recycle"})); out.Status != "failed" {
		t.Fatalf("job on an unknown serial: %+v", out)
	}
	spec := appliance.ProvisionSpec{Count: 2, Role: "db", Class: "1x4c-8g", HostnamePattern: "db-{n:02}", Image: "debian:12"}
	if out, _ := a.Apply(ctx, intent(5, wire.KindProvision, wire.ProvisionBody{Request: 77, ProvisionSpec: spec})); out.Status != "applied" {
		t.Fatalf("provision: %+v", out)
	}
	if out, _ := a.Apply(ctx, intent(6, wire.KindWithdraw, wire.WithdrawBody{Seq: 5})); out.Status != "applied" || !strings.Contains(out.Note, "request 77 withdrawn") {
		t.Fatalf("withdraw: %+v", out)
	}
	rs, _ := f.site.Requests(ctx, false)
	if len(rs) != 1 || rs[0].Status != "withdrawn" {
		t.Fatalf("requests %+v", rs)
	}
	st, _ := f.site.Sync(ctx)
	if st.IntentCursor != 6 {
		t.Fatalf("cursor %d", st.IntentCursor)
	}
}

func TestPullAppliesIntentsFromHQ(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.site.EnableSync(ctx, "lon1")
	f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: "SN-1"}, "t", "")
	for i := 0; i < 3; i++ {
		if _, err := f.hq.AddIntent(ctx, "lon1", wire.KindJob, wire.JobBody{Serial: "SN-1", Action: "power", Params: map[string]string{"op": "status"}}, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.up.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	// Newest first: the first queued a job; the next two found the
	// machine busy with it.
	ins, _ := f.site.Intents(ctx, 0)
	if len(ins) != 3 || ins[2].Status != "applied" || ins[1].Status != "conflict" || ins[0].Status != "conflict" {
		t.Fatalf("intents %+v", ins)
	}
	if err := f.up.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	f.converged(t)
	// HQ sees the conflicts the busy machine caused.
	fs, _ := f.hq.Facts(ctx, hq.FactFilter{Kind: "conflicts", Site: "lon1"})
	if len(fs) != 2 {
		t.Fatalf("HQ sees %d conflicts, want 2", len(fs))
	}
}

// Two batches are in flight at once. When the second reaches an HQ that
// does not know the site yet (restarted, or another replica) before the
// first is applied, HQ refuses it as a gap; the site must send it again,
// not take the refusal for lost history and resend a full snapshot.
func TestPipelinedPushOvertaken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.site.EnableSync(ctx, "lon1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if _, err := f.site.CreateMachine(ctx, sqlite.NewMachine{Serial: fmt.Sprintf("SN-%03d", i)}, "t", ""); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := f.site.Sync(ctx)
	first := st.AckedSeq + 1
	// The first batch is held back long enough for the second to pass it.
	h := (&hq.Server{Store: f.hq, Log: slog.New(slog.DiscardHandler)}).Handler()
	var refused, resets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == wire.PathPush {
			body, _ := io.ReadAll(r.Body)
			var p wire.Push
			json.Unmarshal(body, &p)
			if p.Reset {
				resets.Add(1)
			}
			if p.From == first {
				time.Sleep(300 * time.Millisecond)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				refused.Add(1)
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	f.up.HQ, f.up.HTTP = srv.URL, srv.Client()
	if err := f.up.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	f.converged(t)
	if refused.Load() == 0 {
		t.Fatal("no batch overtook the first: the test did not test anything")
	}
	if resets.Load() != 0 {
		t.Fatalf("the site resent a full snapshot %d times", resets.Load())
	}
}
