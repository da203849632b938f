package hqweb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/appliance/web"
	"github.com/outpostdc/outpost/sync/hq"
)

const (
	machinesPerPage = 200
	jobsPerPage     = 200
	// timelineLen bounds a machine's timeline, newest first.
	timelineLen = 200
	// pollSeconds reloads pages with live jobs in browsers without
	// JavaScript; with it, app.js polls jobs.json.
	pollSeconds = 5
)

// --- sites

type siteRow struct {
	hq.Site
	// Link is connected, partitioned or never.
	Link   string
	Totals hq.SiteTotals
	Lag    string
}

type sitesPage struct {
	Rows        []siteRow
	Partitioned time.Duration
}

func (s *Server) sites(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	ctx := r.Context()
	var sites []hq.Site
	var totals map[string]hq.SiteTotals
	if !s.load(w, r, ss,
		func() (err error) { sites, err = s.Store.Sites(ctx); return },
		func() (err error) { totals, err = s.Store.Totals(ctx); return }) {
		return
	}
	d := sitesPage{Partitioned: s.Partitioned}
	for _, x := range sites {
		row := siteRow{Site: x, Totals: totals[x.ID], Lag: (time.Duration(x.LagMS) * time.Millisecond).String(), Link: "never"}
		if x.LastContact != nil {
			row.Link = "connected"
			if time.Since(*x.LastContact) > s.Partitioned {
				row.Link = "partitioned"
			}
		}
		d.Rows = append(d.Rows, row)
	}
	s.render(w, r, http.StatusOK, "sites", ss, "Sites", d)
}

// load runs the steps that read a page's data in turn; the first error
// is rendered, and false says so.
func (s *Server) load(w http.ResponseWriter, r *http.Request, ss *web.Session, steps ...func() error) bool {
	for _, step := range steps {
		if err := step(); err != nil {
			s.fail(w, r, ss, err)
			return false
		}
	}
	return true
}

// siteIDs lists the sites for filter menus.
func (s *Server) siteIDs(ctx context.Context) ([]string, error) {
	sites, err := s.Store.Sites(ctx)
	var out []string
	for _, x := range sites {
		out = append(out, x.ID)
	}
	return out, err
}

// --- machines

type machinesPage struct {
	Site, State, Class, Q string
	Sites, States         []string
	Classes               []string
	Counts                []web.StateCount
	Total                 int
	Table                 web.MachineTable
	Next                  string
}

// machineBase is the URL prefix of a site's machine pages.
func machineBase(site string) string { return Base + "/sites/" + url.PathEscape(site) }

func (s *Server) machines(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	ctx := r.Context()
	q := r.URL.Query()
	d := machinesPage{Site: q.Get("site"), State: q.Get("state"), Class: q.Get("class"), Q: strings.TrimSpace(q.Get("q"))}
	mq := hq.MachineQuery{Site: d.Site, State: d.State, Class: d.Class, Search: d.Q, Limit: s.perPage}
	if a := q.Get("after"); a != "" {
		i := strings.LastIndexByte(a, ':')
		if i < 0 {
			s.fail(w, r, ss, appliance.Errorf(appliance.CodeInvalid, "bad page cursor %q", a))
			return
		}
		mq.After = hq.Ref{Site: a[:i], Key: a[i+1:]}
	}
	var fs []hq.Fact
	var counts map[string]int
	if !s.load(w, r, ss,
		func() (err error) { fs, err = s.Store.SearchMachines(ctx, mq); return },
		func() (err error) { counts, err = s.Store.MachineStates(ctx, d.Site); return },
		func() (err error) { d.Sites, err = s.siteIDs(ctx); return },
		func() (err error) { d.Classes, err = s.Store.Classes(ctx); return }) {
		return
	}
	filters := url.Values{}
	for k, v := range map[string]string{"site": d.Site, "state": d.State, "class": d.Class, "q": d.Q} {
		if v != "" {
			filters.Set(k, v)
		}
	}
	for _, st := range appliance.States() {
		d.States = append(d.States, string(st))
		d.Total += counts[string(st)]
		v := url.Values{"state": {string(st)}}
		if d.Site != "" {
			v.Set("site", d.Site)
		}
		d.Counts = append(d.Counts, web.StateCount{State: st, N: counts[string(st)], Href: Base + "/machines?" + v.Encode(),
			Active: string(st) == d.State})
	}
	d.Table.ShowSite = true
	for _, f := range fs {
		var m appliance.Machine
		if err := hq.DecodeRow("machines", f.Data, &m); err != nil {
			s.Log.Warn("hq web: unreadable machine", "site", f.Site, "key", f.Key, "err", err)
			continue
		}
		d.Table.Rows = append(d.Table.Rows, web.MachineRows([]appliance.Machine{m}, f.Site, machineBase(f.Site))...)
	}
	if len(fs) == s.perPage {
		last := fs[len(fs)-1]
		filters.Set("after", last.Site+":"+last.Key)
		d.Next = Base + "/machines?" + filters.Encode()
	}
	s.render(w, r, http.StatusOK, "machines", ss, "Machines", d)
}

type machinePage struct {
	Site     string
	M        appliance.Machine
	HW       web.Hardware
	Leases   []appliance.Lease
	Jobs     web.JobTable
	Timeline []appliance.TimelineEntry
	Live     bool
}

func (d machinePage) refresh() int { return refreshIf(d.Live) }

func refreshIf(live bool) int {
	if live {
		return pollSeconds
	}
	return 0
}

func (s *Server) machine(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	ctx := r.Context()
	site, id := r.PathValue("site"), r.PathValue("id")
	d := machinePage{Site: site}
	of := map[string]string{"machine_id": id}
	var macs []string
	var audit, jobs []hq.Fact
	if !s.load(w, r, ss,
		func() error {
			fs, err := s.Store.Facts(ctx, hq.FactFilter{Kind: "machines", Site: site, Key: id})
			if err == nil && len(fs) == 0 {
				return appliance.Errorf(appliance.CodeNotFound, "site %q has no machine %q", site, id)
			}
			if err != nil {
				return err
			}
			return hq.DecodeRow("machines", fs[0].Data, &d.M)
		},
		func() error {
			fs, err := s.Store.Facts(ctx, hq.FactFilter{Kind: "interfaces", Site: site, Where: of})
			for _, f := range fs {
				var i appliance.Interface
				if hq.DecodeRow("interfaces", f.Data, &i) == nil {
					d.M.Interfaces = append(d.M.Interfaces, i)
					macs = append(macs, i.MAC)
				}
			}
			return err
		},
		func() error {
			fs, err := s.Store.Facts(ctx, hq.FactFilter{Kind: "leases", Site: site, AnyOf: map[string][]string{"mac": macs}})
			for _, f := range fs {
				var l appliance.Lease
				if hq.DecodeRow("leases", f.Data, &l) == nil {
					d.Leases = append(d.Leases, l)
				}
			}
			return err
		},
		func() (err error) {
			audit, err = s.Store.Facts(ctx, hq.FactFilter{Kind: "audit_log", Site: site, Where: of, NewestBy: "ts", Limit: timelineLen})
			return
		},
		func() (err error) {
			jobs, err = s.Store.Facts(ctx, hq.FactFilter{Kind: "jobs", Site: site, Where: of, NewestBy: "created_at", Limit: 50})
			return
		}) {
		return
	}
	d.HW = web.HardwareOf(d.M.Hardware)
	for _, f := range audit {
		var a appliance.AuditEntry
		if hq.DecodeRow("audit_log", f.Data, &a) == nil {
			d.Timeline = append(d.Timeline, auditEntry(a))
		}
	}
	d.Jobs.Rows = s.jobRows(ctx, jobs, map[hq.Ref]string{{Site: site, Key: id}: d.M.Serial})
	for _, j := range d.Jobs.Rows {
		d.Live = d.Live || !j.Status.Done()
		d.Timeline = append(d.Timeline, jobEntry(j))
	}
	// Newest first; an audit entry and a job step at the same instant
	// keep their order.
	slices.SortStableFunc(d.Timeline, func(a, b appliance.TimelineEntry) int { return b.Time.Compare(a.Time) })
	if len(d.Timeline) > timelineLen {
		d.Timeline = d.Timeline[:timelineLen]
	}
	s.render(w, r, http.StatusOK, "machine", ss, d.M.Serial, d)
}

// auditEntry is an audit line in a timeline, worded as at the site.
func auditEntry(a appliance.AuditEntry) appliance.TimelineEntry {
	what := a.Action
	if a.To != "" {
		if a.From != "" {
			what += " " + string(a.From)
		}
		what += " -> " + string(a.To)
	}
	if a.Reason != "" {
		what += ": " + a.Reason
	}
	return appliance.TimelineEntry{Time: a.Time, Source: "audit", Kind: a.Action, Summary: what, Actor: a.Actor, Detail: a.Detail}
}

// jobEntry is a job's line in a timeline: where it stands as of its last
// change. The audit log has its steps.
func jobEntry(j web.JobRow) appliance.TimelineEntry {
	e := appliance.TimelineEntry{Time: j.Updated, Source: "job", Kind: string(j.Action), Actor: j.Requester,
		Summary: fmt.Sprintf("job %d %s %s", j.ID, j.Action, j.Status)}
	switch {
	case j.Status.Done():
		if j.Outcome != "" {
			e.Summary += ": " + j.Outcome
		}
	case j.Running:
		e.Summary += fmt.Sprintf(": %s, %s %s", j.State, j.PctText, j.Step)
	default:
		e.Summary += ": " + j.State
	}
	return e
}

// --- jobs

// jobRows makes job rows of job facts, with their machines' serials
// looked up in one query; known serials may be passed in.
func (s *Server) jobRows(ctx context.Context, fs []hq.Fact, serials map[hq.Ref]string) []web.JobRow {
	type job struct {
		site string
		j    appliance.Job
	}
	var js []job
	var need []hq.Ref
	for _, f := range fs {
		var j appliance.Job
		if err := hq.DecodeRow("jobs", f.Data, &j); err != nil {
			s.Log.Warn("hq web: unreadable job", "site", f.Site, "key", f.Key, "err", err)
			continue
		}
		js = append(js, job{f.Site, j})
		if ref := (hq.Ref{Site: f.Site, Key: strconv.FormatInt(j.MachineID, 10)}); serials[ref] == "" {
			need = append(need, ref)
		}
	}
	if len(need) > 0 {
		ms, err := s.Store.FactsAt(ctx, "machines", need)
		if err != nil {
			s.Log.Warn("hq web: serials", "err", err)
		}
		if serials == nil {
			serials = map[hq.Ref]string{}
		}
		for ref, f := range ms {
			var m struct{ Serial string }
			json.Unmarshal(f.Data, &m)
			serials[ref] = m.Serial
		}
	}
	out := make([]web.JobRow, 0, len(js))
	for _, x := range js {
		mid := strconv.FormatInt(x.j.MachineID, 10)
		row := web.JobRowOf(x.j, machineBase(x.site)+"/machines/"+mid)
		row.Site, row.Key = x.site, x.site+":"+row.Key
		if row.Serial = serials[hq.Ref{Site: x.site, Key: mid}]; row.Serial == "" {
			row.Serial = "machine " + mid
		}
		out = append(out, row)
	}
	return out
}

type jobsPage struct {
	Site, Status, Action string
	Sites                []string
	Statuses, Actions    []string
	Table                web.JobTable
	Live                 bool
}

func (d jobsPage) refresh() int { return refreshIf(d.Live) }

// jobFilter reads the site, status and action filters; status "active"
// means queued or running.
func jobFilter(q url.Values) (hq.FactFilter, error) {
	f := hq.FactFilter{Kind: "jobs", Site: q.Get("site"), NewestBy: "created_at", Limit: jobsPerPage, AnyOf: map[string][]string{}}
	switch st := appliance.JobStatus(q.Get("status")); st {
	case "":
	case "active":
		f.AnyOf["status"] = []string{string(appliance.JobQueued), string(appliance.JobRunning)}
	case appliance.JobQueued, appliance.JobRunning, appliance.JobSucceeded, appliance.JobFailed, appliance.JobCancelled:
		f.AnyOf["status"] = []string{string(st)}
	default:
		return f, appliance.Errorf(appliance.CodeInvalid, "unknown job status %q", st)
	}
	if a := appliance.JobAction(q.Get("action")); a != "" {
		if !a.Valid() {
			return f, appliance.Errorf(appliance.CodeInvalid, "unknown job action %q", a)
		}
		f.AnyOf["action"] = []string{string(a)}
	}
	return f, nil
}

func (s *Server) jobs(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	ctx := r.Context()
	q := r.URL.Query()
	f, err := jobFilter(q)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	d := jobsPage{Site: f.Site, Status: q.Get("status"), Action: q.Get("action"),
		Statuses: []string{"active", "queued", "running", "succeeded", "failed", "cancelled"},
		Actions:  []string{string(appliance.ActionInstall), string(appliance.ActionRecycle), string(appliance.ActionPower)}}
	var fs []hq.Fact
	if !s.load(w, r, ss,
		func() (err error) { fs, err = s.Store.Facts(ctx, f); return },
		func() (err error) { d.Sites, err = s.siteIDs(ctx); return }) {
		return
	}
	d.Table = web.JobTable{ShowSite: true, ShowMachine: true, Rows: s.jobRows(ctx, fs, nil)}
	for _, j := range d.Table.Rows {
		d.Live = d.Live || !j.Status.Done()
	}
	s.render(w, r, http.StatusOK, "jobs", ss, "Jobs", d)
}

// jobsJSON feeds app.js's progress poll: the jobs named by key (site:ID,
// one per id parameter).
func (s *Server) jobsJSON(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	keys := r.URL.Query()["id"]
	if len(keys) > jobsPerPage {
		keys = keys[:jobsPerPage]
	}
	var refs []hq.Ref
	for _, k := range keys {
		i := strings.LastIndexByte(k, ':')
		if i < 0 {
			web.WriteJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("bad job key %q: want site:id", k)})
			return
		}
		refs = append(refs, hq.Ref{Site: k[:i], Key: k[i+1:]})
	}
	found, err := s.Store.FactsAt(r.Context(), "jobs", refs)
	if err != nil {
		s.Log.Error("hq web: jobs.json", "err", err)
		web.WriteJSON(w, http.StatusInternalServerError, map[string]any{"error": "internal error"})
		return
	}
	var fs []hq.Fact
	for _, ref := range refs {
		if f, ok := found[ref]; ok {
			fs = append(fs, f)
		}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"jobs": s.jobRows(r.Context(), fs, nil)})
}

// --- requests

// requestForm is the new-request form as typed, kept to show it again
// with an error.
type requestForm struct {
	Site, Count, Role, Class, MinCPUs, MinMemory, Pattern, Image string
}

type requestRow struct {
	ID        int64
	Site      string
	Spec      appliance.ProvisionSpec
	Created   time.Time
	By        string
	Withdrawn bool
	// Status is the site's word (open, short, complete, withdrawn), or
	// where the request is on its way there.
	Status, Reason                      string
	Allocated, Installing, Done, Failed int
	Percent                             float64
	CanWithdraw                         bool
}

type requestsPage struct {
	Site    string
	Sites   []string
	Rows    []requestRow
	Form    requestForm
	Error   string
	CanEdit bool
	Refusal string
	Notice  string
}

func (d requestsPage) flash() string { return d.Notice }

func (s *Server) requests(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	d := requestsPage{Form: requestForm{Count: "1", Pattern: "{role}-{n:03}"}}
	q := r.URL.Query()
	id, _ := strconv.ParseInt(q.Get("id"), 10, 64)
	// Fixed texts, so that a crafted link cannot put words on the page.
	switch q.Get("done") {
	case "created":
		d.Notice = fmt.Sprintf("Request %d sent.", id)
	case "withdrawn":
		d.Notice = fmt.Sprintf("Request %d withdrawn.", id)
	}
	s.showRequests(w, r, ss, http.StatusOK, d)
}

func (s *Server) showRequests(w http.ResponseWriter, r *http.Request, ss *web.Session, status int, d requestsPage) {
	ctx := r.Context()
	d.Site = r.URL.Query().Get("site")
	var sites []hq.Site
	var reqs []hq.Request
	if !s.load(w, r, ss,
		func() (err error) { sites, err = s.Store.Sites(ctx); return },
		func() (err error) { reqs, err = s.Store.Requests(ctx, d.Site); return }) {
		return
	}
	cursor := map[string]int64{}
	for _, x := range sites {
		d.Sites = append(d.Sites, x.ID)
		cursor[x.ID] = x.IntentCursor
	}
	for _, x := range slices.Backward(reqs) {
		d.Rows = append(d.Rows, requestRowOf(x, cursor[x.Site]))
	}
	d.CanEdit = ss.User.Role.Can(appliance.RoleTechnician)
	if !d.CanEdit {
		d.Refusal = fmt.Sprintf("You are signed in as a %s: a %s cannot create or withdraw requests; needs %s.",
			ss.User.Role, ss.User.Role, appliance.RoleTechnician)
	}
	s.render(w, r, status, "requests", ss, "Requests", d)
}

// requestRowOf joins a request with its site's last report; cursor is how
// far the site has fetched intents.
func requestRowOf(x hq.Request, cursor int64) requestRow {
	row := requestRow{ID: x.ID, Site: x.Site, Created: x.CreatedAt, By: x.CreatedBy, Withdrawn: x.Withdrawn}
	json.Unmarshal(x.Spec, &row.Spec)
	var p sqlite.ProvisionRequest
	switch {
	case len(x.Progress) > 0 && hq.DecodeRow("provision_requests", x.Progress, &p) == nil:
		row.Status, row.Reason = p.Status, p.Reason
		row.Allocated, row.Installing, row.Done, row.Failed = p.Allocated, p.Installing, p.Done, p.Failed
	case x.IntentSeq <= cursor:
		row.Status = "received"
	default:
		row.Status = "sent"
		row.Reason = "waiting for the site to fetch it"
	}
	if x.Withdrawn && row.Status != "withdrawn" {
		row.Status, row.Reason = "withdrawing", "withdrawn at HQ; the site has not confirmed yet"
	}
	if row.Spec.Count > 0 {
		row.Percent = min(100, float64(row.Done)*100/float64(row.Spec.Count))
	}
	row.CanWithdraw = !x.Withdrawn && row.Status != "complete"
	return row
}

// editing checks a posted request form: its CSRF token, then that the
// operator may change requests. A refusal is rendered; false says so.
func (s *Server) editing(w http.ResponseWriter, r *http.Request, ss *web.Session, verb string) bool {
	err := s.sessions.Posted(w, r, ss)
	if err == nil && !ss.User.Role.Can(appliance.RoleTechnician) {
		err = appliance.Errorf(appliance.CodeForbidden, "%s is a %s: a %s cannot %s; needs %s",
			ss.User.Name, ss.User.Role, ss.User.Role, verb, appliance.RoleTechnician)
	}
	if err != nil {
		s.fail(w, r, ss, err)
		return false
	}
	return true
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	if !s.editing(w, r, ss, "create requests") {
		return
	}
	f := r.PostForm
	form := requestForm{Site: f.Get("site"), Count: f.Get("count"), Role: strings.TrimSpace(f.Get("role")),
		Class: strings.TrimSpace(f.Get("hw_class")), MinCPUs: f.Get("min_cpus"), MinMemory: f.Get("min_memory_gib"),
		Pattern: strings.TrimSpace(f.Get("hostname_pattern")), Image: strings.TrimSpace(f.Get("image"))}
	spec, err := specOf(form)
	var id int64
	if err == nil {
		id, _, err = s.Store.CreateRequest(r.Context(), form.Site, spec, ss.User.Name)
	}
	if err != nil {
		if code := appliance.ErrorCode(err); code != appliance.CodeInvalid && code != appliance.CodeNotFound {
			s.fail(w, r, ss, err)
			return
		}
		s.showRequests(w, r, ss, http.StatusBadRequest, requestsPage{Form: form, Error: err.Error()})
		return
	}
	s.Log.Info("hq web: request", "operator", ss.User.Name, "site", form.Site, "id", id, "count", spec.Count, "role", spec.Role)
	http.Redirect(w, r, fmt.Sprintf("%s/requests?done=created&id=%d", Base, id), http.StatusSeeOther)
}

// specOf reads the form's numbers; the store checks the rest.
func specOf(f requestForm) (appliance.ProvisionSpec, error) {
	spec := appliance.ProvisionSpec{Role: f.Role, Class: f.Class, HostnamePattern: f.Pattern, Image: f.Image}
	for _, n := range []struct {
		name, text string
		into       *int
	}{{"count", f.Count, &spec.Count}, {"minimum cores", f.MinCPUs, &spec.MinCores}, {"minimum memory", f.MinMemory, &spec.MinMemoryGiB}} {
		if strings.TrimSpace(n.text) == "" {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(n.text))
		if err != nil || v < 0 {
			return spec, appliance.Errorf(appliance.CodeInvalid, "%s must be a whole number, not %q", n.name, n.text)
		}
		*n.into = v
	}
	if f.Site == "" {
		return spec, appliance.Errorf(appliance.CodeInvalid, "choose a site")
	}
	return spec, nil
}

func (s *Server) withdraw(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	if !s.editing(w, r, ss, "withdraw requests") {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.fail(w, r, ss, appliance.Errorf(appliance.CodeNotFound, "no request %q", r.PathValue("id")))
		return
	}
	if err := s.Store.WithdrawRequest(r.Context(), id, ss.User.Name); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	s.Log.Info("hq web: withdraw", "operator", ss.User.Name, "id", id)
	http.Redirect(w, r, fmt.Sprintf("%s/requests?done=withdrawn&id=%d", Base, id), http.StatusSeeOther)
}

// --- conflicts

type conflictRow struct {
	sqlite.Conflict
	Site, Serial, MachineHref string
}

type conflictsPage struct {
	Site, Status    string
	Sites, Statuses []string
	Rows            []conflictRow
}

func (s *Server) conflicts(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	ctx := r.Context()
	q := r.URL.Query()
	d := conflictsPage{Site: q.Get("site"), Status: q.Get("status"), Statuses: []string{"open", "resolved"}}
	f := hq.FactFilter{Kind: "conflicts", Site: d.Site, NewestBy: "created_at", Limit: 500}
	switch d.Status {
	case "":
	case "open", "resolved":
		f.Where = map[string]string{"status": d.Status}
	default:
		s.fail(w, r, ss, appliance.Errorf(appliance.CodeInvalid, "status is open or resolved, not %q", d.Status))
		return
	}
	var fs []hq.Fact
	if !s.load(w, r, ss,
		func() (err error) { fs, err = s.Store.Facts(ctx, f); return },
		func() (err error) { d.Sites, err = s.siteIDs(ctx); return }) {
		return
	}
	var refs []hq.Ref
	for _, f := range fs {
		var c sqlite.Conflict
		if err := hq.DecodeRow("conflicts", f.Data, &c); err != nil {
			s.Log.Warn("hq web: unreadable conflict", "site", f.Site, "key", f.Key, "err", err)
			continue
		}
		row := conflictRow{Conflict: c, Site: f.Site}
		if c.MachineID != 0 {
			mid := strconv.FormatInt(c.MachineID, 10)
			row.MachineHref = machineBase(f.Site) + "/machines/" + mid
			refs = append(refs, hq.Ref{Site: f.Site, Key: mid})
		}
		d.Rows = append(d.Rows, row)
	}
	ms, err := s.Store.FactsAt(ctx, "machines", refs)
	if err != nil {
		s.fail(w, r, ss, err)
		return
	}
	for i, row := range d.Rows {
		var m struct{ Serial string }
		json.Unmarshal(ms[hq.Ref{Site: row.Site, Key: strconv.FormatInt(row.MachineID, 10)}].Data, &m)
		d.Rows[i].Serial = m.Serial
	}
	s.render(w, r, http.StatusOK, "conflicts", ss, "Conflicts", d)
}
