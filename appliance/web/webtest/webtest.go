// Package webtest drives the web UIs (outpostd's and outpost-hq's) in
// tests: an HTTP client that keeps cookies and shows redirects, and
// headless Chromium from Debian's chromium package.
package webtest

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Client is a browser stand-in: a cookie jar, and redirects not followed
// so that tests see them.
type Client struct {
	T    *testing.T
	HC   *http.Client
	Base string
}

// NewClient returns a client of the server at base.
func NewClient(t *testing.T, base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{T: t, Base: base, HC: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// Resp is a response with its body read.
type Resp struct {
	*http.Response
	Body string
}

// Do sends req.
func (c *Client) Do(req *http.Request) Resp {
	c.T.Helper()
	r, err := c.HC.Do(req)
	if err != nil {
		c.T.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return Resp{r, string(b)}
}

// Get fetches a path.
func (c *Client) Get(path string) Resp {
	c.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.Base+path, nil)
	return c.Do(req)
}

// Post posts a form to a path.
func (c *Client) Post(path string, form url.Values) Resp {
	c.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.Base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.Do(req)
}

// CSRFOf finds the CSRF token of a page's forms.
func CSRFOf(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", page)
	}
	return m[1]
}

// Chromium is Debian's browser, which the browser tests need.
const Chromium = "/usr/bin/chromium"

// browser starts headless Chromium for the test; cancelling its context
// ends the browser process.
func browser(ctx context.Context, t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("the browser test needs Debian's chromium at %s: %v", Chromium, err)
	}
	opts := append(append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...),
		chromedp.ExecPath(Chromium), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		// Without these Chromium reaches out to Google on its own.
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	return chromedp.NewExecAllocator(ctx, opts...)
}

// Poll waits, at a modest rate, for a JavaScript condition in the page.
// It asks again after errors, since a page may be mid-navigation.
func Poll(t *testing.T, ctx context.Context, what, expr string) {
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
	t.Fatalf("%s: never true (last error %v)\npage: %s", what, err, pageText(ctx))
}

// Run runs browser steps, failing the test with the page's text.
func Run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, pageText(ctx))
	}
}

func pageText(ctx context.Context) string {
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href + '\\n' + document.body.innerText"))
	return body
}

// ModuleRoot walks up from the package directory to go.mod.
func ModuleRoot(t *testing.T) string {
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

// Artifact writes a file under the module's artifacts/ folder.
func Artifact(t *testing.T, name string, b []byte) {
	t.Helper()
	dir := filepath.Join(ModuleRoot(t), "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Screenshot takes a full-page PNG, checks it is one of a plausible size,
// and writes it to artifacts/name.
func Screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
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
	Artifact(t, name, shot)
}

// Tab opens a tab of a new headless Chromium for at most timeout; done
// closes it and ends the browser.
func Tab(t *testing.T, timeout time.Duration) (tab context.Context, done func()) {
	t.Helper()
	tctx, cancel := context.WithTimeout(context.Background(), timeout)
	actx, cancelBrowser := browser(tctx, t)
	tab, cancelTab := chromedp.NewContext(actx)
	return tab, func() { cancelTab(); cancelBrowser(); cancel() }
}
