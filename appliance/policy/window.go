package policy

import (
	"fmt"
	"strings"
	"time"
)

// Window is a weekly maintenance window in UTC. Start and End are "HH:MM";
// End may be "24:00". When End is before Start the window crosses midnight
// and the part after midnight belongs to the day it started: "Fri
// 22:00-06:00" is open from Friday 22:00 to Saturday 06:00. Start is
// inclusive, End exclusive.
//
// A Window that fails Config.Validate is never open, so a bad
// configuration holds jobs back instead of letting them run at any time.
type Window struct {
	Days       []time.Weekday
	Start, End string
}

// dayNames is indexed by time.Weekday.
var dayNames = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// weekOrder is the order days are stored and printed in: operators think
// of Mon-Fri, not Sun-Sat.
var weekOrder = [7]time.Weekday{time.Monday, time.Tuesday, time.Wednesday,
	time.Thursday, time.Friday, time.Saturday, time.Sunday}

const windowSyntax = `want "<days> HH:MM-HH:MM", e.g. "Mon-Fri 22:00-06:00", "Sat,Sun 00:00-24:00" or "daily 01:00-05:00"`

// ParseWindow parses "<days> HH:MM-HH:MM", optionally followed by "UTC".
// Days is "daily" or a comma-separated list of days (Mon..Sun, any case)
// and ranges; a range may wrap the week ("Fri-Mon" is Fri, Sat, Sun, Mon).
// Days come back Monday first, without duplicates, so equal windows
// compare equal.
func ParseWindow(s string) (Window, error) {
	fail := func(format string, args ...any) (Window, error) {
		return Window{}, fmt.Errorf("window %q: %s", s, fmt.Sprintf(format, args...))
	}
	f := strings.Fields(s)
	// Reasons print the window with " UTC"; accept that form back.
	if len(f) == 3 && strings.EqualFold(f[2], "UTC") {
		f = f[:2]
	}
	if len(f) != 2 {
		if len(f) == 3 {
			return fail("unexpected %q after the times (windows are always UTC)", f[2])
		}
		return fail("%s", windowSyntax)
	}
	days, err := parseDays(f[0])
	if err != nil {
		return fail("%v", err)
	}
	start, end, ok := strings.Cut(f[1], "-")
	if !ok || strings.Contains(end, "-") {
		return fail("times %q: want HH:MM-HH:MM", f[1])
	}
	w := Window{Days: days, Start: start, End: end}
	if _, _, err := w.bounds(); err != nil {
		return fail("%v", err)
	}
	return w, nil
}

func parseDays(s string) ([]time.Weekday, error) {
	var set [7]bool
	if strings.EqualFold(s, "daily") {
		set = [7]bool{true, true, true, true, true, true, true}
	} else {
		for item := range strings.SplitSeq(s, ",") {
			from, to, isRange := strings.Cut(item, "-")
			a, err := parseDay(from, item)
			if err != nil {
				return nil, err
			}
			b := a
			if isRange {
				if b, err = parseDay(to, item); err != nil {
					return nil, err
				}
			}
			for d := a; ; d = (d + 1) % 7 {
				set[d] = true
				if d == b {
					break
				}
			}
		}
	}
	var days []time.Weekday
	for _, d := range weekOrder {
		if set[d] {
			days = append(days, d)
		}
	}
	return days, nil
}

func parseDay(s, item string) (time.Weekday, error) {
	for i, n := range dayNames {
		if strings.EqualFold(s, n) {
			return time.Weekday(i), nil
		}
	}
	if s == "" {
		return 0, fmt.Errorf("missing day in %q", item)
	}
	return 0, fmt.Errorf("unknown day %q (want Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range like Mon-Fri, or daily)", s)
}

// parseClock parses a strict "HH:MM" into minutes after midnight; 24:00
// is allowed so a window can run to the end of the day.
func parseClock(s string) (int, error) {
	if len(s) != 5 || s[2] != ':' || !isDigits(s[:2]) || !isDigits(s[3:]) {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time between 00:00 and 24:00", s)
	}
	return h*60 + m, nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// bounds checks the window and returns Start and End in minutes after
// midnight. Every method goes through it because a Window may be built
// without ParseWindow.
func (w Window) bounds() (start, end int, err error) {
	if len(w.Days) == 0 {
		return 0, 0, fmt.Errorf("no days")
	}
	for _, d := range w.Days {
		if d < time.Sunday || d > time.Saturday {
			return 0, 0, fmt.Errorf("day %d is not a weekday (0 = Sunday .. 6 = Saturday)", int(d))
		}
	}
	if start, err = parseClock(w.Start); err != nil {
		return 0, 0, fmt.Errorf("start: %v", err)
	}
	if end, err = parseClock(w.End); err != nil {
		return 0, 0, fmt.Errorf("end: %v", err)
	}
	if start == 24*60 {
		return 0, 0, fmt.Errorf("start 24:00 is the end of the day; use 00:00")
	}
	if start == end {
		// Empty or whole day? Neither guess is safe; 00:00-24:00 says it.
		return 0, 0, fmt.Errorf("start and end are both %s; use 00:00-24:00 for a whole day", w.Start)
	}
	return start, end, nil
}

func (w Window) has(d time.Weekday) bool {
	for _, x := range w.Days {
		if x == d {
			return true
		}
	}
	return false
}

// Contains reports whether the window is open at t.
func (w Window) Contains(t time.Time) bool {
	start, end, err := w.bounds()
	if err != nil {
		return false
	}
	t = t.UTC()
	tod := t.Sub(midnight(t))
	s, e := time.Duration(start)*time.Minute, time.Duration(end)*time.Minute
	day := t.Weekday()
	if start < end {
		return w.has(day) && tod >= s && tod < e
	}
	// Crossing midnight: today's evening part, or yesterday's morning tail.
	return (w.has(day) && tod >= s) || (w.has((day+6)%7) && tod < e)
}

// NextOpen returns the earliest instant at or after t when the window is
// open (t itself if it is open now), in UTC; the zero time if the window
// is invalid.
func (w Window) NextOpen(t time.Time) time.Time {
	start, _, err := w.bounds()
	if err != nil {
		return time.Time{}
	}
	t = t.UTC()
	if w.Contains(t) {
		return t
	}
	// Closed now, so it next opens at a Start; one within 8 days exists
	// because Days is not empty.
	day0 := midnight(t)
	for i := 0; i <= 7; i++ {
		d := day0.AddDate(0, 0, i)
		if open := d.Add(time.Duration(start) * time.Minute); w.has(d.Weekday()) && open.After(t) {
			return open
		}
	}
	return time.Time{}
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// String renders the window in the form ParseWindow reads: days Monday
// first, runs of three or more days as ranges, all seven as "daily".
func (w Window) String() string {
	var set [7]bool
	for _, d := range w.Days {
		if d >= time.Sunday && d <= time.Saturday {
			set[d] = true
		}
	}
	var parts []string
	for i := 0; i < 7; {
		if !set[weekOrder[i]] {
			i++
			continue
		}
		j := i
		for j+1 < 7 && set[weekOrder[j+1]] {
			j++
		}
		switch {
		case i == 0 && j == 6:
			parts = append(parts, "daily")
		case j-i >= 2:
			parts = append(parts, dayNames[weekOrder[i]]+"-"+dayNames[weekOrder[j]])
		default:
			for k := i; k <= j; k++ {
				parts = append(parts, dayNames[weekOrder[k]])
			}
		}
		i = j + 1
	}
	return strings.Join(parts, ",") + " " + w.Start + "-" + w.End
}
