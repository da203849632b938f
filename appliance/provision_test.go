package appliance

import (
	"strings"
	"testing"
)

func TestParseClass(t *testing.T) {
	for _, tc := range []struct {
		class string
		want  ClassSpec
		ok    bool
	}{
		{"2x16c-256g-2xnvme960", ClassSpec{2, 16, 256}, true},
		{"1x4c-8g", ClassSpec{1, 4, 8}, true},
		{"1x2c-1g-1xhdd2", ClassSpec{1, 2, 1}, true},
		{"junk", ClassSpec{}, false},
		{"2x16-256g", ClassSpec{}, false},
		{"2x16c-256", ClassSpec{}, false},
	} {
		got, ok := ParseClass(tc.class)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseClass(%q) = %+v, %v", tc.class, got, ok)
		}
	}
}

func TestPickMachines(t *testing.T) {
	ready := []Machine{
		{ID: 1, State: StateReady, Class: "2x32c-512g"},
		{ID: 2, State: StateReady, Class: "1x8c-64g"},
		{ID: 3, State: StateReady, Class: "2x16c-256g-2xnvme960"},
		{ID: 4, State: StateReady, Class: "2x16c-256g-2xnvme960"},
		{ID: 5, State: StateDeployed, Class: "2x16c-256g-2xnvme960"},
		{ID: 6, State: StateReady, Class: "1x16c-128g"},
	}
	ids := func(ms []Machine) string {
		var s []string
		for _, m := range ms {
			s = append(s, string(rune('0'+m.ID)))
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		name      string
		spec      ProvisionSpec
		need      int
		want      string
		shortWant string
	}{
		{"by class", ProvisionSpec{Class: "2x16c-256g-2xnvme960"}, 2, "3,4", ""},
		{"by class, short", ProvisionSpec{Class: "2x16c-256g-2xnvme960"}, 3, "3,4", "need 3 more, 2 ready"},
		{"best fit by spec", ProvisionSpec{MinCores: 16, MinMemoryGiB: 128}, 2, "6,3", ""},
		{"spec excludes small", ProvisionSpec{MinCores: 40}, 5, "1", "at least 40 cores"},
		{"nothing fits", ProvisionSpec{Class: "9x9c-9g"}, 1, "", "class 9x9c-9g"},
	} {
		got, short := PickMachines(tc.spec, ready, tc.need)
		if ids(got) != tc.want || (tc.shortWant == "") != (short == "") || !strings.Contains(short, tc.shortWant) {
			t.Errorf("%s: picked %s (%q), want %s (%q)", tc.name, ids(got), short, tc.want, tc.shortWant)
		}
	}
}

func TestExpandHostname(t *testing.T) {
	for _, tc := range []struct {
		pattern, role string
		n             int
		want          string
		ok            bool
	}{
		{"fancydb-{n:02}", "fancydb", 3, "fancydb-03", true},
		{"{role}-{n}", "web", 12, "web-12", true},
		{"", "db", 1, "db-01", true},
		{"node{n:03}.lon1", "x", 7, "node007.lon1", true},
		{"fixed", "x", 1, "", false},
		{"bad_{n}", "x", 1, "", false},
		{"-{n}", "x", 1, "", false},
	} {
		got, err := ExpandHostname(tc.pattern, tc.n, tc.role)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ExpandHostname(%q, %d) = %q, %v", tc.pattern, tc.n, got, err)
		}
	}
}

func TestJobIntentConflict(t *testing.T) {
	for _, tc := range []struct {
		m        Machine
		action   JobAction
		busy     int64
		conflict bool
	}{
		{Machine{State: StateReady}, ActionInstall, 0, false},
		{Machine{State: StateFrozen, StateReason: "audit"}, ActionInstall, 0, true},
		{Machine{State: StateBroken}, ActionInstall, 0, true},
		{Machine{State: StateBroken}, ActionRecycle, 0, false},
		{Machine{State: StateReady}, ActionPower, 9, true},
	} {
		why, c := JobIntentConflict(tc.m, tc.action, tc.busy)
		if c != tc.conflict || c && why == "" {
			t.Errorf("%+v %s busy %d: %v %q", tc.m.State, tc.action, tc.busy, c, why)
		}
	}
}
