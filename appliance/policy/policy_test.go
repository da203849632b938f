package policy

import (
	"math"
	"strings"
	"testing"
	"time"
)

func running(spec ...string) []Job {
	// spec is action@rack pairs, e.g. "install@r12".
	var jobs []Job
	for i, s := range spec {
		a, r, _ := strings.Cut(s, "@")
		jobs = append(jobs, Job{ID: int64(900 + i), Action: Action(a), MachineID: int64(500 + i), Rack: r})
	}
	return jobs
}

func TestDecide(t *testing.T) {
	cfg := Config{
		MaxSite:      4,
		MaxPerAction: map[Action]int{"install": 2},
		MaxPerRack:   2,
		Windows:      map[Action]Window{"recycle": {weekdays, "22:00", "06:00"}},
	}
	breaker := map[Action]PausedQueue{"install": {
		Since:  time.Date(2026, 11, 22, 11, 0, 0, 0, time.FixedZone("CET", 3600)),
		By:     "the failure-rate breaker",
		Reason: "6 of the last 10 install jobs failed, limit 50%",
	}}
	monday := at(23, 10, 0) // outside the recycle window
	night := at(23, 23, 0)  // inside it
	install := Job{ID: 1, Action: "install", MachineID: 7, Rack: "r12"}
	recycle := Job{ID: 2, Action: "recycle", MachineID: 7, Rack: "r12"}
	power := Job{ID: 3, Action: "power", MachineID: 7, Rack: "r12"}
	m := Machine{ID: 7, Rack: "r12"}
	frozen := Machine{ID: 7, Rack: "r12", Frozen: true, FrozenReason: "cabling audit"}
	rackFrozen := Machine{ID: 7, Rack: "r12", RackFrozen: true, RackFrozenReason: "PDU swap"}
	both := Machine{ID: 7, Rack: "r12", Frozen: true, FrozenReason: "cabling audit", RackFrozen: true, RackFrozenReason: "PDU swap"}
	full := running("install@r12", "install@r12", "power@r12", "recycle@r12")

	for _, c := range []struct {
		name   string
		cfg    Config
		s      State
		j      Job
		m      Machine
		want   Verdict
		reason string
	}{
		{"nothing in the way", cfg, State{Now: monday}, install, m, Run, ""},
		{"zero config limits nothing", Config{}, State{Now: monday, Running: running("install@r12", "install@r12", "install@r12", "power@r12", "power@r12")}, install, m, Run, ""},

		// 1. frozen machine
		{"frozen machine", cfg, State{Now: monday}, install, frozen, Refuse, "refused: machine is frozen: cabling audit"},
		{"frozen machine without reason", cfg, State{Now: monday}, install, Machine{ID: 7, Frozen: true}, Refuse, "refused: machine is frozen"},
		{"frozen machine before frozen rack and everything else", cfg, State{Now: monday, Running: full, Paused: breaker}, install, both, Refuse, "refused: machine is frozen: cabling audit"},

		// 2. frozen rack
		{"frozen rack", cfg, State{Now: monday}, install, rackFrozen, Refuse, "refused: rack r12 is frozen: PDU swap"},
		{"frozen rack without reason", cfg, State{Now: monday}, install, Machine{Rack: "r3", RackFrozen: true}, Refuse, "refused: rack r3 is frozen"},
		{"frozen rack, rack unknown", cfg, State{Now: monday}, Job{Action: "install"}, Machine{RackFrozen: true, RackFrozenReason: "PDU swap"}, Refuse, "refused: the machine's rack is frozen: PDU swap"},
		{"frozen rack before pause, window and limits", cfg, State{Now: monday, Running: full, Paused: map[Action]PausedQueue{"recycle": {By: "alice"}}}, recycle, rackFrozen, Refuse, "refused: rack r12 is frozen: PDU swap"},

		// 3. paused queue
		{"paused by the breaker", cfg, State{Now: monday, Paused: breaker}, install, m, Wait,
			"waiting: install queue paused since 2026-11-22T10:00:00Z by the failure-rate breaker (6 of the last 10 install jobs failed, limit 50%)"},
		{"paused by a technician", cfg, State{Now: monday, Paused: map[Action]PausedQueue{"install": {By: "alice", Reason: "firmware rollout"}}}, install, m, Wait,
			"waiting: install queue paused by alice (firmware rollout)"},
		{"paused, nothing said", cfg, State{Now: monday, Paused: map[Action]PausedQueue{"power": {}}}, power, m, Wait, "waiting: power queue paused"},
		{"pause of another action", cfg, State{Now: monday, Paused: breaker}, power, m, Run, ""},
		{"paused before window and limits", cfg, State{Now: monday, Running: full, Paused: map[Action]PausedQueue{"recycle": {Since: at(22, 10, 0), By: "bob"}}}, recycle, m, Wait,
			"waiting: recycle queue paused since 2026-11-22T10:00:00Z by bob"},

		// 4. maintenance window
		{"outside the window", cfg, State{Now: monday}, recycle, m, Wait,
			"waiting: outside the maintenance window for recycle (Mon-Fri 22:00-06:00 UTC); next opens 2026-11-23T22:00:00Z"},
		{"outside the window on Saturday", cfg, State{Now: at(28, 6, 0)}, recycle, m, Wait,
			"waiting: outside the maintenance window for recycle (Mon-Fri 22:00-06:00 UTC); next opens 2026-11-30T22:00:00Z"},
		{"inside the window", cfg, State{Now: night}, recycle, m, Run, ""},
		{"inside the window's part after midnight", cfg, State{Now: at(28, 5, 0)}, recycle, m, Run, ""},
		{"no window means any time", cfg, State{Now: at(29, 12, 0)}, install, m, Run, ""},
		{"window before limits", cfg, State{Now: monday, Running: full}, recycle, m, Wait,
			"waiting: outside the maintenance window for recycle (Mon-Fri 22:00-06:00 UTC); next opens 2026-11-23T22:00:00Z"},
		{"invalid window holds jobs", Config{Windows: map[Action]Window{"recycle": {Days: weekdays, Start: "22:00"}}}, State{Now: monday}, recycle, m, Wait,
			`waiting: the maintenance window for recycle is invalid (end: "" is not HH:MM); fix the configuration`},

		// 5. site limit
		{"site limit", cfg, State{Now: night, Running: running("recycle@r1", "install@r2", "recycle@r3", "power@r4")}, recycle, m, Wait,
			"waiting: 4 jobs (2 recycle, 1 install, 1 power) already running on the site (limit 4)"},
		{"site limit, one action", Config{MaxSite: 1}, State{Now: monday, Running: running("power@r1")}, install, m, Wait,
			"waiting: 1 power job already running on the site (limit 1)"},
		{"site limit before action limit", cfg, State{Now: monday, Running: running("install@r1", "install@r2", "power@r3", "power@r4")}, install, m, Wait,
			"waiting: 4 jobs (2 install, 2 power) already running on the site (limit 4)"},
		{"below site limit", cfg, State{Now: monday, Running: running("power@r1", "power@r2", "power@r3")}, install, m, Run, ""},

		// 6. action limit
		{"action limit", cfg, State{Now: monday, Running: running("install@r1", "install@r2")}, install, m, Wait,
			"waiting: 2 install jobs already running (limit 2 for install)"},
		{"action limit before rack limit", cfg, State{Now: monday, Running: running("install@r12", "install@r12")}, install, m, Wait,
			"waiting: 2 install jobs already running (limit 2 for install)"},
		{"other actions do not count", cfg, State{Now: monday, Running: running("install@r1", "power@r2", "power@r3")}, install, m, Run, ""},
		{"action without a limit", cfg, State{Now: monday, Running: running("power@r1", "power@r2", "power@r3")}, power, m, Run, ""},

		// 7. rack limit
		{"rack limit, same action", Config{MaxPerAction: map[Action]int{"install": 3}, MaxPerRack: 2}, State{Now: monday, Running: running("install@r12", "install@r12")}, install, m, Wait,
			"waiting: 2 install jobs already running in rack r12 (limit 2)"},
		{"rack limit counts every action", cfg, State{Now: monday, Running: running("install@r12", "recycle@r12")}, power, m, Wait,
			"waiting: 2 jobs (1 install, 1 recycle) already running in rack r12 (limit 2)"},
		{"other racks do not count", cfg, State{Now: monday, Running: running("power@r11", "power@r13", "install@r12")}, power, m, Run, ""},
		{"no rack: not limited", cfg, State{Now: monday, Running: running("power", "power", "power")}, power, Machine{ID: 7}, Run, ""},
		{"no rack: running jobs without rack not counted", cfg, State{Now: monday, Running: running("power", "power", "power@r12")}, Job{Action: "power", MachineID: 7}, m, Run, ""},
		{"machine has no rack: the job's rack counts", cfg, State{Now: monday, Running: running("power@r9", "power@r9")}, Job{Action: "power", Rack: "r9"}, Machine{}, Wait,
			"waiting: 2 power jobs already running in rack r9 (limit 2)"},
		{"the machine's rack wins over the job's", cfg, State{Now: monday, Running: running("power@r9", "power@r9")}, Job{Action: "power", Rack: "r9"}, Machine{Rack: "r10"}, Run, ""},
	} {
		got := Decide(c.cfg, c.s, c.j, c.m)
		if got.Verdict != c.want || got.Reason != c.reason {
			t.Errorf("%s:\n got %v %q\nwant %v %q", c.name, got.Verdict, got.Reason, c.want, c.reason)
		}
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{0: "Verdict(0)", Run: "run", Wait: "wait", Refuse: "refuse", 4: "Verdict(4)"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(v), got, want)
		}
	}
	if (Decision{}).Verdict == Run {
		t.Error("a zero Decision must not mean Run")
	}
}

func TestValidate(t *testing.T) {
	good := Config{
		MaxSite:      4,
		MaxPerAction: map[Action]int{"install": 3, "power": 0},
		MaxPerRack:   2,
		Breaker:      BreakerConfig{Window: 10, MaxFailed: 0.5},
		Windows:      map[Action]Window{"recycle": {weekdays, "22:00", "06:00"}},
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"zero config", func(c *Config) { *c = Config{} }, ""},
		{"good config", func(*Config) {}, ""},
		{"MaxFailed 1", func(c *Config) { c.Breaker.MaxFailed = 1 }, ""},
		{"disabled breaker with a valid fraction", func(c *Config) { c.Breaker.Window = 0 }, ""},
		{"negative site", func(c *Config) { c.MaxSite = -1 }, "MaxSite: must be 0 (unlimited) or more, got -1"},
		{"negative action", func(c *Config) { c.MaxPerAction["recycle"] = -2 }, "MaxPerAction[recycle]: must be 0 (unlimited) or more, got -2"},
		{"negative rack", func(c *Config) { c.MaxPerRack = -3 }, "MaxPerRack: must be 0 (unlimited) or more, got -3"},
		{"negative breaker window", func(c *Config) { c.Breaker.Window = -1 }, "Breaker.Window: must be 0 (disabled) or more, got -1"},
		{"MaxFailed 0", func(c *Config) { c.Breaker.MaxFailed = 0 }, "Breaker.MaxFailed: must be a fraction in (0,1], e.g. 0.5 for 50%, got 0"},
		{"MaxFailed as a percentage", func(c *Config) { c.Breaker.MaxFailed = 50 }, "Breaker.MaxFailed: must be a fraction in (0,1], e.g. 0.5 for 50%, got 50"},
		{"MaxFailed as a percentage, breaker disabled", func(c *Config) { c.Breaker = BreakerConfig{MaxFailed: 50} }, "Breaker.MaxFailed: must be a fraction in (0,1], e.g. 0.5 for 50%, got 50"},
		{"MaxFailed negative", func(c *Config) { c.Breaker.MaxFailed = -0.1 }, "Breaker.MaxFailed: must be a fraction in (0,1], e.g. 0.5 for 50%, got -0.1"},
		{"MaxFailed NaN", func(c *Config) { c.Breaker.MaxFailed = math.NaN() }, "Breaker.MaxFailed: must be a fraction in (0,1], e.g. 0.5 for 50%, got NaN"},
		{"window without days", func(c *Config) { c.Windows["install"] = Window{Start: "01:00", End: "02:00"} }, "Windows[install]: no days"},
		{"window with a bad day", func(c *Config) { c.Windows["install"] = Window{[]time.Weekday{9}, "01:00", "02:00"} }, "Windows[install]: day 9 is not a weekday (0 = Sunday .. 6 = Saturday)"},
		{"window with a bad start", func(c *Config) { c.Windows["install"] = Window{weekend, "1:00", "02:00"} }, `Windows[install]: start: "1:00" is not HH:MM`},
		{"window with equal ends", func(c *Config) { c.Windows["install"] = Window{weekend, "02:00", "02:00"} }, "Windows[install]: start and end are both 02:00; use 00:00-24:00 for a whole day"},
		{"every error, in field order", func(c *Config) {
			c.MaxSite, c.MaxPerRack = -1, -1
			c.MaxPerAction["b"], c.MaxPerAction["a"] = -1, -1
			c.Windows["power"] = Window{}
		}, "MaxSite: must be 0 (unlimited) or more, got -1\n" +
			"MaxPerAction[a]: must be 0 (unlimited) or more, got -1\n" +
			"MaxPerAction[b]: must be 0 (unlimited) or more, got -1\n" +
			"MaxPerRack: must be 0 (unlimited) or more, got -1\n" +
			"Windows[power]: no days"},
	} {
		c2 := good
		c2.MaxPerAction = map[Action]int{"install": 3, "power": 0}
		c2.Windows = map[Action]Window{"recycle": {weekdays, "22:00", "06:00"}}
		c.edit(&c2)
		err := c2.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s: Validate() = %q, want %q", c.name, got, c.want)
		}
	}
}
