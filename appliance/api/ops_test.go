package api

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance/bmc"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

func TestSetBMCValidation(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := bmc.NewCredStore(filepath.Join(dir, "bmc.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.CreateMachine(context.Background(), sqlite.NewMachine{Serial: "SN1"}, "t", "")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: st, Log: slog.New(slog.DiscardHandler), Started: time.Now(), Ops: &Ops{Store: st, Creds: creds}}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	path := ts.URL + "/api/v1/machines/" + itoaF(float64(m.ID)) + "/bmc"
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"host":"10.0.0.5","user":"ADMIN","password":"x"}`, 204},
		{`{"host":"fe80::1","port":623,"user":"ADMIN","password":"x"}`, 204},
		{`{"host":"bmc-r1-u4.example","user":"ADMIN","password":"x"}`, 204},
		{`{"host":"10.0.0.5:623","user":"ADMIN","password":"x"}`, 400},
		{`{"host":"[fe80::1]:623","user":"ADMIN","password":"x"}`, 400},
		{`{"host":"http://10.0.0.5","user":"ADMIN","password":"x"}`, 400},
		{`{"host":"10.0.0.5","user":"ADMIN"}`, 400},
		{`{"host":"10.0.0.5","port":70000,"user":"ADMIN","password":"x"}`, 400},
		{`{"host":`, 400},
	} {
		code, v := call(t, "PUT", path, c.body)
		if code != c.code {
			t.Errorf("%s: %d %v, want %d", c.body, code, v, c.code)
		}
	}
	if code, _ := call(t, "PUT", ts.URL+"/api/v1/machines/999/bmc", `{"host":"10.0.0.5","user":"ADMIN","password":"x"}`); code != 404 {
		t.Errorf("unknown machine: %d", code)
	}
}
