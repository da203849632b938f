package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/recon"
)

const chromium = "/usr/bin/chromium"

// browser starts headless Chromium for the test; cancelling its context
// ends the browser process.
func browser(ctx context.Context, t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser test needs Debian's chromium at %s: %v", chromium, err)
	}
	opts := append(append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...),
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		// Without these Chromium reaches out to Google on its own.
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	return chromedp.NewExecAllocator(ctx, opts...)
}

// poll waits, at a modest rate, for a JavaScript condition in the page.
// It asks again after errors, since a page may be mid-navigation.
func poll(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		var ok bool
		ok, err = chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href + '\\n' + document.body.innerText"))
	t.Fatalf("%s: never true (last error %v)\npage: %s", what, err, body)
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href + '\\n' + document.body.innerText"))
		t.Fatalf("%s: %v\npage: %s", what, err, body)
	}
}

func loginSteps(user, pass string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("user"), user),
		chromedp.SendKeys(chromedp.ID("password"), pass),
		chromedp.Click(chromedp.ID("login")),
	}
}

// moduleRoot walks up from the package directory to go.mod.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("no go.mod above the package")
		}
		dir = up
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

	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	actx, cancelBrowser := browser(tctx, t)
	defer cancelBrowser() // kills Chromium
	bctx, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()

	// 1. Log in as a technician, coming from the machine list.
	run(t, bctx, "open the UI", chromedp.Navigate(f.ts.URL+"/ui/machines"))
	run(t, bctx, "log in", loginSteps(techUser, techPass)...)
	poll(t, bctx, "machine list after login", `location.pathname === "/ui/machines" && document.querySelectorAll("table.machines a.serial").length === 5`)

	// 2. Find the machine by its serial with the search box.
	run(t, bctx, "search", chromedp.SendKeys(chromedp.ID("q"), "SRV-4242"), chromedp.Click(chromedp.ID("filter")))
	poll(t, bctx, "search result", `location.search.includes("q=SRV-4242") && document.querySelectorAll("table.machines a.serial").length === 1`)

	// 3. Open its page and read the timeline.
	run(t, bctx, "open the machine", chromedp.Click(chromedp.CSS("table.machines a.serial")), chromedp.WaitVisible(chromedp.ID("timeline")))
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
	run(t, bctx, "recycle", chromedp.Click(chromedp.ID("act-recycle")))
	select {
	case msg := <-asked:
		if !strings.Contains(msg, "Recycle SRV-4242?") {
			t.Errorf("confirm dialog said %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no confirm dialog")
	}
	poll(t, bctx, "recycle queued", `document.querySelector(".flash") && document.querySelector(".flash").textContent.startsWith("Recycle queued as job")`)
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
	run(t, bctx, "jobs page", chromedp.Navigate(f.ts.URL+"/ui/jobs"), chromedp.WaitVisible(chromedp.CSS(row)))
	poll(t, bctx, "running job at 40%", fmt.Sprintf(`document.querySelector("%s progress").value === 40`, row))
	// The next progress arrives through the page's poll, not a reload.
	run(t, bctx, "mark the page", chromedp.Evaluate[chromedp.Void]("window.outpostMark = 1"))
	if err := f.eng.Progress(ctx, agent, job.ID, recon.JobProgress{Phase: "wipe", Percent: 75, MBps: 812}); err != nil {
		t.Fatal(err)
	}
	poll(t, bctx, "live progress at 75%", fmt.Sprintf(`window.outpostMark === 1 && document.querySelector("%[1]s [data-f=pct]").textContent === "75%%" &&
		document.querySelector("%[1]s [data-f=mbps]").textContent === "812 MB/s" && document.querySelector("%[1]s progress").value === 75`, row))
	if err := f.eng.Result(ctx, agent, job.ID, recon.JobResult{OK: true, Summary: "wiped 2 disks"}); err != nil {
		t.Fatal(err)
	}
	// The poll sees the status change and reloads the page.
	poll(t, bctx, "job succeeded", fmt.Sprintf(`document.querySelector("%s") && document.querySelector("%[1]s").dataset.status === "succeeded"`, row))

	run(t, bctx, "machine page", chromedp.Navigate(machineURL), chromedp.WaitVisible(chromedp.ID("timeline")))
	poll(t, bctx, "machine ready", `document.querySelector("#state").textContent.trim() === "ready" && document.querySelector("#jobs").textContent.includes("wiped 2 disks")`)
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is no PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 800 || b.Dy() < 600 || b.Dx() > 4000 {
		t.Fatalf("screenshot of implausible size %v", b)
	}
	dir := filepath.Join(moduleRoot(t), "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web-machine.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}

	// At phone width nothing runs off the side: wide tables scroll inside
	// their cards.
	run(t, bctx, "narrow viewport", chromedp.EmulateViewport(390, 844), chromedp.Reload())
	poll(t, bctx, "no sideways page scroll at 390 px", `document.readyState === "complete" && document.querySelector("#timeline") &&
		document.documentElement.scrollWidth <= window.innerWidth`)
	if os.Getenv("WEB_NARROW_SHOT") != "" {
		if b, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(os.Getenv("WEB_NARROW_SHOT"), b, 0o644)
		}
	}
	run(t, bctx, "wide viewport again", chromedp.ResetViewport())

	// 5. A viewer, in a browser context of its own (no shared cookies).
	vctx, cancelViewer := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	defer cancelViewer()
	run(t, vctx, "viewer opens the machine", chromedp.Navigate(machineURL))
	poll(t, vctx, "viewer sent to login", `location.pathname === "/ui/login"`)
	run(t, vctx, "viewer logs in", loginSteps(viewerUser, viewerPass)...)
	poll(t, vctx, "viewer back on the machine page", fmt.Sprintf(`location.pathname === "/ui/machines/%d" && !!document.querySelector("#refusal")`, m.ID))
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
	if err := tctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("browser test ran out of time")
	}
}
