package uplink

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/sync/wire"
)

func TestImageBodyCheck(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	good := wire.ImageBody{Name: "debian", Version: "12.5", Format: "raw.zst", SHA256: sha, URL: "https://hq.example/images/d.raw.zst"}
	for _, tc := range []struct {
		name string
		mod  func(*wire.ImageBody)
		want string
	}{
		{"good", func(*wire.ImageBody) {}, ""},
		{"upper-case hash", func(b *wire.ImageBody) { b.SHA256 = strings.ToUpper(sha) }, ""},
		{"no name", func(b *wire.ImageBody) { b.Name = "" }, "name"},
		{"bad version", func(b *wire.ImageBody) { b.Version = "1 2" }, "version"},
		{"bad format", func(b *wire.ImageBody) { b.Format = "iso" }, "format"},
		{"short hash", func(b *wire.ImageBody) { b.SHA256 = "abc" }, "sha256"},
		{"hash not hex", func(b *wire.ImageBody) { b.SHA256 = strings.Repeat("zz", 32) }, "sha256"},
		{"relative url", func(b *wire.ImageBody) { b.URL = "/images/d" }, "url"},
		{"file url", func(b *wire.ImageBody) { b.URL = "file:///etc/shadow" }, "url"},
	} {
		b := good
		tc.mod(&b)
		err := b.Check()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !appliance.IsCode(err, appliance.CodeInvalid)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// FuzzApplyIntent sends arbitrary intents from HQ into a real site store.
// Whatever arrives, the site records it exactly once, as applied, failed
// or a conflict, and moves its cursor past it: one bad intent never
// blocks the ones after it, and nothing is applied twice.
func FuzzApplyIntent(f *testing.F) {
	seeds := []struct {
		kind string
		body any
	}{
		{wire.KindJob, wire.JobBody{Serial: "SN-1", Action: "recycle"}},
		{wire.KindJob, wire.JobBody{Serial: "SN-2", Action: "power", Params: map[string]string{"op": "cycle"}}},
		{wire.KindJob, wire.JobBody{Serial: "SN-1", Action: "install", Params: map[string]string{"image": "debian:12"}}},
		{wire.KindPolicy, wire.PolicyBody{MaxSite: 4, MaxPerRack: 1, Windows: map[string]string{"install": "Mon-Fri 08:00-18:00"}}},
		{wire.KindProvision, wire.ProvisionBody{Request: 9, ProvisionSpec: appliance.ProvisionSpec{Count: 1, Role: "web", Class: "1x4c-8g", HostnamePattern: "web-{n}", Image: "debian:12"}}},
		{wire.KindImage, wire.ImageBody{Name: "d", Version: "1", Format: "raw", SHA256: strings.Repeat("0", 64), URL: "http://127.0.0.1:1/d"}},
		{wire.KindWithdraw, wire.WithdrawBody{Seq: 1}},
		{"reboot", map[string]int{"x": 1}},
	}
	for _, s := range seeds {
		b, _ := json.Marshal(s.body)
		f.Add(s.kind, b)
	}
	f.Add(wire.KindJob, []byte(`{"serial":"SN-1","action":"recycle","extra":true}`))
	f.Add(wire.KindPolicy, []byte(`{"max_site":-1}`))
	f.Add(wire.KindProvision, []byte(`not json`))
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	for _, serial := range []string{"SN-1", "SN-2"} {
		if _, err := st.CreateMachine(ctx, sqlite.NewMachine{Serial: serial, State: appliance.StateReady}, "t", ""); err != nil {
			f.Fatal(err)
		}
	}
	// Images stays nil: an image intent must not reach the network here.
	a := &Applier{Store: st, Log: slog.New(slog.DiscardHandler)}
	f.Fuzz(func(t *testing.T, kind string, body []byte) {
		s, err := st.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		in := wire.Intent{Seq: s.IntentCursor + 1, Kind: kind, Body: body, CreatedBy: "fuzz"}
		out, err := a.Apply(ctx, in)
		if err != nil {
			t.Fatalf("intent %q %q: %v", kind, body, err)
		}
		switch out.Status {
		case "applied", "failed", "conflict":
		default:
			t.Fatalf("intent %q %q: status %q", kind, body, out.Status)
		}
		if !json.Valid(body) && out.Status != "failed" {
			t.Fatalf("intent %q with a body that is not JSON: %+v", kind, out)
		}
		if s2, _ := st.Sync(ctx); s2.IntentCursor != in.Seq {
			t.Fatalf("cursor %d after intent %d", s2.IntentCursor, in.Seq)
		}
		if again, err := a.Apply(ctx, in); err != nil || again.Status != "duplicate" {
			t.Fatalf("the same intent again: %+v %v", again, err)
		}
		if got, err := st.Intents(ctx, 1); err != nil || len(got) != 1 || got[0].Seq != in.Seq || got[0].Status != out.Status {
			t.Fatalf("recorded %+v %v, want seq %d %s", got, err, in.Seq, out.Status)
		}
	})
}
