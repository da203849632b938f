package tui

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

type styles struct {
	title, tab, tabOn, dim, bold, section          lipgloss.Style
	ok, bad, warn, info, selected, key             lipgloss.Style
	bannerOK, bannerBad, bannerOff, barFull, barMT lipgloss.Style
	state                                          map[appliance.State]lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	c := func(s string) lipgloss.Color { return lipgloss.Color(s) }
	s := styles{
		title:     r.NewStyle().Bold(true).Foreground(c("230")).Background(c("62")),
		tab:       r.NewStyle().Foreground(c("252")).Background(c("238")),
		tabOn:     r.NewStyle().Bold(true).Foreground(c("16")).Background(c("214")),
		dim:       r.NewStyle().Foreground(c("245")),
		bold:      r.NewStyle().Bold(true),
		section:   r.NewStyle().Bold(true).Foreground(c("75")),
		ok:        r.NewStyle().Foreground(c("42")),
		bad:       r.NewStyle().Bold(true).Foreground(c("203")),
		warn:      r.NewStyle().Foreground(c("214")),
		info:      r.NewStyle().Foreground(c("81")),
		selected:  r.NewStyle().Foreground(c("16")).Background(c("153")),
		key:       r.NewStyle().Bold(true).Foreground(c("214")),
		bannerOK:  r.NewStyle().Bold(true).Foreground(c("16")).Background(c("35")),
		bannerBad: r.NewStyle().Bold(true).Foreground(c("231")).Background(c("160")),
		bannerOff: r.NewStyle().Foreground(c("16")).Background(c("250")),
		barFull:   r.NewStyle().Foreground(c("42")),
		barMT:     r.NewStyle().Foreground(c("240")),
	}
	s.state = map[appliance.State]lipgloss.Style{
		appliance.StateDiscovered: r.NewStyle().Foreground(c("252")),
		appliance.StateReady:      r.NewStyle().Foreground(c("42")),
		appliance.StateAllocated:  r.NewStyle().Foreground(c("81")),
		appliance.StateInstalling: r.NewStyle().Foreground(c("214")),
		appliance.StateDeployed:   r.NewStyle().Foreground(c("75")),
		appliance.StateRecycling:  r.NewStyle().Foreground(c("214")),
		appliance.StateBroken:     r.NewStyle().Bold(true).Foreground(c("203")),
		appliance.StateFrozen:     r.NewStyle().Bold(true).Foreground(c("123")),
	}
	return s
}

func (s styles) stateStyle(st appliance.State) lipgloss.Style {
	if x, ok := s.state[st]; ok {
		return x
	}
	return s.dim
}

// View draws the screen: exactly height lines of at most width cells.
func (m *Model) View() string {
	w, h := max(m.width, 20), max(m.height, 5)
	var lines []string
	if m.screen == screenLogin {
		lines = m.viewLogin(w)
	} else {
		lines = append(lines, m.header(w), m.banner(w))
		body := h - 3
		var content []string
		switch {
		case m.help:
			content = m.viewHelp()
		case m.detail != nil:
			content = m.viewDetail(w, body)
		case m.screen == screenMachines:
			content = m.viewMachines(w, body)
		case m.screen == screenJobs:
			content = m.viewJobs(w, body)
		default:
			content = m.viewDashboard(w, body)
		}
		for len(content) < body {
			content = append(content, "")
		}
		lines = append(lines, content[:body]...)
		lines = append(lines, m.footer(w))
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	lines = lines[:h]
	for i, l := range lines {
		lines[i] = fit(l, w)
	}
	return strings.Join(lines, "\n")
}

// fit truncates or pads a styled line to exactly w cells.
func fit(l string, w int) string {
	if lipgloss.Width(l) > w {
		l = ansi.Truncate(l, w, "…")
	}
	if n := w - lipgloss.Width(l); n > 0 {
		l += strings.Repeat(" ", n)
	}
	return l
}

// pad pads plain text to n cells, or cuts it with an ellipsis.
func pad(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		if n <= 1 {
			return string(r[:n])
		}
		return string(r[:n-1]) + "…"
	}
	return s + strings.Repeat(" ", n-len(r))
}

func (m *Model) header(w int) string {
	who := "connecting…"
	if m.started {
		who = m.user.Name + " (" + string(m.user.Role) + ")"
	}
	left := m.st.title.Render(" OUTPOST ") + m.st.dim.Render(" site "+orDash(m.site)+" · "+who+" ")
	names := []string{"1 Dashboard", "2 Machines", "3 Jobs"}
	var tabs []string
	for i, n := range names {
		if screen(i)+screenDashboard == m.screen {
			tabs = append(tabs, m.st.tabOn.Render(" "+n+" "))
		} else {
			tabs = append(tabs, m.st.tab.Render(" "+n+" "))
		}
	}
	right := strings.Join(tabs, "")
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return left
	}
	return left + strings.Repeat(" ", gap) + right
}

// banner is the HQ link's line: green when connected, red when
// partitioned.
func (m *Model) banner(w int) string {
	now := m.o.Now()
	s := m.data.sync
	var text string
	st := m.st.bannerOff
	switch {
	case m.pollErr != nil && !m.started:
		return m.st.bannerBad.Render(fit(" "+m.pollErr.Error(), w))
	case m.polled.IsZero():
		text = "HQ: …"
	case m.data.syncErr != nil:
		text, st = "HQ sync status unknown: "+m.data.syncErr.Error(), m.st.bannerBad
	case s.NotConfigured:
		text = "HQ sync not configured"
	case !s.Enabled:
		text = "HQ sync disabled"
	case s.Connected:
		text, st = "HQ: connected", m.st.bannerOK
		if s.LastContact != nil {
			text += " (last contact " + agoShort(now.Sub(*s.LastContact)) + " ago)"
		}
		if s.Backlog > 0 {
			text += " · " + thousands(s.Backlog) + " changes to send"
		}
	default:
		st = m.st.bannerBad
		if s.PartitionedSince != nil {
			text = "HQ PARTITIONED since " + s.PartitionedSince.Local().Format("15:04:05")
		} else {
			text = "HQ NOT CONNECTED"
		}
		text += " — " + thousands(s.Backlog) + " changes queued"
		if s.LastError != "" {
			text += " (" + s.LastError + ")"
		}
	}
	return st.Render(fit(" "+text, w))
}

func (m *Model) footer(w int) string {
	if m.pending != nil {
		p := m.pending
		switch {
		case p.busy:
			return m.st.warn.Render(" working…")
		case p.needReason:
			return m.st.warn.Render(" Reason: ") + p.reason + "█" + m.st.dim.Render("  enter: next · esc: cancel")
		}
		return m.st.warn.Render(" "+p.question+" ") + m.st.key.Render("[y/n]")
	}
	if m.status != "" {
		if m.statusErr {
			return m.st.bad.Render(" ✗ " + m.status)
		}
		return m.st.ok.Render(" ✓ " + m.status)
	}
	keys := "tab/1-3 screens · ? help · q quit"
	switch {
	case m.detail != nil:
		keys = "↑↓ scroll · r recycle · p power cycle · f freeze · u unfreeze · esc back"
	case m.screen == screenMachines:
		keys = "/ search · ↑↓ move · enter open · esc clear · tab screens · q quit"
	}
	right := ""
	if !m.polled.IsZero() {
		right = "updated " + m.polled.Local().Format("15:04:05")
	}
	if m.pollErr != nil && m.started {
		right = "poll failed: " + m.pollErr.Error()
		return m.st.dim.Render(" "+keys+"  ") + m.st.bad.Render(right)
	}
	gap := w - 1 - len([]rune(keys)) - len(right)
	if gap < 2 {
		return m.st.dim.Render(" " + keys)
	}
	return m.st.dim.Render(" " + keys + strings.Repeat(" ", gap) + right)
}

func (m *Model) viewLogin(w int) []string {
	field := func(label, value string, on bool) string {
		l := "   " + pad(label, 10)
		if on {
			return m.st.key.Render(l) + value + "█"
		}
		return m.st.dim.Render(l) + value
	}
	lines := []string{
		m.st.title.Render(" OUTPOST ") + m.st.dim.Render(" log in to "+m.c.Target()),
		"",
		field("User", m.login.user, m.login.field == 0),
		field("Password", strings.Repeat("*", len([]rune(m.login.password))), m.login.field == 1),
		"",
	}
	switch {
	case m.login.busy:
		lines = append(lines, m.st.warn.Render("   logging in…"))
	case m.login.err != "":
		lines = append(lines, m.st.bad.Render("   "+m.login.err))
	default:
		lines = append(lines, "")
	}
	lines = append(lines, "", m.st.dim.Render("   enter: next / log in · tab: other field · esc: quit"))
	return lines
}

func (m *Model) viewHelp() []string {
	k := func(key, what string) string { return "  " + m.st.key.Render(pad(key, 14)) + what }
	return []string{
		m.st.section.Render("KEYS") + m.st.dim.Render("  (any key closes this)"),
		k("tab, 1 2 3", "switch screens: dashboard, machines, jobs"),
		k("/", "search machines by serial, hostname, rack or MAC"),
		k("enter", "open the selected machine"),
		k("↑ ↓ pgup pgdn", "move, or scroll the timeline"),
		k("esc", "back, or clear the search"),
		k("r", "recycle the machine (wipe its disks)"),
		k("p", "power cycle the machine"),
		k("f / u", "freeze / unfreeze the machine"),
		k("y / n", "confirm / refuse an action"),
		k("?", "this help"),
		k("q, ctrl+c", "quit"),
		"",
		m.st.dim.Render("  Data comes from outpostd every " + m.o.Interval.String() + "; nothing leaves the box."),
	}
}

func (m *Model) viewDashboard(w, h int) []string {
	var out []string
	if m.polled.IsZero() {
		if m.pollErr != nil {
			return []string{m.st.bad.Render(" " + m.pollErr.Error())}
		}
		return []string{m.st.dim.Render(" loading…")}
	}
	// Machine counts, in lifecycle order, over two lines.
	counts := map[appliance.State]int{}
	for _, x := range m.data.machines {
		counts[x.State]++
	}
	out = append(out, m.st.section.Render("MACHINES")+m.st.dim.Render(fmt.Sprintf("  %d total", len(m.data.machines))))
	var cells []string
	for _, st := range appliance.States() {
		n := counts[st]
		style := m.st.stateStyle(st)
		if n == 0 {
			style = m.st.dim
		}
		cells = append(cells, style.Render(fmt.Sprintf("%-11s%4d", st, n)))
	}
	out = append(out, " "+strings.Join(cells[:4], "   "), " "+strings.Join(cells[4:], "   "))

	jobs := m.activeJobs()
	alerts := m.alerts()
	// A blank line between sections when the terminal is tall enough.
	gap := 0
	if h >= 18 {
		gap = 1
	}
	sep := func() {
		if gap > 0 {
			out = append(out, "")
		}
	}
	// Jobs and alerts share what is left after the counts, the section
	// titles, the gaps and at least three boot events.
	room := max(2, h-len(out)-3*gap-3-3)
	jobRows := max(1, min(len(jobs), room/2))
	alertRows := max(1, min(len(alerts), room-jobRows))
	jobRows = max(1, min(len(jobs), room-alertRows))

	sep()
	out = append(out, m.st.section.Render("ACTIVE JOBS")+m.st.dim.Render(fmt.Sprintf("  %d", len(jobs))))
	if len(jobs) == 0 {
		out = append(out, m.st.dim.Render(" none"))
	}
	for i, j := range jobs[:min(len(jobs), jobRows)] {
		if i == jobRows-1 && len(jobs) > jobRows {
			out = append(out, m.st.dim.Render(fmt.Sprintf(" … and %d more (3: jobs)", len(jobs)-i)))
			break
		}
		out = append(out, m.jobLine(j, w))
	}

	sep()
	out = append(out, m.st.section.Render("ALERTS")+m.st.dim.Render(fmt.Sprintf("  %d", len(alerts))))
	if len(alerts) == 0 {
		out = append(out, m.st.ok.Render(" none"))
	}
	for i, a := range alerts[:min(len(alerts), alertRows)] {
		if i == alertRows-1 && len(alerts) > alertRows {
			out = append(out, m.st.dim.Render(fmt.Sprintf(" … and %d more", len(alerts)-i)))
			break
		}
		out = append(out, a)
	}

	sep()
	out = append(out, m.st.section.Render("RECENT BOOT EVENTS"))
	room = h - len(out)
	if len(m.data.events) == 0 {
		out = append(out, m.st.dim.Render(" none yet"))
	}
	for _, e := range m.data.events[:min(len(m.data.events), max(0, room))] {
		out = append(out, " "+m.st.dim.Render(e.time.Local().Format("15:04:05"))+" "+
			m.st.info.Render(pad(e.machine, 12))+" "+pad(e.kind, 5)+" "+e.summary)
	}
	return out
}

// activeJobs are the unfinished jobs, running first, oldest first.
func (m *Model) activeJobs() []appliance.Job {
	var js []appliance.Job
	for _, j := range m.data.jobs {
		if !j.Status.Done() {
			js = append(js, j)
		}
	}
	sort.Slice(js, func(a, b int) bool {
		ra, rb := js[a].Status == appliance.JobRunning, js[b].Status == appliance.JobRunning
		if ra != rb {
			return ra
		}
		return js[a].ID < js[b].ID
	})
	return js
}

// jobList is every known job, newest first.
func (m *Model) jobList() []appliance.Job {
	js := make([]appliance.Job, 0, len(m.data.jobs))
	for _, j := range m.data.jobs {
		js = append(js, j)
	}
	sort.Slice(js, func(a, b int) bool { return js[a].ID > js[b].ID })
	return js
}

func (m *Model) machineLabel(id int64) string {
	for _, x := range m.data.machines {
		if x.ID == id {
			return label(x)
		}
	}
	return "#" + itoa(id)
}

// jobLine is one job with a progress bar.
func (m *Model) jobLine(j appliance.Job, w int) string {
	what := string(j.Action)
	switch {
	case j.Params["op"] != "":
		what += " " + j.Params["op"]
	case j.Params["image"] != "":
		what += " " + j.Params["image"]
	}
	head := fmt.Sprintf(" #%-4d %-18s %-12s ", j.ID, pad(what, 18), pad(m.machineLabel(j.MachineID), 12))
	status := string(j.Status)
	if j.Phase != "" && !j.Status.Done() {
		status += " " + j.Phase
	}
	var tail string
	if p, ok := client.ProgressOf(j); ok && !j.Status.Done() {
		tail = m.bar(p.Percent, 16) + fmt.Sprintf(" %3.0f%%", p.Percent)
		if p.Phase != "" {
			tail += " " + p.Phase
		}
		if p.MBps > 0 {
			tail += fmt.Sprintf(" %.0f MB/s", p.MBps)
		}
	} else {
		st := m.st.dim
		switch j.Status {
		case appliance.JobFailed, appliance.JobCancelled:
			st = m.st.bad
		case appliance.JobSucceeded:
			st = m.st.ok
		case appliance.JobRunning:
			st = m.st.warn
		}
		tail = st.Render(pad(status, 18))
		if n := note(j); n != "" {
			tail += " " + m.st.dim.Render(n)
		}
	}
	return head + tail
}

func note(j appliance.Job) string {
	if j.Error != "" {
		return j.Error
	}
	if j.Waiting != "" {
		return "waiting: " + j.Waiting
	}
	return ""
}

func (m *Model) bar(percent float64, width int) string {
	n := max(0, min(width, int(percent/100*float64(width)+0.5)))
	return m.st.barFull.Render(strings.Repeat("█", n)) + m.st.barMT.Render(strings.Repeat("░", width-n))
}

// alerts are what needs a person: paused queues, frozen racks, broken
// machines.
func (m *Model) alerts() []string {
	var out []string
	for _, q := range m.data.policies.PausedQueues {
		out = append(out, m.st.bad.Render(" ! queue "+q.Action+" paused")+m.st.dim.Render(" by "+q.Actor+": "+q.Reason))
	}
	for _, r := range m.data.policies.FrozenRacks {
		out = append(out, m.st.warn.Render(" ! rack "+r.Rack+" frozen")+m.st.dim.Render(" by "+r.Actor+": "+r.Reason))
	}
	for _, x := range m.data.machines {
		if x.State == appliance.StateBroken {
			out = append(out, m.st.bad.Render(" ! "+label(x)+" broken")+m.st.dim.Render(" (machine "+itoa(x.ID)+"): "+x.StateReason))
		}
	}
	return out
}

func (m *Model) listRows() int { return max(1, m.height-3-2) }

func (m *Model) viewMachines(w, h int) []string {
	var out []string
	switch {
	case m.typing:
		out = append(out, m.st.key.Render(" Search: ")+m.input+"█"+m.st.dim.Render("  enter: apply · esc: cancel"))
	case m.query != "":
		out = append(out, m.st.dim.Render(" Search: ")+m.st.bold.Render(m.query)+m.st.dim.Render(fmt.Sprintf("  %d found · / change · esc clear", len(m.found))))
	default:
		out = append(out, m.st.dim.Render(fmt.Sprintf(" %d machines · / to search", len(m.found))))
	}
	out = append(out, m.st.section.Render(fmt.Sprintf(" %-5s %-14s %-16s %-8s %-11s %s", "ID", "SERIAL", "HOSTNAME", "RACK", "STATE", "REASON")))
	if m.searchErr != nil {
		return append(out, m.st.bad.Render(" "+m.searchErr.Error()))
	}
	if !m.searched && len(m.found) == 0 {
		return append(out, m.st.dim.Render(" loading…"))
	}
	if len(m.found) == 0 {
		return append(out, m.st.dim.Render(" no machine matches"))
	}
	rows := max(1, h-len(out))
	first := 0
	if m.cursor >= rows {
		first = m.cursor - rows + 1
	}
	for i := first; i < len(m.found) && i < first+rows; i++ {
		x := m.found[i]
		line := fmt.Sprintf(" %-5d %s %s %s ", x.ID, pad(x.Serial, 14), pad(x.Hostname, 16), pad(x.Rack, 8))
		st := pad(string(x.State), 11)
		reason := x.StateReason
		if i == m.cursor {
			out = append(out, m.st.selected.Render(fit(line+st+" "+reason, w)))
			continue
		}
		out = append(out, line+m.st.stateStyle(x.State).Render(st)+" "+m.st.dim.Render(reason))
	}
	return out
}

func (m *Model) viewJobs(w, h int) []string {
	js := m.jobList()
	out := []string{m.st.section.Render("JOBS") + m.st.dim.Render(fmt.Sprintf("  %d known, %d unfinished · newest first", len(js), len(m.activeJobs())))}
	if m.polled.IsZero() {
		return append(out, m.st.dim.Render(" loading…"))
	}
	if len(js) == 0 {
		return append(out, m.st.dim.Render(" no jobs"))
	}
	// The selected job's details take the last lines: notes are long.
	const detailLines = 4
	rows := max(1, h-len(out)-detailLines)
	m.jobCursor = min(m.jobCursor, len(js)-1)
	first := 0
	if m.jobCursor >= rows {
		first = m.jobCursor - rows + 1
	}
	for i := first; i < len(js) && i < first+rows; i++ {
		l := m.jobLine(js[i], w)
		if i == m.jobCursor {
			l = m.st.selected.Render(fit(ansi.Strip(l), w))
		}
		out = append(out, l)
	}
	for len(out) < h-detailLines {
		out = append(out, "")
	}
	j := js[m.jobCursor]
	out = append(out, m.st.section.Render(fmt.Sprintf("JOB %d", j.ID))+m.st.dim.Render(fmt.Sprintf("  %s %s on %s · %s · attempts %d/%d · by %s",
		j.Action, paramsText(j.Params), m.machineLabel(j.MachineID), j.Status, j.Attempts, j.MaxAttempts, j.Requester)))
	text := note(j)
	if text == "" {
		text = "no error"
	}
	for _, l := range wrap(text, w-2, detailLines-1) {
		out = append(out, " "+l)
	}
	return out
}

// paramsText renders job parameters as k=v, without the image hash.
func paramsText(p map[string]string) string {
	var out []string
	for k, v := range p {
		if k != "image_sha256" {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// wrap cuts plain text into at most n lines of w cells, at spaces.
func wrap(s string, w, n int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len([]rune(line))+1+len([]rune(word)) <= w:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	if len(lines) > n {
		lines = lines[:n]
		lines[n-1] = pad(lines[n-1]+" …", w)
	}
	return lines
}

func (m *Model) viewDetail(w, h int) []string {
	d := m.detail
	x := d.m
	state := m.st.stateStyle(x.State).Render(string(x.State))
	if x.FrozenFrom != "" {
		state += m.st.dim.Render(" (from " + string(x.FrozenFrom) + ")")
	}
	out := []string{
		m.st.bold.Render(fmt.Sprintf(" Machine %d  %s  %s", x.ID, x.Serial, x.Hostname)) + "  " + state,
	}
	if x.StateReason != "" {
		out = append(out, m.st.dim.Render(" reason: ")+x.StateReason)
	}
	var macs []string
	for _, i := range x.Interfaces {
		macs = append(macs, i.MAC)
	}
	out = append(out, m.st.dim.Render(fmt.Sprintf(" rack %s · role %s · class %s · MACs %s", orDash(x.Rack), orDash(x.Role),
		orDash(x.Class), orDash(strings.Join(macs, " ")))))
	if d.job != nil {
		out = append(out, " job"+m.jobLine(*d.job, w))
	} else {
		out = append(out, m.st.dim.Render(" no job in progress"))
	}
	if d.err != nil {
		out = append(out, m.st.bad.Render(" "+d.err.Error()))
	}
	out = append(out, m.st.section.Render(fmt.Sprintf("TIMELINE  %d entries, oldest first", len(d.timeline))))
	if !d.loaded {
		return append(out, m.st.dim.Render(" loading…"))
	}
	rows := max(1, h-len(out))
	if d.scroll > 0 {
		rows = max(1, rows-1) // for the "more below" line
	}
	end := max(0, len(d.timeline)-d.scroll)
	start := max(0, end-rows)
	for _, e := range d.timeline[start:end] {
		src := m.st.info.Render("boot ")
		who := e.MAC
		if len(who) == 17 {
			who = "…" + who[9:] // the last three octets tell a machine's NICs apart
		}
		if e.Source != "boot" {
			src = m.st.warn.Render("audit")
			who = e.Actor
		}
		out = append(out, " "+m.st.dim.Render(e.Time.Local().Format("01-02 15:04:05"))+" "+src+" "+
			pad(who, 12)+" "+e.Summary)
	}
	if d.scroll > 0 {
		out = append(out, m.st.dim.Render(fmt.Sprintf(" ↓ %d more", d.scroll)))
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// agoShort renders a duration as 3s, 5m, 2h, 4d.
func agoShort(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

// thousands renders 1234 as 1,234.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && c != '-' && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
