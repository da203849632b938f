package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/outpostdc/outpost/recon"
)

// Agent runs one boot of the recon image.
type Agent struct {
	P       Params
	C       *Client
	Console io.Writer
	// Collect reads the machine; enroll, when not nil, asks it to create
	// that BMC user first.
	Collect func(ctx context.Context, enroll *recon.Enrollment) recon.Report
	// Late, if set, runs after the first report and returns a fuller one
	// (a slow LLDP neighbour) or nil.
	Late func(ctx context.Context) *recon.Report
	// RunJob runs work handed out by outpostd.
	RunJob   func(ctx context.Context, job recon.Job, agentToken string) error
	PowerOff func() error
	Reboot   func() error
}

// errStop ends Run without error once the machine is powering off or
// rebooting.
type stopError struct{ what string }

func (e stopError) Error() string { return e.what }

func (a *Agent) say(format string, args ...any) {
	fmt.Fprintf(a.Console, "recon: "+format+"\n", args...)
}

// Run reports the machine and then follows outpostd's orders. It returns
// when the machine is being powered off or rebooted, or ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.C.OnRetry = func(what string, n int, err error, wait time.Duration) {
		a.say("%s failed (attempt %d): %v; retrying in %s", what, n, err, wait.Round(100*time.Millisecond))
	}
	var enroll *recon.Enrollment
	if e, err := a.C.Enrollment(ctx, a.P.Token, a.P.MAC); err != nil {
		a.say("BMC enrolment not available: %v", err)
	} else if e != nil {
		enroll = e
		a.say("outpostd asked for BMC user %q in slot %d", e.User, e.UserID)
	}
	a.say("collecting hardware facts")
	start := time.Now()
	rep := a.Collect(ctx, enroll)
	enroll = nil // the password is not kept past the collection
	a.say("found %s %s serial %q: %d CPUs (%d cores), %d MiB, %d disks, %d NICs, BMC %v (%s)",
		rep.System.Manufacturer, rep.System.Product, rep.System.Serial, rep.CPU.Threads, rep.CPU.Cores,
		rep.Memory.TotalBytes>>20, len(rep.Disks), len(rep.NICs), rep.BMC != nil, time.Since(start).Round(time.Millisecond))
	for _, e := range rep.Errors {
		a.say("  not collected: %s", e)
	}
	a.say("reporting to %s", a.C.Base)
	reply, err := a.C.Report(ctx, a.P.Token, rep)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Unauthorized() {
			a.say("outpostd refused the boot token (%s); rebooting for a fresh one", se.Msg)
			return a.stop(a.Reboot, "reboot")
		}
		return fmt.Errorf("report: %w", err)
	}
	a.say("ingested as machine %d, serial %q, class %s, state %s", reply.MachineID, reply.Serial, reply.Class, reply.State)
	for _, c := range reply.Changes {
		a.say("  changed: %s", c)
	}
	tok := reply.AgentToken
	if a.Late != nil {
		go func() {
			if r := a.Late(ctx); r != nil {
				if _, err := a.C.Report(ctx, tok, *r); err != nil {
					a.say("late report failed: %v", err)
				} else {
					a.say("sent late report (%d LLDP neighbours)", len(r.LLDP))
				}
			}
		}()
	}
	return a.follow(ctx, tok)
}

func (a *Agent) follow(ctx context.Context, tok string) error {
	last := ""
	for {
		n, err := a.C.Next(ctx, tok)
		if err != nil {
			var se *StatusError
			if errors.As(err, &se) && se.Unauthorized() {
				a.say("outpostd no longer accepts this agent (%s); rebooting", se.Msg)
				return a.stop(a.Reboot, "reboot")
			}
			return fmt.Errorf("next: %w", err)
		}
		if n.Action+n.Reason != last {
			a.say("outpostd says %s: %s", n.Action, n.Reason)
			last = n.Action + n.Reason
		}
		switch n.Action {
		case "poweroff":
			return a.stop(a.PowerOff, "power off")
		case "reboot":
			return a.stop(a.Reboot, "reboot")
		case "job":
			if n.Job == nil || a.RunJob == nil {
				a.say("job offered but this agent cannot run it")
			} else if err := a.RunJob(ctx, *n.Job, tok); err != nil {
				a.say("job %d failed: %v", n.Job.ID, err)
			}
			continue
		}
		poll := time.Duration(n.PollSeconds) * time.Second
		if poll <= 0 {
			poll = 10 * time.Second
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

func (a *Agent) stop(fn func() error, what string) error {
	a.say("%s", what)
	if a.P.Debug {
		a.say("outpost.debug is set: not doing %s", what)
		return stopError{what}
	}
	if fn == nil {
		return stopError{what}
	}
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return stopError{what}
}

// Stopped reports whether err is Run's normal end.
func Stopped(err error) bool {
	var s stopError
	return errors.As(err, &s)
}
