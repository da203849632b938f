package policy

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// November 2026: Sunday 22, Monday 23 ... Saturday 28, Sunday 29, Monday 30.
func at(day, hour, min int) time.Time {
	return time.Date(2026, time.November, day, hour, min, 0, 0, time.UTC)
}

var (
	weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	allDays  = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	weekend  = []time.Weekday{time.Saturday, time.Sunday}
)

func mustWindow(t testing.TB, s string) Window {
	t.Helper()
	w, err := ParseWindow(s)
	if err != nil {
		t.Fatalf("ParseWindow(%q): %v", s, err)
	}
	return w
}

func TestParseWindow(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Window
	}{
		{"Mon-Fri 22:00-06:00", Window{weekdays, "22:00", "06:00"}},
		{"Sat,Sun 00:00-24:00", Window{weekend, "00:00", "24:00"}},
		{"daily 01:00-05:00", Window{allDays, "01:00", "05:00"}},
		{"DAILY 01:00-05:00", Window{allDays, "01:00", "05:00"}},
		{"  mon-FRI \t 22:00-06:00  UTC ", Window{weekdays, "22:00", "06:00"}},
		{"Mon-Fri 22:00-06:00 utc", Window{weekdays, "22:00", "06:00"}},
		{"Sun,Sat,Sat 10:00-11:00", Window{weekend, "10:00", "11:00"}},
		{"Mon-Sun 00:00-24:00", Window{allDays, "00:00", "24:00"}},
		{"Fri-Mon 20:00-23:00", Window{[]time.Weekday{time.Monday, time.Friday, time.Saturday, time.Sunday}, "20:00", "23:00"}},
		{"Wed-Wed 22:00-00:00", Window{[]time.Weekday{time.Wednesday}, "22:00", "00:00"}},
		{"Tue,Thu-Sat 00:00-00:01", Window{[]time.Weekday{time.Tuesday, time.Thursday, time.Friday, time.Saturday}, "00:00", "00:01"}},
		{"Mon 23:59-24:00", Window{[]time.Weekday{time.Monday}, "23:59", "24:00"}},
	} {
		got, err := ParseWindow(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseWindow(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseWindowErrors(t *testing.T) {
	const syntax = `want "<days> HH:MM-HH:MM", e.g. "Mon-Fri 22:00-06:00", "Sat,Sun 00:00-24:00" or "daily 01:00-05:00"`
	const days = `(want Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range like Mon-Fri, or daily)`
	for _, c := range []struct{ in, want string }{
		{"", `window "": ` + syntax},
		{"Mon-Fri", `window "Mon-Fri": ` + syntax},
		{"22:00-06:00", `window "22:00-06:00": ` + syntax},
		{"Mon Tue 22:00-06:00 UTC", `window "Mon Tue 22:00-06:00 UTC": ` + syntax},
		{"Mon-Fri 22:00-06:00 CET", `window "Mon-Fri 22:00-06:00 CET": unexpected "CET" after the times (windows are always UTC)`},
		{"Mon-Fry 22:00-06:00", `window "Mon-Fry 22:00-06:00": unknown day "Fry" ` + days},
		{"Monday 22:00-06:00", `window "Monday 22:00-06:00": unknown day "Monday" ` + days},
		{"weekdays 22:00-06:00", `window "weekdays 22:00-06:00": unknown day "weekdays" ` + days},
		{"Mon-Tue-Wed 01:00-02:00", `window "Mon-Tue-Wed 01:00-02:00": unknown day "Tue-Wed" ` + days},
		{"Mon,,Tue 01:00-02:00", `window "Mon,,Tue 01:00-02:00": missing day in ""`},
		{"Mon- 01:00-02:00", `window "Mon- 01:00-02:00": missing day in "Mon-"`},
		{",Mon 01:00-02:00", `window ",Mon 01:00-02:00": missing day in ""`},
		{"Mon 22:00", `window "Mon 22:00": times "22:00": want HH:MM-HH:MM`},
		{"Mon 22:00-06:00-07:00", `window "Mon 22:00-06:00-07:00": times "22:00-06:00-07:00": want HH:MM-HH:MM`},
		{"Mon 25:00-06:00", `window "Mon 25:00-06:00": start: "25:00" is not a time between 00:00 and 24:00`},
		{"Mon 10:60-11:00", `window "Mon 10:60-11:00": start: "10:60" is not a time between 00:00 and 24:00`},
		{"Mon 22:00-24:01", `window "Mon 22:00-24:01": end: "24:01" is not a time between 00:00 and 24:00`},
		{"Mon 22:00-6:00", `window "Mon 22:00-6:00": end: "6:00" is not HH:MM`},
		{"Mon 22h00-06:00", `window "Mon 22h00-06:00": start: "22h00" is not HH:MM`},
		{"Mon -06:00", `window "Mon -06:00": start: "" is not HH:MM`},
		{"Mon 24:00-06:00", `window "Mon 24:00-06:00": start 24:00 is the end of the day; use 00:00`},
		{"Mon 10:00-10:00", `window "Mon 10:00-10:00": start and end are both 10:00; use 00:00-24:00 for a whole day`},
		{"Mon 00:00-00:00", `window "Mon 00:00-00:00": start and end are both 00:00; use 00:00-24:00 for a whole day`},
	} {
		_, err := ParseWindow(c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("ParseWindow(%q) error\n got %v\nwant %s", c.in, err, c.want)
		}
	}
}

func TestWindowString(t *testing.T) {
	for _, c := range []struct {
		w    Window
		want string
	}{
		{Window{weekdays, "22:00", "06:00"}, "Mon-Fri 22:00-06:00"},
		{Window{weekend, "00:00", "24:00"}, "Sat,Sun 00:00-24:00"},
		{Window{allDays, "01:00", "05:00"}, "daily 01:00-05:00"},
		// Order given does not matter; runs of three become ranges.
		{Window{[]time.Weekday{time.Sunday, time.Tuesday, time.Monday}, "01:00", "02:00"}, "Mon,Tue,Sun 01:00-02:00"},
		{Window{[]time.Weekday{time.Friday, time.Sunday, time.Monday, time.Wednesday, time.Thursday}, "01:00", "02:00"}, "Mon,Wed-Fri,Sun 01:00-02:00"},
		{Window{[]time.Weekday{time.Saturday, time.Sunday, time.Friday, time.Thursday}, "01:00", "02:00"}, "Thu-Sun 01:00-02:00"},
	} {
		if got := c.w.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.w, got, c.want)
		}
		if back := mustWindow(t, c.w.String()); back.String() != c.want {
			t.Errorf("ParseWindow(%q).String() = %q", c.want, back.String())
		}
	}
}

func TestWindowContains(t *testing.T) {
	night := Window{weekdays, "22:00", "06:00"}
	weekends := Window{weekend, "00:00", "24:00"}
	early := Window{allDays, "01:00", "05:00"}
	toMidnight := Window{[]time.Weekday{time.Wednesday}, "22:00", "00:00"}
	plus2 := time.FixedZone("UTC+2", 2*3600)
	for _, c := range []struct {
		name string
		w    Window
		t    time.Time
		want bool
	}{
		{"before start", night, at(23, 21, 59).Add(59 * time.Second), false},
		{"start is inclusive", night, at(23, 22, 0), true},
		{"before midnight", night, at(27, 23, 59), true},
		{"crossing part of Monday's window", night, at(24, 5, 59).Add(59*time.Second + 999999999), true},
		{"end is exclusive", night, at(24, 6, 0), false},
		{"Monday morning belongs to Sunday, not in days", night, at(23, 5, 0), false},
		{"Saturday morning belongs to Friday", night, at(28, 5, 59), true},
		{"Saturday evening", night, at(28, 22, 0), false},
		{"Sunday evening", night, at(29, 23, 0), false},
		{"midday", night, at(25, 12, 0), false},
		{"converted to UTC", night, time.Date(2026, time.November, 24, 0, 30, 0, 0, plus2), true},
		{"converted to UTC, closed", night, time.Date(2026, time.November, 24, 8, 0, 0, 0, plus2), false},
		{"whole day: before Saturday", weekends, at(27, 23, 59).Add(59 * time.Second), false},
		{"whole day: Saturday 00:00", weekends, at(28, 0, 0), true},
		{"whole day: Sunday last second", weekends, at(29, 23, 59).Add(59 * time.Second), true},
		{"whole day: 24:00 is exclusive", weekends, at(30, 0, 0), false},
		{"daily start", early, at(25, 1, 0), true},
		{"daily before start", early, at(25, 0, 59), false},
		{"daily end", early, at(29, 5, 0), false},
		{"to midnight: last minute", toMidnight, at(25, 23, 59), true},
		{"to midnight: no crossing part", toMidnight, at(26, 0, 0), false},
		{"invalid window is never open", Window{}, at(25, 12, 0), false},
		{"bad clock is never open", Window{allDays, "1:00", "05:00"}, at(25, 3, 0), false},
	} {
		if got := c.w.Contains(c.t); got != c.want {
			t.Errorf("%s: %v.Contains(%v) = %v, want %v", c.name, c.w, c.t, got, c.want)
		}
	}
}

func TestWindowNextOpen(t *testing.T) {
	night := Window{weekdays, "22:00", "06:00"}
	weekends := Window{weekend, "00:00", "24:00"}
	monday := Window{[]time.Weekday{time.Monday}, "10:00", "11:00"}
	plus2 := time.FixedZone("UTC+2", 2*3600)
	for _, c := range []struct {
		name string
		w    Window
		t    time.Time
		want time.Time
	}{
		{"later today", night, at(23, 10, 0), at(23, 22, 0)},
		{"open now", night, at(23, 22, 0), at(23, 22, 0)},
		{"open in the crossing part", night, at(28, 5, 30), at(28, 5, 30)},
		{"just closed", night, at(24, 6, 0), at(24, 22, 0)},
		{"over the weekend", night, at(28, 6, 0), at(30, 22, 0)},
		{"Sunday night", night, at(29, 23, 0), at(30, 22, 0)},
		{"weekend from Monday", weekends, at(23, 0, 0), at(28, 0, 0)},
		{"weekend from Friday night", weekends, at(27, 23, 59), at(28, 0, 0)},
		{"weekend open", weekends, at(29, 12, 0), at(29, 12, 0)},
		{"daily, tomorrow", Window{allDays, "01:00", "05:00"}, at(25, 5, 0), at(26, 1, 0)},
		{"keeps sub-second t when open", monday, at(23, 10, 0).Add(time.Millisecond), at(23, 10, 0).Add(time.Millisecond)},
		{"a week later", monday, at(23, 11, 0), at(30, 10, 0)},
		{"a second before", monday, at(23, 9, 59).Add(59 * time.Second), at(23, 10, 0)},
		{"returned in UTC", night, time.Date(2026, time.November, 23, 12, 0, 0, 0, plus2), at(23, 22, 0)},
		{"invalid window", Window{Days: weekdays, Start: "22:00"}, at(23, 10, 0), time.Time{}},
	} {
		got := c.w.NextOpen(c.t)
		if !got.Equal(c.want) || got.Location() != c.want.Location() {
			t.Errorf("%s: %v.NextOpen(%v) = %v, want %v", c.name, c.w, c.t, got, c.want)
		}
	}
}

// minuteSet is an independent model of a window: the minutes of the week
// (0 = Sunday 00:00) it is open.
func minuteSet(w Window) []bool {
	const day, week = 24 * 60, 7 * 24 * 60
	start, _ := parseClock(w.Start)
	end, _ := parseClock(w.End)
	if end < start {
		end += day
	}
	set := make([]bool, week)
	for _, d := range w.Days {
		for m := start; m < end; m++ {
			set[(int(d)*day+m)%week] = true
		}
	}
	return set
}

func minuteOfWeek(t time.Time) int {
	t = t.UTC()
	return int(t.Weekday())*24*60 + t.Hour()*60 + t.Minute()
}

// checkAgainstModel compares Contains and NextOpen with the minute model
// at t: NextOpen must be open, not before t, and no minute boundary
// between t and it may be open.
func checkAgainstModel(t testing.TB, w Window, set []bool, tm time.Time) {
	t.Helper()
	if got, want := w.Contains(tm), set[minuteOfWeek(tm)]; got != want {
		t.Fatalf("%v.Contains(%v) = %v, model says %v", w, tm, got, want)
	}
	next := w.NextOpen(tm)
	if next.Before(tm) || !w.Contains(next) || !set[minuteOfWeek(next)] {
		t.Fatalf("%v.NextOpen(%v) = %v: before t or not open", w, tm, next)
	}
	if next.Sub(tm) > 8*24*time.Hour {
		t.Fatalf("%v.NextOpen(%v) = %v: more than a week away", w, tm, next)
	}
	for m := tm.Truncate(time.Minute).Add(time.Minute); m.Before(next); m = m.Add(time.Minute) {
		if set[minuteOfWeek(m)] {
			t.Fatalf("%v.NextOpen(%v) = %v, but it is open at %v", w, tm, next, m)
		}
	}
}

func TestWindowAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	windows := []string{
		"Mon-Fri 22:00-06:00", "Sat,Sun 00:00-24:00", "daily 01:00-05:00",
		"Sun 23:00-01:00", "Sat 23:59-00:01", "Fri-Mon 20:00-23:00", "Wed 22:00-00:00",
		"daily 00:00-24:00", "Tue,Thu 12:00-12:01", "daily 06:00-05:59",
	}
	base := at(22, 0, 0)
	for _, s := range windows {
		w := mustWindow(t, s)
		set := minuteSet(w)
		for range 300 {
			tm := base.Add(time.Duration(rng.Int64N(int64(21 * 24 * time.Hour))))
			if rng.IntN(2) == 0 {
				tm = tm.Truncate(time.Minute)
			}
			checkAgainstModel(t, w, set, tm)
		}
	}
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{
		"Mon-Fri 22:00-06:00", "Sat,Sun 00:00-24:00", "daily 01:00-05:00",
		"Fri-Mon 20:00-23:00 UTC", "Wed 22:00-00:00", "Mon 25:00-06:00", "Mon,,Tue 1:00-2:00",
	} {
		f.Add(s)
	}
	times := []time.Time{at(22, 0, 0), at(23, 21, 59), at(25, 12, 30).Add(17 * time.Second), at(28, 5, 59)}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "window ") {
				t.Fatalf("ParseWindow(%q) error does not quote the input: %v", s, err)
			}
			return
		}
		if _, _, err := w.bounds(); err != nil {
			t.Fatalf("ParseWindow(%q) = %+v, which is invalid: %v", s, w, err)
		}
		if !slices.IsSortedFunc(w.Days, func(a, b time.Weekday) int { return int(a+6)%7 - int(b+6)%7 }) ||
			len(slices.Compact(slices.Clone(w.Days))) != len(w.Days) {
			t.Fatalf("ParseWindow(%q).Days = %v: not Monday first without duplicates", s, w.Days)
		}
		for _, form := range []string{w.String(), w.String() + " UTC"} {
			back, err := ParseWindow(form)
			if err != nil || !reflect.DeepEqual(back, w) {
				t.Fatalf("ParseWindow(%q) = %+v; round trip through %q gives %+v, %v", s, w, form, back, err)
			}
		}
		set := minuteSet(w)
		for _, tm := range times {
			checkAgainstModel(t, w, set, tm)
		}
	})
}
