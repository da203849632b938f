package policy

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// count returns how many jobs match.
func count(jobs []Job, keep func(Job) bool) int {
	return len(filter(jobs, keep))
}

// checkLimits fails if the running set breaks any limit of cfg.
func checkLimits(t *testing.T, cfg Config, run []Job) {
	t.Helper()
	if cfg.MaxSite > 0 && len(run) > cfg.MaxSite {
		t.Errorf("%d jobs running on the site, limit %d", len(run), cfg.MaxSite)
	}
	for a, n := range cfg.MaxPerAction {
		if got := count(run, func(j Job) bool { return j.Action == a }); n > 0 && got > n {
			t.Errorf("%d %s jobs running, limit %d", got, a, n)
		}
	}
	for _, r := range []string{"r1", "r2", "r3"} {
		if got := count(run, func(j Job) bool { return j.Rack == r }); cfg.MaxPerRack > 0 && got > cfg.MaxPerRack {
			t.Errorf("%d jobs running in rack %s, limit %d", got, r, cfg.MaxPerRack)
		}
	}
}

func TestScheduleInstallQueue(t *testing.T) {
	cfg := Config{MaxSite: 4, MaxPerAction: map[Action]int{"install": 3}, MaxPerRack: 2}
	racks := map[int64]string{101: "r1", 102: "r1", 103: "r2", 104: "r2", 105: "r3", 106: "r3", 107: "r1", 108: "r2", 109: "r3", 110: "r3"}
	machines := map[int64]Machine{}
	var queue []Job
	for id := int64(101); id <= 110; id++ {
		machines[id] = Machine{ID: id, Rack: racks[id]}
		queue = append(queue, Job{ID: id, Action: "install", MachineID: id, Rack: racks[id]})
	}
	machines[103] = Machine{ID: 103, Rack: "r2", Frozen: true, FrozenReason: "disk swap"}
	old := []Job{
		{ID: 1, Action: "install", MachineID: 1, Rack: "r1"},
		{ID: 2, Action: "power", MachineID: 2, Rack: "r3"},
	}
	const (
		rackR1 = "waiting: 2 install jobs already running in rack r1 (limit 2)"
		frozen = "refused: machine is frozen: disk swap"
		site   = "waiting: 4 jobs (3 install, 1 power) already running on the site (limit 4)"
		action = "waiting: 3 install jobs already running (limit 3 for install)"
	)

	// pass runs Schedule, checks the decisions and returns the jobs running
	// afterwards, as the engine would start them.
	pass := func(name string, run []Job, queue []Job, want []Decision) []Job {
		t.Helper()
		got := Schedule(cfg, State{Now: at(23, 10, 0), Running: run}, queue, machines)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:", name)
			for i := range max(len(got), len(want)) {
				var g, w Decision
				if i < len(got) {
					g = got[i]
				}
				if i < len(want) {
					w = want[i]
				}
				mark := " "
				if g != w {
					mark = "!"
				}
				t.Errorf("%s job %d: got %v %q, want %v %q", mark, 101+i, g.Verdict, g.Reason, w.Verdict, w.Reason)
			}
		}
		after := slices.Clone(run)
		for i, d := range got {
			if d.Verdict == Run {
				after = append(after, queue[i])
			}
		}
		checkLimits(t, cfg, after)
		return after
	}

	// Site 2/4, install 1/3, r1 1/2, r3 1/2. 101 fills r1; 102 must wait
	// for r1 but 104 behind it fits; then the site is full.
	run := pass("first pass", old, queue, []Decision{
		{Run, ""},      // 101 r1
		{Wait, rackR1}, // 102 r1
		{Refuse, frozen},
		{Run, ""},    // 104 r2
		{Wait, site}, // 105 r3
		{Wait, site},
		{Wait, site},
		{Wait, site},
		{Wait, site},
		{Wait, site},
	})
	if want := []int64{1, 2, 101, 104}; !slices.Equal(ids(run), want) {
		t.Fatalf("running after the first pass: %v, want %v", ids(run), want)
	}

	// The power job finishes: a site slot frees up, but install is at its
	// limit, which now is the reason.
	run = slices.DeleteFunc(run, func(j Job) bool { return j.ID == 2 })
	left := []Job{queue[1], queue[4], queue[5], queue[6], queue[7], queue[8], queue[9]}
	run = pass("after the power job", run, left, []Decision{
		{Wait, action}, {Wait, action}, {Wait, action}, {Wait, action}, {Wait, action}, {Wait, action}, {Wait, action},
	})

	// The old install in r1 finishes: 102, first in line, takes the slot.
	run = slices.DeleteFunc(run, func(j Job) bool { return j.ID == 1 })
	run = pass("after the old install", run, left, []Decision{
		{Run, ""},
		{Wait, action}, {Wait, action}, {Wait, action}, {Wait, action}, {Wait, action}, {Wait, action},
	})
	if want := []int64{101, 104, 102}; !slices.Equal(ids(run), want) {
		t.Fatalf("running after the third pass: %v, want %v", ids(run), want)
	}
}

func ids(jobs []Job) []int64 {
	var out []int64
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func TestScheduleDoesNotTouchRunning(t *testing.T) {
	backing := make([]Job, 1, 10)
	backing[0] = Job{ID: 1, Action: "power", Rack: "r1"}
	s := State{Now: at(23, 10, 0), Running: backing}
	queue := []Job{{ID: 2, Action: "install", MachineID: 2}, {ID: 3, Action: "install", MachineID: 3}}
	Schedule(Config{}, s, queue, nil)
	if len(s.Running) != 1 || backing[:2][1] != (Job{}) {
		t.Fatalf("Schedule wrote into the caller's Running: %v", backing[:3])
	}
}

func TestScheduleMissingMachine(t *testing.T) {
	cfg := Config{MaxPerRack: 1}
	queue := []Job{
		{ID: 1, Action: "install", MachineID: 1, Rack: "r1"},
		{ID: 2, Action: "install", MachineID: 2, Rack: "r1"},
	}
	got := Schedule(cfg, State{Now: at(23, 10, 0)}, queue, nil)
	want := []Decision{{Run, ""}, {Wait, "waiting: 1 install job already running in rack r1 (limit 1)"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Schedule = %v, want %v", got, want)
	}
}

// TestScheduleInvariants replays random passes against an independent,
// step-by-step model: frozen machines and racks are refused and nothing
// else is; a job runs exactly when nothing holds it back given the jobs
// admitted before it; a wait names the first rule that holds, with the
// count at that point; and the limits hold afterwards.
func TestScheduleInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 11))
	actions := []Action{"install", "recycle", "power"}
	racks := []string{"", "r1", "r2", "r3"}
	night := Window{weekdays, "22:00", "06:00"}
	weekends := Window{weekend, "00:00", "24:00"}
	seen := map[string]int{}

	for n := range 4000 {
		cfg := Config{
			MaxSite:      rng.IntN(7),
			MaxPerAction: map[Action]int{},
			MaxPerRack:   rng.IntN(4),
			Windows:      map[Action]Window{},
		}
		for _, a := range actions {
			if rng.IntN(3) > 0 {
				cfg.MaxPerAction[a] = rng.IntN(4)
			}
		}
		if rng.IntN(3) == 0 {
			cfg.Windows["recycle"] = night
		}
		if rng.IntN(4) == 0 {
			cfg.Windows["power"] = weekends
		}
		s := State{Now: at(22, 0, 0).Add(time.Duration(rng.Int64N(int64(14 * 24 * time.Hour)))), Paused: map[Action]PausedQueue{}}
		for _, a := range actions {
			if rng.IntN(8) == 0 {
				s.Paused[a] = PausedQueue{Since: s.Now.Add(-time.Hour), By: "the failure-rate breaker"}
			}
		}
		rackFrozen := map[string]bool{}
		for _, r := range racks[1:] {
			rackFrozen[r] = rng.IntN(10) == 0
		}
		// Machine 16 has no record.
		machines := map[int64]Machine{}
		for id := int64(1); id <= 15; id++ {
			r := racks[rng.IntN(len(racks))]
			machines[id] = Machine{ID: id, Rack: r, Frozen: rng.IntN(10) == 0, RackFrozen: rackFrozen[r]}
		}
		job := func(id int64) Job {
			mid := 1 + rng.Int64N(16)
			r := machines[mid].Rack
			if rng.IntN(4) == 0 {
				r = racks[rng.IntN(len(racks))]
			}
			return Job{ID: id, Action: actions[rng.IntN(len(actions))], MachineID: mid, Rack: r}
		}
		for i := range rng.IntN(8) {
			s.Running = append(s.Running, job(int64(1000+i)))
		}
		var queue []Job
		for i := range rng.IntN(16) {
			queue = append(queue, job(int64(i)))
		}
		before := slices.Clone(s.Running)

		got := Schedule(cfg, s, queue, machines)

		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("case %d: %s\nconfig %+v\nnow %v paused %v\nrunning %v\nqueue %v\nmachines %v\ndecisions %v",
				n, fmt.Sprintf(format, args...), cfg, s.Now, s.Paused, before, queue, machines, got)
		}
		if len(got) != len(queue) {
			fail("%d decisions for %d jobs", len(got), len(queue))
		}
		if !reflect.DeepEqual(s.Running, before) {
			fail("Schedule changed the caller's Running")
		}
		run := slices.Clone(s.Running)
		admitted := map[string]bool{} // scopes that got a job this pass
		for i, j := range queue {
			d := got[i]
			m := machines[j.MachineID]
			rack := j.Rack
			if m.Rack != "" {
				rack = m.Rack
			}
			if frozen := m.Frozen || m.RackFrozen; frozen != (d.Verdict == Refuse) {
				fail("job %d (machine %+v): frozen=%v but %v %q", i, m, frozen, d.Verdict, d.Reason)
			} else if frozen {
				if !strings.HasPrefix(d.Reason, "refused: ") || !strings.Contains(d.Reason, "is frozen") {
					fail("job %d: refusal reason %q", i, d.Reason)
				}
				seen["refuse"]++
				continue
			}
			inAction := count(run, func(r Job) bool { return r.Action == j.Action })
			inRack := count(run, func(r Job) bool { return r.Rack == rack })
			w, hasWindow := cfg.Windows[j.Action]
			_, paused := s.Paused[j.Action]
			limit := cfg.MaxPerAction[j.Action]
			type rule struct {
				name  string
				holds bool
				in    string // how the reason starts
			}
			rules := []rule{
				{"paused", paused, fmt.Sprintf("waiting: %s queue paused since ", j.Action)},
				{"window", hasWindow && !w.Contains(s.Now), "waiting: outside the maintenance window for " + string(j.Action)},
				{"site", cfg.MaxSite > 0 && len(run) >= cfg.MaxSite, fmt.Sprintf("waiting: %d ", len(run))},
				{"action", limit > 0 && inAction >= limit, fmt.Sprintf("waiting: %d %s job", inAction, j.Action)},
				{"rack", cfg.MaxPerRack > 0 && rack != "" && inRack >= cfg.MaxPerRack, fmt.Sprintf("waiting: %d ", inRack)},
			}
			suffix := map[string]string{
				"site":   fmt.Sprintf(" on the site (limit %d)", cfg.MaxSite),
				"action": fmt.Sprintf(" already running (limit %d for %s)", limit, j.Action),
				"rack":   fmt.Sprintf(" in rack %s (limit %d)", rack, cfg.MaxPerRack),
			}
			i0 := slices.IndexFunc(rules, func(r rule) bool { return r.holds })
			if i0 < 0 {
				if d != (Decision{Verdict: Run}) {
					fail("job %d (%+v, rack %q): nothing holds it back, but %v %q", i, j, rack, d.Verdict, d.Reason)
				}
				j.Rack = rack
				run = append(run, j)
				admitted["site"] = true
				admitted["action "+string(j.Action)] = true
				admitted["rack "+rack] = true
				seen["run"]++
				continue
			}
			r := rules[i0]
			if d.Verdict != Wait || !strings.HasPrefix(d.Reason, r.in) || !strings.HasSuffix(d.Reason, suffix[r.name]) {
				fail("job %d (%+v, rack %q): want a wait for %s (%q...%q), got %v %q", i, j, rack, r.name, r.in, suffix[r.name], d.Verdict, d.Reason)
			}
			seen[r.name]++
		}

		// The limits hold wherever this pass admitted a job (jobs already
		// running may exceed a limit lowered since they started).
		if admitted["site"] && cfg.MaxSite > 0 && len(run) > cfg.MaxSite {
			fail("%d jobs running on the site, limit %d", len(run), cfg.MaxSite)
		}
		for _, a := range actions {
			if n, limit := count(run, func(r Job) bool { return r.Action == a }), cfg.MaxPerAction[a]; admitted["action "+string(a)] && limit > 0 && n > limit {
				fail("%d %s jobs running, limit %d", n, a, limit)
			}
		}
		for _, r := range racks[1:] {
			if n := count(run, func(x Job) bool { return x.Rack == r }); admitted["rack "+r] && cfg.MaxPerRack > 0 && n > cfg.MaxPerRack {
				fail("%d jobs running in rack %s, limit %d", n, r, cfg.MaxPerRack)
			}
		}
	}
	// The generator must exercise every outcome, or the test proves little.
	for _, k := range []string{"run", "refuse", "paused", "window", "site", "action", "rack"} {
		if seen[k] < 50 {
			t.Errorf("only %d %s outcomes in the random cases: %v", seen[k], k, seen)
		}
	}
}
