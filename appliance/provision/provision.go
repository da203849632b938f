// Package provision works HQ's provisioning requests at the site: it picks
// the best-fitting ready machines, allocates and names them, queues their
// installs under the site's policies, replaces machines that end broken,
// and keeps each request's progress in the inventory, which syncs it up.
// It needs nothing from HQ once a request has arrived.
package provision

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

// Reconciler drives open requests towards their count.
type Reconciler struct {
	Store *sqlite.Store
	// Wake tells the job engine new jobs are queued.
	Wake     func()
	Log      *slog.Logger
	Attempts int
	Interval time.Duration
	wake     chan struct{}
}

// Kick makes the next pass happen now.
func (r *Reconciler) Kick() {
	if r.wake == nil {
		return
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	if r.Interval <= 0 {
		r.Interval = 2 * time.Second
	}
	r.wake = make(chan struct{}, 1)
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		if err := r.Reconcile(ctx); err != nil && ctx.Err() == nil {
			r.Log.Error("provision: pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.wake:
		}
	}
}

// Reconcile makes one pass over the open requests.
func (r *Reconciler) Reconcile(ctx context.Context) error {
	reqs, err := r.Store.Requests(ctx, true)
	if err != nil {
		return err
	}
	for _, req := range reqs {
		if err := r.one(ctx, req); err != nil {
			return fmt.Errorf("request %d: %w", req.ID, err)
		}
	}
	return nil
}

func (r *Reconciler) one(ctx context.Context, req sqlite.ProvisionRequest) error {
	members, err := r.Store.Members(ctx, req.ID)
	if err != nil {
		return err
	}
	next := 1
	installing, done, failed := 0, 0, 0
	for _, m := range members {
		if m.N >= next {
			next = m.N + 1
		}
		if m.Status == "installing" {
			st, err := r.memberState(ctx, m)
			if err != nil {
				return err
			}
			if st != m.Status {
				if err := r.Store.SetMember(ctx, req.ID, m.MachineID, st); err != nil {
					return err
				}
				m.Status = st
			}
		}
		switch m.Status {
		case "installing":
			installing++
		case "done":
			done++
		case "failed":
			failed++
		}
	}
	need := req.Count - installing - done
	reason := ""
	if need > 0 {
		picked, short, err := r.pick(ctx, req, need)
		if err != nil {
			return err
		}
		img, err := r.Store.ImageByRef(ctx, req.Image)
		if err != nil {
			reason = fmt.Sprintf("image %s is not in this site's store", req.Image)
			picked = nil
		}
		for _, m := range picked {
			host, err := appliance.ExpandHostname(req.HostnamePattern, next, req.Role)
			if err != nil {
				return err
			}
			job, err := r.Store.Allocate(ctx, req, m.ID, next, host, img, r.Attempts)
			if err != nil {
				// Someone took the machine meanwhile: the next pass picks again.
				r.Log.Warn("provision: allocation failed", "request", req.ID, "machine", m.ID, "err", err)
				continue
			}
			r.Log.Info("provision: allocated", "request", req.ID, "machine", m.ID, "hostname", host, "job", job)
			next++
			installing++
		}
		if reason == "" {
			reason = short
		}
		if len(picked) > 0 && r.Wake != nil {
			r.Wake()
		}
	}
	req.Installing, req.Done, req.Failed = installing, done, failed
	req.Allocated = installing + done
	switch {
	case done >= req.Count:
		req.Status, req.Reason = "complete", ""
	case reason != "":
		req.Status, req.Reason = "short", reason
	default:
		req.Status, req.Reason = "open", ""
	}
	return r.Store.SetRequest(ctx, req)
}

// memberState reads where an installing member stands from its job and
// machine: deployed is done; a failed job or a broken machine is failed,
// and the request takes another machine.
func (r *Reconciler) memberState(ctx context.Context, m sqlite.Member) (string, error) {
	j, err := r.Store.Job(ctx, m.JobID)
	if err != nil {
		return "", err
	}
	mach, err := r.Store.Machine(ctx, m.MachineID)
	if err != nil {
		return "", err
	}
	switch {
	case j.Status == appliance.JobSucceeded && mach.State == appliance.StateDeployed:
		return "done", nil
	case j.Status == appliance.JobFailed || j.Status == appliance.JobCancelled || mach.State == appliance.StateBroken:
		return "failed", nil
	}
	return "installing", nil
}

func (r *Reconciler) pick(ctx context.Context, req sqlite.ProvisionRequest, need int) ([]appliance.Machine, string, error) {
	f := appliance.MachineFilter{State: appliance.StateReady, Limit: 10000}
	if req.Class != "" {
		f.Class = req.Class
	}
	ready, err := r.Store.Machines(ctx, f)
	if err != nil {
		return nil, "", err
	}
	picked, short := appliance.PickMachines(req.ProvisionSpec, ready, need)
	return picked, short, nil
}
