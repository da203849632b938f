package hq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/sync/pgtest"
	"github.com/outpostdc/outpost/sync/wire"
)

// One PostgreSQL cluster for the package; each test gets its own database.
var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, func(c *pgtest.Cluster) { cluster = c }) }

func newStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	dsn, err := cluster.NewDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func batch(from int64, n int) wire.Push {
	p := wire.Push{From: from}
	for i := 0; i < n; i++ {
		seq := from + int64(i)
		p.Changes = append(p.Changes, wire.Change{Seq: seq, Tbl: "machines", Op: "upsert", Key: fmt.Sprint(seq % 7),
			Row: json.RawMessage(fmt.Sprintf(`{"id":%d,"serial":"SN%d","seq":%d}`, seq%7, seq%7, seq))})
	}
	return p
}

func pushErr(err error) *PushError {
	var pe *PushError
	errors.As(err, &pe)
	return pe
}

func TestPushIsIdempotent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	key, err := s.AddSite(ctx, "lon1", "London 1")
	if err != nil {
		t.Fatal(err)
	}
	site, err := s.SiteForKey(ctx, key)
	if err != nil || site != "lon1" {
		t.Fatalf("key: %q %v", site, err)
	}
	if _, err := s.SiteForKey(ctx, "site_forged"); !appliance.IsCode(err, appliance.CodeUnauthorized) {
		t.Fatalf("forged key: %v", err)
	}
	acked, err := s.ApplyPush(ctx, site, batch(1, 20))
	if err != nil || acked != 20 {
		t.Fatalf("first batch: %d %v", acked, err)
	}
	facts := func() string {
		fs, _ := s.Facts(ctx, FactFilter{Kind: "machines", Site: site})
		var out []string
		for _, f := range fs {
			out = append(out, f.Key+"="+string(f.Data))
		}
		return strings.Join(out, " ")
	}
	before := facts()
	// The same batch again: refused as replayed, nothing changes.
	if _, err := s.ApplyPush(ctx, site, batch(1, 20)); pushErr(err) == nil || pushErr(err).Kind != "replayed" || pushErr(err).Acked != 20 {
		t.Fatalf("replay: %v", err)
	}
	if facts() != before {
		t.Fatal("a replayed batch changed facts")
	}
	// A gap is refused and says where to resume.
	if _, err := s.ApplyPush(ctx, site, batch(25, 5)); pushErr(err) == nil || pushErr(err).Kind != "gap" || pushErr(err).Acked != 20 {
		t.Fatalf("gap: %v", err)
	}
	// An overlapping batch applies only what is new.
	if acked, err := s.ApplyPush(ctx, site, batch(15, 10)); err != nil || acked != 24 {
		t.Fatalf("overlap: %d %v", acked, err)
	}
	fs, _ := s.Facts(ctx, FactFilter{Kind: "machines", Site: site})
	if len(fs) != 7 {
		t.Fatalf("%d facts, want 7 (keys 0-6)", len(fs))
	}
	// Deletes remove the fact.
	del := wire.Push{From: 25, Changes: []wire.Change{{Seq: 25, Tbl: "machines", Op: "delete", Key: "3"}}}
	if _, err := s.ApplyPush(ctx, site, del); err != nil {
		t.Fatal(err)
	}
	if fs, _ := s.Facts(ctx, FactFilter{Kind: "machines", Site: site}); len(fs) != 6 {
		t.Fatalf("%d facts after a delete", len(fs))
	}
	// A reset replaces everything HQ held for the site.
	reset := batch(1000, 2)
	reset.Reset = true
	if acked, err := s.ApplyPush(ctx, site, reset); err != nil || acked != 1001 {
		t.Fatalf("reset: %d %v", acked, err)
	}
	if fs, _ := s.Facts(ctx, FactFilter{Kind: "machines", Site: site}); len(fs) != 2 {
		t.Fatalf("%d facts after a reset, want 2", len(fs))
	}
}

func TestCheckPush(t *testing.T) {
	good := batch(1, 3)
	for _, tc := range []struct {
		name string
		mod  func(*wire.Push)
		want string
	}{
		{"good", func(*wire.Push) {}, ""},
		{"empty", func(p *wire.Push) { p.Changes = nil }, "empty"},
		{"from mismatch", func(p *wire.Push) { p.From = 2 }, "from is 2"},
		{"not consecutive", func(p *wire.Push) { p.Changes[1].Seq = 9 }, "consecutive"},
		{"unknown table", func(p *wire.Push) { p.Changes[0].Tbl = "users" }, "unknown table"},
		{"bad op", func(p *wire.Push) { p.Changes[0].Op = "truncate" }, "op"},
		{"row not an object", func(p *wire.Push) { p.Changes[0].Row = json.RawMessage(`[1]`) }, "JSON object"},
		{"empty key", func(p *wire.Push) { p.Changes[0].Key = "" }, "key"},
		{"too many", func(p *wire.Push) { *p = batch(1, wire.MaxChanges+1) }, "over the limit"},
	} {
		p := good
		p.Changes = append([]wire.Change(nil), good.Changes...)
		tc.mod(&p)
		err := CheckPush(p)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestIntentsAndRequests(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	s.AddSite(ctx, "ams1", "Amsterdam 1")
	s.AddSite(ctx, "lon1", "London 1")
	spec := appliance.ProvisionSpec{Count: 3, Role: "fancydb", Class: "2x16c-256g-2xnvme960", HostnamePattern: "fancydb-{n:02}", Image: "debian:12"}
	id, seq, err := s.CreateRequest(ctx, "lon1", spec, "alice")
	if err != nil || seq != 1 || id <= 0 {
		t.Fatalf("request: %d %d %v", id, seq, err)
	}
	if _, _, err := s.CreateRequest(ctx, "lon1", appliance.ProvisionSpec{Count: 0}, "alice"); !appliance.IsCode(err, appliance.CodeInvalid) {
		t.Fatalf("bad spec: %v", err)
	}
	if _, _, err := s.CreateRequest(ctx, "nowhere", spec, "alice"); !appliance.IsCode(err, appliance.CodeNotFound) {
		t.Fatalf("unknown site: %v", err)
	}
	s.AddIntent(ctx, "lon1", wire.KindJob, wire.JobBody{Serial: "SN1", Action: "recycle"}, "bob")
	s.AddIntent(ctx, "ams1", wire.KindJob, wire.JobBody{Serial: "SN9", Action: "recycle"}, "bob")
	ins, _ := s.IntentsAfter(ctx, "lon1", 0, 10)
	if len(ins) != 2 || ins[0].Seq != 1 || ins[1].Seq != 2 || ins[0].Kind != wire.KindProvision {
		t.Fatalf("lon1 intents %+v", ins)
	}
	if ins, _ := s.IntentsAfter(ctx, "lon1", 1, 10); len(ins) != 1 || ins[0].Seq != 2 {
		t.Fatalf("after the cursor: %+v", ins)
	}
	if ins, _ := s.IntentsAfter(ctx, "ams1", 0, 10); len(ins) != 1 || ins[0].Seq != 1 {
		t.Fatalf("ams1's own log: %+v", ins)
	}
	// The site's progress report joins the request.
	key, _ := s.AddSite(ctx, "par1", "Paris")
	site, _ := s.SiteForKey(ctx, key)
	id2, _, _ := s.CreateRequest(ctx, site, spec, "alice")
	prog := fmt.Sprintf(`{"id":%d,"status":"complete","done":3}`, id2)
	if _, err := s.ApplyPush(ctx, site, wire.Push{From: 1, Changes: []wire.Change{{Seq: 1, Tbl: "provision_requests", Op: "upsert", Key: fmt.Sprint(id2), Row: json.RawMessage(prog)}}}); err != nil {
		t.Fatal(err)
	}
	rs, _ := s.Requests(ctx, "par1")
	if len(rs) != 1 || !strings.Contains(string(rs[0].Progress), `"complete"`) {
		t.Fatalf("requests %+v", rs)
	}
	if err := s.WithdrawRequest(ctx, id2, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.WithdrawRequest(ctx, id2, "alice"); !appliance.IsCode(err, appliance.CodeConflict) {
		t.Fatalf("withdraw twice: %v", err)
	}
	ins, _ = s.IntentsAfter(ctx, "par1", 0, 10)
	if len(ins) != 2 || ins[1].Kind != wire.KindWithdraw {
		t.Fatalf("par1 intents %+v", ins)
	}
}

func TestParsePush(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"from":1,"changes":[{"seq":1,"tbl":"machines","op":"upsert","key":"1","row":{"id":1}}],"backlog":0}`, ""},
		{`{"from":1,"changes":[],"extra":1}`, "unknown field"},
		{`{"from":1,"changes":[]} {"from":2}`, "data after the JSON value"},
		{`{"from":"1"}`, "malformed batch"},
		{``, "malformed batch"},
		{`[`, "malformed batch"},
	} {
		_, err := ParsePush([]byte(tc.body))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !appliance.IsCode(err, appliance.CodeInvalid)) {
			t.Errorf("%q: %v, want %q", tc.body, err, tc.want)
		}
	}
}

// jsonb cannot hold U+0000; a row carrying one must still be applied, or
// the site's sync would stop at it for good.
func TestPushWithNUL(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.AddSite(ctx, "nul1", "NUL"); err != nil {
		t.Fatal(err)
	}
	p := wire.Push{From: 1, Changes: []wire.Change{
		{Seq: 1, Tbl: "machines", Op: "upsert", Key: "1", Row: json.RawMessage(`{"id":1,"serial":"AB\u0000C","hw":{"k\u0000":[1.50,"\u0000"]}}`)},
		{Seq: 2, Tbl: "machines", Op: "upsert", Key: "2", Row: json.RawMessage(`{"id":2,"note":"a literal \\u0000 stays"}`)},
	}}
	if acked, err := s.ApplyPush(ctx, "nul1", p); err != nil || acked != 2 {
		t.Fatalf("push: %d %v", acked, err)
	}
	fs, err := s.Facts(ctx, FactFilter{Kind: "machines", Site: "nul1"})
	if err != nil || len(fs) != 2 {
		t.Fatalf("facts %+v %v", fs, err)
	}
	var m1, m2 map[string]any
	json.Unmarshal(fs[0].Data, &m1)
	json.Unmarshal(fs[1].Data, &m2)
	if m1["serial"] != "AB\uFFFDC" || fmt.Sprint(m1["hw"]) != "map[k\uFFFD:[1.5 \uFFFD]]" {
		t.Errorf("row 1 stored as %s", fs[0].Data)
	}
	if m2["note"] != `a literal \u0000 stays` {
		t.Errorf("row 2 stored as %s", fs[1].Data)
	}
}

// FuzzPush feeds HQ's push parser and validation arbitrary bodies. What
// it accepts must be a consecutive batch, and the rows HQ writes for it
// (the last change of each row) must leave the same state as applying
// every change in order.
func FuzzPush(f *testing.F) {
	for _, s := range []string{
		`{"from":1,"changes":[{"seq":1,"tbl":"machines","op":"upsert","key":"1","row":{"id":1}}],"backlog":0}`,
		`{"from":5,"changes":[{"seq":5,"tbl":"leases","op":"upsert","key":"10.0.0.5","row":{"ip":"10.0.0.5"}},{"seq":6,"tbl":"leases","op":"delete","key":"10.0.0.5"},{"seq":7,"tbl":"leases","op":"upsert","key":"10.0.0.5","row":{"ip":"10.0.0.5","n":"\u0000"}}]}`,
		`{"from":1,"changes":[{"seq":1,"tbl":"jobs","op":"delete","key":"3"},{"seq":2,"tbl":"jobs","op":"upsert","key":"3","row":[1]}]}`,
		`{"from":1,"changes":[{"seq":1,"tbl":"users","op":"upsert","key":"1","row":{}}]}`,
		`{"from":1,"changes":[],"reset":true,"sent_at":"2026-11-22T00:00:00Z"}`,
	} {
		f.Add([]byte(s), int64(0))
	}
	f.Fuzz(func(t *testing.T, body []byte, acked int64) {
		p, err := ParsePush(body)
		if err != nil {
			return
		}
		if CheckPush(p) != nil {
			return
		}
		for i, c := range p.Changes {
			if c.Seq != p.From+int64(i) || c.Key == "" {
				t.Fatalf("accepted change %d: %+v", i, c)
			}
		}
		type ref struct{ kind, key string }
		want := map[ref]string{} // "" is deleted
		for _, c := range p.Changes {
			if c.Seq <= acked {
				continue
			}
			row := ""
			if c.Op == "upsert" {
				b, err := pgJSON(c.Row)
				if err != nil {
					t.Fatalf("valid row %q: %v", c.Row, err)
				}
				if bytes.Contains(b, []byte(`\u0000`)) && !bytes.Contains(c.Row, []byte(`\\u0000`)) {
					t.Fatalf("row %q still holds a NUL: %q", c.Row, b)
				}
				row = string(b)
			}
			want[ref{c.Tbl, c.Key}] = row
		}
		r := latest(p.Changes, acked)
		got := map[ref]string{}
		for i := range r.delKinds {
			k := ref{r.delKinds[i], r.delKeys[i]}
			if _, dup := got[k]; dup {
				t.Fatalf("row %v twice", k)
			}
			got[k] = ""
		}
		for i := range r.kinds {
			k := ref{r.kinds[i], r.keys[i]}
			if _, dup := got[k]; dup {
				t.Fatalf("row %v twice", k)
			}
			got[k] = r.data[i]
		}
		if len(got) != len(want) {
			t.Fatalf("latest wrote %d rows, want %d", len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("row %v: latest %q, in order %q", k, got[k], v)
			}
		}
	})
}

// A batch that arrives before the one ahead of it (a site keeps two in
// flight) waits for it instead of being refused as a gap.
func TestPushWaitsForItsTurn(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.AddSite(ctx, "turn1", "Turns"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyPush(ctx, "turn1", batch(1, 10)); err != nil {
		t.Fatal(err)
	}
	type result struct {
		acked int64
		err   error
	}
	second := make(chan result, 1)
	go func() {
		a, err := s.ApplyPush(ctx, "turn1", batch(21, 10))
		second <- result{a, err}
	}()
	select {
	case r := <-second:
		t.Fatalf("the batch ahead of its turn did not wait: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	if acked, err := s.ApplyPush(ctx, "turn1", batch(11, 10)); err != nil || acked != 20 {
		t.Fatalf("the batch in turn: %d %v", acked, err)
	}
	if r := <-second; r.err != nil || r.acked != 30 {
		t.Fatalf("the waiting batch: %+v", r)
	}
	// A site HQ has not seen since it started does not wait: the database
	// decides, and a gap is refused at once.
	fresh := &Store{DB: s.DB}
	t0 := time.Now()
	if _, err := fresh.ApplyPush(ctx, "turn1", batch(41, 5)); pushErr(err) == nil || pushErr(err).Kind != "gap" || time.Since(t0) > 2*time.Second {
		t.Fatalf("unknown site: %v after %s", err, time.Since(t0))
	}
}

// HQ refuses an intent the site could not apply, with the reason, when
// the operator makes it: the same checks the site runs.
func TestAddIntentChecksBody(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.AddSite(ctx, "img1", "Images"); err != nil {
		t.Fatal(err)
	}
	tok, err := s.CreateToken(ctx, "alice", appliance.RoleTechnician)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&Server{Store: s, Log: slog.New(slog.DiscardHandler)}).Handler())
	defer srv.Close()
	sha := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`{"site":"img1","kind":"image","body":{"name":"deb","version":"12","format":"raw.zst","sha256":"` + sha + `","url":"https://hq.example/d"}}`, 201, ""},
		{`{"site":"img1","kind":"image","body":{"name":"deb","version":"12","format":"iso","sha256":"` + sha + `","url":"https://hq.example/d"}}`, 400, "format"},
		{`{"site":"img1","kind":"image","body":{"name":"deb","version":"12","format":"raw","sha256":"` + sha + `","url":"file:///etc/shadow"}}`, 400, "url"},
		{`{"site":"img1","kind":"policy","body":{"max_site":1} {}}`, 400, "bad JSON body"},
		{`{"site":"img1","kind":"policy","body":{"max_site":1,"nope":2}}`, 400, "bad intent body"},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/intents", strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s, want %d %q", tc.body, resp.StatusCode, b, tc.code, tc.want)
		}
	}
}
