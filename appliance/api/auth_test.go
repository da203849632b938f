package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

func TestNeedRole(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         appliance.Role
	}{
		{"GET", "/api/v1/machines", appliance.RoleViewer},
		{"GET", "/api/v1/machines/3/timeline", appliance.RoleViewer},
		{"POST", "/api/v1/machines/3/state", appliance.RoleTechnician},
		{"POST", "/api/v1/jobs", appliance.RoleTechnician},
		{"POST", "/api/v1/jobs/4/cancel", appliance.RoleTechnician},
		{"POST", "/api/v1/queues/install/resume", appliance.RoleTechnician},
		{"PUT", "/api/v1/racks/r1/freeze", appliance.RoleTechnician},
		{"POST", "/api/v1/images", appliance.RoleAdmin},
		{"DELETE", "/api/v1/images/abc", appliance.RoleAdmin},
		{"GET", "/api/v1/images", appliance.RoleViewer},
		{"PUT", "/api/v1/machines/3/bmc", appliance.RoleAdmin},
		{"GET", "/api/v1/users", appliance.RoleAdmin},
		{"POST", "/api/v1/users", appliance.RoleAdmin},
		{"GET", "/api/v1/whoami", appliance.RoleViewer},
		{"POST", "/api/v1/tokens", appliance.RoleViewer},
		{"POST", "/api/v1/logout", appliance.RoleViewer},
		{"GET", "/metrics", appliance.RoleViewer},
	} {
		if got := NeedRole(tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s needs %s, want %s", tc.method, tc.path, got, tc.want)
		}
	}
	if !appliance.RoleAdmin.Can(appliance.RoleTechnician) || appliance.RoleViewer.Can(appliance.RoleTechnician) || appliance.Role("x").Can(appliance.RoleViewer) {
		t.Fatal("role ordering")
	}
}

type authFixture struct {
	ts *httptest.Server
	st *sqlite.Store
}

func newAuthAPI(t *testing.T) *authFixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &Server{Store: st, Log: slog.New(slog.DiscardHandler), Started: time.Now(), Auth: &Auth{Store: st}}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	for _, u := range []struct {
		name string
		role appliance.Role
	}{{"vera", appliance.RoleViewer}, {"tom", appliance.RoleTechnician}, {"ada", appliance.RoleAdmin}} {
		if _, err := st.CreateUser(context.Background(), u.name, u.role, u.name+"-password-1", "test"); err != nil {
			t.Fatal(err)
		}
	}
	return &authFixture{ts: ts, st: st}
}

func (f *authFixture) req(t *testing.T, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	r, _ := http.NewRequest(method, f.ts.URL+path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func (f *authFixture) login(t *testing.T, user string) string {
	t.Helper()
	code, v := f.req(t, "POST", "/api/v1/login", "", `{"user":"`+user+`","password":"`+user+`-password-1"}`)
	if code != 200 {
		t.Fatalf("login %s: %d %v", user, code, v)
	}
	return v["token"].(string)
}

func TestAuthRoles(t *testing.T) {
	f := newAuthAPI(t)
	if code, _ := f.req(t, "GET", "/api/v1/machines", "", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := f.req(t, "GET", "/api/v1/machines", "op_forged", ""); code != 401 {
		t.Fatalf("forged token: %d", code)
	}
	if code, _ := f.req(t, "POST", "/api/v1/login", "", `{"user":"vera","password":"wrong-password"}`); code != 401 {
		t.Fatalf("wrong password: %d", code)
	}
	if code, v := f.req(t, "POST", "/api/v1/login", "", `{"user":"nobody","password":"wrong-password"}`); code != 401 || !strings.Contains(v["error"].(map[string]any)["message"].(string), "wrong user name or password") {
		t.Fatalf("unknown user: %d %v", code, v)
	}
	vera, tom, ada := f.login(t, "vera"), f.login(t, "tom"), f.login(t, "ada")
	machine := `{"serial":"SN-AUTH","macs":["52:54:00:01:02:03"]}`
	steps := []struct {
		method, path, tok, body string
		code                    int
	}{
		{"GET", "/api/v1/machines", vera, "", 200},
		{"POST", "/api/v1/machines", vera, machine, 403},
		{"POST", "/api/v1/machines", tom, machine, 201},
		{"POST", "/api/v1/machines/1/state", vera, `{"state":"frozen","reason":"x"}`, 403},
		{"POST", "/api/v1/machines/1/state", tom, `{"state":"frozen","reason":"rack audit"}`, 200},
		{"GET", "/api/v1/users", tom, "", 403},
		{"GET", "/api/v1/users", ada, "", 200},
		{"POST", "/api/v1/users", ada, `{"name":"newbie","role":"viewer","password":"short"}`, 400},
		{"POST", "/api/v1/users", ada, `{"name":"newbie","role":"viewer","password":"long-enough-pw"}`, 201},
		{"GET", "/api/v1/whoami", vera, "", 200},
	}
	for _, s := range steps {
		if code, v := f.req(t, s.method, s.path, s.tok, s.body); code != s.code {
			t.Fatalf("%s %s: %d %v, want %d", s.method, s.path, code, v, s.code)
		}
	}
	// The audit log names the technician.
	a, _ := f.st.Audit(context.Background(), 1, 0)
	if a[len(a)-1].Actor != "tom" || a[0].Actor != "tom" {
		t.Fatalf("audit actors %+v", a)
	}
	// API tokens: created, used, revoked.
	code, v := f.req(t, "POST", "/api/v1/tokens", tom, `{"name":"ci","ttl":"24h"}`)
	if code != 201 {
		t.Fatalf("token: %d %v", code, v)
	}
	api := v["token"].(string)
	if code, _ := f.req(t, "GET", "/api/v1/machines", api, ""); code != 200 {
		t.Fatalf("API token: %d", code)
	}
	id := v["info"].(map[string]any)["id"].(float64)
	if code, _ := f.req(t, "DELETE", "/api/v1/tokens/"+itoaF(id), vera, ""); code != 404 {
		t.Fatalf("vera revoked tom's token: %d", code)
	}
	if code, _ := f.req(t, "DELETE", "/api/v1/tokens/"+itoaF(id), tom, ""); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := f.req(t, "GET", "/api/v1/machines", api, ""); code != 401 {
		t.Fatalf("revoked token still works: %d", code)
	}
	// Disabling a user ends its sessions.
	if code, _ := f.req(t, "PATCH", "/api/v1/users/vera", ada, `{"disabled":true}`); code != 200 {
		t.Fatal("disable")
	}
	if code, _ := f.req(t, "GET", "/api/v1/machines", vera, ""); code != 401 {
		t.Fatalf("disabled user: %d", code)
	}
	if code, _ := f.req(t, "POST", "/api/v1/logout", tom, ""); code != 204 {
		t.Fatal("logout")
	}
	if code, _ := f.req(t, "GET", "/api/v1/machines", tom, ""); code != 401 {
		t.Fatalf("after logout: %d", code)
	}
}

func itoaF(f float64) string { b, _ := json.Marshal(int64(f)); return string(b) }

// TestUnixSocketRoot: root on the box's socket is the console admin.
func TestUnixSocketRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("run as root (make test does): the socket's peer must be uid 0")
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &Server{Store: st, Log: slog.New(slog.DiscardHandler), Started: time.Now(), Auth: &Auth{Store: st}}
	sock := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler(), ConnContext: ConnContext}
	go hs.Serve(ln)
	defer hs.Close()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", sock)
	}}}
	resp, err := c.Get("http://outpostd/api/v1/whoami")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var u appliance.User
	json.NewDecoder(resp.Body).Decode(&u)
	if resp.StatusCode != 200 || u.Role != appliance.RoleAdmin || u.Name != "root@console" {
		t.Fatalf("%d %+v", resp.StatusCode, u)
	}
}
