package main

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/cmd/internal/client"
	"github.com/outpostdc/outpost/cmd/internal/client/outpostdtest"
)

// register adds a machine to d for one test, with a serial of its own.
func register(t *testing.T, d *outpostdtest.Daemon, n client.NewMachine) int64 {
	t.Helper()
	c, err := client.New(client.Options{Socket: d.Socket})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.CreateMachine(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func machineState(t *testing.T, d *outpostdtest.Daemon, id int64) string {
	t.Helper()
	c, _ := client.New(client.Options{Socket: d.Socket})
	m, err := c.Machine(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(m.State)
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
}

// TestLoginOverURL logs in over HTTP with a password on stdin, keeps the
// token in a 0600 file, uses it, and logs out.
func TestLoginOverURL(t *testing.T) {
	d := daemon(t, envOther)
	cfg := t.TempDir()
	// No socket here: commands must go to the URL.
	o := runOpts{configDir: cfg, stdin: d.AdminPassword + "\n", env: map[string]string{"OUTPOST_SOCKET": ""}}
	r := runCLI(t, d, o, "login", "--url", d.URL, "--user", "admin")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "logged in to "+d.URL+" as admin (admin)") {
		t.Fatalf("login said %q", r.stdout)
	}
	path := filepath.Join(cfg, "credentials.json")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials mode %v, want 0600", st.Mode().Perm())
	}
	var creds credentials
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &creds); err != nil || !strings.HasPrefix(creds.Servers[d.URL].Token, "op_") || creds.Current != d.URL {
		t.Fatalf("credentials file: %v %s", err, b)
	}

	o.stdin = ""
	r = runCLI(t, d, o, "whoami", "--url", d.URL)
	wantCode(t, r, 0)
	if r.stdout != "admin (admin) at "+d.URL+"\n" {
		t.Fatalf("whoami: %q", r.stdout)
	}
	// Without --url and without a socket, the last login is used. (With a
	// real outpostd on this machine, its socket would be.)
	if _, err := os.Stat(DefaultSocket); err != nil {
		r = runCLI(t, d, o, "whoami")
		wantCode(t, r, 0)
		if !strings.HasPrefix(r.stdout, "admin (admin) at "+d.URL) {
			t.Fatalf("whoami from stored credentials: %q", r.stdout)
		}
	}
	// A socket given on purpose wins over the stored login.
	wantCode(t, runCLI(t, d, o, "whoami", "--socket", filepath.Join(t.TempDir(), "none.sock")), exitUnreachable)
	// Tokens belong to named users: create one and use it.
	r = runCLI(t, d, o, "tokens", "create", "ci", "--url", d.URL, "--ttl", "1h")
	wantCode(t, r, 0)
	tok := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(tok, "op_") || !strings.Contains(r.stderr, `"ci" for admin`) {
		t.Fatalf("tokens create: %+v", r)
	}
	r = runCLI(t, d, runOpts{configDir: t.TempDir()}, "whoami", "--url", d.URL, "--token", tok)
	wantCode(t, r, 0)
	r = runCLI(t, d, o, "tokens", "list", "--url", d.URL)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, " ci ") {
		t.Fatalf("tokens list: %q", r.stdout)
	}
	id := strings.Fields(strings.Split(r.stdout, "\n")[1])[0]
	wantCode(t, runCLI(t, d, o, "tokens", "revoke", id, "--url", d.URL), 0)
	r = runCLI(t, d, runOpts{configDir: t.TempDir()}, "whoami", "--url", d.URL, "--token", tok)
	wantCode(t, r, exitAuth)

	r = runCLI(t, d, o, "logout", "--url", d.URL)
	wantCode(t, r, 0)
	b, _ = os.ReadFile(path)
	if strings.Contains(string(b), "op_") {
		t.Fatalf("token kept after logout: %s", b)
	}
	r = runCLI(t, d, o, "whoami", "--url", d.URL)
	wantCode(t, r, exitAuth)
	if !strings.Contains(r.stderr, "outpost login") {
		t.Fatalf("401 without a hint: %q", r.stderr)
	}
	// A wrong password is refused.
	o.stdin = "not-the-password\n"
	wantCode(t, runCLI(t, d, o, "login", "--url", d.URL, "--user", "admin"), exitAuth)
}

// TestRoles: a viewer reads but may not freeze; users are managed from
// the socket.
func TestRoles(t *testing.T) {
	d := daemon(t, envOther)
	id := register(t, d, client.NewMachine{Serial: "ROLE-1", Hostname: "role-1", MACs: []string{"52:54:00:aa:00:01"}})
	wantCode(t, runCLI(t, d, runOpts{stdin: "viewer-password-1\n"}, "users", "add", "val", "--role", "viewer"), 0)
	cfg := t.TempDir()
	o := runOpts{configDir: cfg, stdin: "viewer-password-1\n"}
	wantCode(t, runCLI(t, d, o, "login", "--url", d.URL, "--user", "val"), 0)
	o.stdin = ""
	r := runCLI(t, d, o, "machines", "show", "ROLE-1", "--url", d.URL)
	wantCode(t, r, 0)
	r = runCLI(t, d, o, "freeze", "ROLE-1", "--reason", "no", "--yes", "--url", d.URL)
	wantCode(t, r, exitAuth)
	if !strings.Contains(r.stderr, "val is a viewer; this needs a technician") {
		t.Fatalf("forbidden: %q", r.stderr)
	}
	if s := machineState(t, d, id); s != "ready" {
		t.Fatalf("a viewer froze the machine: %s", s)
	}
	wantCode(t, runCLI(t, d, o, "users", "list", "--url", d.URL), exitAuth)

	// Promoted, the same session may freeze.
	wantCode(t, runCLI(t, d, runOpts{}, "users", "role", "val", "technician"), 0)
	r = runCLI(t, d, o, "freeze", "ROLE-1", "--reason", "promoted", "--yes", "--url", d.URL)
	wantCode(t, r, 0)
	if s := machineState(t, d, id); s != "frozen" {
		t.Fatalf("state %s after freeze", s)
	}
	// Disabled, it may do nothing.
	wantCode(t, runCLI(t, d, runOpts{}, "users", "disable", "val"), 0)
	wantCode(t, runCLI(t, d, o, "whoami", "--url", d.URL), exitAuth)
	wantCode(t, runCLI(t, d, o, "whoami", "--url", d.URL, "--token", "op_bogus"), exitAuth)
	// A bad password is refused by the daemon: an invalid request.
	wantCode(t, runCLI(t, d, runOpts{stdin: "short\n"}, "users", "passwd", "val"), exitUsage)
	wantCode(t, runCLI(t, d, runOpts{stdin: "a-much-longer-one\n"}, "users", "passwd", "val"), 0)
	wantCode(t, runCLI(t, d, runOpts{}, "users", "role", "val", "king"), exitUsage)
	wantCode(t, runCLI(t, d, runOpts{}, "users", "role", "nobody", "viewer"), exitNotFound)
}

func TestUnreachable(t *testing.T) {
	d := daemon(t, envOther)
	r := runCLI(t, d, runOpts{}, "machines", "list", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	wantCode(t, r, exitUnreachable)
	if !strings.Contains(r.stderr, "cannot reach outpostd at unix:") || !strings.Contains(r.stderr, "Is outpostd running?") {
		t.Fatalf("stderr %q", r.stderr)
	}
	// A closed port: nothing listens on port 1 of loopback.
	r = runCLI(t, d, runOpts{}, "machines", "list", "--url", "http://127.0.0.1:1", "--token", "x")
	wantCode(t, r, exitUnreachable)
	r = runCLI(t, d, runOpts{}, "machines", "list", "--url", "ftp://box")
	wantCode(t, r, exitUsage)
}

// TestConfirm answers the prompt as a person at a terminal would.
func TestConfirm(t *testing.T) {
	d := daemon(t, envOther)
	id := register(t, d, client.NewMachine{Serial: "SN123", Hostname: "db-1", MACs: []string{"52:54:00:bb:00:01"}})
	img := filepath.Join(t.TempDir(), "debian-12.raw")
	os.WriteFile(img, []byte(strings.Repeat("x", 4096)), 0o644)
	wantCode(t, runCLI(t, d, runOpts{}, "images", "upload", img, "--name", "debian", "--version", "12"), 0)

	r := runCLI(t, d, runOpts{terminal: true, stdin: "n\n"}, "install", "SN123", "--image", "debian:12")
	wantCode(t, r, exitOther)
	want := "Install debian:12 on machine " + itoa64(id) + " (SN123, db-1)? [y/N] "
	if !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "not confirmed; nothing done") {
		t.Fatalf("prompt %q, want %q", r.stderr, want)
	}
	// Without a terminal and without --yes: refused, nothing done.
	r = runCLI(t, d, runOpts{stdin: "y\n"}, "install", "SN123", "--image", "debian:12")
	wantCode(t, r, exitUsage)
	if !strings.Contains(r.stderr, "pass --yes") {
		t.Fatalf("stderr %q", r.stderr)
	}
	r = runCLI(t, d, runOpts{}, "jobs", "list", "--machine", "SN123")
	if strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("a job was made without confirmation:\n%s", r.stdout)
	}
	r = runCLI(t, d, runOpts{terminal: true, stdin: "y\n"}, "freeze", "52:54:00:bb:00:01", "--reason", "yes at a terminal")
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stderr, `Freeze machine `+itoa64(id)+` (SN123, db-1), now ready, because "yes at a terminal"? [y/N] `) {
		t.Fatalf("prompt %q", r.stderr)
	}
	if s := machineState(t, d, id); s != "frozen" {
		t.Fatalf("state %s", s)
	}
	// A frozen machine takes no install: the daemon refuses (409) or the
	// job fails; with --yes --wait --attempts 1 either way it is not 0.
	r = runCLI(t, d, runOpts{}, "install", "SN123", "--image", "debian:12", "--yes", "--wait", "--attempts", "1")
	if r.code != exitConflict && r.code != exitJobFailed {
		t.Fatalf("install on a frozen machine: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantCode(t, runCLI(t, d, runOpts{}, "unfreeze", "SN123", "--yes"), 0)
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// TestWatchFailedJob follows a job that fails: exit 7, on a terminal with
// redrawn lines.
func TestWatchFailedJob(t *testing.T) {
	d := daemon(t, envOther)
	id := register(t, d, client.NewMachine{Serial: "WATCH-1", MACs: []string{"52:54:00:cc:00:01"}})
	r := runCLI(t, d, runOpts{terminal: true}, "power", "WATCH-1", "off", "--yes", "--attempts", "1", "--wait")
	wantCode(t, r, exitJobFailed)
	if !strings.Contains(r.stdout, "job ") || !strings.Contains(r.stderr, "\x1b[2K") || !strings.Contains(r.stderr, "no BMC credentials") {
		t.Fatalf("watch output:\n%q\n%q", r.stdout, r.stderr)
	}
	if s := machineState(t, d, id); s != "broken" {
		t.Fatalf("state %s", s)
	}
	// power status asks nothing: it changes nothing.
	r = runCLI(t, d, runOpts{}, "power", "WATCH-1", "status", "--json")
	wantCode(t, r, 0)
	var j struct {
		Action string            `json:"action"`
		Params map[string]string `json:"params"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || j.Action != "power" || j.Params["op"] != "status" {
		t.Fatalf("power status --json: %v %s", err, r.stdout)
	}
}

// TestUploadProgress uploads a gzip image with the progress bar on and
// lets the format be found from the file.
func TestUploadProgress(t *testing.T) {
	d := daemon(t, envOther)
	path := filepath.Join(t.TempDir(), "img.bin")
	f, _ := os.Create(path)
	zw := gzip.NewWriter(f)
	zw.Write([]byte(strings.Repeat("outpost image ", 200000)))
	zw.Close()
	f.Close()
	r := runCLI(t, d, runOpts{}, "images", "upload", path, "--name", "gz", "--version", "1", "--progress")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "image gz:1 uploaded: raw.gz") || !strings.Contains(r.stderr, "100%") || !strings.Contains(r.stderr, "gz:1") {
		t.Fatalf("upload:\n%s\n%q", r.stdout, r.stderr)
	}
	r = runCLI(t, d, runOpts{}, "images", "list", "--json")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, `"format": "raw.gz"`) || !strings.Contains(r.stdout, `"raw_size": 2800000`) {
		t.Fatalf("images list: %s", r.stdout)
	}
	wantCode(t, runCLI(t, d, runOpts{}, "images", "delete", "gz:1"), exitUsage)
	wantCode(t, runCLI(t, d, runOpts{}, "images", "delete", "gz:1", "--yes"), 0)
	wantCode(t, runCLI(t, d, runOpts{}, "images", "delete", "gz:1", "--yes"), exitNotFound)
	// Declared as gzip, plain bytes are refused: an invalid request.
	os.WriteFile(path, []byte("not gzip"), 0o644)
	wantCode(t, runCLI(t, d, runOpts{}, "images", "upload", path, "--name", "bad", "--version", "1", "--format", "raw.gz"), exitUsage)
}

func TestDetectFormat(t *testing.T) {
	for _, c := range []struct {
		name string
		head []byte
		want string
	}{
		{"a.raw.zst", nil, "raw.zst"},
		{"a.img.gz", nil, "raw.gz"},
		{"a.img", []byte{0x1f, 0x8b, 8, 0}, "raw.gz"},
		{"a", []byte{0x28, 0xb5, 0x2f, 0xfd}, "raw.zst"},
		{"a.raw", []byte("abcd"), "raw"},
	} {
		if got := detectFormat(c.name, c.head); got != c.want {
			t.Errorf("detectFormat(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestSyncStatus reads the HQ link from a daemon that has the sync route
// (a stand-in until outpostd serves it) and from one that has not.
func TestSyncStatus(t *testing.T) {
	since := time.Date(2031, 3, 4, 10, 42, 7, 0, time.UTC)
	body := map[string]any{"enabled": true, "connected": false, "partitioned_since": since, "backlog": 1234,
		"last_contact": since.Add(-time.Minute), "hq": "https://hq.example", "last_error": "dial tcp: i/o timeout",
		"site": "fra1", "acked_seq": 7}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/sync" || r.Header.Get("Authorization") != "Bearer tok" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(body)
	}))
	defer srv.Close()
	d := daemon(t, envOther)
	r := runCLI(t, d, runOpts{}, "sync", "status", "--url", srv.URL, "--token", "tok")
	wantCode(t, r, 0)
	for _, want := range []string{"HQ PARTITIONED since 2031-03-04T10:42:07Z", "1,234 changes queued", "https://hq.example",
		"Last error    dial tcp: i/o timeout", "Last contact  2031-03-04T10:41:07Z"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("sync status lacks %q:\n%s", want, r.stdout)
		}
	}
	// --json is the daemon's answer, fields this CLI does not know kept.
	r = runCLI(t, d, runOpts{}, "sync", "status", "--url", srv.URL, "--token", "tok", "--json")
	if !strings.Contains(r.stdout, `"acked_seq": 7`) || !strings.Contains(r.stdout, `"site": "fra1"`) {
		t.Fatalf("sync status --json: %s", r.stdout)
	}
	body["connected"], body["partitioned_since"], body["last_contact"], body["backlog"] = true, nil, time.Now().Add(-3*time.Second), 0
	r = runCLI(t, d, runOpts{}, "sync", "status", "--url", srv.URL, "--token", "tok")
	if !strings.HasPrefix(r.stdout, "HQ: connected (last contact ") {
		t.Fatalf("sync status: %s", r.stdout)
	}
	// The real daemon has no sync route yet: not configured, exit 0.
	r = runCLI(t, d, runOpts{}, "sync", "status", "--json")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, `"configured": false`) {
		t.Fatalf("sync status --json: %s", r.stdout)
	}
}

func TestCompletionAndUsage(t *testing.T) {
	d := daemon(t, envOther)
	r := runCLI(t, d, runOpts{}, "completion", "bash")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "__start_outpost") {
		t.Fatalf("no bash completion:\n%.200s", r.stdout)
	}
	// Machine arguments complete from the daemon.
	register(t, d, client.NewMachine{Serial: "COMP-1", Hostname: "comp-host", MACs: []string{"52:54:00:dd:00:01"}})
	r = runCLI(t, d, runOpts{}, "__complete", "machines", "show", "comp")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "COMP-1 comp-host") {
		t.Fatalf("completion: %q", r.stdout)
	}
	wantCode(t, runCLI(t, d, runOpts{}, "--no-such-flag"), exitUsage)
	wantCode(t, runCLI(t, d, runOpts{}, "jobs", "show", "x"), exitUsage)
	wantCode(t, runCLI(t, d, runOpts{}, "machines", "show"), exitUsage)
	wantCode(t, runCLI(t, d, runOpts{}, "machines", "list", "--state", "sleeping"), exitUsage)
	wantCode(t, runCLI(t, d, runOpts{}, "machines"), 0)
}
