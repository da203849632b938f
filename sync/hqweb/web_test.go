package hqweb

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/web"
	"github.com/outpostdc/outpost/appliance/web/webtest"
)

func TestLoginAndRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.site(t, "lon1")
	c := f.client(t)

	r := c.Get("/ui/machines?site=lon1")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/machines?site=lon1") {
		t.Fatalf("no session: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := c.Get("/ui/jobs.json?id=lon1:1"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("jobs.json without a session: %d", r.StatusCode)
	}
	// A form posted without a session goes back to its page after login.
	if r := c.Post("/ui/requests", url.Values{"site": {"lon1"}}); r.StatusCode != http.StatusSeeOther ||
		r.Header.Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/requests") {
		t.Fatalf("post without a session: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = c.Get("/ui/login?next=%2Fui%2Fjobs")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `name="token"`) || !strings.Contains(r.Body, `value="/ui/jobs"`) {
		t.Fatalf("login form: %d\n%s", r.StatusCode, r.Body)
	}
	if cc, csp := r.Header.Get("Cache-Control"), r.Header.Get("Content-Security-Policy"); cc != "no-store" || !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("headers: Cache-Control %q, CSP %q", cc, csp)
	}

	// A bad token: the error is shown, nothing is set, the token is not
	// echoed back.
	forged := "hq_forged-token-0123456789"
	r = c.Post("/ui/login", url.Values{"token": {forged}, "next": {"/ui/jobs"}})
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Body, "That token is not valid") ||
		strings.Contains(r.Body, forged) || len(r.Cookies()) != 0 {
		t.Fatalf("bad token: %d %v\n%s", r.StatusCode, r.Cookies(), r.Body)
	}
	// A site key is no operator token.
	key, _ := f.hq.AddSite(ctx, "par1", "Paris")
	if r := c.Post("/ui/login", url.Values{"token": {key}}); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("site key as a token: %d", r.StatusCode)
	}

	r = c.Post("/ui/login", url.Values{"token": {" " + f.techTok + "\n"}, "next": {"/ui/jobs"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/jobs" {
		t.Fatalf("login: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	var sess *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == "outpost_hq_session" {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/ui" || sess.Secure ||
		sess.Value == f.techTok || !strings.HasPrefix(sess.Value, "hqs_") {
		t.Fatalf("session cookie: %+v", sess)
	}
	if u, err := f.hq.Session(ctx, sess.Value); err != nil || u.Name != "tess" || u.Role != appliance.RoleTechnician {
		t.Fatalf("session in the store: %+v %v", u, err)
	}
	page := c.Get("/ui/sites").Body
	if !strings.Contains(page, `<span class="user">tess <span class="role">technician</span>`) || !strings.Contains(page, `aria-current="page">Sites`) {
		t.Fatalf("sites after login:\n%s", page)
	}
	if r := c.Get("/ui/"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/sites" {
		t.Fatalf("/ui/: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := c.Get("/ui/static/app.js"); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "jobs.json") {
		t.Fatalf("app.js: %d", r.StatusCode)
	}
	if r := c.Get("/ui/nowhere"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown page: %d", r.StatusCode)
	}
	// Logged in, the login page forwards, never off the UI.
	for next, want := range map[string]string{"/ui/jobs": "/ui/jobs", "//evil.example/x": "/ui/sites", "/api/v1/sites": "/ui/sites"} {
		if r := c.Get("/ui/login?next=" + url.QueryEscape(next)); r.Header.Get("Location") != want {
			t.Errorf("next %q: %q, want %q", next, r.Header.Get("Location"), want)
		}
	}

	// Posts without the page's CSRF token, with a forged one or from
	// another origin are refused, and create nothing.
	spec := url.Values{"site": {"lon1"}, "count": {"1"}, "role": {"db"}, "hw_class": {"1x4c-8g"},
		"hostname_pattern": {"db-{n:02}"}, "image": {"debian:12"}}
	if r := c.Post("/ui/requests", spec); r.StatusCode != http.StatusForbidden || !strings.Contains(r.Body, "CSRF check failed") {
		t.Fatalf("post without CSRF: %d\n%s", r.StatusCode, r.Body)
	}
	forgedForm := url.Values{"csrf": {"forged"}}
	for k, v := range spec {
		forgedForm[k] = v
	}
	if r := c.Post("/ui/requests", forgedForm); r.StatusCode != http.StatusForbidden {
		t.Fatalf("post with a forged token: %d", r.StatusCode)
	}
	good := url.Values{"csrf": {webtest.CSRFOf(t, page)}}
	for k, v := range spec {
		good[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, f.ts.URL+"/ui/requests", strings.NewReader(good.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r := c.Do(req); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin post: %d", r.StatusCode)
	}
	if rs, _ := f.hq.Requests(ctx, ""); len(rs) != 0 {
		t.Fatalf("refused posts made requests: %+v", rs)
	}
	// Another session's token is no good either.
	other := f.client(t)
	login(other, f.techTok)
	if r := other.Post("/ui/requests", good); r.StatusCode != http.StatusForbidden {
		t.Fatalf("another session's CSRF token: %d", r.StatusCode)
	}

	// A viewer reads but may not change requests.
	v := f.client(t)
	login(v, f.viewTok)
	vp := v.Get("/ui/requests").Body
	if !strings.Contains(vp, `id="refusal"`) || strings.Contains(vp, `id="req-create"`) {
		t.Fatalf("viewer's requests page:\n%s", vp)
	}
	vgood := url.Values{"csrf": {webtest.CSRFOf(t, vp)}}
	for k, x := range spec {
		vgood[k] = x
	}
	if r := v.Post("/ui/requests", vgood); r.StatusCode != http.StatusForbidden || !strings.Contains(r.Body, "a viewer cannot create requests; needs technician") {
		t.Fatalf("viewer's request: %d\n%s", r.StatusCode, r.Body)
	}
	if rs, _ := f.hq.Requests(ctx, ""); len(rs) != 0 {
		t.Fatalf("a viewer made a request: %+v", rs)
	}

	// Logout needs the token, then ends the session in the store.
	if r := c.Post("/ui/logout", url.Values{"csrf": {"forged"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the token: %d", r.StatusCode)
	}
	if r := c.Post("/ui/logout", url.Values{"csrf": {webtest.CSRFOf(t, page)}}); r.StatusCode != http.StatusSeeOther ||
		r.Header.Get("Location") != "/ui/login?bye=1" {
		t.Fatalf("logout: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if _, err := f.hq.Session(ctx, sess.Value); !appliance.IsCode(err, appliance.CodeUnauthorized) {
		t.Fatalf("session survived logout: %v", err)
	}
	if r := c.Get("/ui/sites"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("after logout: %d", r.StatusCode)
	}
	// The other session is untouched.
	if r := other.Get("/ui/sites"); r.StatusCode != http.StatusOK {
		t.Fatalf("other session after logout: %d", r.StatusCode)
	}
}

func TestCookieSecureOverTLS(t *testing.T) {
	f := newFixture(t)
	ts := httptest.NewTLSServer(f.ts.Config.Handler)
	defer ts.Close()
	c := webtest.NewClient(t, ts.URL)
	c.HC.Transport = ts.Client().Transport
	r := c.Post("/ui/login", url.Values{"token": {f.viewTok}})
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 || !r.Cookies()[0].Secure {
		t.Fatalf("login over TLS: %d %+v", r.StatusCode, r.Cookies())
	}
}

// seed makes two sites with machines, a running job and a conflict, all
// synced to HQ through the sites' uplinks.
func seed(t *testing.T, f *fixture) (lon, par *site, m4242 appliance.Machine, job appliance.Job) {
	t.Helper()
	lon, par = f.site(t, "lon1"), f.site(t, "par1")
	lon.machine(t, "SRV-1001", "52:54:00:00:10:01")
	broken := lon.machine(t, "SRV-1002", "52:54:00:00:10:02")
	m4242 = lon.machine(t, "SRV-4242", "52:54:00:00:42:42")
	lon.report(t, m4242)
	if _, err := lon.st.Transition(context.Background(), broken.ID, appliance.StateBroken, "tom", "PSU <dead>"); err != nil {
		t.Fatal(err)
	}
	job = lon.runningJob(t, m4242, 42)
	f.conflict(t, par, par.machine(t, "SRV-9001", "52:54:00:00:90:01"))
	lon.sync(t)
	m4242, _ = lon.st.Machine(context.Background(), m4242.ID)
	return lon, par, m4242, job
}

// serials lists the serials linked from the machine table.
func serials(page string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<a class="serial" href="/ui/sites/[^/]+/machines/\d+">([^<]+)</a>`).FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestSitesAndMachines(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, _, m, _ := seed(t, f)
	f.hq.AddSite(ctx, "ams1", "Amsterdam")
	c := f.client(t)
	login(c, f.viewTok)

	page := c.Get("/ui/sites").Body
	row := func(id string) string {
		return regexp.MustCompile(`(?s)<tr id="site-` + id + `">.*?</tr>`).FindString(page)
	}
	for id, want := range map[string][]string{
		"lon1": {"link-connected", `machines?site=lon1">3</a>`, `data-f="backlog">0 `},
		"par1": {"link-connected", `machines?site=par1">1</a>`, `conflicts?site=par1&amp;status=open">1</a>`},
		"ams1": {"link-never", "never"},
	} {
		for _, w := range want {
			if !strings.Contains(row(id), w) {
				t.Errorf("site %s lacks %q:\n%s", id, w, row(id))
			}
		}
	}
	// Silence longer than the limit is a partition.
	if _, err := f.hq.DB.Exec(ctx, `UPDATE sites SET last_contact = now() - interval '10 minutes' WHERE id = 'par1'`); err != nil {
		t.Fatal(err)
	}
	page = c.Get("/ui/sites").Body
	if !strings.Contains(row("par1"), "link-partitioned") || !strings.Contains(row("lon1"), "link-connected") {
		t.Errorf("par1 not partitioned:\n%s", page)
	}

	for q, want := range map[string]string{
		"":                                  "[SRV-1001 SRV-1002 SRV-4242 SRV-9001]",
		"site=par1":                         "[SRV-9001]",
		"state=broken":                      "[SRV-1002]",
		"state=frozen":                      "[SRV-9001]",
		"q=4242":                            "[SRV-4242]",
		"q=srv-10":                          "[SRV-1001 SRV-1002]",
		"q=SRV-1002.LON1":                   "[SRV-1002]",
		"q=52-54-00-00-90-01":               "[SRV-9001]",
		"q=00:10:0":                         "[SRV-1001 SRV-1002]",
		"q=%25":                             "[]",
		"class=" + url.QueryEscape(m.Class): "[SRV-4242]",
		"site=lon1&state=frozen":            "[]",
	} {
		r := c.Get("/ui/machines?" + q)
		if got := fmt.Sprint(serials(r.Body)); r.StatusCode != http.StatusOK || got != want {
			t.Errorf("machines?%s: %d %s, want %s", q, r.StatusCode, got, want)
		}
	}
	if m.Class == "" {
		t.Fatal("the report gave no class")
	}
	page = c.Get("/ui/machines").Body
	for _, want := range []string{`<option value="` + m.Class + `">`, `<span class="n">1</span> broken`, `<td>par1</td>`} {
		if !strings.Contains(page, want) {
			t.Errorf("machines page lacks %q", want)
		}
	}
	// Paging walks every machine once, in order.
	f.ui.perPage = 3
	var all []string
	next := "/ui/machines"
	for i := 0; next != "" && i < 5; i++ {
		p := c.Get(next).Body
		all = append(all, serials(p)...)
		next = ""
		if mm := regexp.MustCompile(`<a href="([^"]+)" id="next">`).FindStringSubmatch(p); mm != nil {
			next = strings.ReplaceAll(mm[1], "&amp;", "&")
		}
	}
	if fmt.Sprint(all) != "[SRV-1001 SRV-1002 SRV-4242 SRV-9001]" {
		t.Errorf("paged: %v", all)
	}
}

func TestMachinePage(t *testing.T) {
	f := newFixture(t)
	lon, _, m, job := seed(t, f)
	c := f.client(t)
	login(c, f.viewTok)
	r := c.Get(fmt.Sprintf("/ui/sites/lon1/machines/%d", m.ID))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("machine page: %d\n%s", r.StatusCode, r.Body)
	}
	for _, want := range []string{`id="serial">SRV-4242<`, `id="site">lon1<`, m.Class, "Xeon Gold 6338", "PM1733", "52:54:00:00:42:42",
		`aria-current="page">Machines`, fmt.Sprintf(`data-job="lon1:%d"`, job.ID), `value="42"`, "812 MB/s"} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("machine page lacks %q", want)
		}
	}
	tl := regexp.MustCompile(`(?s)<section class="card" id="timeline">.*?</section>`).FindString(r.Body)
	// Newest first: the running job, its creation, the report, the
	// machine's registration.
	var at []int
	for _, want := range []string{fmt.Sprintf("job %d recycle running: phase work, 42%% wipe", job.ID),
		fmt.Sprintf("job %d recycle queued", job.ID), "create -&gt; ready: racked"} {
		i := strings.Index(tl, want)
		if i < 0 {
			t.Fatalf("timeline lacks %q:\n%s", want, tl)
		}
		at = append(at, i)
	}
	if !(at[0] < at[1] && at[1] < at[2]) {
		t.Errorf("timeline not newest first: %v\n%s", at, tl)
	}
	// The job ends at the site; after the next sync HQ shows how.
	ok := "wiped 1 disk"
	if _, err := lon.st.UpdateJob(context.Background(), job.ID, jobDone(ok)); err != nil {
		t.Fatal(err)
	}
	lon.sync(t)
	r = c.Get(fmt.Sprintf("/ui/sites/lon1/machines/%d", m.ID))
	if !strings.Contains(r.Body, fmt.Sprintf("job %d recycle succeeded: %s", job.ID, ok)) || strings.Contains(r.Body, `<noscript><meta http-equiv="refresh"`) {
		t.Errorf("finished job not on the page, or the page still reloads:\n%s", r.Body)
	}

	for _, p := range []string{"/ui/sites/lon1/machines/999", "/ui/sites/nowhere/machines/1", fmt.Sprintf("/ui/sites/par1/machines/%d", m.ID+100)} {
		if r := c.Get(p); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
}

func TestJobsLive(t *testing.T) {
	f := newFixture(t)
	lon, _, _, job := seed(t, f)
	c := f.client(t)
	login(c, f.viewTok)
	page := c.Get("/ui/jobs").Body
	row := regexp.MustCompile(fmt.Sprintf(`(?s)<tr id="job-lon1-%d".*?</tr>`, job.ID)).FindString(page)
	for _, want := range []string{fmt.Sprintf(`data-job="lon1:%d"`, job.ID), `data-status="running"`, `value="42"`, "42%", "812 MB/s",
		"wipe", "SRV-4242", "<td>lon1</td>"} {
		if !strings.Contains(row, want) {
			t.Errorf("job row lacks %q:\n%s", want, row)
		}
	}
	if !strings.Contains(page, `<noscript><meta http-equiv="refresh" content="5"></noscript>`) {
		t.Error("no reload without JavaScript while jobs run")
	}
	for q, want := range map[string]int{"status=active": 1, "status=running": 1, "status=succeeded": 0, "site=par1": 0,
		"action=recycle": 1, "action=power": 0, "site=lon1&status=running": 1} {
		if got := strings.Count(c.Get("/ui/jobs?"+q).Body, `<tr id="job-`); got != want {
			t.Errorf("jobs?%s: %d rows, want %d", q, got, want)
		}
	}
	if r := c.Get("/ui/jobs?status=bogus"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("bad status: %d", r.StatusCode)
	}

	poll := func() web.JobRow {
		t.Helper()
		r := c.Get(fmt.Sprintf("/ui/jobs.json?id=lon1:%d&id=par1:%d", job.ID, job.ID))
		var body struct{ Jobs []web.JobRow }
		if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.Body), &body) != nil || len(body.Jobs) != 1 {
			t.Fatalf("jobs.json: %d\n%s", r.StatusCode, r.Body)
		}
		return body.Jobs[0]
	}
	if j := poll(); j.Key != fmt.Sprintf("lon1:%d", job.ID) || j.Percent != 42 || j.Serial != "SRV-4242" {
		t.Fatalf("polled: %+v", j)
	}
	// Progress at the site reaches the poll with the next sync.
	lon.progress(t, job, appliance.JobRunning, 75)
	lon.sync(t)
	if j := poll(); j.Percent != 75 || j.PctText != "75%" || j.Status != appliance.JobRunning {
		t.Fatalf("polled after progress: %+v", j)
	}
	if r := c.Get("/ui/jobs.json?id=42"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("key without a site: %d", r.StatusCode)
	}
}

func TestRequests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lon, _, m, _ := seed(t, f)
	c := f.client(t)
	login(c, f.techTok)
	page := c.Get("/ui/requests").Body
	form := url.Values{"csrf": {webtest.CSRFOf(t, page)}, "site": {"lon1"}, "count": {"2"}, "role": {"db"},
		"hw_class": {m.Class}, "hostname_pattern": {"db-{n:02}"}, "image": {"debian:12"}}

	// Refused forms come back with what was typed and why.
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	for field, want := range map[string]string{"count": "count must be 1 to 10000", "hw_class": "a hardware class or a minimum spec",
		"site": "choose a site", "min_cpus": "minimum cores must be a whole number"} {
		bad.Set(field, map[string]string{"count": "0", "hw_class": "", "site": "", "min_cpus": "many"}[field])
		r := c.Post("/ui/requests", bad)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.Body, want) || !strings.Contains(r.Body, `id="req-role" value="db"`) {
			t.Errorf("bad %s: %d\n%s", field, r.StatusCode, r.Body)
		}
		bad.Set(field, form.Get(field))
	}
	bad.Set("site", "nowhere")
	if r := c.Post("/ui/requests", bad); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.Body, `site &#34;nowhere&#34; not found`) {
		t.Errorf("unknown site: %d\n%s", r.StatusCode, r.Body)
	}
	if rs, _ := f.hq.Requests(ctx, ""); len(rs) != 0 {
		t.Fatalf("refused forms made requests: %+v", rs)
	}

	r := c.Post("/ui/requests", form)
	loc := r.Header.Get("Location")
	rs, _ := f.hq.Requests(ctx, "")
	if r.StatusCode != http.StatusSeeOther || len(rs) != 1 || loc != fmt.Sprintf("/ui/requests?done=created&id=%d", rs[0].ID) {
		t.Fatalf("create: %d %q %+v\n%s", r.StatusCode, loc, rs, r.Body)
	}
	id := rs[0].ID
	var spec appliance.ProvisionSpec
	json.Unmarshal(rs[0].Spec, &spec)
	if rs[0].CreatedBy != "tess" || spec != (appliance.ProvisionSpec{Count: 2, Role: "db", Class: m.Class, HostnamePattern: "db-{n:02}", Image: "debian:12"}) {
		t.Fatalf("request as stored: %+v", rs[0])
	}
	rowOf := func(page string) string {
		return regexp.MustCompile(fmt.Sprintf(`(?s)<tr id="request-%d".*?</tr>`, id)).FindString(page)
	}
	page = c.Get(loc).Body
	if row := rowOf(page); !strings.Contains(page, fmt.Sprintf(`<p class="flash" role="status">Request %d sent.</p>`, id)) ||
		!strings.Contains(row, `data-status="sent"`) || !strings.Contains(row, "2 × db") || !strings.Contains(row, m.Class) {
		t.Fatalf("new request:\n%s", row)
	}
	// The site fetches it and reports back: nothing it has matches yet.
	lon.sync(t)
	row := rowOf(c.Get("/ui/requests?site=lon1").Body)
	if strings.Contains(row, `data-status="sent"`) || strings.Contains(row, `data-status="received"`) || !strings.Contains(row, "0/2 done") {
		t.Fatalf("request after the site's report:\n%s", row)
	}
	if strings.Contains(c.Get("/ui/requests?site=par1").Body, fmt.Sprintf(`id="request-%d"`, id)) {
		t.Error("site filter shows another site's request")
	}

	page = c.Get("/ui/requests").Body
	if r := c.Post(fmt.Sprintf("/ui/requests/%d/withdraw", id), url.Values{}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("withdraw without CSRF: %d", r.StatusCode)
	}
	r = c.Post(fmt.Sprintf("/ui/requests/%d/withdraw", id), url.Values{"csrf": {webtest.CSRFOf(t, page)}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw: %d\n%s", r.StatusCode, r.Body)
	}
	if row := rowOf(c.Get("/ui/requests").Body); !strings.Contains(row, `data-status="withdrawing"`) || strings.Contains(row, "withdraw-") {
		t.Fatalf("withdrawn at HQ:\n%s", row)
	}
	lon.sync(t)
	if row := rowOf(c.Get("/ui/requests").Body); !strings.Contains(row, `data-status="withdrawn"`) {
		t.Fatalf("withdrawn at the site:\n%s", row)
	}
	r = c.Post(fmt.Sprintf("/ui/requests/%d/withdraw", id), url.Values{"csrf": {webtest.CSRFOf(t, page)}})
	if r.StatusCode != http.StatusConflict || !strings.Contains(r.Body, "already withdrawn") || !strings.Contains(r.Body, `href="/ui/requests">Back to requests`) {
		t.Fatalf("withdraw twice: %d\n%s", r.StatusCode, r.Body)
	}
}

func TestConflicts(t *testing.T) {
	f := newFixture(t)
	seed(t, f)
	c := f.client(t)
	login(c, f.viewTok)
	page := c.Get("/ui/conflicts").Body
	row := regexp.MustCompile(`(?s)<tr id="conflict-par1-\d+".*?</tr>`).FindString(page)
	site := regexp.MustCompile(`(?s)data-f="site-value">(.*?)</td>`).FindStringSubmatch(row)
	hqv := regexp.MustCompile(`(?s)data-f="hq-value">(.*?)</td>`).FindStringSubmatch(row)
	if row == "" || site == nil || hqv == nil || !strings.Contains(site[1], "cabling audit") || !strings.Contains(hqv[1], "recycle") ||
		!strings.Contains(row, "SRV-9001") || !strings.Contains(row, `data-status="open"`) {
		t.Fatalf("conflict row:\n%s", row)
	}
	for q, want := range map[string]int{"status=open": 1, "status=resolved": 0, "site=lon1": 0, "site=par1&status=open": 1} {
		if got := strings.Count(c.Get("/ui/conflicts?"+q).Body, `<tr id="conflict-`); got != want {
			t.Errorf("conflicts?%s: %d rows, want %d", q, got, want)
		}
	}
	if r := c.Get("/ui/conflicts?status=bogus"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("bad status: %d", r.StatusCode)
	}
}
