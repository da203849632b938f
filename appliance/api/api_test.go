package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

func newAPI(t *testing.T) (*httptest.Server, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &Server{Store: st, Log: slog.New(slog.DiscardHandler), Site: "t", Started: time.Now(),
		CheckReservation: func(a netip.Addr) error {
			if netip.MustParsePrefix("10.0.0.128/25").Contains(a) {
				return errors.New("inside the pool")
			}
			return nil
		}}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, st
}

func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: not JSON: %q", method, url, b)
		}
	}
	return resp.StatusCode, v
}

func errCode(v map[string]any) string {
	e, _ := v["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestAPI(t *testing.T) {
	ts, _ := newAPI(t)
	u := ts.URL + "/api/v1"
	steps := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", "/health", "", 200, ""},
		{"POST", "/machines", `{"serial":"SN1","macs":["52:54:00:00:00:01"],"rack":"r1"}`, 201, ""},
		{"POST", "/machines", `{"serial":"SN1"}`, 409, "conflict"},
		{"POST", "/machines", `{"serial":""}`, 400, "invalid"},
		{"POST", "/machines", `{"serial":"SN2","bogus":1}`, 400, "invalid"},
		{"POST", "/machines", `{"serial":"SN2"} trailing`, 400, "invalid"},
		{"POST", "/machines", `{"serial":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "too_large"},
		{"GET", "/machines/1", "", 200, ""},
		{"GET", "/machines/99", "", 404, "not_found"},
		{"GET", "/machines/abc", "", 400, "invalid"},
		{"GET", "/machines?state=weird", "", 400, "invalid"},
		{"GET", "/machines?limit=-1", "", 400, "invalid"},
		{"PATCH", "/machines/1", `{"hostname":"db-1"}`, 200, ""},
		{"POST", "/machines/1/state", `{"state":"deployed"}`, 409, "conflict"},
		{"POST", "/machines/1/state", `{"state":"frozen"}`, 400, "invalid"},
		{"POST", "/machines/1/state", `{"state":"frozen","reason":"audit"}`, 200, ""},
		{"POST", "/machines/1/unfreeze", `{"reason":"done"}`, 200, ""},
		{"PUT", "/interfaces/52:54:00:00:00:01/reservation", `{"ip":"10.0.0.200"}`, 400, "invalid"},
		{"PUT", "/interfaces/52:54:00:00:00:01/reservation", `{"ip":"10.0.0.20"}`, 204, ""},
		{"PUT", "/interfaces/52:54:00:00:00:09/reservation", `{"ip":"10.0.0.21"}`, 404, "not_found"},
		{"GET", "/interfaces/52:54:00:00:00:01", "", 200, ""},
		{"GET", "/machines/1/timeline", "", 200, ""},
		{"GET", "/macs/nope/timeline", "", 400, "invalid"},
		{"GET", "/leases?active=true", "", 200, ""},
		{"GET", "/audit", "", 200, ""},
	}
	for _, s := range steps {
		status, v := call(t, s.method, u+s.path, s.body)
		if status != s.status || errCode(v) != s.code {
			t.Fatalf("%s %s: %d %v, want %d %q", s.method, s.path, status, v, s.status, s.code)
		}
	}
	_, m := call(t, "GET", u+"/machines/1", "")
	if m["hostname"] != "db-1" || m["state"] != "ready" {
		t.Fatalf("machine %v", m)
	}
	_, i := call(t, "GET", u+"/interfaces/52:54:00:00:00:01", "")
	if i["ip"] != "10.0.0.20" {
		t.Fatalf("interface %v", i)
	}
	_, tl := call(t, "GET", u+"/machines/1/timeline", "")
	entries, _ := tl["timeline"].([]any)
	var summaries []string
	for _, e := range entries {
		summaries = append(summaries, e.(map[string]any)["summary"].(string))
	}
	joined := strings.Join(summaries, "\n")
	for _, want := range []string{"create -> ready", "state ready -> frozen: audit", "state frozen -> ready: done", "update", "reservation"} {
		if !strings.Contains(joined, want) {
			t.Errorf("timeline lacks %q:\n%s", want, joined)
		}
	}
	_, l := call(t, "GET", u+"/machines?q=SN", "")
	if ms, _ := l["machines"].([]any); len(ms) != 1 {
		t.Fatalf("search: %v", l)
	}
}

func TestStatusMapping(t *testing.T) {
	for c, want := range map[appliance.Code]int{
		appliance.CodeInvalid: 400, appliance.CodeNotFound: 404, appliance.CodeConflict: 409,
		appliance.CodeUnauthorized: 401, appliance.CodeForbidden: 403, appliance.CodeTooLarge: 413,
		appliance.CodeInternal: 500,
	} {
		if got := Status(c); got != want {
			t.Errorf("Status(%s) = %d, want %d", c, got, want)
		}
	}
	rec := httptest.NewRecorder()
	Fail(rec, slog.New(slog.DiscardHandler), errors.New("db path /secret/x broke"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("internal errors must not leak their text: %d %s", rec.Code, rec.Body)
	}
}
