package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/bmc"
	"github.com/outpostdc/outpost/appliance/bmc/bmcsim"
	"github.com/outpostdc/outpost/appliance/images"
	"github.com/outpostdc/outpost/appliance/policy"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/recon"
)

// clock is settable; the engine reads time only through it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	e     *Engine
	st    *sqlite.Store
	creds *bmc.CredStore
	clk   *clock
	dir   string
}

func newFixture(t *testing.T, pol policy.Config) *fixture {
	t.Helper()
	dir := t.TempDir()
	clk := &clock{t: time.Now()}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "outpost.db"), sqlite.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := bmc.NewCredStore(filepath.Join(dir, "bmc.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := bmc.NewDialer(bmc.Options{Attempts: 2, Timeout: 200 * time.Millisecond, Backoff: 10 * time.Millisecond,
		MaxBackoff: 20 * time.Millisecond, PowerVerifyTimeout: 2 * time.Second, PowerPollInterval: 20 * time.Millisecond})
	e := &Engine{Store: st, BMC: &BMCDialer{Dialer: d, Creds: creds}, Now: clk.now, Log: slog.New(slog.DiscardHandler),
		Cfg: Config{Attempts: 2, RetryBase: time.Minute, ImageBase: "http://10.0.0.1/images", Policy: pol}}
	return &fixture{e: e, st: st, creds: creds, clk: clk, dir: dir}
}

func (f *fixture) machine(t *testing.T, serial, rack string, sim *bmcsim.Sim) appliance.Machine {
	t.Helper()
	m, err := f.st.CreateMachine(context.Background(), sqlite.NewMachine{Serial: serial, Rack: rack,
		MACs: []string{fmt.Sprintf("52:54:00:%02x:00:01", len(serial)*7%256)}}, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	c := bmc.Creds{Host: "127.0.0.1", Port: 1, User: bmcsim.User, Password: bmcsim.Password}
	if sim != nil {
		c.Port = sim.Port
	}
	if err := f.creds.Put(m.ID, c); err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) sim(t *testing.T) *bmcsim.Sim {
	t.Helper()
	s, err := bmcsim.Start(bmcsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// waitJob ticks the engine until the job satisfies cond.
func (f *fixture) waitJob(t *testing.T, id int64, what string, cond func(appliance.Job) bool) appliance.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := f.e.Tick(context.Background()); err != nil {
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

func (f *fixture) audit(t *testing.T, machineID int64) string {
	a, _ := f.st.Audit(context.Background(), machineID, 0)
	var lines []string
	for _, e := range a {
		lines = append(lines, e.Action+": "+e.Reason)
	}
	return strings.Join(lines, "\n")
}

func TestPowerJob(t *testing.T) {
	f := newFixture(t, policy.Config{})
	sim := f.sim(t)
	m := f.machine(t, "P1", "r1", sim)
	j, err := f.e.Submit(context.Background(), sqlite.NewJob{Action: appliance.ActionPower, MachineID: m.ID,
		Params: map[string]string{"op": "on"}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	j = f.waitJob(t, j.ID, "done", func(j appliance.Job) bool { return j.Status.Done() })
	if j.Status != appliance.JobSucceeded || !sim.On() || !strings.Contains(string(j.Result), `"power":"on"`) {
		t.Fatalf("job %+v, sim on %v", j, sim.On())
	}
	if _, err := f.e.Submit(context.Background(), sqlite.NewJob{Action: appliance.ActionPower, MachineID: m.ID,
		Params: map[string]string{"op": "explode"}}, "alice"); !appliance.IsCode(err, appliance.CodeInvalid) {
		t.Fatalf("bad op: %v", err)
	}
}

// TestUnreachableBMC: retries with backoff, then broken with the reason.
func TestUnreachableBMC(t *testing.T) {
	f := newFixture(t, policy.Config{})
	m := f.machine(t, "U1", "r1", nil) // port 1: nothing answers
	j, _ := f.e.Submit(context.Background(), sqlite.NewJob{Action: appliance.ActionPower, MachineID: m.ID,
		Params: map[string]string{"op": "cycle"}, MaxAttempts: 2}, "alice")
	j = f.waitJob(t, j.ID, "queued for a retry", func(j appliance.Job) bool { return j.Status == appliance.JobQueued && j.Attempts == 1 })
	if !strings.Contains(j.Error, "BMC") || !j.NextAttemptAt.After(f.clk.now()) {
		t.Fatalf("after attempt 1: %+v", j)
	}
	// Not before its time.
	f.e.Tick(context.Background())
	if j2, _ := f.st.Job(context.Background(), j.ID); j2.Status != appliance.JobQueued || !strings.Contains(j2.Waiting, "retrying") {
		t.Fatalf("retried early: %+v", j2)
	}
	f.clk.add(2 * time.Minute)
	j = f.waitJob(t, j.ID, "failed", func(j appliance.Job) bool { return j.Status == appliance.JobFailed })
	mm, _ := f.st.Machine(context.Background(), m.ID)
	if mm.State != appliance.StateBroken || !strings.Contains(mm.StateReason, "failed after 2 attempts") || !strings.Contains(mm.StateReason, "BMC") {
		t.Fatalf("machine %s: %q", mm.State, mm.StateReason)
	}
	if a := f.audit(t, m.ID); !strings.Contains(a, "attempt 1 of 2 failed") {
		t.Fatalf("audit:\n%s", a)
	}
}

func (f *fixture) image(t *testing.T) sqlite.Image {
	t.Helper()
	raw := bytes.Repeat([]byte("outpost"), 100000)
	var z bytes.Buffer
	zw, _ := zstd.NewWriter(&z)
	zw.Write(raw)
	zw.Close()
	is := &images.Store{DB: f.st, Dir: filepath.Join(f.dir, "images"), Log: slog.New(slog.DiscardHandler)}
	img, err := is.Add(context.Background(), images.Meta{Name: "debian", Version: "12", Format: "raw.zst"}, &z, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if img.RawSize != int64(len(raw)) {
		t.Fatalf("raw size %d", img.RawSize)
	}
	return img
}

func agentOf(m appliance.Machine) sqlite.Agent {
	return sqlite.Agent{MAC: m.Interfaces[0].MAC, MachineID: m.ID, Mode: "install"}
}

func TestInstallThroughBMC(t *testing.T) {
	f := newFixture(t, policy.Config{})
	sim := f.sim(t)
	img := f.image(t)
	m := f.machine(t, "I1", "r1", sim)
	ctx := context.Background()
	j, err := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionInstall, MachineID: m.ID,
		Params: map[string]string{"image": "debian:12"}}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	j = f.waitJob(t, j.ID, "waiting for the agent", func(j appliance.Job) bool { return j.Phase == appliance.PhaseAgent })
	if cycles, sets, boots := sim.Counts(); boots != 1 || cycles+sets == 0 {
		t.Fatalf("BMC saw %d cycles, %d power sets, %d boot sets", cycles, sets, boots)
	}
	if mm, _ := f.st.Machine(ctx, m.ID); mm.State != appliance.StateInstalling {
		t.Fatalf("machine %s", mm.State)
	}
	a := agentOf(m)
	spec, err := f.e.Claim(ctx, a)
	if err != nil || spec == nil || spec.Params["sha256"] != img.SHA256 || spec.Params["raw_sha256"] != img.RawSHA256 ||
		spec.Params["url"] != "http://10.0.0.1/images/"+img.File {
		t.Fatalf("claim: %+v %v", spec, err)
	}
	if err := f.e.Progress(ctx, a, j.ID, recon.JobProgress{Phase: "write", Percent: 50, MBps: 120}); err != nil {
		t.Fatal(err)
	}
	other := sqlite.Agent{MAC: "52:54:00:99:99:99", MachineID: m.ID + 100}
	if err := f.e.Progress(ctx, other, j.ID, recon.JobProgress{Phase: "write"}); !appliance.IsCode(err, appliance.CodeForbidden) {
		t.Fatalf("another machine's agent: %v", err)
	}
	if err := f.e.Result(ctx, a, j.ID, recon.JobResult{OK: true, Summary: "written and verified"}); err != nil {
		t.Fatal(err)
	}
	j, _ = f.st.Job(ctx, j.ID)
	mm, _ := f.st.Machine(ctx, m.ID)
	if j.Status != appliance.JobSucceeded || mm.State != appliance.StateDeployed {
		t.Fatalf("job %s, machine %s", j.Status, mm.State)
	}
	au := f.audit(t, m.ID)
	for _, want := range []string{"job_created", "attempt 1 of 2 started", "machine is installing", "power-cycled", "took the job",
		"agent: write", "installing -> deployed"} {
		if !strings.Contains(au, want) && !strings.Contains(f.timeline(t, m.ID), want) {
			t.Errorf("audit/timeline lacks %q:\n%s", want, au)
		}
	}
	if err := f.e.Result(ctx, a, j.ID, recon.JobResult{OK: true}); !appliance.IsCode(err, appliance.CodeConflict) {
		t.Fatalf("second result: %v", err)
	}
}

func (f *fixture) timeline(t *testing.T, id int64) string {
	tl, _ := f.st.Timeline(context.Background(), id, 0)
	var s []string
	for _, e := range tl {
		s = append(s, e.Summary)
	}
	return strings.Join(s, "\n")
}

func (f *fixture) waitingAgent(t *testing.T, m appliance.Machine) {
	t.Helper()
	ctx := context.Background()
	tok, _ := f.st.IssueToken(ctx, sqlite.Token{MAC: m.Interfaces[0].MAC, Purpose: "wait", Expires: f.clk.now().Add(time.Hour)})
	rep := recon.Report{Version: recon.ReportVersion, BootMAC: m.Interfaces[0].MAC, System: recon.System{Serial: m.Serial},
		NICs: []recon.NIC{{Name: "eth0", MAC: m.Interfaces[0].MAC}}}
	if _, err := f.st.Ingest(ctx, tok, rep, time.Hour); err != nil {
		t.Fatal(err)
	}
}

func TestFastTrack(t *testing.T) {
	f := newFixture(t, policy.Config{})
	sim := f.sim(t)
	f.image(t)
	m := f.machine(t, "F100", "r1", sim)
	f.waitingAgent(t, m)
	ctx := context.Background()
	j, _ := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionInstall, MachineID: m.ID, Params: map[string]string{"image": "debian:12"}}, "alice")
	j = f.waitJob(t, j.ID, "waiting for the agent", func(j appliance.Job) bool { return j.Phase == appliance.PhaseAgent })
	if c, s, b := sim.Counts(); c+s+b != 0 {
		t.Fatalf("fast track used the BMC: %d %d %d", c, s, b)
	}
	if !strings.Contains(f.audit(t, m.ID), "fast track") {
		t.Fatalf("audit:\n%s", f.audit(t, m.ID))
	}
	// The agent does not take it: the engine falls back to the BMC.
	f.clk.add(3 * time.Minute)
	j = f.waitJob(t, j.ID, "booted via the BMC", func(j appliance.Job) bool {
		_, _, b := sim.Counts()
		return b == 1 && j.Phase == appliance.PhaseAgent
	})
	if j.Attempts != 1 || j.Status != appliance.JobRunning {
		t.Fatalf("fallback cost an attempt: %+v", j)
	}
}

func TestWatchdogRetriesThenBroken(t *testing.T) {
	f := newFixture(t, policy.Config{})
	sim := f.sim(t)
	f.image(t)
	m := f.machine(t, "W1", "r1", sim)
	ctx := context.Background()
	j, _ := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionInstall, MachineID: m.ID, Params: map[string]string{"image": "debian:12"}, MaxAttempts: 2}, "alice")
	f.waitJob(t, j.ID, "agent phase", func(j appliance.Job) bool { return j.Phase == appliance.PhaseAgent })
	f.e.Claim(ctx, agentOf(m))
	f.clk.add(11 * time.Minute) // the machine died mid-write
	j = f.waitJob(t, j.ID, "retry", func(j appliance.Job) bool { return j.Status == appliance.JobQueued })
	if !strings.Contains(j.Error, "watchdog: no progress") {
		t.Fatalf("error %q", j.Error)
	}
	f.clk.add(2 * time.Minute)
	f.waitJob(t, j.ID, "second attempt waiting for the agent", func(j appliance.Job) bool { return j.Attempts == 2 && j.Phase == appliance.PhaseAgent })
	f.clk.add(11 * time.Minute)
	j = f.waitJob(t, j.ID, "failed", func(j appliance.Job) bool { return j.Status == appliance.JobFailed })
	mm, _ := f.st.Machine(ctx, m.ID)
	if mm.State != appliance.StateBroken || !strings.Contains(mm.StateReason, "watchdog") {
		t.Fatalf("machine %s %q", mm.State, mm.StateReason)
	}
}

func TestRecoverAfterRestart(t *testing.T) {
	f := newFixture(t, policy.Config{})
	sim := f.sim(t)
	f.image(t)
	ctx := context.Background()
	mWork := f.machine(t, "R1", "r1", sim)
	mPower := f.machine(t, "R22", "r1", sim)
	mBoot := f.machine(t, "R333", "r1", sim)
	jWork, _ := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionInstall, MachineID: mWork.ID, Params: map[string]string{"image": "debian:12"}}, "a")
	f.waitJob(t, jWork.ID, "agent", func(j appliance.Job) bool { return j.Phase == appliance.PhaseAgent })
	f.e.Claim(ctx, agentOf(mWork))
	// Two jobs caught mid-BMC-command by a crash: written straight into
	// the store as a crash would leave them.
	jPower, _ := f.st.CreateJob(ctx, sqlite.NewJob{Action: appliance.ActionPower, MachineID: mPower.ID, Params: map[string]string{"op": "cycle"}, MaxAttempts: 3}, "a")
	jBoot, _ := f.st.CreateJob(ctx, sqlite.NewJob{Action: appliance.ActionInstall, MachineID: mBoot.ID, Params: map[string]string{"image": "debian:12"}, MaxAttempts: 3}, "a")
	for _, x := range []struct {
		id    int64
		phase string
	}{{jPower.ID, appliance.PhasePower}, {jBoot.ID, appliance.PhaseBoot}} {
		ph := x.phase
		if _, err := f.st.UpdateJob(ctx, x.id, sqlite.JobUpdate{From: appliance.JobQueued, To: appliance.JobRunning, Attempt: true, Phase: &ph}); err != nil {
			t.Fatal(err)
		}
	}
	// A new engine, as after a restart.
	e2 := &Engine{Store: f.st, BMC: f.e.BMC, Now: f.clk.now, Log: slog.New(slog.DiscardHandler), Cfg: f.e.Cfg}
	e2.init()
	if err := e2.recover(ctx); err != nil {
		t.Fatal(err)
	}
	w, _ := f.st.Job(ctx, jWork.ID)
	p, _ := f.st.Job(ctx, jPower.ID)
	b, _ := f.st.Job(ctx, jBoot.ID)
	if w.Status != appliance.JobRunning || w.Phase != appliance.PhaseWork || !strings.Contains(f.audit(t, mWork.ID), "resumed after an outpostd restart") {
		t.Fatalf("agent-driven job not resumed: %+v", w)
	}
	if p.Status != appliance.JobFailed || !strings.Contains(p.Error, "outcome is unknown") {
		t.Fatalf("power job: %+v", p)
	}
	if b.Status != appliance.JobQueued || !strings.Contains(b.Error, "restarted during phase boot") {
		t.Fatalf("boot-phase job: %+v", b)
	}
	// The resumed job still completes.
	if err := e2.Result(ctx, agentOf(mWork), jWork.ID, recon.JobResult{OK: true, Summary: "done"}); err != nil {
		t.Fatal(err)
	}
}

func TestPoliciesInEngine(t *testing.T) {
	f := newFixture(t, policy.Config{MaxPerAction: map[policy.Action]int{"power": 1}})
	sim := f.sim(t)
	ctx := context.Background()
	a := f.machine(t, "A1", "r1", sim)
	b := f.machine(t, "B22", "r1", sim)
	fz := f.machine(t, "C333", "r1", sim)
	if _, err := f.st.Transition(ctx, fz.ID, appliance.StateFrozen, "bob", "cabling audit"); err != nil {
		t.Fatal(err)
	}
	ja, _ := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionPower, MachineID: a.ID, Params: map[string]string{"op": "on"}}, "a")
	jb, _ := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionPower, MachineID: b.ID, Params: map[string]string{"op": "on"}}, "a")
	jf, _ := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionPower, MachineID: fz.ID, Params: map[string]string{"op": "on"}}, "a")
	f.e.Tick(ctx)
	gotB, _ := f.st.Job(ctx, jb.ID)
	gotF, _ := f.st.Job(ctx, jf.ID)
	if gotB.Status != appliance.JobQueued || !strings.Contains(gotB.Waiting, "power") {
		t.Fatalf("second power job: %+v", gotB)
	}
	if gotF.Status != appliance.JobFailed || !strings.Contains(gotF.Error, "cabling audit") {
		t.Fatalf("frozen machine's job: %+v", gotF)
	}
	if !strings.Contains(f.audit(t, b.ID), "waiting: ") {
		t.Fatalf("the wait is not in the timeline:\n%s", f.audit(t, b.ID))
	}
	f.waitJob(t, ja.ID, "done", func(j appliance.Job) bool { return j.Status.Done() })
	f.waitJob(t, jb.ID, "done after a", func(j appliance.Job) bool { return j.Status == appliance.JobSucceeded })
}

func TestBreakerPausesQueue(t *testing.T) {
	f := newFixture(t, policy.Config{Breaker: policy.BreakerConfig{Window: 2, MaxFailed: 0.5}})
	ctx := context.Background()
	sim := f.sim(t)
	var ids []int64
	for i := 0; i < 2; i++ {
		m := f.machine(t, strings.Repeat("D", i+1), "r1", nil)
		j, _ := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionPower, MachineID: m.ID, Params: map[string]string{"op": "on"}, MaxAttempts: 1}, "a")
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		f.waitJob(t, id, "failed", func(j appliance.Job) bool { return j.Status == appliance.JobFailed })
	}
	good := f.machine(t, "GGG", "r1", sim)
	j, _ := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionPower, MachineID: good.ID, Params: map[string]string{"op": "on"}}, "a")
	f.e.Tick(ctx)
	j, _ = f.st.Job(ctx, j.ID)
	paused, _ := f.st.PausedQueues(ctx)
	if len(paused) != 1 || paused[0].Actor != "breaker" || j.Status != appliance.JobQueued || !strings.Contains(j.Waiting, "paused") {
		t.Fatalf("paused %+v, job %+v", paused, j)
	}
	if err := f.st.ResumeQueue(ctx, appliance.ActionPower, "bob", "BMC network fixed"); err != nil {
		t.Fatal(err)
	}
	// Resumed by a technician after a fix, the breaker judges only what
	// fails from then on: the next job runs and succeeds.
	f.waitJob(t, j.ID, "succeeded", func(j appliance.Job) bool { return j.Status == appliance.JobSucceeded })
}

func TestCancelRunningInstall(t *testing.T) {
	f := newFixture(t, policy.Config{})
	sim := f.sim(t)
	f.image(t)
	m := f.machine(t, "X1", "r1", sim)
	ctx := context.Background()
	j, _ := f.e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionInstall, MachineID: m.ID, Params: map[string]string{"image": "debian:12"}}, "alice")
	f.waitJob(t, j.ID, "agent phase", func(j appliance.Job) bool { return j.Phase == appliance.PhaseAgent })
	if _, err := f.e.Cancel(ctx, j.ID, "bob", "wrong machine"); err != nil {
		t.Fatal(err)
	}
	mm, _ := f.st.Machine(ctx, m.ID)
	if mm.State != appliance.StateBroken || !strings.Contains(mm.StateReason, "cancelled") {
		t.Fatalf("machine %s %q", mm.State, mm.StateReason)
	}
	if _, err := f.e.Claim(ctx, agentOf(m)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Cancel(ctx, j.ID, "bob", ""); !appliance.IsCode(err, appliance.CodeConflict) {
		t.Fatalf("cancel twice: %v", err)
	}
	b, _ := json.Marshal(j)
	_ = os.WriteFile(filepath.Join(f.dir, "job.json"), b, 0o600)
}

// TestFastTrackWithoutParams: a job with no parameters takes the fast
// track like any other (the engine adds its own marker to the params).
func TestFastTrackWithoutParams(t *testing.T) {
	f := newFixture(t, policy.Config{})
	m := f.machine(t, "NP100", "r1", f.sim(t))
	f.waitingAgent(t, m)
	j, err := f.e.Submit(context.Background(), sqlite.NewJob{Action: appliance.ActionRecycle, MachineID: m.ID}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	f.waitJob(t, j.ID, "fast-tracked", func(j appliance.Job) bool { return j.Phase == appliance.PhaseAgent })
}
