// Package policy decides whether a queued job may start now. It is pure:
// the engine passes in the configuration, a snapshot of what is running
// and the time, and gets back a verdict with a reason an operator can
// read in the API and the machine's timeline.
//
// Decide applies the checks in this order and the first that holds wins:
//
//  1. machine frozen          -> Refuse
//  2. machine's rack frozen   -> Refuse
//  3. action's queue paused   -> Wait
//  4. outside action's window -> Wait
//  5. site limit reached      -> Wait
//  6. action limit reached    -> Wait
//  7. rack limit reached      -> Wait
//  8. otherwise               -> Run
//
// Refusals come first because waiting would never help a frozen machine;
// pauses and windows come before limits because they say when the job
// can run at all, which is more useful than a count that will change.
package policy

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Action names a kind of job: "install", "recycle", "power". Any string
// is accepted; the policies only compare them.
type Action string

// Config is the site's job policy.
type Config struct {
	// Concurrency limits; 0 means unlimited.
	MaxSite      int            // running jobs on the whole site
	MaxPerAction map[Action]int // running jobs of one action
	// MaxPerRack limits running jobs (any action) in one rack. Machines
	// with no rack are neither limited nor counted: an unknown location
	// says nothing about shared power or uplinks.
	MaxPerRack int
	Breaker    BreakerConfig
	// Windows are maintenance windows; an action without one may run at
	// any time.
	Windows map[Action]Window
}

// Validate checks the configuration; each error names its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.MaxSite < 0 {
		bad("MaxSite", "must be 0 (unlimited) or more, got %d", c.MaxSite)
	}
	for _, a := range slices.Sorted(maps.Keys(c.MaxPerAction)) {
		if n := c.MaxPerAction[a]; n < 0 {
			bad(fmt.Sprintf("MaxPerAction[%s]", a), "must be 0 (unlimited) or more, got %d", n)
		}
	}
	if c.MaxPerRack < 0 {
		bad("MaxPerRack", "must be 0 (unlimited) or more, got %d", c.MaxPerRack)
	}
	if c.Breaker.Window < 0 {
		bad("Breaker.Window", "must be 0 (disabled) or more, got %d", c.Breaker.Window)
	}
	// Checked even when the breaker is disabled, so a percentage typed
	// as 50 is caught before someone enables it. Written so NaN fails.
	if f := c.Breaker.MaxFailed; (c.Breaker.Window > 0 || f != 0) && !(f > 0 && f <= 1) {
		bad("Breaker.MaxFailed", "must be a fraction in (0,1], e.g. 0.5 for 50%%, got %g", f)
	}
	for _, a := range slices.Sorted(maps.Keys(c.Windows)) {
		if _, _, err := c.Windows[a].bounds(); err != nil {
			bad(fmt.Sprintf("Windows[%s]", a), "%v", err)
		}
	}
	return errors.Join(errs...)
}

// Job is a job as the policies see it. Rack is the rack of its machine
// when the job was recorded; running jobs are counted by it.
type Job struct {
	ID        int64
	Action    Action
	MachineID int64
	Rack      string
}

// Machine is the queued job's machine as the policies see it.
type Machine struct {
	ID               int64
	Rack             string
	Frozen           bool
	FrozenReason     string
	RackFrozen       bool
	RackFrozenReason string
}

// State is the engine's snapshot when it evaluates the queue.
type State struct {
	Now     time.Time
	Running []Job                  // jobs running right now
	Paused  map[Action]PausedQueue // queues paused by the breaker or a technician
}

// PausedQueue says who paused an action's queue, when and why.
type PausedQueue struct {
	Since  time.Time
	By     string // "the failure-rate breaker", or a technician's name
	Reason string
}

// Verdict is what happens to a queued job.
type Verdict int

// Verdicts start at 1 so a zero Decision never means Run.
const (
	Run    Verdict = iota + 1 // start the job
	Wait                      // keep it queued
	Refuse                    // fail the job with the reason
)

func (v Verdict) String() string {
	switch v {
	case Run:
		return "run"
	case Wait:
		return "wait"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Decision is a verdict and its reason; Reason is empty for Run and starts
// with "waiting: " or "refused: " otherwise.
type Decision struct {
	Verdict Verdict
	Reason  string
}

func wait(format string, args ...any) Decision {
	return Decision{Wait, "waiting: " + fmt.Sprintf(format, args...)}
}

func refuse(format string, args ...any) Decision {
	return Decision{Refuse, "refused: " + fmt.Sprintf(format, args...)}
}

// rackOf is the rack a job counts against: its machine's current rack,
// or the job's own when the machine record has none.
func rackOf(j Job, m Machine) string {
	if m.Rack != "" {
		return m.Rack
	}
	return j.Rack
}

// Decide says whether one queued job may start now; see the package
// comment for the order of the checks.
func Decide(c Config, s State, j Job, m Machine) Decision {
	rack := rackOf(j, m)
	if m.Frozen {
		return refuse("machine is frozen%s", because(m.FrozenReason))
	}
	if m.RackFrozen {
		name := "the machine's rack"
		if rack != "" {
			name = "rack " + rack
		}
		return refuse("%s is frozen%s", name, because(m.RackFrozenReason))
	}
	if p, ok := s.Paused[j.Action]; ok {
		var b strings.Builder
		fmt.Fprintf(&b, "%s queue paused", j.Action)
		if !p.Since.IsZero() {
			fmt.Fprintf(&b, " since %s", p.Since.UTC().Format(time.RFC3339))
		}
		if p.By != "" {
			fmt.Fprintf(&b, " by %s", p.By)
		}
		if p.Reason != "" {
			fmt.Fprintf(&b, " (%s)", p.Reason)
		}
		return wait("%s", b.String())
	}
	if w, ok := c.Windows[j.Action]; ok && !w.Contains(s.Now) {
		if _, _, err := w.bounds(); err != nil {
			// Never open; say so rather than promise a time.
			return wait("the maintenance window for %s is invalid (%v); fix the configuration", j.Action, err)
		}
		return wait("outside the maintenance window for %s (%s UTC); next opens %s",
			j.Action, w, w.NextOpen(s.Now).Format(time.RFC3339))
	}
	if c.MaxSite > 0 && len(s.Running) >= c.MaxSite {
		return wait("%s already running on the site (limit %d)", describe(s.Running), c.MaxSite)
	}
	if n := c.MaxPerAction[j.Action]; n > 0 {
		if same := filter(s.Running, func(r Job) bool { return r.Action == j.Action }); len(same) >= n {
			return wait("%s already running (limit %d for %s)", describe(same), n, j.Action)
		}
	}
	if c.MaxPerRack > 0 && rack != "" {
		if inRack := filter(s.Running, func(r Job) bool { return r.Rack == rack }); len(inRack) >= c.MaxPerRack {
			return wait("%s already running in rack %s (limit %d)", describe(inRack), rack, c.MaxPerRack)
		}
	}
	return Decision{Verdict: Run}
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

func filter(jobs []Job, keep func(Job) bool) []Job {
	var out []Job
	for _, j := range jobs {
		if keep(j) {
			out = append(out, j)
		}
	}
	return out
}

// describe renders running jobs as "2 install jobs", or, when actions are
// mixed, "4 jobs (3 install, 1 power)": most common first.
func describe(jobs []Job) string {
	count := map[Action]int{}
	for _, j := range jobs {
		count[j.Action]++
	}
	if len(count) == 1 {
		for a, n := range count {
			return plural(n, string(a)+" job")
		}
	}
	actions := slices.SortedFunc(maps.Keys(count), func(a, b Action) int {
		return cmp.Or(cmp.Compare(count[b], count[a]), cmp.Compare(a, b))
	})
	parts := make([]string, len(actions))
	for i, a := range actions {
		parts[i] = fmt.Sprintf("%d %s", count[a], a)
	}
	return fmt.Sprintf("%s (%s)", plural(len(jobs), "job"), strings.Join(parts, ", "))
}

// Schedule walks the queue in order, oldest first, and decides each job.
// A job it admits counts as running for the rest of the pass, so the
// limits hold for everything it admits together; an earlier job that has
// to wait does not hold back a later one that fits. Machines missing
// from machines are treated as not frozen, in the job's rack.
func Schedule(c Config, s State, queue []Job, machines map[int64]Machine) []Decision {
	// Our own copy: appending must never write into the caller's array.
	s.Running = slices.Clone(s.Running)
	out := make([]Decision, len(queue))
	for i, j := range queue {
		m, ok := machines[j.MachineID]
		if !ok {
			m = Machine{ID: j.MachineID}
		}
		out[i] = Decide(c, s, j, m)
		if out[i].Verdict == Run {
			j.Rack = rackOf(j, m)
			s.Running = append(s.Running, j)
		}
	}
	return out
}
