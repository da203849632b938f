package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/api"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/appliance/web/webtest"
	"github.com/outpostdc/outpost/recon"
)

func TestLoginAndRedirects(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)

	r := c.Get("/ui/machines?state=ready")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/machines?state=ready") {
		t.Fatalf("no session: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := c.Get("/ui/jobs.json"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("jobs.json without session: %d", r.StatusCode)
	}
	r = c.Get("/ui/login?next=%2Fui%2Fjobs")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `name="password"`) || !strings.Contains(r.Body, `value="/ui/jobs"`) {
		t.Fatalf("login form: %d\n%s", r.StatusCode, r.Body)
	}
	// Every page is uncached and locked to the box's own assets.
	if cc, csp := r.Header.Get("Cache-Control"), r.Header.Get("Content-Security-Policy"); cc != "no-store" || !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("headers: Cache-Control %q, CSP %q", cc, csp)
	}

	r = c.Post("/ui/login", url.Values{"user": {techUser}, "password": {"not-the-password"}, "next": {"/ui/jobs"}})
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Body, "wrong user name or password") || len(r.Cookies()) != 0 {
		t.Fatalf("bad password: %d %v\n%s", r.StatusCode, r.Cookies(), r.Body)
	}

	r = c.Post("/ui/login", url.Values{"user": {techUser}, "password": {techPass}, "next": {"/ui/jobs"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/jobs" {
		t.Fatalf("login: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	var sess *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == api.SessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.Secure {
		t.Fatalf("session cookie: %+v", sess)
	}
	// The cookie is a real session of the store, which the API accepts too.
	if u, err := f.st.Authenticate(context.Background(), sess.Value); err != nil || u.Name != techUser {
		t.Fatalf("session in store: %+v %v", u, err)
	}

	r = c.Get("/ui/machines")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, techUser) || !strings.Contains(r.Body, "par1") {
		t.Fatalf("machines after login: %d\n%s", r.StatusCode, r.Body)
	}
	if r := c.Get("/ui/"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/machines" {
		t.Fatalf("/ui/: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := c.Get("/ui/static/app.js"); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "jobs.json") {
		t.Fatalf("app.js: %d", r.StatusCode)
	}
	if r := c.Get("/ui/static/"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("static listing: %d", r.StatusCode)
	}
	if r := c.Get("/ui/nowhere"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown page: %d", r.StatusCode)
	}
	// Logged in, the login page forwards; it never forwards off the UI.
	for next, want := range map[string]string{"/ui/jobs": "/ui/jobs", "//evil.example/x": "/ui/machines",
		"https://evil.example/": "/ui/machines", "/ui/../api/v1/users": "/ui/machines", "/api/v1/users": "/ui/machines"} {
		if r := c.Get("/ui/login?next=" + url.QueryEscape(next)); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != want {
			t.Errorf("next %q: %d %q, want %q", next, r.StatusCode, r.Header.Get("Location"), want)
		}
	}

	// Logout needs the form's token, then ends the session in the store.
	page := c.Get("/ui/machines").Body
	if r := c.Post("/ui/logout", url.Values{"csrf": {"forged"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without token: %d", r.StatusCode)
	}
	if r := c.Post("/ui/logout", url.Values{"csrf": {webtest.CSRFOf(t, page)}}); r.StatusCode != http.StatusSeeOther ||
		r.Header.Get("Location") != "/ui/login?bye=1" {
		t.Fatalf("logout: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if _, err := f.st.Authenticate(context.Background(), sess.Value); !appliance.IsCode(err, appliance.CodeUnauthorized) {
		t.Fatalf("session survived logout: %v", err)
	}
	if r := c.Get("/ui/machines"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d", r.StatusCode)
	}
}

// tableSerials lists the serials linked from the machine table.
func tableSerials(page string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<a class="serial" href="/ui/machines/\d+">([^<]+)</a>`).FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestMachineFilters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.machine(t, "SRV-1001", "r1", "52:54:00:00:10:01")
	b := f.machine(t, "SRV-1002", "r2", "52:54:00:00:10:02")
	f.machine(t, "SRV-2001", "r2", "52:54:00:00:20:01")
	if _, err := f.st.Transition(ctx, b.ID, appliance.StateBroken, "test", "disk <failed>"); err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	login(c, viewerUser, viewerPass)
	for q, want := range map[string]string{
		"":                          "SRV-1001 SRV-1002 SRV-2001",
		"q=srv-10":                  "SRV-1001 SRV-1002",
		"q=52:54:00:00:20":          "SRV-2001",
		"q=srv-2001.par1":           "SRV-2001",
		"state=broken":              "SRV-1002",
		"state=ready":               "SRV-1001 SRV-2001",
		"rack=r2":                   "SRV-1002 SRV-2001",
		"rack=r2&state=ready":       "SRV-2001",
		"q=nothing-like-this":       "",
		"q=" + url.QueryEscape("%"): "",
	} {
		r := c.Get("/ui/machines?" + q)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d\n%s", q, r.StatusCode, r.Body)
		}
		if got := strings.Join(tableSerials(r.Body), " "); got != want {
			t.Errorf("%s: got %q, want %q", q, got, want)
		}
	}
	r := c.Get("/ui/machines?state=ready")
	// Counts by state, and the filter kept in the form.
	if !strings.Contains(r.Body, `<span class="n">2</span> ready`) || !strings.Contains(r.Body, `<span class="n">1</span> broken`) ||
		!strings.Contains(r.Body, `<option value="ready" selected>`) {
		t.Fatalf("counts or selected state missing:\n%s", r.Body)
	}
	// The reason is shown, escaped.
	if r := c.Get("/ui/machines?state=broken"); !strings.Contains(r.Body, "disk &lt;failed&gt;") || strings.Contains(r.Body, "disk <failed>") {
		t.Fatalf("reason not escaped:\n%s", r.Body)
	}
	if r := c.Get("/ui/machines?state=melted"); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.Body, "unknown state") {
		t.Fatalf("bad state: %d\n%s", r.StatusCode, r.Body)
	}
}

func TestMachinePage(t *testing.T) {
	f := newFixture(t)
	m := f.machine(t, "SRV-4242", "r7", "52:54:00:00:42:42")
	f.waitingAgent(t, m)
	c := f.client(t)
	login(c, techUser, techPass)
	r := c.Get(fmt.Sprintf("/ui/machines/%d", m.ID))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("machine page: %d\n%s", r.StatusCode, r.Body)
	}
	for _, want := range []string{"SRV-4242", "srv-4242.par1", "r7", "10.1.0.42", "52:54:00:00:42:42",
		"2 × Xeon Gold 6338, 64 cores, 128 threads", "512 GiB", "nvme1n1", "3.8 TB",
		"boot.ipxe: ready -&gt; recon image in wait mode", "DISCOVER -&gt; OFFER", "racked", `id="act-recycle"`,
		`id="act-freeze"`, `id="act-power-cycle"`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("machine page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(r.Body)
	}
	if r := c.Get("/ui/machines/999"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("missing machine: %d", r.StatusCode)
	}
	if r := c.Get("/ui/machines/x"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("bad id: %d", r.StatusCode)
	}
}

func TestViewerRefused(t *testing.T) {
	f := newFixture(t)
	m := f.machine(t, "SRV-5001", "r1", "52:54:00:00:50:01")
	c := f.client(t)
	login(c, viewerUser, viewerPass)
	page := c.Get(fmt.Sprintf("/ui/machines/%d", m.ID)).Body
	if strings.Contains(page, `id="act-recycle"`) || !strings.Contains(page, "viewer cannot start a recycle") {
		t.Fatalf("viewer sees the recycle button or no refusal:\n%s", page)
	}
	for _, action := range []string{"recycle", "power-cycle", "freeze"} {
		r := c.Post(fmt.Sprintf("/ui/machines/%d/actions", m.ID), url.Values{"csrf": {webtest.CSRFOf(t, page)}, "action": {action},
			"confirmed": {"1"}, "reason": {"because"}})
		if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Body, "viewer cannot") || !strings.Contains(r.Body, "needs technician") {
			t.Fatalf("viewer %s: %d\n%s", action, r.StatusCode, r.Body)
		}
		if action == "recycle" && !strings.Contains(r.Body, "viewer cannot start a recycle; needs technician") {
			t.Fatalf("recycle refusal message:\n%s", r.Body)
		}
	}
	if js, _ := f.st.Jobs(context.Background(), sqlite.JobFilter{}); len(js) != 0 {
		t.Fatalf("viewer made jobs: %+v", js)
	}
	if mm, _ := f.st.Machine(context.Background(), m.ID); mm.State != appliance.StateReady {
		t.Fatalf("viewer changed the machine: %s", mm.State)
	}
}

func TestCSRFRefused(t *testing.T) {
	f := newFixture(t)
	m := f.machine(t, "SRV-6001", "r1", "52:54:00:00:60:01")
	path := fmt.Sprintf("/ui/machines/%d/actions", m.ID)
	c := f.client(t)
	login(c, techUser, techPass)
	own := webtest.CSRFOf(t, c.Get(fmt.Sprintf("/ui/machines/%d", m.ID)).Body)
	// A token of another session is no good for this one.
	other := f.client(t)
	login(other, techUser, techPass)
	foreign := webtest.CSRFOf(t, other.Get("/ui/machines").Body)
	if foreign == own {
		t.Fatal("two sessions share a CSRF token")
	}
	for name, tok := range map[string]string{"none": "", "forged": "AAAA", "other session": foreign} {
		r := c.Post(path, url.Values{"csrf": {tok}, "action": {"recycle"}, "confirmed": {"1"}})
		if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Body, "CSRF") {
			t.Fatalf("%s token: %d\n%s", name, r.StatusCode, r.Body)
		}
	}
	// A post from another site is refused before anything else.
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+path, strings.NewReader(url.Values{"csrf": {own}, "action": {"recycle"}, "confirmed": {"1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r := c.Do(req); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin post: %d", r.StatusCode)
	}
	if js, _ := f.st.Jobs(context.Background(), sqlite.JobFilter{}); len(js) != 0 {
		t.Fatalf("refused posts made jobs: %+v", js)
	}
	// The right token works.
	if r := c.Post(path, url.Values{"csrf": {own}, "action": {"recycle"}, "confirmed": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("with the token: %d\n%s", r.StatusCode, r.Body)
	}
}

func TestActionsConfirmAndAudit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	m := f.machine(t, "SRV-7001", "r1", "52:54:00:00:70:01")
	path := fmt.Sprintf("/ui/machines/%d/actions", m.ID)
	c := f.client(t)
	login(c, techUser, techPass)
	tok := webtest.CSRFOf(t, c.Get(fmt.Sprintf("/ui/machines/%d", m.ID)).Body)

	// Without confirmation: the confirm page, and nothing done.
	r := c.Post(path, url.Values{"csrf": {tok}, "action": {"recycle"}, "full": {"true"}})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `name="confirmed" value="1"`) || !strings.Contains(r.Body, "Every disk") ||
		!strings.Contains(r.Body, `value="true" checked`) {
		t.Fatalf("confirm page: %d\n%s", r.StatusCode, r.Body)
	}
	if js, _ := f.st.Jobs(ctx, sqlite.JobFilter{}); len(js) != 0 {
		t.Fatalf("unconfirmed recycle made a job: %+v", js)
	}
	// Confirmed: a job, requested by the user, and the user in the audit log.
	r = c.Post(path, url.Values{"csrf": {tok}, "action": {"recycle"}, "full": {"true"}, "confirmed": {"1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("recycle: %d\n%s", r.StatusCode, r.Body)
	}
	js, _ := f.st.Jobs(ctx, sqlite.JobFilter{})
	if len(js) != 1 || js[0].Action != appliance.ActionRecycle || js[0].Requester != techUser || js[0].Params["full"] != "true" {
		t.Fatalf("jobs: %+v", js)
	}
	if loc := r.Header.Get("Location"); loc != fmt.Sprintf("/ui/machines/%d?done=recycle&job=%d", m.ID, js[0].ID) {
		t.Fatalf("redirect %q", loc)
	}
	page := c.Get(r.Header.Get("Location")).Body
	if !strings.Contains(page, fmt.Sprintf("Recycle queued as job %d.", js[0].ID)) || strings.Contains(page, `id="act-recycle"`) {
		t.Fatalf("after recycle:\n%s", page)
	}
	// A second recycle while one is queued is a conflict, shown as such.
	r = c.Post(path, url.Values{"csrf": {tok}, "action": {"recycle"}, "confirmed": {"1"}})
	if r.StatusCode != http.StatusConflict || !strings.Contains(r.Body, "already has job") {
		t.Fatalf("second recycle: %d\n%s", r.StatusCode, r.Body)
	}
	// Cancel it (queued: the machine is untouched).
	r = c.Post(path, url.Values{"csrf": {tok}, "action": {"cancel"}, "job": {fmt.Sprint(js[0].ID)}, "confirmed": {"1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %d\n%s", r.StatusCode, r.Body)
	}
	if j, _ := f.st.Job(ctx, js[0].ID); j.Status != appliance.JobCancelled {
		t.Fatalf("job after cancel: %+v", j)
	}

	// Freeze needs a reason.
	r = c.Post(path, url.Values{"csrf": {tok}, "action": {"freeze"}, "confirmed": {"1"}})
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.Body, "A reason is required") {
		t.Fatalf("freeze without reason: %d\n%s", r.StatusCode, r.Body)
	}
	r = c.Post(path, url.Values{"csrf": {tok}, "action": {"freeze"}, "reason": {"cable swap"}, "confirmed": {"1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("freeze: %d\n%s", r.StatusCode, r.Body)
	}
	mm, _ := f.st.Machine(ctx, m.ID)
	if mm.State != appliance.StateFrozen || mm.StateReason != "cable swap" {
		t.Fatalf("after freeze: %s %q", mm.State, mm.StateReason)
	}
	page = c.Get(fmt.Sprintf("/ui/machines/%d", m.ID)).Body
	if !strings.Contains(page, `id="act-unfreeze"`) || strings.Contains(page, `id="act-recycle"`) || !strings.Contains(page, "machine is frozen") {
		t.Fatalf("frozen machine page:\n%s", page)
	}
	if r := c.Post(path, url.Values{"csrf": {tok}, "action": {"unfreeze"}, "confirmed": {"1"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("unfreeze: %d\n%s", r.StatusCode, r.Body)
	}
	if mm, _ := f.st.Machine(ctx, m.ID); mm.State != appliance.StateReady {
		t.Fatalf("after unfreeze: %s", mm.State)
	}
	audit, _ := f.st.Audit(ctx, m.ID, 0)
	acts := map[string]bool{}
	for _, a := range audit {
		if a.Actor == techUser {
			acts[a.Action+":"+string(a.To)] = true
		}
	}
	for _, want := range []string{"job_created:", "job:", "state:frozen", "state:ready"} {
		if !acts[want] {
			t.Errorf("audit lacks %s by %s: %+v", want, techUser, audit)
		}
	}
	if r := c.Post(path, url.Values{"csrf": {tok}, "action": {"explode"}, "confirmed": {"1"}}); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown action: %d", r.StatusCode)
	}
}

func TestJobsProgressAndFilters(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	m := f.machine(t, "SRV-8001", "r1", "52:54:00:00:80:01")
	agent := f.waitingAgent(t, m)
	other := f.machine(t, "SRV-8002", "r1", "52:54:00:00:80:02")
	j, err := f.eng.Submit(ctx, sqlite.NewJob{Action: appliance.ActionRecycle, MachineID: m.ID,
		Params: map[string]string{"full": "false"}}, techUser)
	if err != nil {
		t.Fatal(err)
	}
	f.advance(t, j.ID, "in the agent phase (fast track)", func(j appliance.Job) bool { return j.Phase == appliance.PhaseAgent })
	// Made after the last tick, the power job stays queued.
	pj, err := f.st.CreateJob(ctx, sqlite.NewJob{Action: appliance.ActionPower, MachineID: other.ID, Params: map[string]string{"op": "cycle"}, MaxAttempts: 1}, techUser)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Claim(ctx, agent); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Progress(ctx, agent, j.ID, recon.JobProgress{Phase: "wipe", Percent: 42, MBps: 812}); err != nil {
		t.Fatal(err)
	}

	c := f.client(t)
	login(c, viewerUser, viewerPass)
	r := c.Get("/ui/jobs")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("jobs: %d\n%s", r.StatusCode, r.Body)
	}
	row := regexp.MustCompile(fmt.Sprintf(`(?s)<tr id="job-%d".*?</tr>`, j.ID)).FindString(r.Body)
	for _, want := range []string{`data-status="running"`, `value="42"`, "42%", "812 MB/s", "wipe", "phase work", "SRV-8001"} {
		if !strings.Contains(row, want) {
			t.Errorf("running job row lacks %q:\n%s", want, row)
		}
	}
	// Without JavaScript the page reloads itself while jobs are live.
	if !strings.Contains(r.Body, `<noscript><meta http-equiv="refresh" content="5"></noscript>`) {
		t.Errorf("no refresh fallback")
	}
	for q, want := range map[string][]int64{
		"status=running": {j.ID}, "status=queued": {pj.ID}, "status=active": {j.ID, pj.ID}, "action=power": {pj.ID},
		"action=recycle&status=running": {j.ID}, "status=succeeded": nil, fmt.Sprintf("machine=%d", other.ID): {pj.ID},
	} {
		page := c.Get("/ui/jobs?" + q).Body
		var got []int64
		for _, m := range regexp.MustCompile(`<tr id="job-(\d+)"`).FindAllStringSubmatch(page, -1) {
			var id int64
			fmt.Sscan(m[1], &id)
			got = append(got, id)
		}
		if fmt.Sprint(got) != fmt.Sprint(reverse(want)) {
			t.Errorf("%s: jobs %v, want %v", q, got, reverse(want))
		}
	}
	if r := c.Get("/ui/jobs?status=bogus"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("bad status filter: %d", r.StatusCode)
	}

	poll := func() map[int64]JobRow {
		r := c.Get(fmt.Sprintf("/ui/jobs.json?id=%d,%d", j.ID, pj.ID))
		if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("jobs.json: %d %q\n%s", r.StatusCode, r.Header.Get("Cache-Control"), r.Body)
		}
		var body struct{ Jobs []JobRow }
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatal(err)
		}
		out := map[int64]JobRow{}
		for _, x := range body.Jobs {
			out[x.ID] = x
		}
		return out
	}
	got := poll()
	if x := got[j.ID]; x.Status != appliance.JobRunning || x.Percent != 42 || x.MBpsText != "812 MB/s" || x.Step != "wipe" {
		t.Fatalf("polled running job: %+v", x)
	}
	if x := got[pj.ID]; x.Status != appliance.JobQueued {
		t.Fatalf("polled queued job: %+v", x)
	}

	if err := f.eng.Result(ctx, agent, j.ID, recon.JobResult{OK: true, Summary: "wiped 2 disks"}); err != nil {
		t.Fatal(err)
	}
	if x := poll()[j.ID]; x.Status != appliance.JobSucceeded || x.Outcome != "wiped 2 disks" {
		t.Fatalf("polled finished job: %+v", x)
	}
	page := c.Get(fmt.Sprintf("/ui/machines/%d", m.ID)).Body
	if !strings.Contains(page, `<span class="badge state-ready">ready</span>`) || !strings.Contains(page, "wiped 2 disks") {
		t.Fatalf("machine after the recycle:\n%s", page)
	}
}

func reverse(ids []int64) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[len(ids)-1-i] = id
	}
	return out
}
