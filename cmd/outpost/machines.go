package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

func (a *app) machinesCommand() *cobra.Command {
	var f client.MachineFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List machines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.listMachines(cmd.Context(), f)
		},
	}
	fl := list.Flags()
	fl.StringVar(&f.State, "state", "", "only machines in this state ("+statesList()+")")
	fl.StringVar(&f.Rack, "rack", "", "only machines in this rack")
	fl.StringVar(&f.Role, "role", "", "only machines with this role")
	fl.StringVar(&f.Class, "class", "", "only machines of this hardware class")
	fl.StringVar(&f.Query, "search", "", "serial, hostname, rack or MAC containing this")
	list.RegisterFlagCompletionFunc("state", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return strings.Split(statesList(), ", "), cobra.ShellCompDirectiveNoFileComp
	})

	search := &cobra.Command{
		Use:   "search QUERY",
		Short: "Find machines whose serial, hostname, rack or MAC contains QUERY",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.listMachines(cmd.Context(), client.MachineFilter{Query: args[0]})
		},
	}

	show := &cobra.Command{
		Use:               "show MACHINE",
		Short:             "Show a machine (by ID, serial or MAC) with its interfaces and job",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeMachines,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.showMachine(cmd.Context(), args[0])
		},
	}

	var limit int
	timeline := &cobra.Command{
		Use:   "timeline MACHINE",
		Short: "Why did it boot that: a machine's boot steps and changes, oldest first",
		Long: `timeline merges a machine's boot events (DHCP, TFTP and HTTP steps of
every MAC) with its audit log (state changes, jobs, freezes, who and why),
oldest first.`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeMachines,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.machineTimeline(cmd.Context(), args[0], limit)
		},
	}
	timeline.Flags().IntVar(&limit, "limit", 0, "only the last N entries (0: the daemon's default)")

	return group("machines", "List, search and show machines", list, search, show, timeline)
}

func statesList() string {
	var s []string
	for _, st := range appliance.States() {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

func (a *app) listMachines(ctx context.Context, f client.MachineFilter) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ms, err := c.AllMachines(ctx, f)
	if err != nil {
		return err
	}
	return printList(a, "machines", ms, []string{"ID", "SERIAL", "HOSTNAME", "RACK", "ROLE", "CLASS", "STATE", "UPDATED"}, func(m appliance.Machine) []string {
		return []string{strconv.FormatInt(m.ID, 10), m.Serial, m.Hostname, m.Rack, m.Role, m.Class, stateText(m), ts(m.UpdatedAt)}
	})
}

// stateText is the state, with where a frozen machine returns to.
func stateText(m appliance.Machine) string {
	if m.State == appliance.StateFrozen && m.FrozenFrom != "" {
		return fmt.Sprintf("frozen (from %s)", m.FrozenFrom)
	}
	return string(m.State)
}

// resolveMachine finds a machine by ID, MAC or serial.
func (a *app) resolveMachine(ctx context.Context, c *client.Client, arg string) (appliance.Machine, error) {
	arg = strings.TrimSpace(arg)
	if id, err := strconv.ParseInt(arg, 10, 64); err == nil && id > 0 {
		m, err := c.Machine(ctx, id)
		if err == nil || !client.IsNotFound(err) {
			return m, err
		}
		// A serial may be all digits.
		ms, err2 := c.Machines(ctx, client.MachineFilter{Serial: arg})
		if err2 == nil && len(ms) == 1 {
			return c.Machine(ctx, ms[0].ID)
		}
		return m, &client.APIError{Status: 404, Code: "not_found", Message: fmt.Sprintf("no machine with ID or serial %s", arg)}
	}
	f, what := client.MachineFilter{Serial: arg}, "serial"
	if hw, err := net.ParseMAC(arg); err == nil && len(hw) == 6 {
		f, what = client.MachineFilter{MAC: arg}, "MAC"
	}
	ms, err := c.Machines(ctx, f)
	if err != nil {
		return appliance.Machine{}, err
	}
	if len(ms) == 0 {
		return appliance.Machine{}, &client.APIError{Status: 404, Code: "not_found", Message: fmt.Sprintf("no machine with %s %s", what, arg)}
	}
	return c.Machine(ctx, ms[0].ID)
}

func (a *app) showMachine(ctx context.Context, arg string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	m, err := a.resolveMachine(ctx, c, arg)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.out(), m)
	}
	jobs, err := c.Jobs(ctx, client.JobFilter{MachineID: m.ID, Statuses: []string{"queued", "running"}})
	if err != nil {
		return err
	}
	now := time.Now()
	w := a.out()
	fmt.Fprintf(w, "Machine %d\n", m.ID)
	state := string(m.State)
	if m.FrozenFrom != "" {
		state += " (from " + string(m.FrozenFrom) + ")"
	}
	if m.StateReason != "" {
		state += ": " + m.StateReason
	}
	hw := "none"
	if len(m.Hardware) > 0 {
		hw = fmt.Sprintf("reported, %s (--json shows it)", bytesIEC(int64(len(m.Hardware))))
	}
	fields(w, "  ", [][2]string{
		{"Serial", m.Serial}, {"Hostname", m.Hostname}, {"State", state},
		{"Rack", m.Rack}, {"Role", m.Role}, {"Location", m.Location}, {"Class", m.Class},
		{"UUID", m.UUID}, {"BMC", m.BMCAddress}, {"Agent", m.AgentMode}, {"Hardware", hw},
		{"Last seen", tsAgo(m.LastSeen, now)}, {"Created", ts(m.CreatedAt)}, {"Updated", ts(m.UpdatedAt)},
	})
	fmt.Fprintln(w, "Interfaces")
	if len(m.Interfaces) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		rows := [][]string{}
		for _, i := range m.Interfaces {
			boot := "no"
			if i.Boot {
				boot = "yes"
			}
			rows = append(rows, []string{"  " + i.MAC, i.Name, i.IP, boot, ts(i.LastSeen)})
		}
		table(w, []string{"  MAC", "NAME", "RESERVED IP", "BOOT", "LAST SEEN"}, rows)
	}
	fmt.Fprintln(w, "Job")
	if len(jobs) == 0 {
		fmt.Fprintln(w, "  none in progress")
	}
	for _, j := range jobs {
		fmt.Fprintf(w, "  job %d %s %s: %s %s\n", j.ID, j.Action, params(j.Params), j.Status, strings.TrimSpace(j.Phase+" "+jobProgress(j)))
	}
	return nil
}

func (a *app) machineTimeline(ctx context.Context, arg string, limit int) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	m, err := a.resolveMachine(ctx, c, arg)
	if err != nil {
		return err
	}
	tl, err := c.Timeline(ctx, m.ID, limit)
	if err != nil {
		return err
	}
	if a.json {
		return printJSON(a.out(), map[string]any{"machine_id": m.ID, "timeline": tl})
	}
	fmt.Fprintf(a.out(), "Timeline of %s, now %s\n", machineName(m), stateText(m))
	rows := make([][]string, 0, len(tl))
	for _, e := range tl {
		who := e.Actor
		if e.Source == "boot" {
			who = e.MAC
		}
		rows = append(rows, []string{ts(e.Time), e.Source, e.Kind, who, e.Summary})
	}
	return table(a.out(), []string{"TIME", "SOURCE", "KIND", "ACTOR/MAC", "SUMMARY"}, rows)
}

// completeMachines offers machine IDs, described by serial and hostname.
func (a *app) completeMachines(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := a.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
	defer cancel()
	f := client.MachineFilter{Limit: 200}
	if _, err := strconv.Atoi(prefix); err != nil {
		f.Query = prefix // IDs are not searched: the shell filters them
	}
	ms, err := c.Machines(ctx, f)
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d\t%s %s %s", m.ID, m.Serial, m.Hostname, m.State))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
