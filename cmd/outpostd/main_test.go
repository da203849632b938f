package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/cmd/internal/lab"
)

// outpostdBin is the daemon under test, built once in TestMain.
var outpostdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outpostd-test")
	if err != nil {
		panic(err)
	}
	outpostdBin, err = lab.Build(dir, "./cmd/outpostd")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// site is one outpostd in its own network namespace.
type site struct {
	net    *lab.Net
	data   string
	images string
	config string
	proc   *lab.Proc
	token  string // an admin's session, for API calls
}

// imagesDir returns the repo's images/ directory, which `make images` fills.
func imagesDir(t testing.TB) string {
	t.Helper()
	root, err := lab.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "images")
	for _, f := range []string{"ipxe/undionly.kpxe", "ipxe/ipxe.efi", "kernel/vmlinuz", "recon/vmlinuz", "recon/initramfs.cpio.gz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("%s is missing: run `make images` (make test does)", f)
		}
	}
	return dir
}

func linkOrCopy(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Link(src, dst) == nil {
		return
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newSite starts outpostd on a fresh network. config is YAML added to the
// test defaults.
func newSite(t *testing.T, cidr, config string) *site {
	t.Helper()
	s := &site{net: lab.NewNet(t, cidr), data: t.TempDir(), images: t.TempDir()}
	src := imagesDir(t)
	// Links, not symlinks: outpostd serves images through os.Root, which
	// refuses symlinks that leave the tree.
	for _, f := range []string{"ipxe/undionly.kpxe", "ipxe/ipxe.efi", "ipxe/snponly.efi", "kernel/vmlinuz",
		"recon/vmlinuz", "recon/initramfs.cpio.gz", "recon/manifest.json"} {
		linkOrCopy(t, filepath.Join(src, f), filepath.Join(s.images, f))
	}
	s.config = filepath.Join(t.TempDir(), "outpost.yaml")
	if err := os.WriteFile(s.config, []byte("site: test\nlog_level: debug\n"+config), 0o644); err != nil {
		t.Fatal(err)
	}
	s.start(t)
	return s
}

func (s *site) start(t *testing.T) {
	t.Helper()
	cmd := s.net.Cmd(context.Background(), outpostdBin, "-config", s.config, "-interface", s.net.Bridge,
		"-data", s.data, "-images", s.images)
	s.proc = lab.Start(t, "outpostd", cmd)
	s.proc.WaitOutput(t, 30*time.Second, "outpostd ready")
	if s.token == "" {
		s.token = s.login(t, "admin", readPassword(t, s.data))
	}
}

func readPassword(t testing.TB, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "initial-admin-password"))
	if err != nil {
		t.Fatalf("no initial admin password: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// login opens a session through the API and returns its token.
func (s *site) login(t testing.TB, user, password string) string {
	t.Helper()
	var r struct {
		Token string `json:"token"`
	}
	tok := s.token
	s.token = ""
	defer func() { s.token = tok }()
	if code := s.call(t, "POST", "/api/v1/login", map[string]string{"user": user, "password": password}, &r); code != 200 || r.Token == "" {
		t.Fatalf("login as %s: %d", user, code)
	}
	return r.Token
}

// restart stops outpostd cleanly (or kills it) and starts it again.
func (s *site) restart(t *testing.T, kill bool) {
	t.Helper()
	if kill {
		s.proc.Kill()
	} else if err := s.proc.Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	s.start(t)
}

// api GETs a path from the API, from inside the server's namespace.
func (s *site) api(t testing.TB, path string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := s.net.Cmd(ctx, "curl", "-sS", "--fail-with-body", "-H", "Authorization: Bearer "+s.token,
		"http://"+s.net.Addr.Addr().String()+path).CombinedOutput()
	if err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, out)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, out)
	}
}

type timelineResp struct {
	Events []struct {
		Kind    string `json:"kind"`
		Summary string `json:"summary"`
	} `json:"events"`
}

func (s *site) macTimeline(t testing.TB, mac string) string {
	t.Helper()
	var r timelineResp
	s.api(t, "/api/v1/macs/"+mac+"/timeline", &r)
	var lines []string
	for _, e := range r.Events {
		lines = append(lines, e.Kind+": "+e.Summary)
	}
	return strings.Join(lines, "\n")
}

type leasesResp struct {
	Leases []struct {
		IP    string `json:"ip"`
		MAC   string `json:"mac"`
		State string `json:"state"`
	} `json:"leases"`
}

func (s *site) leases(t testing.TB) map[string]string {
	t.Helper()
	var r leasesResp
	s.api(t, "/api/v1/leases?limit=10000", &r)
	out := map[string]string{}
	for _, l := range r.Leases {
		out[l.MAC] = l.IP + " " + l.State
	}
	return out
}
