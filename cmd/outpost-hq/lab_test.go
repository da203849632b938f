package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpostdc/outpost/appliance/api"
	"github.com/outpostdc/outpost/cmd/internal/lab"
	"github.com/outpostdc/outpost/recon"
	"github.com/outpostdc/outpost/sync/pgtest"
)

// The binaries under test, built once in TestMain.
var bins struct{ outpostd, hq string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "outpost-hq-test")
	if err != nil {
		panic(err)
	}
	if bins.outpostd, err = lab.Build(dir, "./cmd/outpostd"); err == nil {
		bins.hq, err = lab.Build(dir, "./cmd/outpost-hq")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// hqLab is HQ in its own namespace: PostgreSQL on its loopback and
// outpost-hq on :8443, reached by sites over WAN veths.
type hqLab struct {
	ns    string
	pg    *pgtest.Cluster
	dsn   string
	data  string
	cert  string
	key   string
	proc  *lab.Proc
	token string
	http  *http.Client
	sites int
}

func newHQ(t *testing.T) *hqLab {
	t.Helper()
	lab.RequireRoot(t)
	h := &hqLab{ns: "op-hq-" + fmt.Sprint(time.Now().UnixNano()%1e6), data: t.TempDir()}
	lab.Run(t, "ip", "netns", "add", h.ns)
	t.Cleanup(func() { lab.Run(t, "ip", "netns", "del", h.ns) })
	lab.Run(t, "ip", "-n", h.ns, "link", "set", "lo", "up")
	pg, err := pgtest.Start(h.ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	h.pg = pg
	db, err := pg.CreateDBVia(context.Background(), "hq", lab.DialIn(h.ns))
	if err != nil {
		t.Fatal(err)
	}
	h.dsn = db
	// A certificate for every address sites use; sites trust exactly it.
	h.cert, h.key = filepath.Join(h.data, "tls", "cert.pem"), filepath.Join(h.data, "tls", "key.pem")
	hosts := []string{"127.0.0.1", "localhost"}
	for i := 1; i <= 9; i++ {
		hosts = append(hosts, fmt.Sprintf("10.80.%d.1", i))
	}
	if _, err := api.LoadOrCreateCert(h.cert, h.key, hosts); err != nil {
		t.Fatal(err)
	}
	h.start(t)
	b, err := os.ReadFile(filepath.Join(h.data, "initial-admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	h.token = strings.TrimSpace(string(b))
	h.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: lab.DialIn(h.ns),
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return h
}

func (h *hqLab) start(t *testing.T) {
	t.Helper()
	cmd := lab.CmdIn(h.ns, bins.hq, "-dsn", h.dsn, "-listen", ":8443", "-data", h.data, "-tls-cert", h.cert, "-tls-key", h.key, "-log-level", "warn")
	h.proc = lab.Start(t, "outpost-hq", cmd)
	h.proc.WaitOutput(t, 30*time.Second, "outpost-hq serving")
}

// call runs an operator API call against HQ.
func (h *hqLab) call(t testing.TB, method, path string, body, out any) int {
	t.Helper()
	return doJSON(t, h.http, method, "https://127.0.0.1:8443"+path, h.token, body, out)
}

func doJSON(t testing.TB, c *http.Client, method, url, token string, body, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, raw)
		}
	}
	return resp.StatusCode
}

// db connects to HQ's PostgreSQL from inside its namespace.
func (h *hqLab) db(t *testing.T) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(h.dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = lab.DialIn(h.ns)
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// siteLab is one outpostd in its own namespace, its WAN a veth to HQ.
type siteLab struct {
	id     string
	n      int
	net    *lab.Net
	wanHQ  string // HQ's end of the WAN veth
	data   string
	images string
	config string
	proc   *lab.Proc
	token  string
	http   *http.Client
	base   string
}

// newSite makes site n (1-9): provisioning network 10.1n.0.0/16, WAN
// 10.80.n.0/24. hqURL overrides the HQ address (a proxy).
func (h *hqLab) newSite(t *testing.T, n int, extra string, hqURL string) *siteLab {
	t.Helper()
	s := &siteLab{id: fmt.Sprintf("site%d", n), n: n, data: t.TempDir(), images: t.TempDir()}
	s.net = lab.NewNet(t, fmt.Sprintf("10.1%d.0.1/16", n))
	s.wanHQ = fmt.Sprintf("hwan%d", n)
	lab.Run(t, "ip", "-n", h.ns, "link", "add", s.wanHQ, "type", "veth", "peer", "name", "wan0", "netns", s.net.NS)
	lab.Run(t, "ip", "-n", h.ns, "addr", "add", fmt.Sprintf("10.80.%d.1/24", n), "dev", s.wanHQ)
	s.net.IP(t, "addr", "add", fmt.Sprintf("10.80.%d.2/24", n), "dev", "wan0")
	lab.Run(t, "ip", "-n", h.ns, "link", "set", s.wanHQ, "up")
	s.net.IP(t, "link", "set", "wan0", "up")
	var key string
	out := lab.Run(t, "ip", "netns", "exec", h.ns, bins.hq, "-dsn", h.dsn, "add-site", s.id, "Site "+fmt.Sprint(n))
	key = strings.TrimSpace(out)
	if err := os.WriteFile(filepath.Join(s.data, "hq.key"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if hqURL == "" {
		hqURL = fmt.Sprintf("https://10.80.%d.1:8443", n)
	}
	s.config = filepath.Join(t.TempDir(), "outpost.yaml")
	cfg := fmt.Sprintf(`site: %s
log_level: warn
dhcp:
  subnets:
    - {prefix: 10.1%d.0.0/16, pool: 10.1%d.1.0-10.1%d.40.255}
hq:
  url: %s
  site_id: %s
  ca_file: %s
  poll: 200ms
  batch: 500
jobs:
  attempts: 1
  retry_base: 1s
%s`, s.id, n, n, n, hqURL, s.id, h.cert, extra)
	os.WriteFile(s.config, []byte(cfg), 0o644)
	s.base = fmt.Sprintf("http://10.1%d.0.1", n)
	s.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: lab.DialIn(s.net.NS), MaxIdleConnsPerHost: 32}}
	s.start(t)
	return s
}

func (s *siteLab) start(t *testing.T) {
	t.Helper()
	cmd := lab.CmdIn(s.net.NS, bins.outpostd, "-config", s.config, "-interface", s.net.Bridge, "-data", s.data, "-images", s.images)
	s.proc = lab.Start(t, "outpostd "+s.id, cmd)
	s.proc.WaitOutput(t, 30*time.Second, "outpostd ready")
	if s.token == "" {
		pw, err := os.ReadFile(filepath.Join(s.data, "initial-admin-password"))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Token string `json:"token"`
		}
		if code := doJSON(t, s.http, "POST", s.base+"/api/v1/login", "", map[string]string{"user": "admin", "password": strings.TrimSpace(string(pw))}, &r); code != 200 {
			t.Fatalf("%s login: %d", s.id, code)
		}
		s.token = r.Token
	}
}

func (s *siteLab) call(t testing.TB, method, path string, body, out any) int {
	t.Helper()
	return doJSON(t, s.http, method, s.base+path, s.token, body, out)
}

// cut and heal take the WAN link down and up.
func (h *hqLab) cut(t *testing.T, s *siteLab) {
	lab.Run(t, "ip", "-n", h.ns, "link", "set", s.wanHQ, "down")
}
func (h *hqLab) heal(t *testing.T, s *siteLab) {
	lab.Run(t, "ip", "-n", h.ns, "link", "set", s.wanHQ, "up")
}

var tokenRe = regexp.MustCompile(`outpost\.token=(\S+)`)

// ingest registers a machine the way the recon image does: a boot script
// for its MAC gives a token, the report goes with it. It returns the
// machine ID and the agent token.
func (s *siteLab) ingest(t testing.TB, serial, mac, class string) (int64, string) {
	t.Helper()
	resp, err := s.http.Get(s.base + "/boot.ipxe?mac=" + mac + "&platform=pcbios&buildarch=x86_64")
	if err != nil {
		t.Fatal(err)
	}
	script, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := tokenRe.FindSubmatch(script)
	if m == nil {
		t.Fatalf("%s: no token in the boot script for %s:\n%s", s.id, mac, script)
	}
	cores, mem := 4, uint64(8)
	fmt.Sscanf(class, "1x%dc-%dg", &cores, &mem)
	rep := recon.Report{Version: recon.ReportVersion, BootMAC: mac,
		System: recon.System{Manufacturer: "Lab", Product: "TCG", Serial: serial},
		CPU:    recon.CPU{Sockets: 1, Cores: cores, Threads: cores * 2}, Memory: recon.Memory{TotalBytes: mem << 30},
		NICs: []recon.NIC{{Name: "eth0", MAC: mac, Booted: true}}}
	var reply recon.ReportReply
	if code := doJSON(t, s.http, "POST", s.base+recon.PathReport, string(m[1]), rep, &reply); code != 200 {
		t.Fatalf("%s: report for %s: %d", s.id, serial, code)
	}
	return reply.MachineID, reply.AgentToken
}

// syncStatus is GET /api/v1/sync.
type syncStatus struct {
	Connected    bool   `json:"connected"`
	Backlog      int64  `json:"backlog"`
	AckedSeq     int64  `json:"acked_seq"`
	LastSeq      int64  `json:"last_seq"`
	IntentCursor int64  `json:"intent_cursor"`
	LastError    string `json:"last_error"`
}

func (s *siteLab) sync(t testing.TB) syncStatus {
	t.Helper()
	var st syncStatus
	s.call(t, "GET", "/api/v1/sync", nil, &st)
	return st
}

// setHQ points the site at another HQ address (a proxy); it applies at
// the next start.
func (s *siteLab) setHQ(t *testing.T, url string) {
	t.Helper()
	b, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := regexp.MustCompile(`(?m)^  url: .*$`).ReplaceAllString(string(b), "  url: "+url)
	if err := os.WriteFile(s.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}
