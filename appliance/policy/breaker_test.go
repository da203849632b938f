package policy

import "testing"

// outcomes builds a history from a string, oldest first: 'x' failed,
// '.' succeeded.
func outcomes(s string) []bool {
	out := make([]bool, len(s))
	for i := range s {
		out[i] = s[i] == 'x'
	}
	return out
}

func TestTrips(t *testing.T) {
	half := BreakerConfig{Window: 10, MaxFailed: 0.5}
	for _, c := range []struct {
		name   string
		b      BreakerConfig
		recent string
		trips  bool
		reason string
	}{
		{"disabled", BreakerConfig{MaxFailed: 0.5}, "xxxxxxxxxx", false, "failure-rate breaker disabled"},
		{"nothing finished", half, "", false, "0 jobs finished, the breaker needs 10"},
		{"fewer than the window, all failed", half, "xxxxxxxxx", false, "9 jobs finished, the breaker needs 10"},
		{"one finished", half, "x", false, "1 job finished, the breaker needs 10"},
		{"none failed", half, "..........", false, "0 of the last 10 jobs failed, limit 50%"},
		{"exactly at the threshold", half, "x.x.x.x.x.", false, "5 of the last 10 jobs failed, limit 50%"},
		{"above the threshold", half, "xx.x.x.x.x", true, "6 of the last 10 jobs failed, limit 50%"},
		{"older failures fall out of the window", half, "xxxxx" + ".....xxxxx", false, "5 of the last 10 jobs failed, limit 50%"},
		{"only the most recent count", half, ".." + "x.xxx.x.xx", true, "7 of the last 10 jobs failed, limit 50%"},
		{"3 of 10 at 30% is not above", BreakerConfig{Window: 10, MaxFailed: 0.3}, "xxx.......", false, "3 of the last 10 jobs failed, limit 30%"},
		{"4 of 10 at 30%", BreakerConfig{Window: 10, MaxFailed: 0.3}, "xxx......x", true, "4 of the last 10 jobs failed, limit 30%"},
		{"100% never trips", BreakerConfig{Window: 4, MaxFailed: 1}, "xxxx", false, "4 of the last 4 jobs failed, limit 100%"},
		{"window of one", BreakerConfig{Window: 1, MaxFailed: 0.5}, ".x", true, "1 of the last 1 job failed, limit 50%"},
		{"fractional limit", BreakerConfig{Window: 3, MaxFailed: 0.333}, "x..", true, "1 of the last 3 jobs failed, limit 33.3%"},
	} {
		trips, reason := Trips(c.b, outcomes(c.recent))
		if trips != c.trips || reason != c.reason {
			t.Errorf("%s: Trips(%+v, %q) = %v, %q; want %v, %q", c.name, c.b, c.recent, trips, reason, c.trips, c.reason)
		}
	}
}
