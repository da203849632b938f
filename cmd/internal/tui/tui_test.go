package tui

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
	"github.com/outpostdc/outpost/cmd/internal/client/outpostdtest"
)

// envDaemon hands the outpostd TestMain started to the tests.
const envDaemon = "OUTPOST_TEST_DAEMON_TUI"

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "outpost-tui-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := outpostdtest.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	d, err := outpostdtest.Start(bin, filepath.Join(dir, "run"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer d.Stop()
	if err := seed(d); err != nil {
		fmt.Fprintln(os.Stderr, "seeding:", err)
		return 1
	}
	if err := d.Export(envDaemon); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func seed(d *outpostdtest.Daemon) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.Options{Socket: d.Socket})
	if err != nil {
		return err
	}
	for _, n := range []client.NewMachine{
		{Serial: "SN0001", Hostname: "web-1", Rack: "r1", Role: "web", MACs: []string{"52:54:00:00:00:01"}},
		{Serial: "SN0002", Hostname: "web-2", Rack: "r1", Role: "web", MACs: []string{"52:54:00:00:00:02"}},
		{Serial: "SN0003", Hostname: "db-1", Rack: "r2", Role: "db", MACs: []string{"52:54:00:00:00:03"}, State: "deployed"},
		{Serial: "SN0004", Hostname: "db-2", Rack: "r2", Role: "db", MACs: []string{"52:54:00:00:00:04"}, State: "deployed"},
		{Serial: "SN0005", Hostname: "spare-1", Rack: "r3", MACs: []string{"52:54:00:00:00:05"}},
	} {
		if _, err := c.CreateMachine(ctx, n); err != nil {
			return err
		}
	}
	if _, err := c.Freeze(ctx, 4, "disk swap"); err != nil {
		return err
	}
	j, err := c.SubmitJob(ctx, client.NewJob{Action: "power", MachineID: 5, Params: map[string]string{"op": "cycle"}, MaxAttempts: 1})
	if err != nil {
		return err
	}
	for !j.Status.Done() {
		time.Sleep(50 * time.Millisecond)
		if j, err = c.Job(ctx, j.ID); err != nil {
			return err
		}
	}
	if err := c.PauseQueue(ctx, "install", "bad image suspected"); err != nil {
		return err
	}
	if err := c.FreezeRack(ctx, "r2", "switch replacement"); err != nil {
		return err
	}
	for _, mac := range []string{"52:54:00:00:00:01", "52:54:00:00:00:02"} {
		if _, err := d.BootScript(ctx, mac); err != nil {
			return err
		}
	}
	return nil
}

func testDaemon(t *testing.T) *outpostdtest.Daemon {
	t.Helper()
	d, err := outpostdtest.Imported(envDaemon)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// colours renders with 256 colours, as a terminal would, whatever the
// test's output is.
func colours() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI256)
	return r
}

// term accumulates a program's output and waits for text in it, with
// the ANSI sequences removed.
type term struct {
	t    *testing.T
	tm   *teatest.TestModel
	raw  bytes.Buffer
	mark int
}

// drain reads what the program wrote so far and returns it as text.
func (s *term) drain() string {
	io.Copy(&s.raw, s.tm.Output())
	return ansi.Strip(s.raw.String())
}

// waitFor waits until text appears in what was drawn since the last key
// sent: several waits after one key may find their texts in any order.
func (s *term) waitFor(text string) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		plain := s.drain()
		if strings.Contains(plain[min(s.mark, len(plain)):], text) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%q did not appear; the screen since the last key:\n%s", text, plain[min(s.mark, len(plain)):])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// send sends a key after marking where the output stands.
func (s *term) send(k tea.KeyMsg) {
	s.mark = len(s.drain())
	s.tm.Send(k)
}

func (s *term) key(k tea.KeyType) { s.send(tea.KeyMsg{Type: k}) }

func (s *term) typ(text string) {
	for _, r := range text {
		s.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
}

func start(t *testing.T, o Options) *term {
	t.Helper()
	if o.Renderer == nil {
		o.Renderer = colours()
	}
	if o.Interval == 0 {
		o.Interval = 300 * time.Millisecond
	}
	tm := teatest.NewTestModel(t, New(o), teatest.WithInitialTermSize(80, 24))
	return &term{t: t, tm: tm}
}

func socketClient(t *testing.T, d *outpostdtest.Daemon) *client.Client {
	c, err := client.New(client.Options{Socket: d.Socket})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkSize asserts the view is exactly 80x24.
func checkSize(t *testing.T, view string) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != 24 {
		t.Fatalf("view has %d lines, want 24:\n%s", len(lines), ansi.Strip(view))
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w != 80 {
			t.Fatalf("line %d is %d cells wide, want 80: %q", i+1, w, ansi.Strip(l))
		}
	}
}

func TestDashboard(t *testing.T) {
	d := testDaemon(t)
	s := start(t, Options{Client: socketClient(t, d)})
	s.waitFor("root@console (admin)")
	s.waitFor("HQ sync not configured")
	s.waitFor("MACHINES")
	final := s.finish()
	view := final.View()
	checkSize(t, view)
	plain := ansi.Strip(view)
	for _, want := range []string{
		"5 total", "ready         2", "deployed      1", "broken        1", "frozen        1",
		"queue install paused", "rack r2 frozen", "spare-1 broken",
		"RECENT BOOT EVENTS", "web-2", "script: linux",
		"HQ sync not configured", "1 Dashboard",
	} {
		if !strings.Contains(plain, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, plain)
		}
	}
	if !strings.Contains(view, "\x1b[") {
		t.Error("the dashboard has no colours")
	}
}

// finish quits and returns the final model.
func (s *term) finish() *Model {
	s.t.Helper()
	s.typ("q")
	return s.tm.FinalModel(s.t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
}

// TestMachinesSearchFreeze goes to the machines screen, searches, opens a
// machine and freezes it, and checks the freeze through the API.
func TestMachinesSearchFreeze(t *testing.T) {
	d := testDaemon(t)
	c := socketClient(t, d)
	s := start(t, Options{Client: c})
	s.waitFor("root@console")
	s.typ("2")
	s.waitFor("SERIAL")
	s.waitFor("spare-1")
	s.typ("/web-2")
	s.waitFor("Search: web-2")
	s.key(tea.KeyEnter)
	s.waitFor("1 found")
	s.key(tea.KeyEnter)
	s.waitFor("Machine 2  SN0002  web-2")
	s.waitFor("TIMELINE")
	s.waitFor("registered through the API")
	s.typ("f")
	s.waitFor("Reason:")
	s.typ("tui freeze")
	s.key(tea.KeyEnter)
	s.waitFor("Freeze machine 2 (SN0002, web-2) (tui freeze)? [y/n]")
	s.typ("y")
	s.waitFor("machine 2 (SN0002, web-2) frozen (was ready)")
	s.waitFor("state ready -> frozen: tui freeze")

	m, err := c.Machine(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != "frozen" || m.StateReason != "tui freeze" {
		t.Fatalf("machine 2 is %s (%q) after the freeze", m.State, m.StateReason)
	}
	// Refused actions show the API's error.
	s.typ("f")
	s.waitFor("is already frozen")
	// Unfreeze, and say no to a power cycle.
	s.typ("u")
	s.waitFor("back to ready? [y/n]")
	s.typ("y")
	s.waitFor("unfrozen: now ready")
	s.typ("p")
	s.waitFor("Power cycle machine 2 (SN0002, web-2)? [y/n]")
	s.typ("n")
	s.waitFor("cancelled; nothing done")
	s.key(tea.KeyEsc)
	s.waitFor("/ change · esc clear")
	final := s.finish()
	checkSize(t, final.View())
	if len(final.found) != 1 || final.found[0].Serial != "SN0002" {
		t.Fatalf("search found %v", final.found)
	}
	if js, _ := c.Jobs(context.Background(), client.JobFilter{MachineID: 2}); len(js) != 0 {
		t.Fatalf("a refused power cycle made jobs: %v", js)
	}
	if m, _ := c.Machine(context.Background(), 2); m.State != "ready" {
		t.Fatalf("machine 2 is %s after the unfreeze", m.State)
	}
}

// TestLogin starts without a token over HTTP: the login screen comes
// first, and the token is handed over to be kept.
func TestLogin(t *testing.T) {
	d := testDaemon(t)
	c, err := client.New(client.Options{URL: d.URL})
	if err != nil {
		t.Fatal(err)
	}
	kept := make(chan client.LoginResult, 1)
	s := start(t, Options{Client: c, OnLogin: func(r client.LoginResult) error { kept <- r; return nil }})
	s.waitFor("log in to " + d.URL)
	s.typ("admin")
	s.key(tea.KeyEnter)
	s.typ("wrong-password")
	s.key(tea.KeyEnter)
	s.waitFor("wrong user name or password")
	s.typ(d.AdminPassword)
	s.key(tea.KeyEnter)
	s.waitFor("admin (admin)")
	s.waitFor("HQ sync not configured")
	select {
	case r := <-kept:
		if !strings.HasPrefix(r.Token, "op_") || r.User.Name != "admin" {
			t.Fatalf("kept %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the token was not handed over")
	}
	final := s.finish()
	checkSize(t, final.View())
	if strings.Contains(ansi.Strip(final.View()), d.AdminPassword) {
		t.Fatal("the password is on the screen")
	}
}

// TestScreens visits the jobs screen and the help at 80x24.
func TestScreens(t *testing.T) {
	d := testDaemon(t)
	s := start(t, Options{Client: socketClient(t, d)})
	s.waitFor("root@console")
	s.typ("3")
	s.waitFor("JOBS")
	s.waitFor("no BMC credentials for machine 5")
	s.typ("?")
	s.waitFor("KEYS")
	s.typ("x") // any key closes the help
	s.key(tea.KeyTab)
	s.waitFor("MACHINES")
	final := s.finish()
	checkSize(t, final.View())
	final.screen = screenJobs
	checkSize(t, final.View())
	final.help = true
	checkSize(t, final.View())
}

func TestBanner(t *testing.T) {
	c, err := client.New(client.Options{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 3, 4, 10, 50, 0, 0, time.Local)
	m := New(Options{Client: c, Renderer: colours(), Now: func() time.Time { return now }})
	m.polled = now
	since := time.Date(2031, 3, 4, 10, 42, 7, 0, time.Local)
	m.data.sync = client.SyncStatus{Enabled: true, PartitionedSince: &since, Backlog: 1234}
	b := m.banner(80)
	if got := ansi.Strip(b); !strings.HasPrefix(got, " HQ PARTITIONED since 10:42:07 — 1,234 changes queued") {
		t.Fatalf("partitioned banner %q", got)
	}
	if !strings.Contains(b, "48;5;160") {
		t.Fatalf("partitioned banner is not red: %q", b)
	}
	last := now.Add(-3 * time.Second)
	m.data.sync = client.SyncStatus{Enabled: true, Connected: true, LastContact: &last}
	b = m.banner(80)
	if got := ansi.Strip(b); !strings.HasPrefix(got, " HQ: connected (last contact 3s ago)") || !strings.Contains(b, "48;5;35") {
		t.Fatalf("connected banner %q", b)
	}
	m.data.sync = client.SyncStatus{NotConfigured: true}
	if got := ansi.Strip(m.banner(80)); !strings.HasPrefix(got, " HQ sync not configured") {
		t.Fatalf("unconfigured banner %q", got)
	}
	if w := ansi.StringWidth(m.banner(80)); w != 80 {
		t.Fatalf("banner %d wide", w)
	}
}

// TestScreenshot renders the dashboard's final 80x24 view to
// artifacts/tui-dashboard.png at the module root.
func TestScreenshot(t *testing.T) {
	d := testDaemon(t)
	s := start(t, Options{Client: socketClient(t, d)})
	s.waitFor("root@console")
	s.waitFor("RECENT BOOT EVENTS")
	final := s.finish()
	view := final.View()
	checkSize(t, view)
	root, err := outpostdtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "tui-dashboard.png")
	img := Screenshot(view, 80, 24, 2)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if b := got.Bounds(); b.Dx() != 80*CellWidth*2 || b.Dy() != 24*CellHeight*2 {
		t.Fatalf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), 80*CellWidth*2, 24*CellHeight*2)
	}
	// The title bar's background is drawn, not left black.
	if r, g, b, _ := got.At(2, 2).RGBA(); r == g && g == b {
		t.Fatalf("the title bar is grey (%d,%d,%d): colours were lost", r>>8, g>>8, b>>8)
	}
}

// TestDashboardCrowded fills every section beyond what 80x24 holds: the
// view keeps its size, shows progress bars and says what it left out.
func TestDashboardCrowded(t *testing.T) {
	c, err := client.New(client.Options{URL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := New(Options{Client: c, Renderer: colours(), Now: func() time.Time { return now }})
	m.screen, m.started, m.user.Name, m.user.Role, m.polled = screenDashboard, true, "tech", "technician", now
	m.data.jobs = map[int64]appliance.Job{}
	for i := int64(1); i <= 12; i++ {
		m.data.machines = append(m.data.machines, appliance.Machine{ID: i, Serial: fmt.Sprint("SN", i), Hostname: fmt.Sprint("node-", i),
			State: appliance.StateBroken, StateReason: "disk failed"})
		m.data.jobs[i] = appliance.Job{ID: i, Action: appliance.ActionInstall, MachineID: i, Status: appliance.JobRunning,
			Phase: appliance.PhaseWork, Params: map[string]string{"image": "debian:12"},
			Progress: []byte(`{"phase":"write","done":45,"total":100,"percent":45,"mbps":112}`)}
		m.data.events = append(m.data.events, bootEvent{time: now, machine: fmt.Sprint("node-", i), kind: "dhcp", summary: "ACK"})
	}
	m.data.sync = client.SyncStatus{NotConfigured: true}
	view := m.View()
	checkSize(t, view)
	plain := ansi.Strip(view)
	for _, want := range []string{"ACTIVE JOBS  12", "install debian:12", "████", " 45% write 112 MB/s", "… and", "ALERTS  12",
		"node-1 broken", "RECENT BOOT EVENTS", "ACK", "broken       12"} {
		if !strings.Contains(plain, want) {
			t.Errorf("dashboard lacks %q:\n%s", want, plain)
		}
	}
	// The machines screen and a detail view with a long timeline fit too.
	m.screen, m.found, m.searched = screenMachines, m.data.machines, true
	checkSize(t, m.View())
	m.detail = &detail{id: 1, m: m.data.machines[0], loaded: true, scroll: 3}
	for i := 0; i < 50; i++ {
		m.detail.timeline = append(m.detail.timeline, appliance.TimelineEntry{Time: now, Source: "boot", Kind: "dhcp",
			MAC: "52:54:00:00:00:01", Summary: fmt.Sprint("step ", i, strings.Repeat(" long", 30))})
	}
	view = m.View()
	checkSize(t, view)
	if !strings.Contains(ansi.Strip(view), "step 46") || strings.Contains(ansi.Strip(view), "step 47") {
		t.Errorf("scrolled timeline:\n%s", ansi.Strip(view))
	}
}
