package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

// jobFlags are the flags every job-making command shares.
type jobFlags struct {
	yes      bool
	wait     bool
	attempts int
}

func (f *jobFlags) add(c *cobra.Command) {
	addYes(c.Flags(), &f.yes)
	c.Flags().BoolVar(&f.wait, "wait", false, "follow the job until it ends (exit 7 if it fails)")
	c.Flags().IntVar(&f.attempts, "attempts", 0, "attempts before the job fails (0: the daemon's default)")
}

// submit asks for confirmation, queues the job and, with --wait, follows it.
func (a *app) submit(ctx context.Context, f jobFlags, machine string, action appliance.JobAction, p map[string]string,
	question func(appliance.Machine) string, ask bool) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	m, err := a.resolveMachine(ctx, c, machine)
	if err != nil {
		return err
	}
	if ask {
		if err := a.confirm(f.yes, question(m)); err != nil {
			return err
		}
	}
	j, err := c.SubmitJob(ctx, client.NewJob{Action: string(action), MachineID: m.ID, Params: p, MaxAttempts: f.attempts})
	if err != nil {
		return err
	}
	if a.json && !f.wait {
		return printJSON(a.out(), j)
	}
	what := string(action)
	if ps := params(j.Params); ps != "" {
		what += " " + ps
	}
	fmt.Fprintf(a.out(), "job %d queued: %s on %s\n", j.ID, what, machineName(m))
	if !f.wait {
		return nil
	}
	err = a.watchJobs(ctx, c, []int64{j.ID}, time.Second)
	if a.json {
		if j2, err2 := c.Job(ctx, j.ID); err2 == nil {
			printJSON(a.out(), j2)
		}
	}
	return err
}

func (a *app) installCommand() *cobra.Command {
	var f jobFlags
	var image string
	c := &cobra.Command{
		Use:               "install MACHINE --image NAME:VERSION",
		Short:             "Install an image on a machine (it boots into the installer)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeMachines,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !strings.Contains(image, ":") && len(image) != 64 {
				return usageErrorf("--image must be NAME:VERSION (or a SHA-256)")
			}
			return a.submit(cmd.Context(), f, args[0], appliance.ActionInstall, map[string]string{"image": image},
				func(m appliance.Machine) string {
					return fmt.Sprintf("Install %s on %s?", image, machineName(m))
				}, true)
		},
	}
	c.Flags().StringVar(&image, "image", "", "the image, NAME:VERSION (see outpost images list)")
	c.MarkFlagRequired("image")
	f.add(c)
	return c
}

func (a *app) recycleCommand() *cobra.Command {
	var f jobFlags
	var full bool
	c := &cobra.Command{
		Use:               "recycle MACHINE [--full]",
		Short:             "Wipe a machine's disks and return it to ready",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeMachines,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{}
			how := "wiping every disk"
			if full {
				p["full"] = "true"
				how = "overwriting every disk in full"
			}
			return a.submit(cmd.Context(), f, args[0], appliance.ActionRecycle, p,
				func(m appliance.Machine) string {
					return fmt.Sprintf("Recycle %s, now %s, %s?", machineName(m), m.State, how)
				}, true)
		},
	}
	c.Flags().BoolVar(&full, "full", false, "overwrite whole disks, not only their metadata")
	f.add(c)
	return c
}

func (a *app) powerCommand() *cobra.Command {
	var f jobFlags
	ops := []string{"on", "off", "cycle", "reset", "status"}
	c := &cobra.Command{
		Use:   "power MACHINE on|off|cycle|reset|status",
		Short: "Power a machine on, off, cycle or reset it through its BMC, or read its power state",
		Args:  cobra.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, p string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return ops, cobra.ShellCompDirectiveNoFileComp
			}
			return a.completeMachines(cmd, args, p)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			op := args[1]
			ok := false
			for _, o := range ops {
				ok = ok || o == op
			}
			if !ok {
				return usageErrorf("power operation %q: want on, off, cycle, reset or status", op)
			}
			return a.submit(cmd.Context(), f, args[0], appliance.ActionPower, map[string]string{"op": op},
				func(m appliance.Machine) string {
					verb := map[string]string{"on": "Power on", "off": "Power off", "cycle": "Power cycle", "reset": "Reset"}[op]
					return fmt.Sprintf("%s %s, now %s?", verb, machineName(m), m.State)
				}, op != "status")
		},
	}
	f.add(c)
	return c
}

func (a *app) freezeCommand() *cobra.Command {
	var why string
	var yes bool
	c := &cobra.Command{
		Use:   "freeze MACHINE --reason R",
		Short: "Freeze a machine: no job touches it and it boots nothing new until unfrozen",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(why) == "" {
				return usageErrorf("--reason must say why")
			}
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			m, err := a.resolveMachine(ctx, c, args[0])
			if err != nil {
				return err
			}
			if err := a.confirm(yes, fmt.Sprintf("Freeze %s, now %s, because %q?", machineName(m), m.State, why)); err != nil {
				return err
			}
			m2, err := c.Freeze(ctx, m.ID, why)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.out(), m2)
			}
			fmt.Fprintf(a.out(), "%s frozen (was %s)\n", machineName(m2), m.State)
			return nil
		},
		ValidArgsFunction: a.completeMachines,
	}
	c.Flags().StringVar(&why, "reason", "", "why, for the audit log and the boot screen")
	c.MarkFlagRequired("reason")
	addYes(c.Flags(), &yes)
	return c
}

func (a *app) unfreezeCommand() *cobra.Command {
	var why string
	var yes bool
	c := &cobra.Command{
		Use:   "unfreeze MACHINE [--reason R]",
		Short: "Unfreeze a machine: it returns to the state it was frozen from",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.client()
			if err != nil {
				return err
			}
			m, err := a.resolveMachine(ctx, c, args[0])
			if err != nil {
				return err
			}
			back := string(m.FrozenFrom)
			if back == "" {
				back = "its earlier state"
			}
			if err := a.confirm(yes, fmt.Sprintf("Unfreeze %s, back to %s?", machineName(m), back)); err != nil {
				return err
			}
			m2, err := c.Unfreeze(ctx, m.ID, why)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.out(), m2)
			}
			fmt.Fprintf(a.out(), "%s unfrozen: now %s\n", machineName(m2), m2.State)
			return nil
		},
		ValidArgsFunction: a.completeMachines,
	}
	c.Flags().StringVar(&why, "reason", "", "why, for the audit log")
	addYes(c.Flags(), &yes)
	return c
}
