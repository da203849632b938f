package bmc

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bougou/go-ipmi/pkg/types"
)

func TestOrderStrategies(t *testing.T) {
	cs17, cs3, lan := Strategy{Lanplus, 17}, Strategy{Lanplus, 3}, Strategy{Interface: Lan}
	for _, tc := range []struct {
		name string
		rem  Strategy
		ok   bool
		want []Strategy
	}{
		{"unknown host", Strategy{}, false, []Strategy{cs17, cs3, lan}},
		{"remembered 17", cs17, true, []Strategy{cs17, cs3, lan}},
		{"remembered 3", cs3, true, []Strategy{cs3, cs17, lan}},
		{"remembered lan", lan, true, []Strategy{lan, cs17, cs3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := orderStrategies(tc.rem, tc.ok); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("orderStrategies = %v; want %v", got, tc.want)
			}
		})
	}
}

// Messages are the ones go-ipmi v0.9.1 produces against its simulator.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		kind  error
		retry bool
	}{
		{"connect20 failed after try all cipher suite ids ([17]), errs: \ncmd: rakp1 failed with cipher suite id (17), err: validate rakp2 message failed, err: RAKP2 authentication code mismatch: RAKP authentication failed", ErrAuth, false},
		{"connect20 failed after try all cipher suite ids ([17]), errs: \ncmd: RMCP+ Open Session failed with cipher suite id (17), err: RMCP+ status 0x4: Invalid authentication algorithm", ErrNegotiation, false},
		{"connect20 failed ... err: RMCP+ status 0x11: no cipher suite match", ErrNegotiation, false},
		{"connect20 failed ... rakp3 failed ... RMCP+ status 0xd: unauthorized name", ErrAuth, false},
		{"connect20 failed ... RMCP+ status 0x1: insufficient resources", ErrNegotiation, true},
		{"ActivateSession failed, err: cc: 0x85, description: ipmiRes CompletionCode (0x85) is not normal: Invalid Session ID in request", ErrAuth, false},
		{"ActivateSession failed, err: cc: 0x81, description: No session slot available", ErrNegotiation, true},
		{"GetSessionChallenge failed, err: cc: 0x81, description: invalid user name", ErrAuth, false},
		{"GetSessionChallenge failed, err: cc: 0xc9, description: Parameter out of range", ErrNegotiation, false},
		{"cmd: Get Channel Authentication Capabilities failed, err: IPMI LAN: UDP exchange error after 1 attempt(s): read from conn failed, err: read udp 127.0.0.1:1->127.0.0.1:2: read: connection refused", ErrUnreachable, true},
		{"cmd: Get Channel Authentication Capabilities failed, err: IPMI LAN: no matching IPMI response (expected rqSeq 0x01, command 0x38) before UDP read deadline after 1 attempt(s): udp exchange: no datagram matched before deadline", ErrUnreachable, true},
		{"connect20 failed ... cmd: RMCP+ Open Session failed with cipher suite id (17), err: client exchange failed, err: canceled from caller: context deadline exceeded", ErrNegotiation, true},
		{"something else entirely", ErrNegotiation, false},
	} {
		kind, retry := classify(errors.New(tc.msg))
		if kind != tc.kind || retry != tc.retry {
			t.Errorf("classify(%.60q) = %v, %v; want %v, %v", tc.msg, kind, retry, tc.kind, tc.retry)
		}
	}
	if k, _ := classify(fmt.Errorf("x: %w", context.Canceled)); k != context.Canceled {
		t.Errorf("cancel classified as %v", k)
	}
}

func TestBackoff(t *testing.T) {
	o := Options{Backoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
	want := []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}
	for round, w := range want {
		if got := backoffFor(o, round); got != w {
			t.Errorf("backoffFor(round %d) = %v; want %v", round, got, w)
		}
	}
	if d := (Options{}).withDefaults(); d.Attempts != 3 || d.Timeout != 5*time.Second {
		t.Errorf("defaults: %d attempts, %v timeout", d.Attempts, d.Timeout)
	}
}

// The simulator offers only suite 3 (like ipmi_sim): 17 is refused, 3 used
// and remembered, and the next Dial goes straight to 3.
func TestCipherFallbackTo3(t *testing.T) {
	s := startSim(t, simConfig{suites: []types.CipherSuiteID{types.CipherSuiteID3}})
	log, buf := newLog()
	d := NewDialer(testOptions(log))

	cs3 := Strategy{Lanplus, 3}
	c := dial(t, d, s.creds)
	if got := c.Strategy(); got != cs3 {
		t.Fatalf("connected via %v; want %v", got, cs3)
	}
	if got, ok := d.Known(s.creds.Host, s.creds.Port); !ok || got != cs3 {
		t.Fatalf("Known = %v, %v; want %v", got, ok, cs3)
	}
	if n := strings.Count(buf.String(), "connection attempt failed"); n != 1 {
		t.Fatalf("first dial logged %d failed attempts; want 1 (suite 17)\n%s", n, buf)
	}
	if !strings.Contains(buf.String(), "Invalid authentication algorithm") {
		t.Fatalf("suite 17 refusal not logged:\n%s", buf)
	}
	if _, err := c.PowerStatus(context.Background()); err != nil {
		t.Fatal(err)
	}

	before := strings.Count(buf.String(), "connection attempt failed")
	c2 := dial(t, d, s.creds)
	if got := c2.Strategy(); got != cs3 {
		t.Fatalf("second dial via %v; want %v", got, cs3)
	}
	if n := strings.Count(buf.String(), "connection attempt failed"); n != before {
		t.Fatalf("second dial made %d failed attempts; want 0", n-before)
	}
}

// Neither 17 nor 3 offered (only suite 1): IPMI 1.5 is the last resort.
func TestFallbackToLan(t *testing.T) {
	s := startSim(t, simConfig{suites: []types.CipherSuiteID{types.CipherSuiteID1}})
	log, _ := newLog()
	d := NewDialer(testOptions(log))
	lan := Strategy{Interface: Lan}
	c := dial(t, d, s.creds)
	if got := c.Strategy(); got != lan {
		t.Fatalf("connected via %v; want %v", got, lan)
	}
	if err := c.PowerOn(context.Background()); err != nil {
		t.Fatalf("PowerOn over IPMI 1.5: %v", err)
	}
	if !s.ch.isOn(t) {
		t.Fatal("simulator not on")
	}
}

// The BMC answers but accepts none of our methods: each is tried once, no
// rounds are wasted, and the error lists all three refusals.
func TestAllStrategiesRefused(t *testing.T) {
	s := startSim(t, simConfig{suites: []types.CipherSuiteID{types.CipherSuiteID1}, noV15: true})
	log, _ := newLog()
	_, err := NewDialer(testOptions(log)).Dial(context.Background(), s.creds)
	if !errors.Is(err, ErrNegotiation) {
		t.Fatalf("Dial = %v; want ErrNegotiation", err)
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || len(ce.Attempts) != 3 {
		t.Fatalf("want 3 attempts: %v", err)
	}
	for i, want := range DefaultStrategies() {
		if a := ce.Attempts[i]; a.Strategy != want || a.Round != 1 {
			t.Errorf("attempt %d = %v; want round 1 %v", i, a, want)
		}
	}
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		port    func(*testing.T) int
		minTime time.Duration
	}{
		{"nothing listening", closedUDPPort, 0},
		{"listener never answers", silentUDP, 3 * 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, _ := newLog()
			opts := testOptions(log)
			opts.Timeout = 200 * time.Millisecond
			d := NewDialer(opts)
			creds := Creds{Host: "127.0.0.1", Port: tc.port(t), User: "admin", Password: "unreach-Secret"}

			start := time.Now()
			_, err := d.Dial(context.Background(), creds)
			el := time.Since(start)
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("Dial = %v; want ErrUnreachable", err)
			}
			var ce *ConnectError
			if !errors.As(err, &ce) || len(ce.Attempts) != 3 {
				t.Fatalf("want 3 attempts listed, got %v", err)
			}
			for i, a := range ce.Attempts {
				if a.Round != i+1 || a.Kind != ErrUnreachable || a.Err == "" {
					t.Errorf("attempt %d = %+v", i, a)
				}
			}
			msg := err.Error()
			for _, want := range []string{"admin@127.0.0.1:", "did not respond", "3 attempt(s)", "[3] round 3 lanplus cipher suite 17"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
			if strings.Contains(msg, creds.Password) {
				t.Fatal("password in error")
			}
			if el < tc.minTime || el > 3*time.Second {
				t.Fatalf("took %v; want between %v and 3s", el, tc.minTime)
			}
		})
	}
}

// fakeClock fires every wait at once and records it.
type fakeClock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (f *fakeClock) Now() time.Time { return time.Now() }

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	f.waits = append(f.waits, d)
	f.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

// Backoff goes through the injected clock: hour-long waits cost nothing.
func TestDialBackoffUsesClock(t *testing.T) {
	clk := &fakeClock{}
	log, _ := newLog()
	opts := testOptions(log)
	opts.Attempts = 4
	opts.Backoff, opts.MaxBackoff = time.Hour, 3*time.Hour
	opts.Clock = clk
	start := time.Now()
	_, err := NewDialer(opts).Dial(context.Background(), Creds{Host: "127.0.0.1", Port: closedUDPPort(t), User: "u"})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Dial = %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("backoff did not use the injected clock")
	}
	clk.mu.Lock()
	defer clk.mu.Unlock()
	if want := []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour}; !reflect.DeepEqual(clk.waits, want) {
		t.Fatalf("waits = %v; want %v", clk.waits, want)
	}
}

func TestDialHonoursCancel(t *testing.T) {
	log, _ := newLog()
	opts := testOptions(log)
	opts.Timeout = 5 * time.Second
	d := NewDialer(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := d.Dial(ctx, Creds{Host: "127.0.0.1", Port: silentUDP(t), User: "admin", Password: "x"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v; want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("cancel took %v", el)
	}
}

func TestWrongPassword(t *testing.T) {
	s := startSim(t, simConfig{})
	log, buf := newLog()
	d := NewDialer(testOptions(log))
	creds := s.creds
	creds.Password = "Wr0ng-Passw0rd"

	_, err := d.Dial(context.Background(), creds)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Dial = %v; want ErrAuth", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "authentication rejected") || !strings.Contains(msg, "RAKP") {
		t.Fatalf("error not clear: %s", msg)
	}
	var ce *ConnectError
	if !errors.As(err, &ce) || len(ce.Attempts) != 1 {
		t.Fatalf("want exactly one attempt (no lockout-inducing retries): %v", err)
	}
	for _, secret := range []string{creds.Password, simPassword} {
		if strings.Contains(msg, secret) || strings.Contains(buf.String(), secret) {
			t.Fatalf("password %q leaked: %s\nlog: %s", secret, msg, buf)
		}
	}
	if _, ok := d.Known(creds.Host, creds.Port); ok {
		t.Fatal("failed login remembered as a working strategy")
	}
}

func TestWrongPasswordIPMI15(t *testing.T) {
	s := startSim(t, simConfig{suites: []types.CipherSuiteID{types.CipherSuiteID1}})
	log, _ := newLog()
	creds := s.creds
	creds.Password = "Wr0ng-Passw0rd"
	_, err := NewDialer(testOptions(log)).Dial(context.Background(), creds)
	if !errors.Is(err, ErrAuth) {
		t.Fatalf("Dial = %v; want ErrAuth", err)
	}
	if strings.Contains(err.Error(), creds.Password) {
		t.Fatal("password in error")
	}
}

func TestDialRejectsBadCreds(t *testing.T) {
	d := NewDialer(Options{})
	if _, err := d.Dial(context.Background(), Creds{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty host: %v", err)
	}
	if _, err := d.Dial(context.Background(), Creds{Host: "h", User: strings.Repeat("u", 17)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long user: %v", err)
	}
}
