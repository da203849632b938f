package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostdc/outpost/recon"
)

func TestParseCmdline(t *testing.T) {
	base := "BOOT_IMAGE=vmlinuz console=ttyS0 outpost.url=http://10.0.0.1/ outpost.mode=recon outpost.mac=52-54-00-00-00-01 outpost.token=abc"
	p, err := ParseCmdline(base + " outpost.machine=7 outpost.lldp_wait=5s outpost.debug")
	if err != nil {
		t.Fatal(err)
	}
	if p.URL != "http://10.0.0.1" || p.MAC != "52:54:00:00:00:01" || p.MachineID != 7 || p.LLDPWait != 5*time.Second || !p.Debug || p.Mode != "recon" {
		t.Fatalf("%+v", p)
	}
	for _, tc := range []struct{ cmdline, why string }{
		{"console=ttyS0", "outpost.url is missing"},
		{strings.Replace(base, "outpost.url=http://10.0.0.1/", "outpost.url=ftp://x", 1), "not an http(s) URL"},
		{strings.Replace(base, "outpost.token=abc", "", 1), "outpost.token is missing"},
		{strings.Replace(base, "outpost.mode=recon", "outpost.mode=dance", 1), "outpost.mode"},
		{strings.Replace(base, "outpost.mac=52-54-00-00-00-01", "outpost.mac=nope", 1), "outpost.mac"},
		{base + " outpost.machine=-1", "outpost.machine"},
		{base + " outpost.lldp_wait=1h", "outpost.lldp_wait"},
		{strings.Repeat("x", maxCmdline+1), "over"},
	} {
		if _, err := ParseCmdline(tc.cmdline); err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%.50q: %v, want %q", tc.cmdline, err, tc.why)
		}
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add("outpost.url=http://10.0.0.1 outpost.mode=recon outpost.mac=52:54:00:00:00:01 outpost.token=abc")
	f.Add("outpost.url=https://[::1]:8443/x outpost.mode=install outpost.mac=52:54:00:00:00:01 outpost.token=t outpost.machine=99")
	f.Add("outpost.lldp_wait=-5s outpost.machine=x")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCmdline(s)
		if err != nil {
			return
		}
		if p.Token == "" || !validMode(p.Mode) || !strings.HasPrefix(p.URL, "http") || len(p.MAC) != 17 {
			t.Fatalf("accepted %q as %+v", s, p)
		}
	})
}

// outpostd here is a stand-in for the protocol's server side, scripted
// per test: the real one is exercised end to end under QEMU.
type script struct {
	mu       sync.Mutex
	failures int // answer 503 this many times first
	reports  int
	next     []recon.Next
	reportSt int
}

func (s *script) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+recon.PathReport, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.failures > 0 {
			s.failures--
			http.Error(w, "busy", 503)
			return
		}
		if s.reportSt != 0 {
			w.WriteHeader(s.reportSt)
			w.Write([]byte(`{"error":{"code":"unauthorized","message":"token already used"}}`))
			return
		}
		var rep recon.Report
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil || r.Header.Get("Authorization") != "Bearer boot-token" && s.reports == 0 {
			t.Errorf("bad first report: %v %q", err, r.Header.Get("Authorization"))
		}
		s.reports++
		json.NewEncoder(w).Encode(recon.ReportReply{MachineID: 1, Serial: rep.System.Serial, State: "ready", AgentToken: "agent-token"})
	})
	mux.HandleFunc("GET "+recon.PathEnrollment, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("GET "+recon.PathNext, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer agent-token" {
			http.Error(w, "no", 401)
			return
		}
		n := s.next[0]
		if len(s.next) > 1 {
			s.next = s.next[1:]
		}
		json.NewEncoder(w).Encode(n)
	})
	return mux
}

func newAgent(t *testing.T, s *script) (*Agent, *atomic.Int32, *atomic.Int32, *bytes.Buffer) {
	ts := httptest.NewServer(s.handler(t))
	t.Cleanup(ts.Close)
	var off, reboot atomic.Int32
	out := &bytes.Buffer{}
	a := &Agent{
		P:       Params{URL: ts.URL, Token: "boot-token", Mode: "recon", MAC: "52:54:00:00:00:01"},
		C:       &Client{Base: ts.URL, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond},
		Console: out,
		Collect: func(context.Context, *recon.Enrollment) recon.Report {
			return recon.Report{Version: recon.ReportVersion, System: recon.System{Serial: "SN1"}}
		},
		PowerOff: func() error { off.Add(1); return nil },
		Reboot:   func() error { reboot.Add(1); return nil },
	}
	return a, &off, &reboot, out
}

func TestAgentRetriesThenPowersOff(t *testing.T) {
	s := &script{failures: 3, next: []recon.Next{{Action: "wait", Reason: "ready", PollSeconds: 0}, {Action: "poweroff", Reason: "ready: power off"}}}
	a, off, reboot, out := newAgent(t, s)
	// PollSeconds 0 means 10 s; keep the test fast with a short first wait.
	s.next[0].PollSeconds = 1
	err := a.Run(context.Background())
	if !Stopped(err) || off.Load() != 1 || reboot.Load() != 0 {
		t.Fatalf("err %v, poweroff %d, reboot %d\n%s", err, off.Load(), reboot.Load(), out)
	}
	if c := strings.Count(out.String(), "failed (attempt"); c != 3 {
		t.Fatalf("%d retries shown on the console, want 3:\n%s", c, out)
	}
	if !strings.Contains(out.String(), "ingested as machine 1") {
		t.Fatalf("console:\n%s", out)
	}
}

func TestAgentRefusedTokenReboots(t *testing.T) {
	s := &script{reportSt: 401}
	a, off, reboot, out := newAgent(t, s)
	err := a.Run(context.Background())
	if !Stopped(err) || reboot.Load() != 1 || off.Load() != 0 || !strings.Contains(out.String(), "token already used") {
		t.Fatalf("err %v reboot %d\n%s", err, reboot.Load(), out)
	}
}

func TestAgentDebugDoesNotPowerOff(t *testing.T) {
	s := &script{next: []recon.Next{{Action: "poweroff", Reason: "x"}}}
	a, off, _, _ := newAgent(t, s)
	a.P.Debug = true
	if err := a.Run(context.Background()); !Stopped(err) || off.Load() != 0 {
		t.Fatalf("debug mode powered off: %v %d", err, off.Load())
	}
}

func TestClientGivesUp(t *testing.T) {
	c := &Client{Base: "http://127.0.0.1:1", RetryBase: time.Millisecond, RetryMax: time.Millisecond, Attempts: 3}
	_, err := c.Next(context.Background(), "t")
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") {
		t.Fatalf("%v", err)
	}
}
