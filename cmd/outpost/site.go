package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

func (a *app) policiesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "policies",
		Short: "Show the job policies, paused queues and frozen racks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			p, err := c.Policies(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.out(), p)
			}
			w := a.out()
			fmt.Fprintln(w, "Policies")
			var cfg any
			var kv [][2]string
			if json.Unmarshal(p.Config, &cfg) == nil && cfg != nil {
				flatten("", cfg, &kv)
			}
			if len(kv) == 0 {
				fmt.Fprintln(w, "  none")
			}
			fields(w, "  ", kv)
			fmt.Fprintln(w, "Paused queues")
			if len(p.PausedQueues) == 0 {
				fmt.Fprintln(w, "  none")
			} else {
				var rows [][]string
				for _, q := range p.PausedQueues {
					rows = append(rows, []string{"  " + q.Action, ts(q.Since), q.Actor, q.Reason})
				}
				table(w, []string{"  QUEUE", "SINCE", "BY", "REASON"}, rows)
			}
			fmt.Fprintln(w, "Frozen racks")
			if len(p.FrozenRacks) == 0 {
				fmt.Fprintln(w, "  none")
			} else {
				var rows [][]string
				for _, r := range p.FrozenRacks {
					rows = append(rows, []string{"  " + r.Rack, ts(r.Since), r.Actor, r.Reason})
				}
				table(w, []string{"  RACK", "SINCE", "BY", "REASON"}, rows)
			}
			return nil
		},
	}
}

func checkAction(s string) error {
	if !appliance.JobAction(s).Valid() {
		return usageErrorf("queue %q: want install, recycle or power", s)
	}
	return nil
}

func (a *app) queuesCommand() *cobra.Command {
	mk := func(verb string) *cobra.Command {
		var why string
		c := &cobra.Command{
			Use:       verb + " ACTION --reason R",
			Short:     map[string]string{"pause": "Stop jobs of an action (install, recycle, power) from starting", "resume": "Let a paused queue run again"}[verb],
			Args:      cobra.ExactArgs(1),
			ValidArgs: []string{"install", "recycle", "power"},
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := checkAction(args[0]); err != nil {
					return err
				}
				if strings.TrimSpace(why) == "" {
					return usageErrorf("--reason must say why")
				}
				c, err := a.client()
				if err != nil {
					return err
				}
				if verb == "pause" {
					err = c.PauseQueue(cmd.Context(), args[0], why)
				} else {
					err = c.ResumeQueue(cmd.Context(), args[0], why)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(a.out(), "%s queue %sd\n", args[0], verb)
				return nil
			},
		}
		c.Flags().StringVar(&why, "reason", "", "why, for the audit log")
		c.MarkFlagRequired("reason")
		return c
	}
	return group("queues", "Pause and resume job queues", mk("pause"), mk("resume"))
}

func (a *app) racksCommand() *cobra.Command {
	var why string
	freeze := &cobra.Command{
		Use:   "freeze RACK --reason R",
		Short: "Refuse jobs on every machine of a rack",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.FreezeRack(cmd.Context(), args[0], why); err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "rack %s frozen\n", args[0])
			return nil
		},
	}
	freeze.Flags().StringVar(&why, "reason", "", "why, for the audit log")
	freeze.MarkFlagRequired("reason")
	unfreeze := &cobra.Command{
		Use:   "unfreeze RACK",
		Short: "Lift a rack freeze",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.UnfreezeRack(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "rack %s unfrozen\n", args[0])
			return nil
		},
	}
	return group("racks", "Freeze and unfreeze racks", freeze, unfreeze)
}

func (a *app) leasesCommand() *cobra.Command {
	var f client.LeaseFilter
	c := &cobra.Command{
		Use:   "leases [--mac MAC] [--active]",
		Short: "List DHCP leases, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ls, err := c.Leases(cmd.Context(), f)
			if err != nil {
				return err
			}
			return printList(a, "leases", ls, []string{"IP", "MAC", "STATE", "MACHINE", "HOSTNAME", "EXPIRES", "UPDATED"}, func(l appliance.Lease) []string {
				m := ""
				if l.MachineID > 0 {
					m = strconv.FormatInt(l.MachineID, 10)
				}
				return []string{l.IP, l.MAC, l.State, m, l.Hostname, ts(l.Expires), ts(l.Updated)}
			})
		},
	}
	c.Flags().StringVar(&f.MAC, "mac", "", "only this MAC's lease")
	c.Flags().BoolVar(&f.Active, "active", false, "only bound, unexpired leases")
	return c
}

func (a *app) syncCommand() *cobra.Command {
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the link to headquarters: connected, or partitioned and how much is queued",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			s, err := c.Sync(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				if s.NotConfigured {
					return printJSON(a.out(), map[string]any{"enabled": false, "configured": false})
				}
				var v any
				if err := json.Unmarshal(s.Raw, &v); err != nil {
					return err
				}
				return printJSON(a.out(), v)
			}
			w := a.out()
			if s.NotConfigured {
				fmt.Fprintln(w, "HQ sync is not configured on this box")
				return nil
			}
			fmt.Fprintln(w, syncSummary(s, time.Now()))
			kv := [][2]string{{"HQ", s.HQ}}
			if s.Site != "" {
				kv = append(kv, [2]string{"Site", s.Site})
			}
			kv = append(kv, [2]string{"Backlog", thousands(s.Backlog) + " changes queued"})
			if s.LastContact != nil {
				kv = append(kv, [2]string{"Last contact", tsAgo(*s.LastContact, time.Now())})
			} else {
				kv = append(kv, [2]string{"Last contact", "never"})
			}
			if s.LastError != "" {
				kv = append(kv, [2]string{"Last error", s.LastError})
			}
			return fields(w, "  ", kv)
		},
	}
	return group("sync", "Site to HQ synchronisation", status)
}

// syncSummary is the one-line state of the HQ link.
func syncSummary(s client.SyncStatus, now time.Time) string {
	switch {
	case !s.Enabled:
		return "HQ sync is disabled"
	case s.Connected:
		if s.LastContact != nil {
			return "HQ: connected (last contact " + ago(now.Sub(*s.LastContact)) + ")"
		}
		return "HQ: connected"
	case s.PartitionedSince != nil:
		return fmt.Sprintf("HQ PARTITIONED since %s (%s) — %s changes queued", ts(*s.PartitionedSince),
			ago(now.Sub(*s.PartitionedSince)), thousands(s.Backlog))
	}
	return fmt.Sprintf("HQ: not connected — %s changes queued", thousands(s.Backlog))
}

func (a *app) healthCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "health",
		Short: "Check that outpostd answers and its store is reachable",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			h, err := c.Health(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.out(), h)
			}
			return fields(a.out(), "", [][2]string{{"Status", h.Status}, {"Site", h.Site}, {"Version", h.Version},
				{"Schema", strconv.Itoa(h.Schema)}, {"Uptime", (time.Duration(h.UptimeSeconds) * time.Second).String()},
				{"Via", c.Target()}})
		},
	}
}
