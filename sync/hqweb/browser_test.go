package hqweb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/web/webtest"
)

// TestBrowser drives the HQ UI in headless Chromium: an operator signs in
// with a token (after a wrong one), finds a machine by serial, reads its
// timeline while its job's progress arrives live, sends a provisioning
// request and sees it listed, and finds the conflict a site reported.
func TestBrowser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	lon, _, m, job := seed(t, f)

	bctx, done := webtest.Tab(t, 60*time.Second)
	defer done() // kills Chromium

	// 1. Sign in: a wrong token is refused on the page, the right one
	// lands where the operator was going.
	webtest.Run(t, bctx, "open the UI", chromedp.Navigate(f.ts.URL+"/ui/machines"))
	webtest.Run(t, bctx, "wrong token", chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), "hq_not-a-token"), chromedp.Click(chromedp.ID("login")))
	webtest.Poll(t, bctx, "refusal shown", `document.querySelector("#login-error") && document.querySelector("#login-error").textContent.includes("not valid")`)
	webtest.Run(t, bctx, "right token", chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), f.techTok), chromedp.Click(chromedp.ID("login")))
	webtest.Poll(t, bctx, "machines after login", `location.pathname === "/ui/machines" && document.querySelectorAll("table.machines a.serial").length === 4`)

	// 2. Filter by serial, open the machine, read its timeline.
	webtest.Run(t, bctx, "search", chromedp.SendKeys(chromedp.ID("q"), "SRV-4242"), chromedp.Click(chromedp.ID("filter")))
	webtest.Poll(t, bctx, "one machine", `location.search.includes("q=SRV-4242") && document.querySelectorAll("table.machines a.serial").length === 1`)
	webtest.Run(t, bctx, "open the machine", chromedp.Click(chromedp.CSS("table.machines a.serial")), chromedp.WaitVisible(chromedp.ID("timeline")))
	webtest.Poll(t, bctx, "machine page", fmt.Sprintf(`location.pathname === "/ui/sites/lon1/machines/%d"`, m.ID))
	tl, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("timeline")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("job %d recycle running", job.ID), fmt.Sprintf("job %d recycle queued", job.ID), "create -> ready: racked"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}

	// 3. The job's progress at the site reaches the page through app.js's
	// poll, without a reload.
	row := fmt.Sprintf(`#job-lon1-%d`, job.ID)
	webtest.Run(t, bctx, "mark the page", chromedp.Evaluate[chromedp.Void]("window.hqMark = 1"))
	lon.progress(t, job, appliance.JobRunning, 75)
	lon.sync(t)
	webtest.Poll(t, bctx, "live progress at 75%", fmt.Sprintf(`window.hqMark === 1 && document.querySelector("%[1]s [data-f=pct]").textContent === "75%%" &&
		document.querySelector("%[1]s progress").value === 75`, row))

	// 4. Send a provisioning request and see it listed.
	webtest.Run(t, bctx, "requests page", chromedp.Navigate(f.ts.URL+"/ui/requests"), chromedp.WaitVisible(chromedp.ID("req-create")))
	webtest.Run(t, bctx, "fill the form",
		chromedp.SetValue(chromedp.ID("req-site"), "lon1"),
		chromedp.SetValue(chromedp.ID("req-count"), "3"),
		chromedp.SendKeys(chromedp.ID("req-role"), "web"),
		chromedp.SendKeys(chromedp.ID("req-class"), m.Class),
		chromedp.SendKeys(chromedp.ID("req-image"), "debian:12"),
		chromedp.Click(chromedp.ID("req-create")))
	webtest.Poll(t, bctx, "request listed", `location.search.includes("done=created") && document.querySelector(".flash") &&
		[...document.querySelectorAll("table.requests tr[data-status=sent]")].some(r => r.textContent.includes("3 × web") && r.textContent.includes("lon1"))`)
	rs, err := f.hq.Requests(ctx, "lon1")
	if err != nil || len(rs) != 1 || rs[0].CreatedBy != "tess" {
		t.Fatalf("requests after the form: %+v %v", rs, err)
	}
	// The site takes it and reports back.
	lon.sync(t)
	webtest.Run(t, bctx, "reload", chromedp.Reload())
	webtest.Poll(t, bctx, "site's report", fmt.Sprintf(`document.querySelector("#request-%d") && !["sent", "received"].includes(document.querySelector("#request-%d").dataset.status)`, rs[0].ID, rs[0].ID))
	webtest.Screenshot(t, bctx, "hq-requests.png")

	// 5. The conflict par1 reported, both sides' values shown.
	webtest.Run(t, bctx, "conflicts", chromedp.Navigate(f.ts.URL+"/ui/machines"), chromedp.Click(chromedp.CSS(`nav a[href="/ui/conflicts"]`)))
	webtest.Poll(t, bctx, "open conflict", `location.pathname === "/ui/conflicts" && [...document.querySelectorAll("table.conflicts tr[data-status=open]")].some(r =>
		r.textContent.includes("SRV-9001") && r.querySelector("[data-f=site-value]").textContent.includes("cabling audit") &&
		r.querySelector("[data-f=hq-value]").textContent.includes("recycle"))`)
	if err := bctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("browser test ran out of time")
	}
}
