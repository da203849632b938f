package httpboot

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/outpostdc/outpost/boot"
)

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		q       string
		ok      bool
		wantErr string
		check   func(boot.Client) bool
	}{
		{q: "", ok: false},
		{q: "mac=52:54:00:12:34:56&platform=pcbios&buildarch=x86_64", ok: true,
			check: func(c boot.Client) bool { return c.Firmware.Arch == boot.ArchBIOS && c.Firmware.IPXE }},
		{q: "mac=52-54-00-12-34-56&platform=efi&buildarch=x86_64&uuid=6F9619FF-8B86-D011-B42D-00C04FC964FF&serial=SN%20123", ok: true,
			check: func(c boot.Client) bool {
				return c.Firmware.Arch == boot.ArchEFIx64 && c.UUID == "6f9619ff-8b86-d011-b42d-00c04fc964ff" && c.Serial == "SN 123" && c.MAC.String() == "52:54:00:12:34:56"
			}},
		{q: "mac=52:54:00:12:34:56&platform=efi&buildarch=arm64", ok: true,
			check: func(c boot.Client) bool { return c.Firmware.Arch == boot.ArchEFIARM64 }},
		{q: "mac=52:54:00:12:34:56&uuid=&serial=&buildarch=&platform=", ok: true,
			check: func(c boot.Client) bool { return c.Firmware.Arch == boot.ArchBIOS }},
		{q: "mac=zz", wantErr: "bad mac"},
		{q: "mac=52:54:00:12:34:56:00:00", wantErr: "bad mac"},
		{q: "mac=52:54:00:12:34:56&uuid=nope", wantErr: "bad uuid"},
		{q: "mac=52:54:00:12:34:56&platform=amiga", wantErr: "bad platform"},
		{q: "mac=52:54:00:12:34:56&buildarch=mips", wantErr: "bad buildarch"},
		{q: "mac=52:54:00:12:34:56&platform=pcbios&buildarch=arm64", wantErr: "arm64"},
		{q: "mac=52:54:00:12:34:56&serial=%01", wantErr: "non-printable"},
		{q: "mac=52:54:00:12:34:56&mac=52:54:00:12:34:57", wantErr: "more than once"},
		{q: "mac=52:54:00:12:34:56&serial=" + strings.Repeat("x", 129), wantErr: "serial too long"},
		{q: "mac=52:54:00:12:34:56&x=" + strings.Repeat("x", 3000), wantErr: "query too long"},
		{q: "mac=%zz", wantErr: "bad query"},
		{q: "mac=52:54:00:12:34:56;x=1", wantErr: "semicolon"},
		{q: "mac=52:54:00:12:34:56&&platform=efi&", ok: true,
			check: func(c boot.Client) bool { return c.Firmware.Arch == boot.ArchEFIx64 }},
		{q: "platform=efi", ok: false},
		{q: "mac=52%3A54%3A00%3A12%3A34%3A56&serial=A+B", ok: true,
			check: func(c boot.Client) bool { return c.MAC.String() == "52:54:00:12:34:56" && c.Serial == "A B" }},
		// Past the few keys iPXE sends, repeats are still found.
		{q: "mac=52:54:00:12:34:56&a=1&b=&c&d=1&e=1&f=1&g=1&h=1&i=1&j=1&c=2", wantErr: "c given more than once"},
		{q: "mac=52:54:00:12:34:56&a=1&b=&c&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1", ok: true},
		// A malformed query is reported before a repeated key.
		{q: "mac=1&mac=2&x=%zz", wantErr: "bad query"},
	} {
		c, ok, err := ParseQuery(tc.q)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseQuery(%.60q): err %v, want %q", tc.q, err, tc.wantErr)
			}
			continue
		}
		if err != nil || ok != tc.ok || (tc.check != nil && !tc.check(c)) {
			t.Errorf("ParseQuery(%.60q) = %+v, %v, %v", tc.q, c, ok, err)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "mac=52:54:00:12:34:56&platform=pcbios&buildarch=x86_64",
		"mac=52:54:00:12:34:56&platform=efi&buildarch=arm64&uuid=6f9619ff-8b86-d011-b42d-00c04fc964ff&serial=SN1",
		"mac=%zz", "mac=1&mac=2", "serial=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		c, ok, err := ParseQuery(q)
		if err != nil || !ok {
			return
		}
		if len(c.MAC) != 6 || !c.Firmware.IPXE || len(c.Serial) > maxSerial {
			t.Fatalf("accepted %q as %+v", q, c)
		}
		// The hand-rolled split must agree with the standard library's.
		std, err := url.ParseQuery(q)
		if err != nil {
			t.Fatalf("accepted %q, which url.ParseQuery refuses: %v", q, err)
		}
		for k, v := range std {
			if len(v) != 1 {
				t.Fatalf("accepted %q with %s given %d times", q, k, len(v))
			}
		}
		if hw, err := net.ParseMAC(std.Get("mac")); err != nil || hw.String() != c.MAC.String() ||
			std.Get("platform") != c.Platform || strings.TrimSpace(std.Get("serial")) != c.Serial {
			t.Fatalf("%q: ours %+v, url.ParseQuery %v", q, c, std)
		}
		for _, r := range c.Serial {
			if r < 0x20 || r > 0x7e {
				t.Fatalf("serial %q holds %q", c.Serial, r)
			}
		}
	})
}

// booterFunc is a Booter for protocol tests: the real one is the
// appliance's, tested end to end.
type booterFunc func(boot.Client) (boot.Decision, error)

func (f booterFunc) Host(context.Context, net.HardwareAddr) (boot.Host, bool, error) {
	return boot.Host{}, false, nil
}
func (f booterFunc) Boot(_ context.Context, c boot.Client) (boot.Decision, error) { return f(c) }

type rec struct {
	mu sync.Mutex
	ev []boot.Event
}

func (r *rec) Record(e boot.Event) { r.mu.Lock(); r.ev = append(r.ev, e); r.mu.Unlock() }

func newServer(t *testing.T, b boot.Booter) (*httptest.Server, string, *rec) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "ipxe"), 0o755)
	os.MkdirAll(filepath.Join(dir, "images"), 0o755)
	tr, _ := os.OpenRoot(filepath.Join(dir, "ipxe"))
	ir, _ := os.OpenRoot(filepath.Join(dir, "images"))
	t.Cleanup(func() { tr.Close(); ir.Close() })
	r := &rec{}
	s := &Server{Booter: b, Recorder: r, Log: slog.New(slog.DiscardHandler), Base: "http://outpost.test",
		TFTPRoot: tr, ImagesRoot: ir}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, dir, r
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestScript(t *testing.T) {
	var seen boot.Client
	ts, _, r := newServer(t, booterFunc(func(c boot.Client) (boot.Decision, error) {
		seen = c
		if c.Serial == "fail" {
			return boot.Decision{}, errors.New("store down")
		}
		return boot.Decision{Action: boot.ActionLocal, Reason: "deployed: boot the local disk"}, nil
	}))
	resp, body := get(t, ts.URL+"/boot.ipxe")
	if resp.StatusCode != 200 || !strings.Contains(body, "chain http://outpost.test/boot.ipxe?mac=${mac}") {
		t.Fatalf("first stage: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, ts.URL+"/boot.ipxe?mac=52:54:00:12:34:56&platform=efi&buildarch=x86_64&serial=S1")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "#!ipxe\n") || !strings.Contains(body, "\nexit\n") {
		t.Fatalf("second stage: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", resp.Header)
	}
	if seen.Serial != "S1" || !seen.IP.IsLoopback() {
		t.Fatalf("booter saw %+v", seen)
	}
	if len(r.ev) != 1 || !strings.Contains(r.ev[0].Summary, "deployed: boot the local disk") || r.ev[0].MAC.String() != "52:54:00:12:34:56" {
		t.Fatalf("events %+v", r.ev)
	}
	// Timeline entries are reused per decision and client; each must
	// still hold its own request's facts.
	get(t, ts.URL+"/boot.ipxe?mac=52:54:00:12:34:56&platform=efi&buildarch=x86_64&serial=S2")
	get(t, ts.URL+"/boot.ipxe?mac=52:54:00:12:34:56&platform=pcbios&serial=S2")
	if len(r.ev) != 3 || r.ev[0].Detail["serial"] != "S1" || r.ev[1].Detail["serial"] != "S2" ||
		r.ev[1].Detail["firmware"] != "uefi-x64+ipxe" || r.ev[2].Detail["firmware"] != "bios+ipxe" ||
		r.ev[2].Detail["reason"] != "deployed: boot the local disk" {
		t.Fatalf("event details %+v", r.ev)
	}
	if resp, err := http.Post(ts.URL+"/boot.ipxe", "text/plain", nil); err != nil || resp.StatusCode != 405 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	if resp, err := http.Head(ts.URL + "/boot.ipxe"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	if resp, _ := get(t, ts.URL+"/boot.ipxe?mac=bad"); resp.StatusCode != 400 {
		t.Fatalf("bad mac: %d", resp.StatusCode)
	}
	if resp, _ := get(t, ts.URL+"/boot.ipxe?mac=52:54:00:12:34:56&serial=fail"); resp.StatusCode != 500 {
		t.Fatalf("booter error: %d", resp.StatusCode)
	}
}

func TestFiles(t *testing.T) {
	ts, dir, r := newServer(t, booterFunc(nil))
	data := make([]byte, 1<<20)
	rand.Read(data)
	os.MkdirAll(filepath.Join(dir, "images", "recon"), 0o755)
	os.WriteFile(filepath.Join(dir, "images", "recon", "vmlinuz"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "ipxe", "ipxe.efi"), []byte("efi"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("no"), 0o644)

	resp, body := get(t, ts.URL+"/images/recon/vmlinuz")
	if resp.StatusCode != 200 || body != string(data) {
		t.Fatalf("full GET: %d, %d bytes", resp.StatusCode, len(body))
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	resp, body = get(t, ts.URL+"/images/recon/vmlinuz", "Range", "bytes=1000-1999")
	if resp.StatusCode != 206 || body != string(data[1000:2000]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, _ := get(t, ts.URL+"/images/recon/vmlinuz", "If-None-Match", etag); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	if _, body := get(t, ts.URL+"/tftp/ipxe.efi"); body != "efi" {
		t.Fatalf("tftp tree over HTTP: %q", body)
	}
	for _, p := range []string{"/images/../secret", "/images/%2e%2e/secret", "/images/recon/../../secret", "/images/recon", "/images/missing"} {
		if resp, body := get(t, ts.URL+p); resp.StatusCode == 200 || strings.Contains(body, "no") && len(body) == 2 {
			t.Fatalf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.ev) == 0 || !strings.Contains(r.ev[0].Summary, "GET /images/recon/vmlinuz 1048576 bytes") {
		t.Fatalf("events: %+v", r.ev)
	}
}

// Local and halt scripts are kept once rendered; they must still follow
// the message and the firmware, and a linux script, which carries a
// one-time token, is rendered for every request.
func TestScriptCache(t *testing.T) {
	var next boot.Decision
	ts, _, _ := newServer(t, booterFunc(func(boot.Client) (boot.Decision, error) { return next, nil }))
	script := func(platform string) string {
		t.Helper()
		resp, body := get(t, ts.URL+"/boot.ipxe?mac=52:54:00:12:34:56&platform="+platform)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		return body
	}
	next = boot.Decision{Action: boot.ActionLocal, Message: "machine S1 is broken: fan"}
	if b := script("pcbios"); !strings.Contains(b, "fan") || !strings.Contains(b, "sanboot") {
		t.Fatalf("first: %q", b)
	}
	if b := script("efi"); strings.Contains(b, "sanboot") || !strings.Contains(b, "\nexit\n") {
		t.Fatalf("EFI got the BIOS script: %q", b)
	}
	next.Message = "machine S1 is broken: disk"
	if b := script("pcbios"); !strings.Contains(b, "disk") || strings.Contains(b, "fan") {
		t.Fatalf("new message: %q", b)
	}
	next.Action = boot.ActionHalt
	if b := script("pcbios"); !strings.Contains(b, "halted") {
		t.Fatalf("halt: %q", b)
	}
	for _, tok := range []string{"t1", "t2"} {
		next = boot.Decision{Action: boot.ActionLinux, Kernel: "http://outpost.test/images/k", Cmdline: "outpost.token=" + tok}
		if b := script("pcbios"); !strings.Contains(b, "outpost.token="+tok) {
			t.Fatalf("linux with token %s: %q", tok, b)
		}
	}
}
