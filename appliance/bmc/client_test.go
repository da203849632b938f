package bmc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bougou/go-ipmi/pkg/handlers"
	"github.com/bougou/go-ipmi/pkg/types"
)

func TestPowerRoundTrip(t *testing.T) {
	s := startSim(t, simConfig{})
	log, _ := newLog()
	c := dial(t, NewDialer(testOptions(log)), s.creds)
	ctx := context.Background()

	if on, err := c.PowerStatus(ctx); err != nil || on {
		t.Fatalf("PowerStatus = %v, %v; want off", on, err)
	}
	if err := c.PowerOn(ctx); err != nil {
		t.Fatalf("PowerOn: %v", err)
	}
	if !s.ch.isOn(t) {
		t.Fatal("simulator still off after PowerOn")
	}
	if on, err := c.PowerStatus(ctx); err != nil || !on {
		t.Fatalf("PowerStatus = %v, %v; want on", on, err)
	}
	// Already on: succeeds without a second command.
	if err := c.PowerOn(ctx); err != nil {
		t.Fatalf("PowerOn while on: %v", err)
	}

	if err := c.PowerCycle(ctx); err != nil {
		t.Fatalf("PowerCycle: %v", err)
	}
	if err := c.PowerReset(ctx); err != nil {
		t.Fatalf("PowerReset: %v", err)
	}
	if cycles, resets, _ := s.ch.counts(); cycles != 1 || resets != 1 {
		t.Fatalf("simulator saw %d cycles, %d resets; want 1, 1", cycles, resets)
	}

	if err := c.PowerOff(ctx); err != nil {
		t.Fatalf("PowerOff: %v", err)
	}
	if s.ch.isOn(t) {
		t.Fatal("simulator still on after PowerOff")
	}
	if on, err := c.PowerStatus(ctx); err != nil || on {
		t.Fatalf("PowerStatus = %v, %v; want off", on, err)
	}
}

func TestPowerChangeThatDoesNotTake(t *testing.T) {
	s := startSim(t, simConfig{powerIgnored: true})
	log, _ := newLog()
	opts := testOptions(log)
	opts.PowerVerifyTimeout = 300 * time.Millisecond
	c := dial(t, NewDialer(opts), s.creds)

	start := time.Now()
	err := c.PowerOn(context.Background())
	if !errors.Is(err, ErrNotApplied) {
		t.Fatalf("PowerOn = %v; want ErrNotApplied", err)
	}
	if !strings.Contains(err.Error(), "did not take") || !strings.Contains(err.Error(), "still reports power off") {
		t.Fatalf("error does not explain: %v", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 3*time.Second {
		t.Fatalf("gave up after %v; want about PowerVerifyTimeout", el)
	}
}

func TestPowerWaitHonoursCancel(t *testing.T) {
	s := startSim(t, simConfig{powerIgnored: true})
	log, _ := newLog()
	opts := testOptions(log)
	opts.PowerVerifyTimeout = time.Minute
	c := dial(t, NewDialer(opts), s.creds)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.PowerOn(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PowerOn = %v; want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("cancel took %v", el)
	}
	// The session survives a cancelled call.
	if _, err := c.PowerStatus(context.Background()); err != nil {
		t.Fatalf("PowerStatus after cancel: %v", err)
	}
}

func TestSetNextBootRoundTrip(t *testing.T) {
	s := startSim(t, simConfig{})
	log, _ := newLog()
	c := dial(t, NewDialer(testOptions(log)), s.creds)
	ctx := context.Background()

	if err := c.SetNextBoot(ctx, DevicePXE, true, false); err != nil {
		t.Fatalf("SetNextBoot: %v", err)
	}
	dev, efi, err := c.NextBoot(ctx)
	if err != nil || dev != DevicePXE || !efi {
		t.Fatalf("NextBoot = %v, %v, %v; want pxe, efi", dev, efi, err)
	}
	// The simulator's own state, not just our readback.
	f, err := s.ch.GetBootFlags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.BootDeviceSelector != types.BootDeviceSelectorForcePXE || !bool(f.BIOSBootType) || !f.BootFlagsValid || f.Persist {
		t.Fatalf("simulator holds %+v", f)
	}

	if err := c.SetNextBoot(ctx, DeviceDisk, false, true); err != nil {
		t.Fatalf("SetNextBoot disk: %v", err)
	}
	if dev, efi, err := c.NextBoot(ctx); err != nil || dev != DeviceDisk || efi {
		t.Fatalf("NextBoot = %v, %v, %v; want disk, legacy", dev, efi, err)
	}
	if f, _ := s.ch.GetBootFlags(ctx); !f.Persist {
		t.Fatal("persistent bit not stored")
	}

	if err := c.SetNextBoot(ctx, DeviceNone, false, false); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetNextBoot(none) = %v; want ErrInvalid", err)
	}
}

// A BMC that acknowledges Set System Boot Options but stores nothing: the
// handler is replaced in go-ipmi's registry.
func TestSetNextBootReadbackCatchesIgnoredSet(t *testing.T) {
	s := startSim(t, simConfig{registry: func(r *handlers.Registry) {
		r.RegisterFunc(types.CommandSetSystemBootOptions,
			func(context.Context, *handlers.HandlerContext, []byte) ([]byte, types.CompletionCode, error) {
				return nil, types.CodeOK, nil
			})
	}})
	ctx := context.Background()
	// What the BMC had before: disk.
	if err := s.ch.SetBootFlags(ctx, &types.BootOptionParam_BootFlags{
		BootFlagsValid: true, BootDeviceSelector: types.BootDeviceSelectorForceHardDrive,
	}); err != nil {
		t.Fatal(err)
	}
	log, _ := newLog()
	c := dial(t, NewDialer(testOptions(log)), s.creds)

	err := c.SetNextBoot(ctx, DevicePXE, true, false)
	if !errors.Is(err, ErrReadback) {
		t.Fatalf("SetNextBoot = %v; want ErrReadback", err)
	}
	if !strings.Contains(err.Error(), "accepted the change but reads back disk") {
		t.Fatalf("error does not name the readback: %v", err)
	}

	// Lenience covers a lost EFI bit, never a wrong device.
	opts := testOptions(log)
	opts.LenientEFIReadback = true
	lenient := dial(t, NewDialer(opts), s.creds)
	if err := lenient.SetNextBoot(ctx, DevicePXE, true, false); !errors.Is(err, ErrReadback) {
		t.Fatalf("lenient SetNextBoot = %v; want ErrReadback", err)
	}
}

// go-ipmi's mock answers 80h to a read of never-set flags: unverifiable.
func TestSetNextBootUnreadableIsAnError(t *testing.T) {
	s := startSim(t, simConfig{registry: func(r *handlers.Registry) {
		r.RegisterFunc(types.CommandSetSystemBootOptions,
			func(context.Context, *handlers.HandlerContext, []byte) ([]byte, types.CompletionCode, error) {
				return nil, types.CodeOK, nil
			})
	}})
	log, _ := newLog()
	c := dial(t, NewDialer(testOptions(log)), s.creds)
	err := c.SetNextBoot(context.Background(), DeviceDisk, false, false)
	if !errors.Is(err, ErrReadback) || !strings.Contains(err.Error(), "could not be read back") {
		t.Fatalf("SetNextBoot = %v; want unverifiable ErrReadback", err)
	}
}

// ipmi_sim in codec VM mode keeps only the device.
func TestSetNextBootLostEFIBit(t *testing.T) {
	s := startSim(t, simConfig{codecVM: true})
	ctx := context.Background()
	log, _ := newLog()

	strict := dial(t, NewDialer(testOptions(log)), s.creds)
	err := strict.SetNextBoot(ctx, DevicePXE, true, false)
	if !errors.Is(err, ErrReadback) || !strings.Contains(err.Error(), "EFI bit lost") {
		t.Fatalf("strict SetNextBoot = %v; want ErrReadback about EFI", err)
	}
	// Legacy PXE matches: only the device and EFI bit are compared.
	if err := strict.SetNextBoot(ctx, DevicePXE, false, true); err != nil {
		t.Fatalf("legacy SetNextBoot on codec VM: %v", err)
	}

	opts := testOptions(log)
	opts.LenientEFIReadback = true
	lenient := dial(t, NewDialer(opts), s.creds)
	if err := lenient.SetNextBoot(ctx, DevicePXE, true, false); err != nil {
		t.Fatalf("lenient SetNextBoot: %v", err)
	}
	if dev, efi, err := lenient.NextBoot(ctx); err != nil || dev != DevicePXE || efi {
		t.Fatalf("NextBoot = %v, %v, %v; want pxe, efi lost", dev, efi, err)
	}
}

func TestReconnectAfterBMCRestart(t *testing.T) {
	s := startSim(t, simConfig{})
	log, _ := newLog()
	c := dial(t, NewDialer(testOptions(log)), s.creds)
	ctx := context.Background()
	if _, err := c.PowerStatus(ctx); err != nil {
		t.Fatal(err)
	}

	// A restarted BMC forgets our session and drops its packets.
	s.stop()
	s2 := startSim(t, simConfig{port: s.port})
	if err := s2.ch.SetPower(ctx, true); err != nil {
		t.Fatal(err)
	}
	on, err := c.PowerStatus(ctx)
	if err != nil || !on {
		t.Fatalf("PowerStatus after restart = %v, %v; want on via a new session", on, err)
	}
}

func TestCloseEndsSession(t *testing.T) {
	s := startSim(t, simConfig{})
	log, _ := newLog()
	c, err := NewDialer(testOptions(log)).Dial(context.Background(), s.creds)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.bmc.Sessions.Count(); n != 1 {
		t.Fatalf("simulator has %d sessions; want 1", n)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := s.bmc.Sessions.Count(); n != 0 {
		t.Fatalf("simulator has %d sessions after Close; want 0", n)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.PowerStatus(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("PowerStatus after Close = %v; want ErrClosed", err)
	}
}

func TestDeviceString(t *testing.T) {
	for d, want := range map[Device]string{DeviceNone: "none", DevicePXE: "pxe", DeviceDisk: "disk"} {
		if d.String() != want {
			t.Errorf("%d.String() = %q; want %q", d, d.String(), want)
		}
	}
	if s := Device(5).String(); !strings.Contains(s, "0x5") {
		t.Errorf("Device(5) = %q", s)
	}
}
