package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

// machinesPerPage bounds the machine list; a "next" link pages on.
const machinesPerPage = 200

// jobsPerPage bounds the jobs list, newest first.
const jobsPerPage = 200

// pollSeconds is the meta refresh of pages with live jobs, for browsers
// without JavaScript.
const pollSeconds = 5

type loginPage struct {
	Next, User, Error, Note string
}

type machinesPage struct {
	Q, State, Rack string
	States         []string
	Counts         []StateCount
	Total          int
	Table          MachineTable
	Next           string
}

func (s *Server) machines(w http.ResponseWriter, r *http.Request, ss *Session) {
	q := r.URL.Query()
	d := machinesPage{Q: strings.TrimSpace(q.Get("q")), State: q.Get("state"), Rack: strings.TrimSpace(q.Get("rack"))}
	for _, st := range appliance.States() {
		d.States = append(d.States, string(st))
	}
	after, _ := strconv.ParseInt(q.Get("after"), 10, 64)
	f := appliance.MachineFilter{State: appliance.State(d.State), Rack: d.Rack, Query: d.Q, AfterID: after, Limit: machinesPerPage}
	ms, err := s.Store.Machines(r.Context(), f)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	counts, err := s.Store.CountByState(r.Context())
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	for _, st := range appliance.States() {
		d.Total += counts[st]
		v := url.Values{"state": {string(st)}}
		d.Counts = append(d.Counts, StateCount{State: st, N: counts[st], Href: Base + "/machines?" + v.Encode(),
			Active: string(st) == d.State})
	}
	d.Table = MachineTable{Rows: MachineRows(ms, "", Base)}
	if len(ms) == machinesPerPage {
		v := url.Values{"after": {strconv.FormatInt(ms[len(ms)-1].ID, 10)}}
		for k, x := range map[string]string{"q": d.Q, "state": d.State, "rack": d.Rack} {
			if x != "" {
				v.Set(k, x)
			}
		}
		d.Next = Base + "/machines?" + v.Encode()
	}
	s.render(w, r, http.StatusOK, "machines", ss, "Machines", d)
}

// check is whether an action is open, and why not.
type check struct {
	OK  bool
	Why string
}

type machinePage struct {
	M        appliance.Machine
	HW       Hardware
	Jobs     JobTable
	Active   *JobRow
	Timeline []appliance.TimelineEntry
	// CanAct: the user may act; otherwise Refusal says why not.
	CanAct    bool
	Refusal   string
	Recycle   check
	Power     check
	ActionURL string
	Notice    string
}

func (d machinePage) refresh() int {
	if d.Active != nil {
		return pollSeconds
	}
	return 0
}

func (d machinePage) flash() string { return d.Notice }

func machineID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, appliance.Errorf(appliance.CodeNotFound, "no machine %q", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) machine(w http.ResponseWriter, r *http.Request, ss *Session) {
	id, err := machineID(r)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	ctx := r.Context()
	m, err := s.Store.Machine(ctx, id)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	// Boot events are written in batches; show those already queued.
	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	s.Store.Flush(fctx)
	cancel()
	tl, err := s.Store.Timeline(ctx, id, 200)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	slices.Reverse(tl)
	js, err := s.Store.Jobs(ctx, sqlite.JobFilter{MachineID: id, Limit: 100000})
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	d := machinePage{M: m, HW: HardwareOf(m.Hardware), Timeline: tl, ActionURL: fmt.Sprintf("%s/machines/%d/actions", Base, id)}
	d.Jobs = JobTable{Rows: s.JobRows(ctx, newest(js, 20), false)}
	for i := range d.Jobs.Rows {
		if !d.Jobs.Rows[i].Status.Done() {
			d.Active = &d.Jobs.Rows[i]
		}
	}
	d.CanAct = ss.User.Role.Can(appliance.RoleTechnician)
	if !d.CanAct {
		d.Refusal = fmt.Sprintf("You are logged in as a %s: %s cannot start a recycle, power-cycle or freeze; needs %s.",
			ss.User.Role, ss.User.Role, appliance.RoleTechnician)
	}
	d.Recycle, d.Power = check{OK: true}, check{OK: true}
	if d.Active != nil {
		why := fmt.Sprintf("job %d (%s) is %s", d.Active.ID, d.Active.Action, d.Active.Status)
		d.Recycle, d.Power = check{Why: why}, check{Why: why}
	} else if err := recyclable(m); err != nil {
		d.Recycle = check{Why: err.Error()}
	}
	d.Notice = doneNotice(r.URL.Query())
	s.render(w, r, http.StatusOK, "machine", ss, m.Serial, d)
}

// recyclable says whether a machine may start a recycle now.
func recyclable(m appliance.Machine) error {
	if m.State == appliance.StateRecycling {
		return nil // a failed recycle left it here; try again
	}
	return appliance.CheckTransition(m.State, m.FrozenFrom, appliance.StateRecycling)
}

// doneNotice is the notice after an action's redirect. It is chosen from
// fixed texts, so a crafted link cannot put words on the page.
func doneNotice(q url.Values) string {
	job, _ := strconv.ParseInt(q.Get("job"), 10, 64)
	switch q.Get("done") {
	case "recycle":
		return fmt.Sprintf("Recycle queued as job %d.", job)
	case "power-cycle":
		return fmt.Sprintf("Power cycle queued as job %d.", job)
	case "freeze":
		return "Machine frozen."
	case "unfreeze":
		return "Machine unfrozen."
	case "cancel":
		return fmt.Sprintf("Job %d cancelled.", job)
	}
	return ""
}

// actionSpec describes one action of the machine page.
type actionSpec struct {
	Name   string
	Label  string
	Verb   string // for "viewer cannot <verb>; needs technician"
	Need   appliance.Role
	Reason bool // a reason is required
	// Warning is what the confirmation says will happen.
	Warning string
}

func specOf(name string) (actionSpec, bool) {
	switch name {
	case "recycle":
		return actionSpec{Name: name, Label: "Recycle", Verb: "start a recycle", Need: appliance.RoleTechnician,
			Warning: "Every disk of this machine is wiped, then it returns to ready. Anything on it is lost."}, true
	case "power-cycle":
		return actionSpec{Name: name, Label: "Power cycle", Verb: "power-cycle a machine", Need: appliance.RoleTechnician,
			Warning: "The machine is power-cycled through its BMC; whatever runs on it stops at once."}, true
	case "freeze":
		return actionSpec{Name: name, Label: "Freeze", Verb: "freeze a machine", Need: appliance.RoleTechnician, Reason: true,
			Warning: "A frozen machine boots nothing new and takes no jobs until it is unfrozen."}, true
	case "unfreeze":
		return actionSpec{Name: name, Label: "Unfreeze", Verb: "unfreeze a machine", Need: appliance.RoleTechnician,
			Warning: "The machine returns to the state it was frozen from."}, true
	case "cancel":
		return actionSpec{Name: name, Label: "Cancel job", Verb: "cancel a job", Need: appliance.RoleTechnician,
			Warning: "A running install or recycle stops half-way: the machine is marked broken, its disks in an unknown state."}, true
	}
	return actionSpec{}, false
}

type confirmPage struct {
	Spec      actionSpec
	M         appliance.Machine
	ActionURL string
	Reason    string
	Full      bool
	Job       int64
	Error     string
}

// action runs a machine action posted from the machine page: CSRF, then
// role, then confirmation, then the change, recorded under the user.
func (s *Server) action(w http.ResponseWriter, r *http.Request, ss *Session) {
	id, err := machineID(r)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	if err := s.sessions.Posted(w, r, ss); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	f := r.PostForm
	spec, ok := specOf(f.Get("action"))
	if !ok {
		s.fail(w, r, ss, appliance.Errorf(appliance.CodeInvalid, "unknown action %q", f.Get("action")))
		return
	}
	if !ss.User.Role.Can(spec.Need) {
		s.fail(w, r, ss, appliance.Errorf(appliance.CodeForbidden, "%s cannot %s; needs %s",
			ss.User.Role, spec.Verb, spec.Need))
		return
	}
	ctx := r.Context()
	m, err := s.Store.Machine(ctx, id)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	c := confirmPage{Spec: spec, M: m, ActionURL: fmt.Sprintf("%s/machines/%d/actions", Base, id),
		Reason: strings.TrimSpace(f.Get("reason")), Full: f.Get("full") == "true"}
	if spec.Name == "cancel" {
		if c.Job, err = strconv.ParseInt(f.Get("job"), 10, 64); err != nil {
			s.fail(w, r, ss, appliance.Errorf(appliance.CodeInvalid, "bad job id %q", f.Get("job")))
			return
		}
	}
	if spec.Reason && c.Reason == "" {
		c.Error = fmt.Sprintf("A reason is required to %s.", spec.Verb)
		s.render(w, r, http.StatusBadRequest, "confirm", ss, "Confirm: "+spec.Label, c)
		return
	}
	if f.Get("confirmed") != "1" {
		s.render(w, r, http.StatusOK, "confirm", ss, "Confirm: "+spec.Label, c)
		return
	}
	actor := appliance.Actor(ss.User.Name)
	var jobID int64
	switch spec.Name {
	case "recycle":
		if err = recyclable(m); err != nil {
			err = appliance.Errorf(appliance.CodeConflict, "%s cannot be recycled: %v", m.Serial, err)
			break
		}
		// Always explicit: it also keeps the job's params non-empty, which
		// the engine's fast track needs (it writes into them).
		p := map[string]string{"full": strconv.FormatBool(c.Full)}
		var j appliance.Job
		j, err = s.Jobs.Submit(ctx, sqlite.NewJob{Action: appliance.ActionRecycle, MachineID: id, Params: p}, actor)
		jobID = j.ID
	case "power-cycle":
		var j appliance.Job
		j, err = s.Jobs.Submit(ctx, sqlite.NewJob{Action: appliance.ActionPower, MachineID: id,
			Params: map[string]string{"op": "cycle"}}, actor)
		jobID = j.ID
	case "freeze":
		_, err = s.Store.Transition(ctx, id, appliance.StateFrozen, actor, c.Reason)
	case "unfreeze":
		why := c.Reason
		if why == "" {
			why = "unfrozen from the web UI"
		}
		_, err = s.Store.Unfreeze(ctx, id, actor, why)
	case "cancel":
		var j appliance.Job
		if j, err = s.Store.Job(ctx, c.Job); err == nil && j.MachineID != id {
			err = appliance.Errorf(appliance.CodeInvalid, "job %d is not machine %d's", c.Job, id)
		}
		if err == nil {
			_, err = s.Jobs.Cancel(ctx, c.Job, actor, c.Reason)
		}
		jobID = c.Job
	}
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.Log.Info("web: action", "user", ss.User.Name, "action", spec.Name, "machine", id, "job", jobID)
	v := url.Values{"done": {spec.Name}}
	if jobID > 0 {
		v.Set("job", strconv.FormatInt(jobID, 10))
	}
	http.Redirect(w, r, fmt.Sprintf("%s/machines/%d?%s", Base, id, v.Encode()), http.StatusSeeOther)
}

// JobRows makes rows, looking each machine's serial up once.
func (s *Server) JobRows(ctx context.Context, js []appliance.Job, serials bool) []JobRow {
	seen := map[int64]string{}
	out := make([]JobRow, 0, len(js))
	for _, j := range js {
		r := JobRowOf(j, fmt.Sprintf("%s/machines/%d", Base, j.MachineID))
		if serials {
			sn, ok := seen[j.MachineID]
			if !ok {
				if m, err := s.Store.Machine(ctx, j.MachineID); err == nil {
					sn = m.Serial
				} else {
					sn = fmt.Sprintf("machine %d", j.MachineID)
				}
				seen[j.MachineID] = sn
			}
			r.Serial = sn
		}
		out = append(out, r)
	}
	return out
}

// newest returns the last n jobs, newest first (the store lists oldest
// first).
func newest(js []appliance.Job, n int) []appliance.Job {
	if len(js) > n {
		js = js[len(js)-n:]
	}
	out := slices.Clone(js)
	slices.Reverse(out)
	return out
}

type jobsPage struct {
	Status, Action string
	Machine        int64
	Statuses       []string
	Actions        []string
	Table          JobTable
	Live           bool
}

func (d jobsPage) refresh() int {
	if d.Live {
		return pollSeconds
	}
	return 0
}

// jobFilter reads the status and action filters; status "active" means
// queued or running.
func jobFilter(q url.Values) (sqlite.JobFilter, error) {
	f := sqlite.JobFilter{Limit: 100000}
	switch st := appliance.JobStatus(q.Get("status")); st {
	case "":
	case "active":
		f.Statuses = []appliance.JobStatus{appliance.JobQueued, appliance.JobRunning}
	case appliance.JobQueued, appliance.JobRunning, appliance.JobSucceeded, appliance.JobFailed, appliance.JobCancelled:
		f.Status = st
	default:
		return f, appliance.Errorf(appliance.CodeInvalid, "unknown job status %q", st)
	}
	if a := appliance.JobAction(q.Get("action")); a != "" {
		if !a.Valid() {
			return f, appliance.Errorf(appliance.CodeInvalid, "unknown job action %q", a)
		}
		f.Action = a
	}
	if m := q.Get("machine"); m != "" {
		id, err := strconv.ParseInt(m, 10, 64)
		if err != nil || id <= 0 {
			return f, appliance.Errorf(appliance.CodeInvalid, "bad machine id %q", m)
		}
		f.MachineID = id
	}
	return f, nil
}

func (s *Server) jobs(w http.ResponseWriter, r *http.Request, ss *Session) {
	q := r.URL.Query()
	f, err := jobFilter(q)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	js, err := s.Store.Jobs(r.Context(), f)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	d := jobsPage{Status: q.Get("status"), Action: q.Get("action"), Machine: f.MachineID,
		Statuses: []string{"active", "queued", "running", "succeeded", "failed", "cancelled"},
		Actions:  []string{string(appliance.ActionInstall), string(appliance.ActionRecycle), string(appliance.ActionPower)}}
	d.Table = JobTable{ShowMachine: true, Rows: s.JobRows(r.Context(), newest(js, jobsPerPage), true)}
	for _, j := range d.Table.Rows {
		d.Live = d.Live || !j.Status.Done()
	}
	s.render(w, r, http.StatusOK, "jobs", ss, "Jobs", d)
}

// jobsJSON feeds the progress poll: the jobs named by id (comma-separated),
// or those the page filters select.
func (s *Server) jobsJSON(w http.ResponseWriter, r *http.Request, ss *Session) {
	ctx := r.Context()
	var js []appliance.Job
	if ids := strings.Join(r.URL.Query()["id"], ","); ids != "" {
		parts := strings.Split(ids, ",")
		if len(parts) > jobsPerPage {
			parts = parts[:jobsPerPage]
		}
		for _, p := range parts {
			id, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				WriteJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("bad job id %q", p)})
				return
			}
			j, err := s.Store.Job(ctx, id)
			if appliance.IsCode(err, appliance.CodeNotFound) {
				continue
			}
			if err != nil {
				s.Log.Error("web: jobs.json", "err", err)
				WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": "internal error"})
				return
			}
			js = append(js, j)
		}
	} else {
		f, err := jobFilter(r.URL.Query())
		if err != nil {
			WriteJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		all, err := s.Store.Jobs(ctx, f)
		if err != nil {
			s.Log.Error("web: jobs.json", "err", err)
			WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": "internal error"})
			return
		}
		js = newest(all, jobsPerPage)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"jobs": s.JobRows(ctx, js, false)})
}
