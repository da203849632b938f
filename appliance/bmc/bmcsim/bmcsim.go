// Package bmcsim runs go-ipmi's reference BMC in-process on a real UDP
// socket, for tests and benchmarks that need a BMC to drive: power state,
// boot flags and a count of what was asked of it.
package bmcsim

import (
	"context"
	"net"
	gosync "sync"

	gbmc "github.com/bougou/go-ipmi/pkg/bmc"
	"github.com/bougou/go-ipmi/pkg/clock"
	"github.com/bougou/go-ipmi/pkg/hal"
	"github.com/bougou/go-ipmi/pkg/hal/mock"
	"github.com/bougou/go-ipmi/pkg/server"
	"github.com/bougou/go-ipmi/pkg/transport/udp"
	"github.com/bougou/go-ipmi/pkg/types"
)

// Credentials of the simulated administrator.
const (
	User     = "ADMIN"
	Password = "s3cret-Pa55"
)

// Options shape a simulator.
type Options struct {
	// CodecVM keeps only the boot device of boot flags, as OpenIPMI's
	// ipmi_sim does in its VM codec mode.
	CodecVM bool
	// Port, if set, is the UDP port to listen on.
	Port int
}

// Sim is one running simulated BMC.
type Sim struct {
	Host string
	Port int
	ch   *chassis
	stop func()
}

// Start starts a simulator on 127.0.0.1. Close stops it.
func Start(o Options) (*Sim, error) {
	ch := &chassis{Chassis: &mock.Chassis{}, codecVM: o.CodecVM}
	var guid [16]byte
	copy(guid[:], "outpost-bmc-simu")
	b := gbmc.New(gbmc.DeviceInfo{DeviceID: 32, IPMIVersion: 0x20, ManufacturerID: 0x000157},
		guid, &halWrap{HAL: mock.New(), ch: ch}, gbmc.WithClock(clock.Real), gbmc.WithCipherSuites([]types.CipherSuiteID{3}))
	u, err := b.Users.Add(2, User)
	if err != nil {
		return nil, err
	}
	u.SetPassword([]byte(Password))
	u.Enabled = true
	u.ChannelAccess[1] = gbmc.UserChannelAccess{MaxPrivilege: gbmc.PrivilegeLevelAdministrator, Enabled: true}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: o.Port})
	if err != nil {
		return nil, err
	}
	srv := server.NewServer(b, udp.Wrap(pc))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx)
	}()
	var once gosync.Once
	s := &Sim{Host: "127.0.0.1", Port: pc.LocalAddr().(*net.UDPAddr).Port, ch: ch}
	s.stop = func() {
		once.Do(func() {
			cancel()
			_ = srv.Close()
			<-done
		})
	}
	return s, nil
}

// Close stops the simulator; the port stops answering.
func (s *Sim) Close() { s.stop() }

// Counts says how many power cycles, power changes and boot-flag writes
// the BMC received.
func (s *Sim) Counts() (cycles, powerSets, bootSets int) {
	s.ch.mu.Lock()
	defer s.ch.mu.Unlock()
	return s.ch.cycles, s.ch.powerSets, s.ch.bootSets
}

// On reports the simulated power state.
func (s *Sim) On() bool {
	on, _ := s.ch.PowerState(context.Background())
	return on
}

// BootFlags returns the stored boot flags.
func (s *Sim) BootFlags() (*types.BootOptionParam_BootFlags, error) {
	return s.ch.GetBootFlags(context.Background())
}

type chassis struct {
	*mock.Chassis
	codecVM bool

	mu                          gosync.Mutex
	cycles, powerSets, bootSets int
}

func (c *chassis) PowerCycle(ctx context.Context) error {
	c.mu.Lock()
	c.cycles++
	c.mu.Unlock()
	return c.Chassis.PowerCycle(ctx)
}

func (c *chassis) SetPower(ctx context.Context, on bool) error {
	c.mu.Lock()
	c.powerSets++
	c.mu.Unlock()
	return c.Chassis.SetPower(ctx, on)
}

func (c *chassis) SetBootFlags(ctx context.Context, f *types.BootOptionParam_BootFlags) error {
	c.mu.Lock()
	c.bootSets++
	c.mu.Unlock()
	if c.codecVM && f != nil {
		f = &types.BootOptionParam_BootFlags{BootDeviceSelector: f.BootDeviceSelector}
	}
	return c.Chassis.SetBootFlags(ctx, f)
}

type halWrap struct {
	*mock.HAL
	ch *chassis
}

func (h *halWrap) Chassis() hal.ChassisHAL { return h.ch }
