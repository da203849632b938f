package web

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/appliance/web/webtest"
	"github.com/outpostdc/outpost/recon"
)

func loginSteps(user, pass string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("user"), user),
		chromedp.SendKeys(chromedp.ID("password"), pass),
		chromedp.Click(chromedp.ID("login")),
	}
}

// TestBrowser drives the UI in headless Chromium: a technician finds a
// machine, reads its timeline and recycles it, the test plays the
// machine's recon agent, and the page shows the job succeed; a viewer in
// another browser context is refused.
func TestBrowser(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i, rack := range []string{"r1", "r1", "r2", "r7"} {
		f.machine(t, fmt.Sprintf("SRV-10%02d", i), rack, fmt.Sprintf("52:54:00:00:10:%02x", i))
	}
	m := f.machine(t, "SRV-4242", "r7", "52:54:00:00:42:42")
	agent := f.waitingAgent(t, m)
	machineURL := fmt.Sprintf("%s/ui/machines/%d", f.ts.URL, m.ID)

	bctx, done := webtest.Tab(t, 60*time.Second)
	defer done() // kills Chromium

	// 1. Log in as a technician, coming from the machine list.
	webtest.Run(t, bctx, "open the UI", chromedp.Navigate(f.ts.URL+"/ui/machines"))
	webtest.Run(t, bctx, "log in", loginSteps(techUser, techPass)...)
	webtest.Poll(t, bctx, "machine list after login", `location.pathname === "/ui/machines" && document.querySelectorAll("table.machines a.serial").length === 5`)

	// 2. Find the machine by its serial with the search box.
	webtest.Run(t, bctx, "search", chromedp.SendKeys(chromedp.ID("q"), "SRV-4242"), chromedp.Click(chromedp.ID("filter")))
	webtest.Poll(t, bctx, "search result", `location.search.includes("q=SRV-4242") && document.querySelectorAll("table.machines a.serial").length === 1`)

	// 3. Open its page and read the timeline.
	webtest.Run(t, bctx, "open the machine", chromedp.Click(chromedp.CSS("table.machines a.serial")), chromedp.WaitVisible(chromedp.ID("timeline")))
	tl, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("timeline")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"boot.ipxe: ready -> recon image in wait mode", "DISCOVER -> OFFER", "hardware unchanged"} {
		if !strings.Contains(tl, want) {
			t.Errorf("timeline lacks %q:\n%s", want, tl)
		}
	}

	// 4. Recycle, accepting the confirm() dialog.
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	asked := make(chan string, 1)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			asked <- ev.Message
			chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			return
		}
	}()
	webtest.Run(t, bctx, "recycle", chromedp.Click(chromedp.ID("act-recycle")))
	select {
	case msg := <-asked:
		if !strings.Contains(msg, "Recycle SRV-4242?") {
			t.Errorf("confirm dialog said %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no confirm dialog")
	}
	webtest.Poll(t, bctx, "recycle queued", `document.querySelector(".flash") && document.querySelector(".flash").textContent.startsWith("Recycle queued as job")`)
	js, err := f.st.Jobs(ctx, sqlite.JobFilter{MachineID: m.ID})
	if err != nil || len(js) != 1 || js[0].Requester != techUser {
		t.Fatalf("jobs after the click: %+v %v", js, err)
	}
	job := js[0]

	// The waiting agent means no power cycle: the job goes straight to
	// the agent phase; the test now plays the agent.
	f.advance(t, job.ID, "in the agent phase", func(j appliance.Job) bool { return j.Phase == appliance.PhaseAgent })
	spec, err := f.eng.Claim(ctx, agent)
	if err != nil || spec == nil || spec.ID != job.ID || spec.Action != string(appliance.ActionRecycle) {
		t.Fatalf("claim: %+v %v", spec, err)
	}
	if err := f.eng.Progress(ctx, agent, job.ID, recon.JobProgress{Phase: "wipe", Percent: 40, MBps: 640}); err != nil {
		t.Fatal(err)
	}
	row := fmt.Sprintf("#job-%d", job.ID)
	webtest.Run(t, bctx, "jobs page", chromedp.Navigate(f.ts.URL+"/ui/jobs"), chromedp.WaitVisible(chromedp.CSS(row)))
	webtest.Poll(t, bctx, "running job at 40%", fmt.Sprintf(`document.querySelector("%s progress").value === 40`, row))
	// The next progress arrives through the page's poll, not a reload.
	webtest.Run(t, bctx, "mark the page", chromedp.Evaluate[chromedp.Void]("window.outpostMark = 1"))
	if err := f.eng.Progress(ctx, agent, job.ID, recon.JobProgress{Phase: "wipe", Percent: 75, MBps: 812}); err != nil {
		t.Fatal(err)
	}
	webtest.Poll(t, bctx, "live progress at 75%", fmt.Sprintf(`window.outpostMark === 1 && document.querySelector("%[1]s [data-f=pct]").textContent === "75%%" &&
		document.querySelector("%[1]s [data-f=mbps]").textContent === "812 MB/s" && document.querySelector("%[1]s progress").value === 75`, row))
	if err := f.eng.Result(ctx, agent, job.ID, recon.JobResult{OK: true, Summary: "wiped 2 disks"}); err != nil {
		t.Fatal(err)
	}
	// The poll sees the status change and reloads the page.
	webtest.Poll(t, bctx, "job succeeded", fmt.Sprintf(`document.querySelector("%s") && document.querySelector("%[1]s").dataset.status === "succeeded"`, row))

	webtest.Run(t, bctx, "machine page", chromedp.Navigate(machineURL), chromedp.WaitVisible(chromedp.ID("timeline")))
	webtest.Poll(t, bctx, "machine ready", `document.querySelector("#state").textContent.trim() === "ready" && document.querySelector("#jobs").textContent.includes("wiped 2 disks")`)
	webtest.Screenshot(t, bctx, "web-machine.png")

	// At phone width nothing runs off the side: wide tables scroll inside
	// their cards.
	webtest.Run(t, bctx, "narrow viewport", chromedp.EmulateViewport(390, 844), chromedp.Reload())
	webtest.Poll(t, bctx, "no sideways page scroll at 390 px", `document.readyState === "complete" && document.querySelector("#timeline") &&
		document.documentElement.scrollWidth <= window.innerWidth`)
	if os.Getenv("WEB_NARROW_SHOT") != "" {
		if b, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(os.Getenv("WEB_NARROW_SHOT"), b, 0o644)
		}
	}
	webtest.Run(t, bctx, "wide viewport again", chromedp.ResetViewport())

	// 5. A viewer, in a browser context of its own (no shared cookies).
	vctx, cancelViewer := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancelViewer()
	webtest.Run(t, vctx, "viewer opens the machine", chromedp.Navigate(machineURL))
	webtest.Poll(t, vctx, "viewer sent to login", `location.pathname === "/ui/login"`)
	webtest.Run(t, vctx, "viewer logs in", loginSteps(viewerUser, viewerPass)...)
	webtest.Poll(t, vctx, "viewer back on the machine page", fmt.Sprintf(`location.pathname === "/ui/machines/%d" && !!document.querySelector("#refusal")`, m.ID))
	refusal, err := chromedp.Run(vctx, chromedp.Evaluate[string](`document.querySelector("#act-recycle") === null ? document.querySelector("#refusal").textContent : "BUTTON SHOWN"`))
	if err != nil || !strings.Contains(refusal, "viewer cannot start a recycle") {
		t.Fatalf("viewer page: %q %v", refusal, err)
	}
	// Posting the action anyway, with the viewer's own valid token.
	answer, err := chromedp.Run(vctx, chromedp.Evaluate[string](`(async () => {
		const body = new URLSearchParams({csrf: document.querySelector("input[name=csrf]").value, action: "recycle", confirmed: "1"});
		const r = await fetch(location.pathname + "/actions", {method: "POST", body});
		return r.status + " " + (await r.text());
	})()`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(answer, "403 ") || !strings.Contains(answer, "viewer cannot start a recycle; needs technician") {
		t.Fatalf("viewer's recycle post: %v\n%.600s", err, answer)
	}
	if js, _ := f.st.Jobs(ctx, sqlite.JobFilter{MachineID: m.ID}); len(js) != 1 {
		t.Fatalf("the viewer's post made a job: %+v", js)
	}
	// The technician's session is untouched by the viewer's login.
	who, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(".who .user").textContent`))
	if err != nil || !strings.Contains(who, techUser) {
		t.Fatalf("technician's tab: %q %v", who, err)
	}
	if err := bctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("browser test ran out of time")
	}
}
