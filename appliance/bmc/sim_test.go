package bmc

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	gbmc "github.com/bougou/go-ipmi/pkg/bmc"
	"github.com/bougou/go-ipmi/pkg/clock"
	"github.com/bougou/go-ipmi/pkg/hal"
	"github.com/bougou/go-ipmi/pkg/hal/mock"
	"github.com/bougou/go-ipmi/pkg/handlers"
	"github.com/bougou/go-ipmi/pkg/server"
	"github.com/bougou/go-ipmi/pkg/transport/udp"
	"github.com/bougou/go-ipmi/pkg/types"
)

// The tests run go-ipmi's reference BMC (pkg/server + pkg/bmc) in-process on
// a real UDP socket. Its hardware is go-ipmi's mock HAL, wrapped only to count
// actions race-free and to mimic ipmi_sim's lossy boot-flags storage.

const (
	simUser     = "ADMIN"
	simPassword = "s3cret-Pa55"
)

type simConfig struct {
	suites   []types.CipherSuiteID // nil: go-ipmi default {3, 17}
	registry func(*handlers.Registry)
	codecVM  bool
	noV15    bool
	// powerIgnored makes Chassis Control power up/down succeed without effect.
	powerIgnored bool
	port         int // 0: pick a free port
}

// simChassis wraps go-ipmi's mock chassis. The mock's counters are plain
// fields guarded by an unexported mutex, so tests count here instead.
type simChassis struct {
	*mock.Chassis
	codecVM bool

	mu     sync.Mutex
	cycles int
	resets int
	sets   int
}

func (c *simChassis) PowerCycle(ctx context.Context) error {
	c.mu.Lock()
	c.cycles++
	c.mu.Unlock()
	return c.Chassis.PowerCycle(ctx)
}

func (c *simChassis) ColdReset(ctx context.Context) error {
	c.mu.Lock()
	c.resets++
	c.mu.Unlock()
	return c.Chassis.ColdReset(ctx)
}

// SetBootFlags in codec VM mode keeps only the device, as ipmi_sim does.
func (c *simChassis) SetBootFlags(ctx context.Context, f *types.BootOptionParam_BootFlags) error {
	c.mu.Lock()
	c.sets++
	c.mu.Unlock()
	if c.codecVM && f != nil {
		f = &types.BootOptionParam_BootFlags{BootDeviceSelector: f.BootDeviceSelector}
	}
	return c.Chassis.SetBootFlags(ctx, f)
}

func (c *simChassis) counts() (cycles, resets, sets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cycles, c.resets, c.sets
}

func (c *simChassis) isOn(t *testing.T) bool {
	t.Helper()
	on, err := c.PowerState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return on
}

type simHAL struct {
	*mock.HAL
	ch *simChassis
}

func (h *simHAL) Chassis() hal.ChassisHAL { return h.ch }

type sim struct {
	bmc   *gbmc.BMC
	ch    *simChassis
	port  int
	creds Creds
	stop  func()
}

func startSim(t *testing.T, cfg simConfig) *sim {
	t.Helper()
	ch := &simChassis{Chassis: &mock.Chassis{}, codecVM: cfg.codecVM}
	if cfg.powerIgnored {
		ch.SetPowerHook = func(bool) error { return nil }
	}
	var guid [16]byte
	copy(guid[:], "outpost-bmc-test")
	opts := []gbmc.Option{gbmc.WithClock(clock.Real)}
	if cfg.suites != nil {
		opts = append(opts, gbmc.WithCipherSuites(cfg.suites))
	}
	if cfg.noV15 {
		opts = append(opts, gbmc.WithV15Disabled())
	}
	b := gbmc.New(gbmc.DeviceInfo{DeviceID: 32, IPMIVersion: 0x20, ManufacturerID: 0x000157},
		guid, &simHAL{HAL: mock.New(), ch: ch}, opts...)
	u, err := b.Users.Add(2, simUser)
	if err != nil {
		t.Fatal(err)
	}
	u.SetPassword([]byte(simPassword))
	u.Enabled = true
	u.ChannelAccess[1] = gbmc.UserChannelAccess{MaxPrivilege: gbmc.PrivilegeLevelAdministrator, Enabled: true}

	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: cfg.port})
	if err != nil {
		t.Fatal(err)
	}
	var sopts []server.ServerOption
	if cfg.registry != nil {
		reg := handlers.NewRegistry()
		handlers.RegisterAllHandlers(reg)
		cfg.registry(reg)
		sopts = append(sopts, server.WithHandlerRegistry(reg))
	}
	srv := server.NewServer(b, udp.Wrap(pc), sopts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			_ = srv.Close()
			<-done
		})
	}
	t.Cleanup(stop)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	return &sim{
		bmc: b, ch: ch, port: port, stop: stop,
		creds: Creds{Host: "127.0.0.1", Port: port, User: simUser, Password: simPassword},
	}
}

// testOptions are short enough to keep the suite fast.
func testOptions(log *slog.Logger) Options {
	return Options{
		Attempts:           3,
		Timeout:            300 * time.Millisecond,
		Backoff:            20 * time.Millisecond,
		MaxBackoff:         50 * time.Millisecond,
		PowerVerifyTimeout: 2 * time.Second,
		PowerPollInterval:  20 * time.Millisecond,
		Logger:             log,
	}
}

// logBuf captures log output; safe for the concurrent writes slog may do.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLog() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func dial(t *testing.T, d *Dialer, c Creds) *Client {
	t.Helper()
	cl, err := d.Dial(context.Background(), c)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	return cl
}

// silentUDP is a listener that reads and never answers.
func silentUDP(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// closedUDPPort returns a port that had a listener a moment ago and has none now.
func closedUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	_ = pc.Close()
	return port
}
