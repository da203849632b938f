package jobs

// BenchmarkJobEngine: thousands of queued power jobs run through the
// engine against simulated BMCs under concurrency limits. bench/run.sh
// runs it as `make bench` part "jobs"; see bench/README.md.
//
//	go test -run XXX -bench BenchmarkJobEngine -benchtime 1x ./appliance/jobs
//
// Environment: OUTPOST_BENCH_JOBS (default 10000 jobs on as many
// machines), OUTPOST_BENCH_SIMS (default 16 simulated BMCs),
// OUTPOST_BENCH_CREDS=memory|file (default memory; see credsMode).

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	gosync "sync"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/bmc"
	"github.com/outpostdc/outpost/appliance/bmc/bmcsim"
	"github.com/outpostdc/outpost/appliance/policy"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

const benchRacks = 50

func benchEnv(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// memCreds reaches BMCs through the real bmc.Dialer (go-ipmi RMCP+
// sessions to the simulators) with credentials held in memory.
//
// credsMode: outpostd's BMCDialer reads credentials from bmc.CredStore,
// which re-reads and parses its whole JSON file on every Get, under a
// mutex. With 10,000 machines that file is about 1.2 MB and a Get costs
// tens of milliseconds, which would make the BMC side, not the
// scheduler, the subject of this benchmark. The benchmark therefore
// measures that cost on its own (metric credstore-get-ms) and, by
// default, dials with credentials from memory; OUTPOST_BENCH_CREDS=file
// runs the real BMCDialer + CredStore end to end instead.
type memCreds struct {
	d     *bmc.Dialer
	creds map[int64]bmc.Creds
}

func (m *memCreds) Dial(ctx context.Context, id int64) (Controller, error) {
	c, ok := m.creds[id]
	if !ok {
		return nil, fmt.Errorf("no credentials for machine %d", id)
	}
	return m.d.Dial(ctx, c)
}

// trackBMCs counts BMC sessions in flight per rack and checks them
// against the rack limit at every Dial: a job holds its BMC session only
// while it runs, so these counts can never exceed the limits either. It
// also holds each session for delay first (OUTPOST_BENCH_BMC_MS, default
// 200 ms), because the in-process simulator answers in microseconds and
// jobs that short would never fill the limits.
type trackBMCs struct {
	inner    BMCs
	rackOf   map[int64]int
	maxRack  int
	delay    time.Duration
	mu       gosync.Mutex
	perRack  [benchRacks]int
	site     int
	peakRack int
	peakSite int
	over     []string
}

func (t *trackBMCs) Dial(ctx context.Context, id int64) (Controller, error) {
	r := t.rackOf[id]
	t.mu.Lock()
	t.perRack[r]++
	t.site++
	t.peakRack = max(t.peakRack, t.perRack[r])
	t.peakSite = max(t.peakSite, t.site)
	if t.perRack[r] > t.maxRack {
		t.over = append(t.over, fmt.Sprintf("%d BMC sessions at once in rack %d", t.perRack[r], r))
	}
	t.mu.Unlock()
	release := func() {
		t.mu.Lock()
		t.perRack[r]--
		t.site--
		t.mu.Unlock()
	}
	// A real BMC takes a while: session set-up and a chassis command
	// are a few round trips of tens to hundreds of milliseconds each.
	select {
	case <-ctx.Done():
	case <-time.After(t.delay):
	}
	c, err := t.inner.Dial(ctx, id)
	if err != nil {
		release()
		return nil, err
	}
	return &trackedController{Controller: c, release: release}, nil
}

type trackedController struct {
	Controller
	release func()
	once    gosync.Once
}

func (c *trackedController) Close(ctx context.Context) error {
	err := c.Controller.Close(ctx)
	c.once.Do(c.release)
	return err
}

// writeCredFile writes bmc.CredStore's on-disk format (version 1) in one
// go: Put rewrites and fsyncs the whole file per machine, which for
// 10,000 machines would take far longer than the benchmark.
func writeCredFile(b *testing.B, path string, creds map[int64]bmc.Creds) {
	type rec struct {
		Host     string `json:"host"`
		Port     int    `json:"port,omitempty"`
		User     string `json:"user"`
		Password string `json:"password"`
	}
	f := struct {
		Version  int           `json:"version"`
		Machines map[int64]rec `json:"machines"`
	}{1, map[int64]rec{}}
	for id, c := range creds {
		f.Machines[id] = rec{c.Host, c.Port, c.User, c.Password}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		b.Fatal(err)
	}
}

type counts struct {
	site    int
	action  map[appliance.JobAction]int
	perRack [benchRacks]int
}

func (c *counts) add(a appliance.JobAction, rack, d int) {
	if c.action == nil {
		c.action = map[appliance.JobAction]int{}
	}
	c.site += d
	c.action[a] += d
	c.perRack[rack] += d
}

func (c *counts) fits(p policy.Config, a appliance.JobAction, rack int) bool {
	if p.MaxSite > 0 && c.site >= p.MaxSite {
		return false
	}
	if n := p.MaxPerAction[policy.Action(a)]; n > 0 && c.action[a] >= n {
		return false
	}
	return p.MaxPerRack <= 0 || c.perRack[rack] < p.MaxPerRack
}

// over returns a description of the limits c exceeds, if any.
func (c *counts) over(p policy.Config) []string {
	var out []string
	if p.MaxSite > 0 && c.site > p.MaxSite {
		out = append(out, fmt.Sprintf("%d jobs on the site (limit %d)", c.site, p.MaxSite))
	}
	for a, n := range c.action {
		if l := p.MaxPerAction[policy.Action(a)]; l > 0 && n > l {
			out = append(out, fmt.Sprintf("%d %s jobs (limit %d)", n, a, l))
		}
	}
	for r, n := range c.perRack {
		if p.MaxPerRack > 0 && n > p.MaxPerRack {
			out = append(out, fmt.Sprintf("%d jobs in rack %d (limit %d)", n, r, p.MaxPerRack))
		}
	}
	return out
}

type peaks struct{ site, rack, action int }

func (pk *peaks) see(c *counts) {
	pk.site = max(pk.site, c.site)
	for _, n := range c.action {
		pk.action = max(pk.action, n)
	}
	for _, n := range c.perRack {
		pk.rack = max(pk.rack, n)
	}
}

func pctDur(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// BenchmarkJobEngine queues OUTPOST_BENCH_JOBS power-cycle jobs, one per
// machine, the machines spread over 50 racks and the jobs submitted rack
// by rack (as an operator cycling whole racks would), and runs them
// through the engine under MaxSite 100, MaxPerRack 5 and
// MaxPerAction{power: 80} against OUTPOST_BENCH_SIMS simulated BMCs
// (go-ipmi's, over UDP), machines assigned to them round-robin, each
// session held at least OUTPOST_BENCH_BMC_MS (default 200 ms) as a real
// BMC would.
//
// The engine is driven by a copy of Engine.Run's loop (ticker plus wake
// channel) with one addition: after every tick the running set is read
// back from the store and checked against the limits. The check at
// every instant comes afterwards: each job's started_at and ended_at are
// stamped inside the single writer's transactions, so replaying them in
// order gives the running set after every commit, and the benchmark
// fails if any of those exceeds a limit.
//
// Scheduling latency is measured against an ideal scheduler replayed on
// the same timeline: at the start and after every job's end, it walks
// the queue in order and admits every job the limits allow at that
// instant. A job "could start" the first time the ideal scheduler would
// have admitted it; its latency is its actual start minus that instant.
func BenchmarkJobEngine(b *testing.B) {
	nJobs := benchEnv("OUTPOST_BENCH_JOBS", 10000)
	nSims := benchEnv("OUTPOST_BENCH_SIMS", 16)
	pol := policy.Config{MaxSite: 100, MaxPerRack: 5, MaxPerAction: map[policy.Action]int{"power": 80}}
	delay := time.Duration(benchEnv("OUTPOST_BENCH_BMC_MS", 200)) * time.Millisecond
	b.StopTimer()
	for range b.N {
		runJobEngine(b, nJobs, nSims, delay, pol)
	}
}

func runJobEngine(b *testing.B, nJobs, nSims int, delay time.Duration, pol policy.Config) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "outpost.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()

	sims := make([]*bmcsim.Sim, nSims)
	for i := range sims {
		if sims[i], err = bmcsim.Start(bmcsim.Options{}); err != nil {
			b.Fatal(err)
		}
		defer sims[i].Close()
	}

	t0 := time.Now()
	perRack := (nJobs + benchRacks - 1) / benchRacks
	rackOf := map[int64]int{}
	creds := map[int64]bmc.Creds{}
	ids := make([]int64, nJobs)
	for i := range nJobs {
		m, err := st.CreateMachine(ctx, sqlite.NewMachine{Serial: fmt.Sprintf("JB%06d", i), Rack: fmt.Sprintf("rack-%02d", i/perRack),
			MACs: []string{fmt.Sprintf("02:ca:00:%02x:%02x:%02x", byte(i>>16), byte(i>>8), byte(i))}, State: appliance.StateDeployed}, "bench", "")
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = m.ID
		rackOf[m.ID] = i / perRack
		s := sims[i%nSims]
		creds[m.ID] = bmc.Creds{Host: s.Host, Port: s.Port, User: bmcsim.User, Password: bmcsim.Password}
	}
	b.Logf("%d machines in %d racks, %d simulated BMCs: created in %s", nJobs, benchRacks, nSims, time.Since(t0).Round(time.Millisecond))

	// The credential store at this size, as outpostd would use it.
	credPath := filepath.Join(dir, "bmc-credentials.json")
	writeCredFile(b, credPath, creds)
	cs, err := bmc.NewCredStore(credPath)
	if err != nil {
		b.Fatal(err)
	}
	tg := time.Now()
	const gets = 20
	for i := range gets {
		if _, err := cs.Get(ids[i*len(ids)/gets]); err != nil {
			b.Fatal(err)
		}
	}
	credGet := time.Since(tg) / gets

	dialer := bmc.NewDialer(bmc.Options{Attempts: 2, Timeout: 5 * time.Second, Backoff: 50 * time.Millisecond})
	var inner BMCs = &memCreds{d: dialer, creds: creds}
	mode := os.Getenv("OUTPOST_BENCH_CREDS")
	if mode == "file" {
		inner = &BMCDialer{Dialer: dialer, Creds: cs}
	} else {
		mode = "memory"
	}
	tracker := &trackBMCs{inner: inner, rackOf: rackOf, maxRack: pol.MaxPerRack, delay: delay}
	e := &Engine{Store: st, BMC: tracker, Log: slog.New(slog.DiscardHandler), Cfg: Config{Policy: pol}}

	t0 = time.Now()
	for _, id := range ids {
		if _, err := e.Submit(ctx, sqlite.NewJob{Action: appliance.ActionPower, MachineID: id,
			Params: map[string]string{"op": "cycle"}, MaxAttempts: 3}, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d jobs queued in %s; BMC credentials from %s (CredStore.Get at this size: %s)",
		nJobs, time.Since(t0).Round(time.Millisecond), mode, credGet.Round(time.Microsecond))

	// Engine.Run's loop, with the check after every tick.
	b.StartTimer()
	e.init()
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	ticker := time.NewTicker(e.Cfg.Tick)
	defer ticker.Stop()
	var sampled peaks
	var tickDur []time.Duration
	var violations []string
	start := time.Now()
	for {
		select {
		case <-runCtx.Done():
			b.Fatalf("jobs not done after %s", time.Since(start))
		case <-ticker.C:
		case <-e.wake:
		}
		tt := time.Now()
		if err := e.Tick(runCtx); err != nil {
			b.Fatal(err)
		}
		tickDur = append(tickDur, time.Since(tt))
		running, err := st.Jobs(ctx, sqlite.JobFilter{Status: appliance.JobRunning, Limit: 100000})
		if err != nil {
			b.Fatal(err)
		}
		var c counts
		for _, j := range running {
			c.add(j.Action, rackOf[j.MachineID], 1)
		}
		sampled.see(&c)
		for _, o := range c.over(pol) {
			violations = append(violations, "after a tick: "+o)
		}
		if len(running) == 0 {
			if q, err := st.Jobs(ctx, sqlite.JobFilter{Status: appliance.JobQueued, Limit: 1}); err != nil {
				b.Fatal(err)
			} else if len(q) == 0 {
				break
			}
		}
	}
	e.wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	// Replay the store's timeline.
	all, err := st.Jobs(ctx, sqlite.JobFilter{Limit: 100000})
	if err != nil {
		b.Fatal(err)
	}
	type rec struct {
		id         int64
		action     appliance.JobAction
		rack       int
		start, end time.Time
	}
	var jobs []rec
	failed, retried := 0, 0
	for _, j := range all {
		if j.Status != appliance.JobSucceeded {
			failed++
			b.Logf("job %d %s: %s", j.ID, j.Status, j.Error)
		}
		if j.Attempts > 1 {
			retried++ // its interval spans every attempt: the check stays conservative
		}
		if j.StartedAt.IsZero() {
			continue
		}
		jobs = append(jobs, rec{j.ID, j.Action, rackOf[j.MachineID], j.StartedAt, j.EndedAt})
	}
	if failed > 0 {
		b.Errorf("%d of %d jobs did not succeed", failed, len(all))
	}
	type event struct {
		t     time.Time
		start bool
		i     int
	}
	sort.Slice(jobs, func(a, c int) bool { return jobs[a].id < jobs[c].id })
	var evs []event
	for i, j := range jobs {
		evs = append(evs, event{j.start, true, i}, event{j.end, false, i})
	}
	// At equal times ends come first: the commits are serialised, and a
	// start stamped in the same nanosecond as an end cannot be told apart.
	sort.Slice(evs, func(a, c int) bool {
		if !evs[a].t.Equal(evs[c].t) {
			return evs[a].t.Before(evs[c].t)
		}
		return !evs[a].start && evs[c].start
	})

	var exact peaks
	var cur counts
	started := make([]bool, len(jobs))
	eligible := make([]time.Time, len(jobs))
	head := 0
	// admit runs the ideal scheduler at instant t over the jobs not yet
	// started, in queue order.
	admit := func(t time.Time) {
		for head < len(jobs) && started[head] {
			head++
		}
		v := cur
		v.action = map[appliance.JobAction]int{}
		for a, n := range cur.action {
			v.action[a] = n
		}
		for i := head; i < len(jobs); i++ {
			if started[i] {
				continue
			}
			if pol.MaxSite > 0 && v.site >= pol.MaxSite {
				return
			}
			if v.fits(pol, jobs[i].action, jobs[i].rack) {
				v.add(jobs[i].action, jobs[i].rack, 1)
				if eligible[i].IsZero() {
					eligible[i] = t
				}
			}
		}
	}
	admit(start)
	for k := 0; k < len(evs); k++ {
		ev := evs[k]
		j := jobs[ev.i]
		if ev.start {
			started[ev.i] = true
			cur.add(j.action, j.rack, 1)
		} else {
			cur.add(j.action, j.rack, -1)
		}
		exact.see(&cur)
		if ev.start {
			for _, o := range cur.over(pol) {
				violations = append(violations, fmt.Sprintf("at %s (job %d started): %s", ev.t.Format(time.RFC3339Nano), j.id, o))
			}
		}
		// After the last of a run of ends at one instant, ask the ideal
		// scheduler what could start now.
		if !ev.start && (k+1 == len(evs) || evs[k+1].start || !evs[k+1].t.Equal(ev.t)) {
			admit(ev.t)
		}
	}
	var lat []time.Duration
	early, never := 0, 0
	for i, j := range jobs {
		if eligible[i].IsZero() {
			never++ // only possible if it started beyond the limits
			continue
		}
		d := j.start.Sub(eligible[i])
		if d < 0 {
			early++ // started before the ideal scheduler would have (another order): counts as 0
			d = 0
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	slices.Sort(tickDur)
	tracker.mu.Lock()
	violations = append(violations, tracker.over...)
	bmcPeakRack, bmcPeakSite := tracker.peakRack, tracker.peakSite
	tracker.mu.Unlock()

	b.Logf("%d jobs in %s (%.0f jobs/s), %d ticks (p50 %s, max %s), %d retried, %d started ahead of the ideal order",
		len(jobs), elapsed.Round(time.Millisecond), float64(len(jobs))/elapsed.Seconds(), len(tickDur),
		pctDur(tickDur, 0.5).Round(time.Microsecond), pctDur(tickDur, 1).Round(time.Microsecond), retried, early)
	b.Logf("scheduling latency: p50 %s, p90 %s, p99 %s, max %s", pctDur(lat, 0.5).Round(time.Microsecond),
		pctDur(lat, 0.9).Round(time.Microsecond), pctDur(lat, 0.99).Round(time.Microsecond), pctDur(lat, 1).Round(time.Microsecond))
	b.Logf("peak concurrency, every commit: site %d (limit %d), rack %d (limit %d), power %d (limit %d)",
		exact.site, pol.MaxSite, exact.rack, pol.MaxPerRack, exact.action, pol.MaxPerAction["power"])
	b.Logf("peak concurrency, sampled after each tick: site %d, rack %d, power %d; BMC sessions at once: site %d, rack %d",
		sampled.site, sampled.rack, sampled.action, bmcPeakSite, bmcPeakRack)
	if len(violations) > 0 {
		b.Fatalf("policy limits exceeded %d times, first: %s", len(violations), violations[0])
	}
	if never > 0 {
		b.Fatalf("%d jobs started although the limits never allowed them", never)
	}
	b.ReportMetric(ms(pctDur(lat, 0.5)), "sched-p50-ms")
	b.ReportMetric(ms(pctDur(lat, 0.99)), "sched-p99-ms")
	b.ReportMetric(ms(pctDur(lat, 1)), "sched-max-ms")
	b.ReportMetric(float64(len(jobs))/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(ms(pctDur(tickDur, 0.5)), "tick-p50-ms")
	b.ReportMetric(float64(exact.site), "peak-site")
	b.ReportMetric(float64(exact.rack), "peak-rack")
	b.ReportMetric(float64(exact.action), "peak-power")
	b.ReportMetric(ms(credGet), "credstore-get-ms")
}
