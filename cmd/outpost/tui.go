package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/outpostdc/outpost/cmd/internal/client"
	"github.com/outpostdc/outpost/cmd/internal/tui"
)

func (a *app) tuiCommand() *cobra.Command {
	var user string
	c := &cobra.Command{
		Use:   "tui",
		Short: "Terminal UI: dashboard, machines with their timelines, jobs",
		Long: `tui opens a full-screen dashboard of the box: machine counts, active jobs
with progress, alerts, recent boot events and the HQ link. It starts with a
login screen when it has no token (root on the box's socket needs none).
Keys: tab or 1-3 switch screens, / searches machines, enter opens one, ?
shows help, q quits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			o := tui.Options{Client: c, User: user}
			if !c.IsSocket() {
				url := normURL(c.Target())
				// Keep a login made in the UI as `outpost login` would.
				o.OnLogin = func(r client.LoginResult) error {
					creds, err := loadCredentials(a.env.ConfigDir)
					if err != nil {
						return err
					}
					s := creds.Servers[url]
					s.User, s.Token = r.User.Name, r.Token
					s.Expires = time.Now().Add(time.Duration(r.ExpiresIn) * time.Second).UTC().Truncate(time.Second)
					s.CAFile, s.Insecure = a.ca, a.insec
					creds.Servers[url] = s
					creds.Current = url
					return creds.save(a.env.ConfigDir)
				}
			}
			in := a.env.TUIInput
			if in == nil {
				in = a.env.Stdin
			}
			return tui.Run(cmd.Context(), o, in, a.out())
		},
	}
	c.Flags().StringVar(&user, "user", "", "user name for the login screen")
	return c
}
