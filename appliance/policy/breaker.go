package policy

import (
	"fmt"
	"math"
	"strconv"
)

// BreakerConfig is the failure-rate breaker of one action's queue: when
// too many of the last jobs failed, something systemic is wrong (a bad
// image, a broken switch) and running more only breaks more machines.
type BreakerConfig struct {
	// Window is how many of the most recent finished jobs of an action
	// are considered; 0 disables the breaker.
	Window int
	// MaxFailed is the failed fraction the breaker tolerates, in (0,1].
	// It trips only when failed/Window is strictly greater.
	MaxFailed float64
}

// Trips says whether the breaker trips, given an action's finished
// outcomes, most recent last (true = failed). It never trips before
// Window jobs have finished, so one early failure cannot pause a queue.
// The reason gives the counts either way, for logs; when it trips it is
// meant for PausedQueue.Reason.
func Trips(b BreakerConfig, recentFailed []bool) (bool, string) {
	if b.Window <= 0 {
		return false, "failure-rate breaker disabled"
	}
	if len(recentFailed) < b.Window {
		return false, fmt.Sprintf("%s finished, the breaker needs %d", plural(len(recentFailed), "job"), b.Window)
	}
	failed := 0
	for _, f := range recentFailed[len(recentFailed)-b.Window:] {
		if f {
			failed++
		}
	}
	reason := fmt.Sprintf("%d of the last %s failed, limit %s", failed, plural(b.Window, "job"), percent(b.MaxFailed))
	// Dividing rounds the same way the configured decimal was parsed, so
	// exactly 3 of 10 against 0.3 does not trip.
	return float64(failed)/float64(b.Window) > b.MaxFailed, reason
}

// percent renders a fraction as a percentage with at most one decimal.
func percent(f float64) string {
	return strconv.FormatFloat(math.Round(f*1000)/10, 'f', -1, 64) + "%"
}

// plural renders "1 job", "2 jobs".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
