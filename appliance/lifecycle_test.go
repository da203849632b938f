package appliance

import (
	"strings"
	"testing"
)

func TestCheckTransition(t *testing.T) {
	type tr struct {
		from, frozenFrom, to State
		ok                   bool
		why                  string
	}
	var cases []tr
	// Every pair of states, with the expected verdict spelled out.
	legal := map[State][]State{
		StateDiscovered: {StateReady, StateBroken, StateFrozen},
		StateReady:      {StateAllocated, StateInstalling, StateRecycling, StateBroken, StateFrozen},
		StateAllocated:  {StateInstalling, StateReady, StateRecycling, StateBroken, StateFrozen},
		StateInstalling: {StateDeployed, StateRecycling, StateBroken, StateFrozen},
		StateDeployed:   {StateInstalling, StateRecycling, StateBroken, StateFrozen},
		StateRecycling:  {StateReady, StateBroken, StateFrozen},
		StateBroken:     {StateRecycling, StateReady, StateFrozen},
	}
	for from, tos := range legal {
		for _, to := range States() {
			ok := false
			for _, x := range tos {
				ok = ok || x == to
			}
			cases = append(cases, tr{from: from, to: to, ok: ok})
		}
	}
	cases = append(cases,
		tr{from: StateFrozen, frozenFrom: StateDeployed, to: StateDeployed, ok: true},
		tr{from: StateFrozen, frozenFrom: StateDeployed, to: StateReady, why: "unfreeze returns it to deployed"},
		tr{from: StateFrozen, frozenFrom: StateReady, to: StateBroken, why: "frozen"},
		tr{from: StateReady, to: StateReady, why: "already ready"},
		tr{from: StateDeployed, to: StateReady, why: "deployed machine cannot become ready"},
		tr{from: StateReady, to: StateDiscovered, why: "cannot return to discovered"},
		tr{from: StateReady, to: "exploded", why: `unknown state "exploded"`},
		tr{from: "weird", to: StateReady, why: `unknown state "weird"`},
	)
	for _, c := range cases {
		err := CheckTransition(c.from, c.frozenFrom, c.to)
		if c.ok != (err == nil) {
			t.Errorf("%s -> %s: err %v, want ok=%v", c.from, c.to, err, c.ok)
			continue
		}
		if err != nil && c.why != "" && !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s -> %s: %q does not say %q", c.from, c.to, err, c.why)
		}
		if err != nil && ErrorCode(err) == CodeInternal {
			t.Errorf("%s -> %s: uncoded error %v", c.from, c.to, err)
		}
	}
}
