// Package jobs runs install, recycle and power jobs: it admits queued jobs
// through the policies, drives machines through their BMCs and the recon
// agent, watches every phase with a watchdog, retries failed attempts with
// backoff, and survives restarts of outpostd.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	gosync "sync"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/bmc"
	"github.com/outpostdc/outpost/appliance/policy"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/recon"
)

// Config tunes the engine.
type Config struct {
	// Attempts is the default for jobs that do not set max_attempts.
	Attempts int
	// RetryBase is the backoff before the second attempt; it doubles.
	RetryBase time.Duration
	// Watchdogs per phase.
	BootTimeout  time.Duration // BMC: set boot device and power-cycle
	AgentTimeout time.Duration // power-cycle to the agent taking the job
	WorkIdle     time.Duration // longest silence from a working agent
	FastTrack    time.Duration // a waiting agent must take the job this soon
	PowerTimeout time.Duration // a power job's BMC command
	// AgentFresh is how recent a waiting agent's last check-in must be
	// for a job to skip the power cycle.
	AgentFresh time.Duration
	// Tick is how often the queue and the watchdogs are looked at.
	Tick time.Duration
	// Workers bounds BMC work in flight.
	Workers int
	// ImageBase is the URL under which the images dir is served.
	ImageBase string
	Policy    policy.Config
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	def(&c.RetryBase, 30*time.Second)
	def(&c.BootTimeout, 5*time.Minute)
	def(&c.AgentTimeout, 10*time.Minute)
	def(&c.WorkIdle, 10*time.Minute)
	def(&c.FastTrack, 2*time.Minute)
	def(&c.PowerTimeout, 2*time.Minute)
	def(&c.AgentFresh, 30*time.Second)
	def(&c.Tick, time.Second)
	if c.Workers <= 0 {
		c.Workers = 32
	}
}

// Controller is the part of a BMC client jobs use.
type Controller interface {
	PowerStatus(ctx context.Context) (bool, error)
	PowerOn(ctx context.Context) error
	PowerOff(ctx context.Context) error
	PowerCycle(ctx context.Context) error
	PowerReset(ctx context.Context) error
	SetNextBoot(ctx context.Context, dev bmc.Device, efi, persistent bool) error
	Close(ctx context.Context) error
}

// BMCs reaches a machine's BMC.
type BMCs interface {
	Dial(ctx context.Context, machineID int64) (Controller, error)
}

// Engine runs jobs.
type Engine struct {
	Store *sqlite.Store
	BMC   BMCs
	Cfg   Config
	Log   *slog.Logger
	Now   func() time.Time

	wake    chan struct{}
	sem     chan struct{}
	wg      gosync.WaitGroup
	started gosync.Once

	mu     gosync.Mutex
	policy *policy.Config // replaces Cfg.Policy when HQ sends one
}

// SetPolicy replaces the job policies, as HQ's policy intents do.
func (e *Engine) SetPolicy(p policy.Config) {
	e.mu.Lock()
	e.policy = &p
	e.mu.Unlock()
	e.Wake()
}

// Policy returns the policies in force.
func (e *Engine) Policy() policy.Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.policy != nil {
		return *e.policy
	}
	return e.Cfg.Policy
}

func (e *Engine) init() {
	e.started.Do(func() {
		e.Cfg.defaults()
		if e.Now == nil {
			e.Now = time.Now
		}
		if e.Log == nil {
			e.Log = slog.New(slog.DiscardHandler)
		}
		e.wake = make(chan struct{}, 1)
		e.sem = make(chan struct{}, e.Cfg.Workers)
	})
}

// Wake makes the engine look at the queue now.
func (e *Engine) Wake() {
	e.init()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run schedules and watches jobs until ctx ends. It first takes over the
// jobs that were running when outpostd last stopped.
func (e *Engine) Run(ctx context.Context) error {
	e.init()
	if err := e.recover(ctx); err != nil {
		return fmt.Errorf("jobs: recovering running jobs: %w", err)
	}
	t := time.NewTicker(e.Cfg.Tick)
	defer t.Stop()
	defer e.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-e.wake:
		}
		if err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.Log.Error("jobs: tick failed", "err", err)
		}
	}
}

// Tick runs the watchdogs and admits what the policies allow. Run calls
// it; tests call it directly.
func (e *Engine) Tick(ctx context.Context) error {
	e.init()
	if err := e.watchdogs(ctx); err != nil {
		return err
	}
	return e.schedule(ctx)
}

// recover resumes agent-driven jobs and fails, or retries, those that
// were in the middle of a BMC command: a power cycle must not be sent
// twice blindly.
func (e *Engine) recover(ctx context.Context) error {
	running, err := e.Store.Jobs(ctx, sqlite.JobFilter{Status: appliance.JobRunning, Limit: 100000})
	if err != nil {
		return err
	}
	for _, j := range running {
		switch j.Phase {
		case appliance.PhaseAgent, appliance.PhaseWork:
			grace := e.Now().Add(e.Cfg.AgentTimeout)
			if j.PhaseDeadline.After(grace) {
				grace = j.PhaseDeadline
			}
			_, err := e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobRunning, FromPhase: j.Phase,
				Deadline: &grace, Audit: "resumed after an outpostd restart, still in phase " + j.Phase})
			if err != nil && !sqlite.IsStale(err) {
				return err
			}
			e.Log.Info("jobs: resumed", "job", j.ID, "phase", j.Phase)
		case appliance.PhasePower:
			why := "outpostd restarted during the power command; its outcome is unknown, so it is not sent again"
			if _, err := e.finish(ctx, j, appliance.JobFailed, why, nil); err != nil && !sqlite.IsStale(err) {
				return err
			}
			e.Log.Warn("jobs: failed by restart", "job", j.ID)
		default:
			if err := e.attemptFailed(ctx, j, "outpostd restarted during phase "+j.Phase); err != nil && !sqlite.IsStale(err) {
				return err
			}
		}
	}
	return nil
}

// watchdogs fail the attempts whose phase ran past its deadline.
func (e *Engine) watchdogs(ctx context.Context) error {
	running, err := e.Store.Jobs(ctx, sqlite.JobFilter{Status: appliance.JobRunning, Limit: 100000})
	if err != nil {
		return err
	}
	now := e.Now()
	for _, j := range running {
		if j.PhaseDeadline.IsZero() || now.Before(j.PhaseDeadline) {
			continue
		}
		if j.Phase == appliance.PhaseAgent && j.Params["_fast_track"] == "1" {
			// The waiting agent did not take the job: boot it the long way.
			e.Log.Warn("jobs: fast track missed; power-cycling", "job", j.ID)
			if err := e.bootPhase(ctx, j, "the waiting agent did not take the job in time"); err != nil && !sqlite.IsStale(err) {
				return err
			}
			continue
		}
		why := fmt.Sprintf("watchdog: phase %s exceeded its deadline (%s)", j.Phase, j.PhaseDeadline.Format(time.RFC3339))
		if j.Phase == appliance.PhaseWork {
			why = fmt.Sprintf("watchdog: no progress from the machine since %s", j.PhaseDeadline.Add(-e.Cfg.WorkIdle).Format(time.RFC3339))
		}
		if err := e.attemptFailed(ctx, j, why); err != nil && !sqlite.IsStale(err) {
			return err
		}
	}
	return nil
}

// Submit queues a job after checking it, resolving an install's image to
// its content address so the job installs exactly that file.
func (e *Engine) Submit(ctx context.Context, n sqlite.NewJob, actor appliance.Actor) (appliance.Job, error) {
	e.init()
	if n.MaxAttempts == 0 {
		n.MaxAttempts = e.Cfg.Attempts
	}
	if n.Params == nil {
		n.Params = map[string]string{}
	}
	for k := range n.Params {
		if len(k) > 0 && k[0] == '_' {
			return appliance.Job{}, appliance.Errorf(appliance.CodeInvalid, "parameter %q is reserved", k)
		}
	}
	switch n.Action {
	case appliance.ActionInstall:
		ref := n.Params["image"]
		if ref == "" {
			return appliance.Job{}, appliance.Errorf(appliance.CodeInvalid, "install needs params.image (name:version or sha256)")
		}
		img, err := e.Store.ImageByRef(ctx, ref)
		if err != nil {
			return appliance.Job{}, err
		}
		n.Params["image_sha256"] = img.SHA256
		n.Params["image"] = img.Name + ":" + img.Version
	case appliance.ActionRecycle:
		if v := n.Params["full"]; v != "" && v != "true" && v != "false" {
			return appliance.Job{}, appliance.Errorf(appliance.CodeInvalid, "params.full must be true or false")
		}
	case appliance.ActionPower:
		switch n.Params["op"] {
		case "on", "off", "cycle", "reset", "status":
		default:
			return appliance.Job{}, appliance.Errorf(appliance.CodeInvalid, "power needs params.op: on, off, cycle, reset or status")
		}
	}
	j, err := e.Store.CreateJob(ctx, n, actor)
	if err == nil {
		e.Wake()
	}
	return j, err
}

// Cancel stops a job. A running install or recycle leaves the disk in an
// unknown state, so its machine is marked broken with that reason.
func (e *Engine) Cancel(ctx context.Context, id int64, actor appliance.Actor, reason string) (appliance.Job, error) {
	j, err := e.Store.Job(ctx, id)
	if err != nil {
		return j, err
	}
	if j.Status.Done() {
		return j, appliance.Errorf(appliance.CodeConflict, "job %d is already %s", id, j.Status)
	}
	if reason == "" {
		reason = "cancelled by " + string(actor)
	}
	u := sqlite.JobUpdate{From: j.Status, To: appliance.JobCancelled, Error: &reason, Actor: actor, Audit: "cancelled: " + reason}
	if j.Status == appliance.JobRunning && appliance.JobMachineState(j.Action) != "" && j.Phase != appliance.PhasePrepare {
		u.Machine = appliance.StateBroken
		u.MachineReason = fmt.Sprintf("job %d %s cancelled while running; disk contents unknown", j.ID, j.Action)
	}
	return e.Store.UpdateJob(ctx, id, u)
}

// schedule admits queued jobs the policies allow.
func (e *Engine) schedule(ctx context.Context) error {
	queued, err := e.Store.Jobs(ctx, sqlite.JobFilter{Status: appliance.JobQueued, Limit: 100000})
	if err != nil || len(queued) == 0 {
		return err
	}
	running, err := e.Store.Jobs(ctx, sqlite.JobFilter{Status: appliance.JobRunning, Limit: 100000})
	if err != nil {
		return err
	}
	now := e.Now()
	if err := e.breakers(ctx, queued); err != nil {
		return err
	}
	pausedList, err := e.Store.PausedQueues(ctx)
	if err != nil {
		return err
	}
	paused := map[policy.Action]policy.PausedQueue{}
	for _, p := range pausedList {
		paused[policy.Action(p.Action)] = policy.PausedQueue{Since: p.Since, By: p.Actor, Reason: p.Reason}
	}
	machines, err := e.machines(ctx)
	if err != nil {
		return err
	}
	st := policy.State{Now: now, Paused: paused}
	for _, j := range running {
		st.Running = append(st.Running, policy.Job{ID: j.ID, Action: policy.Action(j.Action), MachineID: j.MachineID, Rack: machines[j.MachineID].Rack})
	}
	// Jobs backing off after a failed attempt wait for their time.
	var due []appliance.Job
	var queue []policy.Job
	for _, j := range queued {
		if j.NextAttemptAt.After(now) {
			e.setWaiting(ctx, j, "retrying after a failed attempt at "+j.NextAttemptAt.UTC().Format(time.RFC3339))
			continue
		}
		due = append(due, j)
		queue = append(queue, policy.Job{ID: j.ID, Action: policy.Action(j.Action), MachineID: j.MachineID, Rack: machines[j.MachineID].Rack})
	}
	decisions := policy.Schedule(e.Policy(), st, queue, machines)
	for i, d := range decisions {
		j := due[i]
		switch d.Verdict {
		case policy.Run:
			e.start(ctx, j)
		case policy.Wait:
			e.setWaiting(ctx, j, d.Reason)
		case policy.Refuse:
			why := d.Reason
			if _, err := e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobQueued, To: appliance.JobFailed,
				Error: &why, Waiting: strPtr(""), Audit: why}); err != nil && !sqlite.IsStale(err) {
				return err
			}
		}
	}
	return nil
}

// breakers pause the queue of an action whose recent jobs failed too often.
func (e *Engine) breakers(ctx context.Context, queued []appliance.Job) error {
	b := e.Policy().Breaker
	if b.Window <= 0 {
		return nil
	}
	seen := map[appliance.JobAction]bool{}
	for _, j := range queued {
		if seen[j.Action] {
			continue
		}
		seen[j.Action] = true
		outcomes, err := e.Store.RecentOutcomes(ctx, j.Action, b.Window)
		if err != nil {
			return err
		}
		trip, why := policy.Trips(b, outcomes)
		if !trip {
			continue
		}
		err = e.Store.PauseQueue(ctx, j.Action, "breaker", why)
		switch {
		case err == nil:
			e.Log.Error("jobs: ALERT: queue paused by the failure-rate breaker", "action", j.Action, "why", why)
		case appliance.IsCode(err, appliance.CodeConflict):
			// Already paused; a technician resumes it.
		default:
			return err
		}
	}
	return nil
}

func (e *Engine) machines(ctx context.Context) (map[int64]policy.Machine, error) {
	infos, err := e.Store.JobMachines(ctx)
	if err != nil {
		return nil, err
	}
	racks, err := e.Store.FrozenRacks(ctx)
	if err != nil {
		return nil, err
	}
	frozen := map[string]string{}
	for _, r := range racks {
		frozen[r.Rack] = r.Reason
	}
	out := map[int64]policy.Machine{}
	for _, m := range infos {
		pm := policy.Machine{ID: m.ID, Rack: m.Rack}
		if m.State == appliance.StateFrozen {
			pm.Frozen, pm.FrozenReason = true, m.StateReason
		}
		if why, ok := frozen[m.Rack]; ok && m.Rack != "" {
			pm.RackFrozen, pm.RackFrozenReason = true, why
		}
		out[m.ID] = pm
	}
	return out, nil
}

func (e *Engine) setWaiting(ctx context.Context, j appliance.Job, why string) {
	if j.Waiting == why {
		return
	}
	_, err := e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobQueued, Waiting: &why, Audit: "waiting: " + why})
	if err != nil && !sqlite.IsStale(err) {
		e.Log.Error("jobs: recording why a job waits", "job", j.ID, "err", err)
	}
}

func strPtr(s string) *string { return &s }

// start moves a job to running and runs its first phase.
func (e *Engine) start(ctx context.Context, j appliance.Job) {
	phase := appliance.PhasePrepare
	deadline := e.Now().Add(e.Cfg.BootTimeout)
	if j.Action == appliance.ActionPower {
		phase = appliance.PhasePower
		deadline = e.Now().Add(e.Cfg.PowerTimeout)
	}
	j, err := e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobQueued, To: appliance.JobRunning, Attempt: true,
		Phase: &phase, Deadline: &deadline, Waiting: strPtr(""), Audit: fmt.Sprintf("attempt %d of %d started", j.Attempts+1, j.MaxAttempts)})
	if err != nil {
		if !sqlite.IsStale(err) {
			e.Log.Error("jobs: starting", "job", j.ID, "err", err)
		}
		return
	}
	e.Log.Info("jobs: started", "job", j.ID, "action", j.Action, "machine", j.MachineID, "attempt", j.Attempts)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.sem <- struct{}{}
		defer func() { <-e.sem }()
		var err error
		switch j.Action {
		case appliance.ActionPower:
			err = e.power(ctx, j)
		default:
			err = e.prepare(ctx, j)
		}
		if err != nil && !sqlite.IsStale(err) && ctx.Err() == nil {
			e.Log.Error("jobs: phase failed", "job", j.ID, "err", err)
		}
	}()
}

// prepare moves the machine into the job's state, then boots it.
func (e *Engine) prepare(ctx context.Context, j appliance.Job) error {
	want := appliance.JobMachineState(j.Action)
	m, err := e.Store.Machine(ctx, j.MachineID)
	if err != nil {
		return err
	}
	if m.State != want {
		if err := appliance.CheckTransition(m.State, m.FrozenFrom, want); err != nil {
			// Not transient: retrying cannot fix the machine's state.
			why := fmt.Sprintf("machine cannot start %s: %v", j.Action, err)
			_, err := e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobRunning, To: appliance.JobFailed,
				Error: &why, Audit: why})
			return err
		}
	}
	phase := appliance.PhaseBoot
	deadline := e.Now().Add(e.Cfg.BootTimeout)
	j, err = e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobRunning, FromPhase: appliance.PhasePrepare,
		Phase: &phase, Deadline: &deadline, Machine: want, MachineReason: fmt.Sprintf("job %d %s", j.ID, j.Action),
		Actor: appliance.Actor(j.Requester), Audit: "machine is " + string(want)})
	if err != nil {
		return err
	}
	if fresh := e.Now().Sub(m.LastSeen); m.AgentMode == string(appliance.BootWait) && fresh < e.Cfg.AgentFresh {
		// The machine waits in the recon image: it takes the job at its
		// next check-in, with no reboot.
		phase := appliance.PhaseAgent
		deadline := e.Now().Add(e.Cfg.FastTrack)
		j.Params["_fast_track"] = "1"
		_, err := e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobRunning, FromPhase: appliance.PhaseBoot,
			Phase: &phase, Deadline: &deadline, Params: j.Params,
			Audit: fmt.Sprintf("fast track: the agent is waiting in recon (checked in %s ago); no power cycle", fresh.Round(time.Second))})
		return err
	}
	return e.bootPhase(ctx, j, "")
}

// bootPhase sets the next boot to PXE, reads it back, and power-cycles.
func (e *Engine) bootPhase(ctx context.Context, j appliance.Job, why string) error {
	if j.Phase != appliance.PhaseBoot {
		phase := appliance.PhaseBoot
		deadline := e.Now().Add(e.Cfg.BootTimeout)
		delete(j.Params, "_fast_track")
		audit := "booting through the BMC"
		if why != "" {
			audit += ": " + why
		}
		var err error
		j, err = e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobRunning, FromPhase: j.Phase,
			Phase: &phase, Deadline: &deadline, Params: j.Params, Audit: audit})
		if err != nil {
			return err
		}
	}
	fw, _ := e.Store.Firmware(ctx, j.MachineID)
	efi := fw == "efi"
	err := e.withBMC(ctx, j, e.Cfg.BootTimeout, func(ctx context.Context, c Controller) error {
		if err := c.SetNextBoot(ctx, bmc.DevicePXE, efi, false); err != nil {
			return fmt.Errorf("setting next boot to PXE: %w", err)
		}
		on, err := c.PowerStatus(ctx)
		if err != nil {
			return fmt.Errorf("reading power state: %w", err)
		}
		if on {
			return c.PowerCycle(ctx)
		}
		return c.PowerOn(ctx)
	})
	if err != nil {
		return e.attemptFailed(ctx, j, "BMC: "+err.Error())
	}
	phase := appliance.PhaseAgent
	deadline := e.Now().Add(e.Cfg.AgentTimeout)
	_, err = e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobRunning, FromPhase: appliance.PhaseBoot,
		Phase: &phase, Deadline: &deadline, Audit: fmt.Sprintf("next boot PXE (efi=%v, read back), power-cycled; waiting for the agent", efi)})
	return err
}

func (e *Engine) withBMC(ctx context.Context, j appliance.Job, timeout time.Duration, fn func(context.Context, Controller) error) error {
	if e.BMC == nil {
		return errors.New("no BMC access configured")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := e.BMC.Dial(ctx, j.MachineID)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	return fn(ctx, c)
}

// power runs a power job.
func (e *Engine) power(ctx context.Context, j appliance.Job) error {
	op := j.Params["op"]
	var on bool
	err := e.withBMC(ctx, j, e.Cfg.PowerTimeout, func(ctx context.Context, c Controller) error {
		var err error
		switch op {
		case "on":
			err = c.PowerOn(ctx)
		case "off":
			err = c.PowerOff(ctx)
		case "cycle":
			err = c.PowerCycle(ctx)
		case "reset":
			err = c.PowerReset(ctx)
		}
		if err != nil {
			return err
		}
		on, err = c.PowerStatus(ctx)
		return err
	})
	if err != nil {
		return e.attemptFailed(ctx, j, "BMC: "+err.Error())
	}
	state := "off"
	if on {
		state = "on"
	}
	_, err = e.finish(ctx, j, appliance.JobSucceeded, "power "+op+" done; power is "+state, map[string]string{"power": state})
	return err
}

// attemptFailed retries with backoff, or, with attempts used up, fails
// the job and marks the machine broken with the reason.
func (e *Engine) attemptFailed(ctx context.Context, j appliance.Job, why string) error {
	e.Log.Warn("jobs: attempt failed", "job", j.ID, "attempt", j.Attempts, "of", j.MaxAttempts, "why", why)
	if j.Attempts < j.MaxAttempts {
		wait := appliance.Backoff(e.Cfg.RetryBase, j.Attempts)
		next := e.Now().Add(wait)
		_, err := e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobRunning, FromPhase: j.Phase, To: appliance.JobQueued,
			Phase: strPtr(""), Error: &why, NextAt: &next,
			Audit: fmt.Sprintf("attempt %d of %d failed: %s; retrying in %s", j.Attempts, j.MaxAttempts, why, wait)})
		e.Wake()
		return err
	}
	_, err := e.finish(ctx, j, appliance.JobFailed, fmt.Sprintf("failed after %d attempts: %s", j.Attempts, why), nil)
	return err
}

// finish ends a running job, moving its machine on.
func (e *Engine) finish(ctx context.Context, j appliance.Job, st appliance.JobStatus, why string, result any) (appliance.Job, error) {
	u := sqlite.JobUpdate{From: appliance.JobRunning, FromPhase: j.Phase, To: st, Result: result, Audit: why}
	switch st {
	case appliance.JobFailed:
		u.Error = &why
		u.Machine = appliance.StateBroken
		u.MachineReason = fmt.Sprintf("job %d %s: %s", j.ID, j.Action, why)
	case appliance.JobSucceeded:
		switch j.Action {
		case appliance.ActionInstall:
			u.Machine, u.MachineReason = appliance.StateDeployed, fmt.Sprintf("job %d installed %s", j.ID, j.Params["image"])
		case appliance.ActionRecycle:
			u.Machine, u.MachineReason = appliance.StateReady, fmt.Sprintf("job %d wiped every disk", j.ID)
		}
	}
	out, err := e.Store.UpdateJob(ctx, j.ID, u)
	if err == nil {
		e.Log.Info("jobs: finished", "job", j.ID, "status", st, "why", why)
		e.Wake()
	}
	return out, err
}

// Claim hands an agent the job waiting for its machine, if any.
func (e *Engine) Claim(ctx context.Context, a sqlite.Agent) (*recon.Job, error) {
	e.init()
	j, ok, err := e.Store.ActiveJob(ctx, a.MachineID)
	if err != nil || !ok || j.Status != appliance.JobRunning {
		return nil, err
	}
	if j.Phase != appliance.PhaseAgent && j.Phase != appliance.PhaseWork {
		return nil, nil
	}
	if j.Phase == appliance.PhaseAgent {
		phase := appliance.PhaseWork
		deadline := e.Now().Add(e.Cfg.WorkIdle)
		j, err = e.Store.UpdateJob(ctx, j.ID, sqlite.JobUpdate{From: appliance.JobRunning, FromPhase: appliance.PhaseAgent,
			Phase: &phase, Deadline: &deadline, Audit: "the agent on " + a.MAC + " took the job"})
		if err != nil {
			if sqlite.IsStale(err) {
				return nil, nil
			}
			return nil, err
		}
	}
	// A job already in work is handed out again: the agent restarted and
	// starts over, which both actions tolerate.
	return e.spec(ctx, j)
}

func (e *Engine) spec(ctx context.Context, j appliance.Job) (*recon.Job, error) {
	out := &recon.Job{ID: j.ID, Action: string(j.Action), Params: map[string]string{}}
	switch j.Action {
	case appliance.ActionInstall:
		img, err := e.Store.ImageByRef(ctx, j.Params["image_sha256"])
		if err != nil {
			return nil, fmt.Errorf("job %d: %w", j.ID, err)
		}
		out.Params = map[string]string{
			"url": e.Cfg.ImageBase + "/" + img.File, "format": img.Format, "size": strconv.FormatInt(img.Size, 10),
			"sha256": img.SHA256, "raw_size": strconv.FormatInt(img.RawSize, 10), "raw_sha256": img.RawSHA256,
			"target_serial": j.Params["target_serial"],
		}
	case appliance.ActionRecycle:
		out.Params["full"] = j.Params["full"]
	}
	return out, nil
}

// Progress records an agent's progress report and feeds the watchdog.
func (e *Engine) Progress(ctx context.Context, a sqlite.Agent, jobID int64, p recon.JobProgress) error {
	e.init()
	j, err := e.agentJob(ctx, a, jobID)
	if err != nil {
		return err
	}
	deadline := e.Now().Add(e.Cfg.WorkIdle)
	u := sqlite.JobUpdate{From: appliance.JobRunning, FromPhase: appliance.PhaseWork, Deadline: &deadline, Progress: p}
	var last recon.JobProgress
	if len(j.Progress) > 0 {
		_ = jsonUnmarshal(j.Progress, &last)
	}
	if last.Phase != p.Phase {
		u.Audit = fmt.Sprintf("agent: %s", p.Phase)
	}
	_, err = e.Store.UpdateJob(ctx, jobID, u)
	if sqlite.IsStale(err) {
		return appliance.Errorf(appliance.CodeConflict, "job %d is no longer running on this machine", jobID)
	}
	return err
}

// Result ends the agent's part of a job.
func (e *Engine) Result(ctx context.Context, a sqlite.Agent, jobID int64, r recon.JobResult) error {
	e.init()
	j, err := e.agentJob(ctx, a, jobID)
	if err != nil {
		return err
	}
	if r.OK {
		_, err = e.finish(ctx, j, appliance.JobSucceeded, "agent: "+r.Summary, r)
	} else {
		err = e.attemptFailed(ctx, j, "agent: "+r.Error)
	}
	if sqlite.IsStale(err) {
		return appliance.Errorf(appliance.CodeConflict, "job %d is no longer running on this machine", jobID)
	}
	return err
}

func (e *Engine) agentJob(ctx context.Context, a sqlite.Agent, jobID int64) (appliance.Job, error) {
	j, err := e.Store.Job(ctx, jobID)
	if err != nil {
		return j, err
	}
	if j.MachineID != a.MachineID {
		return j, appliance.Errorf(appliance.CodeForbidden, "job %d is not this machine's", jobID)
	}
	if j.Status != appliance.JobRunning || j.Phase != appliance.PhaseWork {
		return j, appliance.Errorf(appliance.CodeConflict, "job %d is %s (%s), not working", jobID, j.Status, j.Phase)
	}
	return j, nil
}
