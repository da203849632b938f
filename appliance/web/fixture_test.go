package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/jobs"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/appliance/web/webtest"
	"github.com/outpostdc/outpost/boot"
	"github.com/outpostdc/outpost/recon"
)

// Test users; passwords satisfy appliance.ValidPassword.
const (
	techUser, techPass     = "tess", "tech-password-1"
	viewerUser, viewerPass = "vic", "viewer-password-1"
)

// fixture is a UI over a real store and a real job engine with no BMC.
type fixture struct {
	st  *sqlite.Store
	eng *jobs.Engine
	srv *Server
	ts  *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	// AgentFresh is wide so that a waiting agent ingested at the start of
	// a test still counts as fresh when the job starts.
	eng := &jobs.Engine{Store: st, Log: log, Cfg: jobs.Config{AgentFresh: time.Hour}}
	srv, err := New(Server{Store: st, Jobs: eng, Log: log, Site: "par1"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	for _, u := range []struct {
		name, pass string
		role       appliance.Role
	}{{techUser, techPass, appliance.RoleTechnician}, {viewerUser, viewerPass, appliance.RoleViewer}} {
		if _, err := st.CreateUser(ctx, u.name, u.role, u.pass, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{st: st, eng: eng, srv: srv, ts: ts}
}

func (f *fixture) machine(t *testing.T, serial, rack, mac string) appliance.Machine {
	t.Helper()
	m, err := f.st.CreateMachine(context.Background(), sqlite.NewMachine{Serial: serial, Rack: rack, Hostname: strings.ToLower(serial) + ".par1",
		MACs: []string{mac}}, "test", "racked")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitingAgent plays recon booted in wait mode on m: a hardware report
// with a "wait" boot token, so the agent counts as waiting and fresh and a
// job takes the fast track (no BMC). It returns the agent's identity.
func (f *fixture) waitingAgent(t *testing.T, m appliance.Machine) sqlite.Agent {
	t.Helper()
	ctx := context.Background()
	mac := m.Interfaces[0].MAC
	ip := netip.MustParseAddr("10.0.0.42")
	hw, _ := net.ParseMAC(mac)
	// The boot that brought it up, for the timeline.
	f.st.Record(boot.Event{Time: time.Now(), Kind: boot.EventDHCP, MAC: hw, IP: ip, Summary: "DISCOVER -> OFFER 10.0.0.42 ipxe.efi"})
	f.st.Record(boot.Event{Time: time.Now(), Kind: boot.EventHTTP, MAC: hw, IP: ip,
		Summary: "boot.ipxe: ready -> recon image in wait mode", Detail: map[string]any{"decision": "wait"}})
	if err := f.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tok, err := f.st.IssueToken(ctx, sqlite.Token{MAC: mac, Purpose: "wait", Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rep := recon.Report{Version: recon.ReportVersion, BootMAC: mac,
		System: recon.System{Manufacturer: "Acme", Product: "R640", Serial: m.Serial, UUID: "6f9619ff-8b86-d011-b42d-00c04fc964ff"},
		CPU:    recon.CPU{Sockets: 2, Model: "Xeon Gold 6338", Cores: 64, Threads: 128},
		Memory: recon.Memory{TotalBytes: 512 << 30},
		Disks: []recon.Disk{{Name: "nvme0n1", SizeBytes: 3840755982336, Type: recon.DiskNVMe, Model: "PM1733", Serial: "S4X1"},
			{Name: "nvme1n1", SizeBytes: 3840755982336, Type: recon.DiskNVMe, Model: "PM1733", Serial: "S4X2"}},
		NICs: []recon.NIC{{Name: "eth0", MAC: mac, Link: true, SpeedMbps: 25000, Booted: true}},
		BMC:  &recon.BMC{IP: "10.1.0.42", Firmware: "2.45", IPMIVersion: "2.0"},
	}
	res, err := f.st.Ingest(ctx, tok, rep, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.st.VerifyAgent(ctx, res.AgentToken)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// advance ticks the engine until job id satisfies cond.
func (f *fixture) advance(t *testing.T, id int64, what string, cond func(appliance.Job) bool) appliance.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := f.eng.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		j, err := f.st.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d never %s: %+v", id, what, j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) client(t *testing.T) *webtest.Client { return webtest.NewClient(t, f.ts.URL) }

// login logs in and checks the redirect.
func login(c *webtest.Client, user, pass string) {
	c.T.Helper()
	r := c.Post("/ui/login", url.Values{"user": {user}, "password": {pass}, "next": {"/ui/machines"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/machines" {
		c.T.Fatalf("login %s: %d %q\n%s", user, r.StatusCode, r.Header.Get("Location"), r.Body)
	}
}
