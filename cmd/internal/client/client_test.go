package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func TestErrorsAndToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/machines/7":
			if r.Header.Get("Authorization") != "Bearer op_x" {
				w.WriteHeader(401)
				io.WriteString(w, `{"error":{"code":"unauthorized","message":"invalid or expired token"}}`)
				return
			}
			w.WriteHeader(404)
			io.WriteString(w, `{"error":{"code":"not_found","message":"machine 7 not found"}}`)
		case "/api/v1/machines":
			if got := r.URL.Query().Get("mac"); got != "52:54:00:00:00:01" || r.URL.Query().Get("limit") != "5" {
				t.Errorf("query %v", r.URL.Query())
			}
			io.WriteString(w, `{"machines":[{"id":3,"serial":"S3","state":"ready"}]}`)
		case "/api/v1/jobs":
			var n NewJob
			if err := json.NewDecoder(r.Body).Decode(&n); err != nil || n.Action != "power" || n.Params["op"] != "cycle" {
				t.Errorf("job body %+v %v", n, err)
			}
			w.WriteHeader(201)
			io.WriteString(w, `{"id":9,"action":"power","machine_id":3,"status":"queued","progress":{"phase":"write","percent":45.5,"mbps":100}}`)
		default:
			http.NotFound(w, r) // plain text, like the mux
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	c, err := New(Options{URL: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Machine(ctx, 7)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthorized" || ae.Message != "invalid or expired token" {
		t.Fatalf("err %#v", err)
	}
	c.SetToken("op_x")
	_, err = c.Machine(ctx, 7)
	if !IsNotFound(err) || err.Error() != "machine 7 not found" {
		t.Fatalf("err %v", err)
	}
	ms, err := c.Machines(ctx, MachineFilter{MAC: "52:54:00:00:00:01", Limit: 5})
	if err != nil || len(ms) != 1 || ms[0].Serial != "S3" {
		t.Fatalf("machines %v %v", ms, err)
	}
	j, err := c.SubmitJob(ctx, NewJob{Action: "power", MachineID: 3, Params: map[string]string{"op": "cycle"}})
	if err != nil || j.ID != 9 {
		t.Fatalf("job %v %v", j, err)
	}
	if p, ok := ProgressOf(j); !ok || p.Percent != 45.5 || p.Phase != "write" {
		t.Fatalf("progress %+v %v", p, ok)
	}
	// No sync route: not configured, not an error.
	s, err := c.Sync(ctx)
	if err != nil || !s.NotConfigured {
		t.Fatalf("sync %+v %v", s, err)
	}
	// A plain-text error keeps its text and gets a code from its status.
	_, err = c.Policies(ctx)
	if !errors.As(err, &ae) || ae.Code != "not_found" || !strings.Contains(ae.Message, "404 page not found") {
		t.Fatalf("err %#v", err)
	}
}

func TestSocketAndUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("socket request carries a token")
		}
		io.WriteString(w, `{"id":0,"name":"root@console","role":"admin"}`)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := New(Options{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.WhoAmI(context.Background())
	if err != nil || u.Name != "root@console" || !c.IsSocket() || c.Target() != "unix:"+sock {
		t.Fatalf("whoami %+v %v", u, err)
	}

	c, _ = New(Options{Socket: filepath.Join(t.TempDir(), "none.sock")})
	_, err = c.Health(context.Background())
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), "cannot reach outpostd at unix:") {
		t.Fatalf("err %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without a socket or URL")
	}
	if _, err := New(Options{URL: "box:8443"}); err == nil {
		t.Fatal("New with a URL without a scheme")
	}
	if _, err := New(Options{URL: "https://box", CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil {
		t.Fatal("New with a missing CA file")
	}
}
