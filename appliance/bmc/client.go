package bmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// Client drives one BMC over a single IPMI session. Methods are safe for
// concurrent use; they are serialized on the session. If the BMC drops the
// session, the next call reconnects.
type Client struct {
	d     *Dialer
	creds Creds
	log   *slog.Logger

	mu       sync.Mutex
	ic       *client.Client // nil when no session is open
	strategy Strategy
	closed   bool
}

// Strategy reports how the current (or last) session was opened.
func (c *Client) Strategy() Strategy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.strategy
}

// String identifies the client without the password.
func (c *Client) String() string { return "bmc.Client(" + c.creds.String() + ")" }

// Format keeps fmt from walking into the unexported creds field.
func (c *Client) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// Close ends the session (Close Session, then the socket). Later calls
// return ErrClosed; Close itself is idempotent.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.ic == nil {
		return nil
	}
	ic := c.ic
	c.ic = nil
	cctx, cancel := context.WithTimeout(ctx, c.d.opts.Timeout)
	defer cancel()
	// go-ipmi closes the socket even when Close Session fails.
	if err := ic.Close(cctx); err != nil {
		kind := cctx.Err()
		if kind == nil {
			kind = ErrUnreachable
		}
		return c.opErr("close session", err, kind)
	}
	return nil
}

// run executes fn on a live session, connecting first if needed. When an
// exchange gets no answer the session is assumed lost (BMCs silently drop
// packets for sessions they evicted); idempotent operations then reconnect
// and retry once. Non-idempotent ones (cycle, reset) are not resent because
// the BMC may have acted on the lost request.
func (c *Client) run(ctx context.Context, op string, idempotent bool, fn func(context.Context, *client.Client) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for try := 0; ; try++ {
		if c.closed {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.ic == nil {
			ic, s, err := c.d.connect(ctx, c.creds, c.log)
			if err != nil {
				return err
			}
			c.ic, c.strategy = ic, s
		}
		err := fn(ctx, c.ic)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			// go-ipmi matches replies by sequence number, so a reply that
			// arrives late is dropped and the session stays usable.
			return c.opErr(op, err, ctx.Err())
		}
		if !noAnswer(err) {
			return c.opErr(op, err, nil)
		}
		discard(ctx, c.ic)
		c.ic = nil
		if !idempotent {
			return c.opErr(op+" (outcome unknown, not resent)", err, ErrUnreachable)
		}
		if try > 0 {
			return c.opErr(op, err, ErrUnreachable)
		}
		c.log.Warn("bmc: no answer, reconnecting once", "op", op, "err", redactor(c.creds.Password).text(err))
	}
}

func noAnswer(err error) bool {
	if strings.Contains(strings.ToLower(err.Error()), "connection refused") {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return isNoAnswer(err, strings.ToLower(err.Error()))
}

func (c *Client) opErr(op string, err error, kind error) error {
	return &opError{op: op, target: c.creds.String(), msg: redactor(c.creds.Password).text(err), kind: kind}
}

// PowerStatus reports whether the chassis power is on.
func (c *Client) PowerStatus(ctx context.Context) (on bool, err error) {
	err = c.run(ctx, "get chassis status", true, func(ctx context.Context, ic *client.Client) error {
		r, err := ic.GetChassisStatus(ctx)
		if err != nil {
			return err
		}
		on = r.PowerIsOn
		return nil
	})
	return on, err
}

// PowerOn powers the chassis up and waits until the BMC reports it on.
func (c *Client) PowerOn(ctx context.Context) error { return c.setPower(ctx, true) }

// PowerOff cuts power (hard, no OS shutdown) and waits until the BMC reports
// it off.
func (c *Client) PowerOff(ctx context.Context) error { return c.setPower(ctx, false) }

// PowerCycle turns power off then on. It is not verified: the transition is
// too quick to observe reliably, and some BMCs refuse it while off.
func (c *Client) PowerCycle(ctx context.Context) error {
	return c.control(ctx, "power cycle", chassis.ChassisControlPowerCycle, false)
}

// PowerReset is a hard reset of the running system. Not verified; see PowerCycle.
func (c *Client) PowerReset(ctx context.Context) error {
	return c.control(ctx, "power reset", chassis.ChassisControlHardReset, false)
}

func (c *Client) control(ctx context.Context, op string, ctl chassis.ChassisControl, idempotent bool) error {
	return c.run(ctx, op, idempotent, func(ctx context.Context, ic *client.Client) error {
		_, err := ic.ChassisControl(ctx, ctl)
		return err
	})
}

func (c *Client) setPower(ctx context.Context, on bool) error {
	op, ctl := "power off", chassis.ChassisControlPowerDown
	if on {
		op, ctl = "power on", chassis.ChassisControlPowerUp
	}
	cur, err := c.PowerStatus(ctx)
	if err != nil {
		return err
	}
	if cur == on {
		// Some BMCs answer D5h to a power change into the current state.
		c.log.Debug("bmc: power already in requested state", "op", op)
		return nil
	}
	if err := c.control(ctx, op, ctl, true); err != nil {
		return err
	}
	return c.waitPower(ctx, op, on)
}

// waitPower polls until the chassis reports want or PowerVerifyTimeout passes.
// Poll errors are tolerated until the deadline: BMCs are often slow to answer
// while switching power.
func (c *Client) waitPower(ctx context.Context, op string, want bool) error {
	o := c.d.opts
	deadline := o.Clock.Now().Add(o.PowerVerifyTimeout)
	var lastErr error
	for {
		got, err := c.PowerStatus(ctx)
		switch {
		case err == nil && got == want:
			return nil
		case err != nil && ctx.Err() != nil:
			return err
		}
		lastErr = err
		if !o.Clock.Now().Before(deadline) {
			msg := fmt.Sprintf("BMC accepted %s but the chassis still reports power %s after %s; it did not take",
				op, onOff(!want), o.PowerVerifyTimeout)
			if lastErr != nil {
				msg += " (last status error: " + redactor(c.creds.Password).text(lastErr) + ")"
			}
			return &opError{op: op, target: c.creds.String(), msg: msg, kind: ErrNotApplied}
		}
		if err := sleep(ctx, o.Clock, o.PowerPollInterval); err != nil {
			return err
		}
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// Device is a boot device; the values are IPMI boot device selectors
// (Table 28-14, parameter 5, data 2 bits 5:2).
type Device uint8

const (
	DeviceNone Device = Device(types.BootDeviceSelectorNoOverride)
	DevicePXE  Device = Device(types.BootDeviceSelectorForcePXE)
	DeviceDisk Device = Device(types.BootDeviceSelectorForceHardDrive)
)

func (d Device) String() string {
	switch d {
	case DeviceNone:
		return "none"
	case DevicePXE:
		return "pxe"
	case DeviceDisk:
		return "disk"
	}
	return fmt.Sprintf("device(%#x %s)", uint8(d), types.BootDeviceSelector(d))
}

func bootMode(efi bool) string {
	if efi {
		return "EFI"
	}
	return "legacy"
}

// SetNextBoot sets the boot device and mode, then reads the boot flags back
// and fails with ErrReadback unless the BMC reports the same device. BMCs
// (and ipmitool) often report success for boot changes that did not stick.
//
// The EFI bit must also read back when efi is set, unless
// Options.LenientEFIReadback is on (ipmi_sim's codec VM mode drops it). The
// valid and persistent bits are not compared, since the same emulators drop
// them too; a mismatch is logged.
func (c *Client) SetNextBoot(ctx context.Context, dev Device, efi bool, persistent bool) error {
	if dev != DevicePXE && dev != DeviceDisk {
		return fmt.Errorf("%w: boot device %s (want pxe or disk)", ErrInvalid, dev)
	}
	want := &types.BootOptionParam_BootFlags{
		BootFlagsValid:     true,
		Persist:            persistent,
		BIOSBootType:       types.BIOSBootType(efi),
		BootDeviceSelector: types.BootDeviceSelector(dev),
	}
	// Parameter 5 alone: Set In Progress (param 0) is optional and many BMCs,
	// go-ipmi's simulator included, answer 80h to it.
	err := c.run(ctx, "set boot flags", true, func(ctx context.Context, ic *client.Client) error {
		return ic.SetSystemBootOptionsParamFor(ctx, want)
	})
	if err != nil {
		return err
	}

	got, err := c.bootFlags(ctx)
	if err != nil {
		return &opError{op: "verify boot flags", target: c.creds.String(), kind: ErrReadback,
			msg: fmt.Sprintf("BMC accepted boot %s (%s) but it could not be read back: %s", dev, bootMode(efi), redactor(c.creds.Password).text(err))}
	}
	gotDev, gotEFI := Device(got.BootDeviceSelector), bool(got.BIOSBootType)
	mismatch := func(why string) error {
		return &opError{op: "verify boot flags", target: c.creds.String(), kind: ErrReadback,
			msg: fmt.Sprintf("BMC accepted the change but reads back %s (%s), want %s (%s): %s",
				gotDev, bootMode(gotEFI), dev, bootMode(efi), why)}
	}
	switch {
	case gotDev != dev:
		return mismatch("boot device differs")
	case efi && !gotEFI && !c.d.opts.LenientEFIReadback:
		return mismatch("EFI bit lost (set LenientEFIReadback for emulators that drop it)")
	case efi && !gotEFI:
		c.log.Warn("bmc: EFI bit lost on readback; accepted (LenientEFIReadback)", "device", dev.String())
	case !efi && gotEFI:
		return mismatch("EFI mode set but legacy was requested")
	}
	if !got.BootFlagsValid || got.Persist != persistent {
		c.log.Warn("bmc: boot flags valid/persistent bits differ on readback",
			"valid", got.BootFlagsValid, "persistent", got.Persist, "want_persistent", persistent)
	}
	return nil
}

// NextBoot reads the boot flags (Get System Boot Options, parameter 5). The
// device is reported even when the valid bit is clear, because emulators
// drop that bit; real BMCs clear it after the override was used or timed out.
func (c *Client) NextBoot(ctx context.Context) (Device, bool, error) {
	f, err := c.bootFlags(ctx)
	if err != nil {
		return DeviceNone, false, err
	}
	if !f.BootFlagsValid {
		c.log.Debug("bmc: boot flags valid bit clear", "device", Device(f.BootDeviceSelector).String())
	}
	return Device(f.BootDeviceSelector), bool(f.BIOSBootType), nil
}

func (c *Client) bootFlags(ctx context.Context) (*types.BootOptionParam_BootFlags, error) {
	f := &types.BootOptionParam_BootFlags{}
	err := c.run(ctx, "get boot flags", true, func(ctx context.Context, ic *client.Client) error {
		return ic.GetSystemBootOptionsParamFor(ctx, f)
	})
	return f, err
}
