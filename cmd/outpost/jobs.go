package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

func (a *app) jobsCommand() *cobra.Command {
	var status, action, machine string
	list := &cobra.Command{
		Use:   "list",
		Short: "List jobs, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.listJobs(cmd.Context(), status, action, machine)
		},
	}
	list.Flags().StringVar(&status, "status", "", "only these statuses, comma-separated (queued,running,succeeded,failed,cancelled)")
	list.Flags().StringVar(&action, "action", "", "only this action (install, recycle, power)")
	list.Flags().StringVar(&machine, "machine", "", "only jobs of this machine (ID, serial or MAC)")

	show := &cobra.Command{
		Use:   "show JOB",
		Short: "Show a job with its progress",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.showJob(cmd.Context(), args[0])
		},
	}

	var interval time.Duration
	watch := &cobra.Command{
		Use:   "watch [JOB...]",
		Short: "Follow jobs with progress bars until they finish (all unfinished jobs without IDs)",
		Long: `watch polls the jobs once a second and draws their progress until every
one has finished. Without IDs it follows the jobs queued or running now.
It exits 7 when a watched job failed or was cancelled.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := jobIDs(args)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.watchJobs(cmd.Context(), c, ids, interval)
		},
	}
	watch.Flags().DurationVar(&interval, "interval", time.Second, "how often to poll")

	var why string
	var yes bool
	cancel := &cobra.Command{
		Use:   "cancel JOB",
		Short: "Cancel a job (a running install or recycle leaves its machine broken)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := jobIDs(args)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			j, err := c.Job(ctx, ids[0])
			if err != nil {
				return err
			}
			q := fmt.Sprintf("Cancel job %d (%s %s on machine %d, %s)?", j.ID, j.Action, params(j.Params), j.MachineID, j.Status)
			if err := a.confirm(yes, q); err != nil {
				return err
			}
			j, err = c.CancelJob(ctx, j.ID, why)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.out(), j)
			}
			fmt.Fprintf(a.out(), "job %d %s\n", j.ID, j.Status)
			return nil
		},
	}
	cancel.Flags().StringVar(&why, "reason", "", "why, for the audit log")
	addYes(cancel.Flags(), &yes)

	return group("jobs", "List, show, follow and cancel jobs", list, show, watch, cancel)
}

func jobIDs(args []string) ([]int64, error) {
	var ids []int64
	for _, s := range args {
		id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
		if err != nil || id <= 0 {
			return nil, usageErrorf("job ID %q is not a positive number", s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (a *app) listJobs(ctx context.Context, status, action, machine string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	f := client.JobFilter{Action: action}
	if status != "" {
		f.Statuses = strings.Split(status, ",")
	}
	if machine != "" {
		m, err := a.resolveMachine(ctx, c, machine)
		if err != nil {
			return err
		}
		f.MachineID = m.ID
	}
	js, err := c.Jobs(ctx, f)
	if err != nil {
		return err
	}
	return printList(a, "jobs", js, []string{"ID", "ACTION", "MACHINE", "PARAMS", "STATUS", "PHASE", "ATTEMPTS", "REQUESTER", "CREATED", "NOTE"}, func(j appliance.Job) []string {
		return []string{strconv.FormatInt(j.ID, 10), string(j.Action), strconv.FormatInt(j.MachineID, 10),
			params(j.Params), string(j.Status), strings.TrimSpace(j.Phase + " " + jobProgress(j)),
			fmt.Sprintf("%d/%d", j.Attempts, j.MaxAttempts), j.Requester, ts(j.CreatedAt), jobNote(j)}
	})
}

func (a *app) showJob(ctx context.Context, arg string) error {
	ids, err := jobIDs([]string{arg})
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	j, err := c.Job(ctx, ids[0])
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.out(), j)
	}
	w := a.out()
	fmt.Fprintf(w, "Job %d\n", j.ID)
	kv := [][2]string{
		{"Action", string(j.Action)}, {"Machine", strconv.FormatInt(j.MachineID, 10)}, {"Params", params(j.Params)},
		{"Status", string(j.Status)}, {"Phase", j.Phase},
	}
	if p, ok := client.ProgressOf(j); ok {
		kv = append(kv, [2]string{"Progress", bar(p.Percent, 30, false) + " " + jobProgress(j)})
	}
	kv = append(kv, [][2]string{
		{"Attempts", fmt.Sprintf("%d of %d", j.Attempts, j.MaxAttempts)}, {"Requester", j.Requester},
		{"Waiting", j.Waiting}, {"Error", j.Error},
		{"Created", ts(j.CreatedAt)}, {"Started", ts(j.StartedAt)}, {"Ended", ts(j.EndedAt)},
	}...)
	if len(j.Result) > 0 {
		kv = append(kv, [2]string{"Result", string(j.Result)})
	}
	return fields(w, "  ", kv)
}

// watchJobs follows jobs until they all finish. On a terminal it redraws
// one line per job; elsewhere it prints a line whenever a job changes.
func (a *app) watchJobs(ctx context.Context, c *client.Client, ids []int64, interval time.Duration) error {
	if len(ids) == 0 {
		js, err := c.Jobs(ctx, client.JobFilter{Statuses: []string{"queued", "running"}})
		if err != nil {
			return err
		}
		for _, j := range js {
			ids = append(ids, j.ID)
		}
		if len(ids) == 0 {
			fmt.Fprintln(a.out(), "no unfinished jobs")
			return nil
		}
	}
	tty := a.env.StderrTerminal()
	w := a.out()
	if tty {
		w = a.errw()
	}
	last := map[int64]string{}
	drawn := 0
	jobs := make([]appliance.Job, len(ids))
	for {
		for i, id := range ids {
			if i < len(jobs) && jobs[i].Status.Done() {
				continue
			}
			j, err := c.Job(ctx, id)
			if err != nil {
				return err
			}
			jobs[i] = j
		}
		if tty {
			drawn = redraw(w, jobs, drawn)
		} else {
			for _, j := range jobs {
				if l := watchLine(j, false); l != last[j.ID] {
					fmt.Fprintln(w, l)
					last[j.ID] = l
				}
			}
		}
		done, failed := 0, 0
		for _, j := range jobs {
			if j.Status.Done() {
				done++
			}
			if j.Status == appliance.JobFailed || j.Status == appliance.JobCancelled {
				failed++
			}
		}
		if done == len(jobs) {
			if failed > 0 {
				return &codeError{code: exitJobFailed, err: fmt.Errorf("%d of %d jobs did not succeed", failed, len(jobs))}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// redraw moves the cursor up over the last frame and draws the jobs.
func redraw(w io.Writer, jobs []appliance.Job, drawn int) int {
	if drawn > 0 {
		fmt.Fprintf(w, "\x1b[%dA", drawn)
	}
	for _, j := range jobs {
		fmt.Fprintf(w, "\x1b[2K%s\n", watchLine(j, true))
	}
	return len(jobs)
}

// watchLine is one job's line: what, where, how far.
func watchLine(j appliance.Job, fancy bool) string {
	what := string(j.Action)
	if p := params(j.Params); p != "" {
		what += " " + p
	}
	s := fmt.Sprintf("job %d %s on machine %d: %s", j.ID, what, j.MachineID, j.Status)
	if j.Phase != "" && !j.Status.Done() {
		s += " " + j.Phase
	}
	if p, ok := client.ProgressOf(j); ok && !j.Status.Done() {
		s += " " + bar(p.Percent, 20, fancy) + " " + jobProgress(j)
	}
	if n := jobNote(j); n != "" {
		s += " (" + n + ")"
	}
	return s
}
