package hqweb

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/policy"
	"github.com/outpostdc/outpost/appliance/provision"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/appliance/web/webtest"
	"github.com/outpostdc/outpost/recon"
	"github.com/outpostdc/outpost/sync/hq"
	"github.com/outpostdc/outpost/sync/hq/hqtest"
	"github.com/outpostdc/outpost/sync/pgtest"
	"github.com/outpostdc/outpost/sync/uplink"
	"github.com/outpostdc/outpost/sync/wire"
)

// One PostgreSQL cluster for the package; each test gets its own database.
var cluster *pgtest.Cluster

func TestMain(m *testing.M) { pgtest.Main(m, func(c *pgtest.Cluster) { cluster = c }) }

// fixture is HQ as outpost-hq serves it (sync API and UI on one server)
// over a real database, with sites that are real site stores syncing
// through their uplinks.
type fixture struct {
	hq               *hq.Store
	ui               *Server
	ts               *httptest.Server
	techTok, viewTok string
	sites            map[string]*site
	log              *slog.Logger
}

// site is one appliance's store with its uplink to the fixture's HQ.
type site struct {
	id   string
	st   *sqlite.Store
	up   *uplink.Uplink
	prov *provision.Reconciler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	h := hqtest.Store(t, cluster)
	log := slog.New(slog.DiscardHandler)
	ui, err := New(Server{Store: h, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", (&hq.Server{Store: h, Log: log}).Handler())
	mux.Handle(Base+"/", ui.Handler())
	f := &fixture{hq: h, ui: ui, ts: httptest.NewServer(mux), sites: map[string]*site{}, log: log}
	t.Cleanup(f.ts.Close)
	if f.techTok, err = h.CreateToken(ctx, "tess", appliance.RoleTechnician); err != nil {
		t.Fatal(err)
	}
	if f.viewTok, err = h.CreateToken(ctx, "vic", appliance.RoleViewer); err != nil {
		t.Fatal(err)
	}
	return f
}

// site registers a site at HQ and makes its appliance store.
func (f *fixture) site(t *testing.T, id string) *site {
	t.Helper()
	ctx := context.Background()
	key, err := f.hq.AddSite(ctx, id, strings.ToUpper(id)+" datacenter")
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnableSync(ctx, id); err != nil {
		t.Fatal(err)
	}
	s := &site{id: id, st: st, prov: &provision.Reconciler{Store: st, Log: f.log},
		up: &uplink.Uplink{Store: st, HQ: f.ts.URL, Key: key, HTTP: f.ts.Client(), Log: f.log, BatchChanges: 500, BatchBytes: 1 << 20,
			Apply: &uplink.Applier{Store: st, Log: f.log, SetPolicy: func(policy.Config) {}}}}
	f.sites[id] = s
	return s
}

// sync runs the site's uplink as it runs between polls: push, pull and
// apply intents, work provisioning requests, and push what that changed.
func (s *site) sync(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := s.up.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.prov.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.up.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
}

func (s *site) machine(t *testing.T, serial, mac string) appliance.Machine {
	t.Helper()
	m, err := s.st.CreateMachine(context.Background(), sqlite.NewMachine{Serial: serial, Rack: "r1",
		Hostname: strings.ToLower(serial) + "." + s.id, MACs: []string{mac}}, "test", "racked")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// report plays the recon image on m: its hardware report gives the
// machine a class and the hardware the machine page shows.
func (s *site) report(t *testing.T, m appliance.Machine) {
	t.Helper()
	ctx := context.Background()
	mac := m.Interfaces[0].MAC
	tok, err := s.st.IssueToken(ctx, sqlite.Token{MAC: mac, Purpose: string(appliance.BootRecon), Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	rep := recon.Report{Version: recon.ReportVersion, BootMAC: mac,
		System: recon.System{Manufacturer: "Acme", Product: "R640", Serial: m.Serial},
		CPU:    recon.CPU{Sockets: 2, Model: "Xeon Gold 6338", Cores: 64, Threads: 128},
		Memory: recon.Memory{TotalBytes: 512 << 30},
		Disks:  []recon.Disk{{Name: "nvme0n1", SizeBytes: 3840755982336, Type: recon.DiskNVMe, Model: "PM1733", Serial: "S4X1"}},
		NICs:   []recon.NIC{{Name: "eth0", MAC: mac, Link: true, SpeedMbps: 25000, Booted: true}},
	}
	if _, err := s.st.Ingest(ctx, tok, rep, time.Hour); err != nil {
		t.Fatal(err)
	}
}

// runningJob starts a recycle on m at the site, reporting progress as an
// agent would.
func (s *site) runningJob(t *testing.T, m appliance.Machine, pct float64) appliance.Job {
	t.Helper()
	ctx := context.Background()
	j, err := s.st.CreateJob(ctx, sqlite.NewJob{Action: appliance.ActionRecycle, MachineID: m.ID,
		Params: map[string]string{"full": "false"}, MaxAttempts: 3}, "tom")
	if err != nil {
		t.Fatal(err)
	}
	return s.progress(t, j, appliance.JobQueued, pct)
}

func (s *site) progress(t *testing.T, j appliance.Job, from appliance.JobStatus, pct float64) appliance.Job {
	t.Helper()
	phase := "work"
	j, err := s.st.UpdateJob(context.Background(), j.ID, sqlite.JobUpdate{From: from, To: appliance.JobRunning, Phase: &phase,
		Progress: recon.JobProgress{Phase: "wipe", Percent: pct, MBps: 812}})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// conflict makes an open conflict at the site: a technician froze m, and
// HQ asks for a recycle of it.
func (f *fixture) conflict(t *testing.T, s *site, m appliance.Machine) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.st.Transition(ctx, m.ID, appliance.StateFrozen, "tom", "cabling audit"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.hq.AddIntent(ctx, s.id, wire.KindJob, wire.JobBody{Serial: m.Serial, Action: "recycle"}, "alice"); err != nil {
		t.Fatal(err)
	}
	s.sync(t)
}

func (f *fixture) client(t *testing.T) *webtest.Client { return webtest.NewClient(t, f.ts.URL) }

// login signs in with a token and checks the redirect.
func login(c *webtest.Client, tok string) {
	c.T.Helper()
	r := c.Post("/ui/login", url.Values{"token": {tok}, "next": {"/ui/sites"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/sites" {
		c.T.Fatalf("login: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
}

// jobDone is the agent's report that a running job succeeded.
func jobDone(summary string) sqlite.JobUpdate {
	return sqlite.JobUpdate{From: appliance.JobRunning, To: appliance.JobSucceeded, Result: recon.JobResult{OK: true, Summary: summary}}
}
