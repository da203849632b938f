package bmc

import (
	"context"
	"log/slog"
	"time"
)

// Clock is the time source for backoff and power-state polling.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

func (RealClock) Now() time.Time                         { return time.Now() }
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults for Options fields left zero.
const (
	DefaultAttempts           = 3
	DefaultTimeout            = 5 * time.Second
	DefaultBackoff            = 500 * time.Millisecond
	DefaultMaxBackoff         = 5 * time.Second
	DefaultPowerVerifyTimeout = 30 * time.Second
	DefaultPowerPollInterval  = time.Second
)

// Options tune a Dialer. Zero values take the defaults above.
type Options struct {
	// Attempts is how many rounds over the connection strategies are made
	// when the BMC does not answer. A BMC that answers and rejects a method
	// is not asked for that method again.
	Attempts int
	// Timeout bounds one connection attempt and one command exchange.
	Timeout time.Duration
	// Backoff is the pause before the second round; it doubles per round up
	// to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration

	// PowerVerifyTimeout is how long PowerOn/PowerOff poll the chassis status
	// for the new state before reporting ErrNotApplied.
	PowerVerifyTimeout time.Duration
	PowerPollInterval  time.Duration

	// LenientEFIReadback accepts a boot-flags readback that lost the EFI bit
	// (the device must still match). OpenIPMI's ipmi_sim in codec VM mode
	// keeps only the boot device and drops the valid, persistent and EFI
	// bits; real BMCs keep them, so leave this off outside such labs.
	LenientEFIReadback bool

	Logger *slog.Logger
	Clock  Clock
}

func (o Options) withDefaults() Options {
	if o.Attempts <= 0 {
		o.Attempts = DefaultAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Backoff <= 0 {
		o.Backoff = DefaultBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.PowerVerifyTimeout <= 0 {
		o.PowerVerifyTimeout = DefaultPowerVerifyTimeout
	}
	if o.PowerPollInterval <= 0 {
		o.PowerPollInterval = DefaultPowerPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	return o
}

// sleep waits d on clk or until ctx ends.
func sleep(ctx context.Context, clk Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-clk.After(d):
		return nil
	}
}
