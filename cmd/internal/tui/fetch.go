package tui

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

// fetchTimeout bounds one poll: the UI must never hang on outpostd.
const fetchTimeout = 10 * time.Second

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func (m *Model) whoami() tea.Cmd {
	c := m.c
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		u, err := c.WhoAmI(ctx)
		if err != nil {
			return whoamiMsg{err: err}
		}
		h, _ := c.Health(ctx)
		return whoamiMsg{u: u, health: h}
	}
}

func (m *Model) doLogin(user, password string) tea.Cmd {
	c := m.c
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		r, err := c.Login(ctx, user, password)
		return loginMsg{r: r, err: err}
	}
}

// poll fetches what the screens show. Jobs are fetched incrementally:
// new ones after the highest known ID, unfinished ones again, and those
// that just finished once more for their final state.
func (m *Model) poll() tea.Cmd {
	m.inflight = true
	c := m.c
	prev := m.data
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		var s snapshot
		var err error
		if s.machines, err = c.AllMachines(ctx, client.MachineFilter{}); err != nil {
			return pollMsg{err: err}
		}
		s.jobs = make(map[int64]appliance.Job, len(prev.jobs))
		for id, j := range prev.jobs {
			s.jobs[id] = j
		}
		s.jobAfter = prev.jobAfter
		for {
			js, err := c.Jobs(ctx, client.JobFilter{After: s.jobAfter, Limit: 1000})
			if err != nil {
				return pollMsg{err: err}
			}
			for _, j := range js {
				s.jobs[j.ID] = j
				s.jobAfter = max(s.jobAfter, j.ID)
			}
			if len(js) < 1000 {
				break
			}
		}
		active, err := c.Jobs(ctx, client.JobFilter{Statuses: []string{"queued", "running"}})
		if err != nil {
			return pollMsg{err: err}
		}
		still := map[int64]bool{}
		for _, j := range active {
			s.jobs[j.ID] = j
			still[j.ID] = true
		}
		for id, j := range s.jobs {
			if !j.Status.Done() && !still[id] {
				if j2, err := c.Job(ctx, id); err == nil {
					s.jobs[id] = j2
				}
			}
		}
		if s.policies, err = c.Policies(ctx); err != nil {
			return pollMsg{err: err}
		}
		s.sync, s.syncErr = c.Sync(ctx)
		s.events = recentBoots(ctx, c, s.machines)
		return pollMsg{s: s}
	}
}

// recentBoots gathers the latest boot events cheaply: the boot steps in
// the timelines of the few most recently changed machines and of the MACs
// with the newest leases.
func recentBoots(ctx context.Context, c *client.Client, ms []appliance.Machine) []bootEvent {
	const machinesLooked, perSource, kept = 4, 6, 12
	byID := map[int64]appliance.Machine{}
	for _, m := range ms {
		byID[m.ID] = m
	}
	recent := append([]appliance.Machine(nil), ms...)
	// A machine that boots checks in (LastSeen) or changes state.
	active := func(m appliance.Machine) time.Time {
		if m.LastSeen.After(m.UpdatedAt) {
			return m.LastSeen
		}
		return m.UpdatedAt
	}
	sort.SliceStable(recent, func(i, j int) bool { return active(recent[i]).After(active(recent[j])) })
	seen := map[string]bool{}
	var out []bootEvent
	add := func(e bootEvent) {
		k := e.time.String() + e.mac + e.summary
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	for _, m := range recent[:min(machinesLooked, len(recent))] {
		tl, err := c.Timeline(ctx, m.ID, perSource*2)
		if err != nil {
			continue
		}
		for _, e := range tl {
			if e.Source == "boot" {
				add(bootEvent{time: e.Time, mac: e.MAC, machine: label(m), kind: e.Kind, summary: e.Summary})
			}
		}
	}
	if ls, err := c.Leases(ctx, client.LeaseFilter{Limit: machinesLooked}); err == nil {
		for _, l := range ls {
			evs, err := c.MACTimeline(ctx, l.MAC, perSource)
			if err != nil {
				continue
			}
			name := l.MAC
			if m, ok := byID[l.MachineID]; ok {
				name = label(m)
			}
			for _, e := range evs {
				add(bootEvent{time: e.Time, mac: e.MAC, machine: name, kind: e.Kind, summary: e.Summary})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].time.After(out[j].time) })
	return out[:min(kept, len(out))]
}

// label is a machine's short name: its hostname, else its serial.
func label(m appliance.Machine) string {
	if m.Hostname != "" {
		return m.Hostname
	}
	return m.Serial
}

func (m *Model) search(q string) tea.Cmd {
	c := m.c
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		ms, err := c.AllMachines(ctx, client.MachineFilter{Query: q})
		return searchMsg{query: q, ms: ms, err: err}
	}
}

func (m *Model) loadDetail(id int64, scroll int) tea.Cmd {
	c := m.c
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		d := &detail{id: id, scroll: scroll, loaded: true}
		if d.m, d.err = c.Machine(ctx, id); d.err != nil {
			return detailMsg{d}
		}
		if d.timeline, d.err = c.Timeline(ctx, id, 200); d.err != nil {
			return detailMsg{d}
		}
		js, err := c.Jobs(ctx, client.JobFilter{MachineID: id, Statuses: []string{"queued", "running"}})
		if err == nil && len(js) > 0 {
			d.job = &js[len(js)-1]
		}
		return detailMsg{d}
	}
}

// runAction carries out a confirmed action.
func (m *Model) runAction(a action) tea.Cmd {
	c := m.c
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		name := machineName(a.m)
		switch a.kind {
		case "freeze":
			mm, err := c.Freeze(ctx, a.m.ID, a.reason)
			if err != nil {
				return actionMsg{err: err, id: a.m.ID}
			}
			return actionMsg{text: fmt.Sprintf("%s frozen (was %s)", name, a.m.State), id: mm.ID}
		case "unfreeze":
			mm, err := c.Unfreeze(ctx, a.m.ID, "unfrozen from the TUI")
			if err != nil {
				return actionMsg{err: err, id: a.m.ID}
			}
			return actionMsg{text: fmt.Sprintf("%s unfrozen: now %s", name, mm.State), id: mm.ID}
		case "recycle":
			j, err := c.SubmitJob(ctx, client.NewJob{Action: "recycle", MachineID: a.m.ID})
			if err != nil {
				return actionMsg{err: err, id: a.m.ID}
			}
			return actionMsg{text: fmt.Sprintf("job %d queued: recycle %s", j.ID, name), id: a.m.ID}
		case "power":
			j, err := c.SubmitJob(ctx, client.NewJob{Action: "power", MachineID: a.m.ID, Params: map[string]string{"op": "cycle"}})
			if err != nil {
				return actionMsg{err: err, id: a.m.ID}
			}
			return actionMsg{text: fmt.Sprintf("job %d queued: power cycle %s", j.ID, name), id: a.m.ID}
		}
		return actionMsg{err: fmt.Errorf("unknown action %q", a.kind)}
	}
}
