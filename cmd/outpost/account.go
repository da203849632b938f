package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

func (a *app) usersCommand() *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			us, err := c.Users(cmd.Context())
			if err != nil {
				return err
			}
			return printList(a, "users", us, []string{"ID", "NAME", "ROLE", "DISABLED", "CREATED"}, func(u appliance.User) []string {
				dis := "no"
				if u.Disabled {
					dis = "yes"
				}
				return []string{strconv.FormatInt(u.ID, 10), u.Name, string(u.Role), dis, ts(u.CreatedAt)}
			})
		},
	}

	var role string
	add := &cobra.Command{
		Use:   "add NAME --role viewer|technician|admin",
		Short: "Add a user; the password is asked for (or read from stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !appliance.Role(role).Valid() {
				return usageErrorf("--role must be viewer, technician or admin")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			pw, err := a.readSecret("Password for "+args[0]+": ", true)
			if err != nil {
				return err
			}
			u, err := c.CreateUser(cmd.Context(), args[0], role, pw)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.out(), u)
			}
			fmt.Fprintf(a.out(), "user %s added (%s)\n", u.Name, u.Role)
			return nil
		},
	}
	add.Flags().StringVar(&role, "role", "", "viewer, technician or admin")
	add.MarkFlagRequired("role")

	patch := func(name string, p client.UserPatch, what string) func(*cobra.Command) error {
		return func(cmd *cobra.Command) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			u, err := c.UpdateUser(cmd.Context(), name, p)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.out(), u)
			}
			fmt.Fprintf(a.out(), "user %s %s\n", u.Name, what)
			return nil
		}
	}
	passwd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Change a user's password (ends its sessions)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.readSecret("New password for "+args[0]+": ", true)
			if err != nil {
				return err
			}
			return patch(args[0], client.UserPatch{Password: &pw}, "has a new password")(cmd)
		},
	}
	disable := &cobra.Command{
		Use:   "disable NAME",
		Short: "Disable a user: its sessions end and its tokens stop working",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t := true
			return patch(args[0], client.UserPatch{Disabled: &t}, "disabled")(cmd)
		},
	}
	enable := &cobra.Command{
		Use:   "enable NAME",
		Short: "Enable a disabled user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := false
			return patch(args[0], client.UserPatch{Disabled: &f}, "enabled")(cmd)
		},
	}
	roleCmd := &cobra.Command{
		Use:       "role NAME viewer|technician|admin",
		Short:     "Change a user's role",
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{"viewer", "technician", "admin"},
		RunE: func(cmd *cobra.Command, args []string) error {
			r := args[1]
			if !appliance.Role(r).Valid() {
				return usageErrorf("role must be viewer, technician or admin")
			}
			return patch(args[0], client.UserPatch{Role: &r}, "is now a "+r)(cmd)
		},
	}
	return group("users", "Manage users (admins)", list, add, passwd, disable, enable, roleCmd)
}

func (a *app) tokensCommand() *cobra.Command {
	var ttl string
	create := &cobra.Command{
		Use:   "create NAME [--ttl 2160h]",
		Short: "Create an API token for yourself; it is printed once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ttl != "" {
				if _, err := time.ParseDuration(ttl); err != nil {
					return usageErrorf("--ttl: %v", err)
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), args[0], ttl)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.out(), t)
			}
			fmt.Fprintln(a.out(), t.Token)
			fmt.Fprintf(a.errw(), "token %d %q for %s, expires %s; it is not shown again\n", t.Info.ID, t.Info.Name, t.Info.User, ts(t.Info.ExpiresAt))
			return nil
		},
	}
	create.Flags().StringVar(&ttl, "ttl", "", "lifetime, a Go duration (default 2160h, 90 days)")

	var all bool
	list := &cobra.Command{
		Use:   "list [--all]",
		Short: "List your API tokens (--all: everyone's, for admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ts2, err := c.Tokens(cmd.Context(), all)
			if err != nil {
				return err
			}
			return printList(a, "tokens", ts2, []string{"ID", "USER", "NAME", "CREATED", "EXPIRES", "LAST USED"}, func(t client.Token) []string {
				return []string{strconv.FormatInt(t.ID, 10), t.User, t.Name, ts(t.CreatedAt), ts(t.ExpiresAt), ts(t.LastUsed)}
			})
		},
	}
	list.Flags().BoolVar(&all, "all", false, "every user's tokens (admins)")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageErrorf("token ID %q is not a positive number", args[0])
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "token %d revoked\n", id)
			return nil
		},
	}
	return group("tokens", "Create, list and revoke API tokens", create, list, revoke)
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who outpostd takes you for",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			u, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.out(), u)
			}
			fmt.Fprintf(a.out(), "%s (%s) at %s\n", u.Name, u.Role, c.Target())
			return nil
		},
	}
}

func (a *app) loginCommand() *cobra.Command {
	var user string
	c := &cobra.Command{
		Use:   "login --url URL --user NAME",
		Short: "Log in to outpostd and keep the session token for that URL",
		Long: `login asks for the password (without echo; from stdin when it is not a
terminal), opens a session and keeps its token in
~/.config/outpost/credentials.json (mode 0600) for that URL. Later commands
given that --url, or none when this machine has no outpostd socket, use it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.url == "" {
				return usageErrorf("login needs --url (or OUTPOST_URL): the socket needs no login")
			}
			if user == "" {
				return usageErrorf("login needs --user")
			}
			creds, err := loadCredentials(a.env.ConfigDir)
			if err != nil {
				return fmt.Errorf("reading credentials: %w", err)
			}
			c, err := a.env.NewClient(client.Options{URL: a.url, CAFile: a.ca, Insecure: a.insec})
			if err != nil {
				return usageErrorf("%v", err)
			}
			pw, err := a.readSecret(fmt.Sprintf("Password for %s at %s: ", user, a.url), false)
			if err != nil {
				return err
			}
			r, err := c.Login(cmd.Context(), user, pw)
			if err != nil {
				return err
			}
			key := normURL(a.url)
			creds.Servers[key] = server{User: r.User.Name, Token: r.Token, CAFile: a.ca, Insecure: a.insec,
				Expires: time.Now().Add(time.Duration(r.ExpiresIn) * time.Second).UTC().Truncate(time.Second)}
			creds.Current = key
			if err := creds.save(a.env.ConfigDir); err != nil {
				return fmt.Errorf("keeping the token: %w", err)
			}
			fmt.Fprintf(a.out(), "logged in to %s as %s (%s); the session lasts %s\n", key, r.User.Name, r.User.Role,
				time.Duration(r.ExpiresIn)*time.Second)
			return nil
		},
	}
	c.Flags().StringVar(&user, "user", "", "user name")
	return c
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "End the session of --url (or the last login) and forget its token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			creds, err := loadCredentials(a.env.ConfigDir)
			if err != nil {
				return err
			}
			key := normURL(a.url)
			if key == "" {
				key = creds.Current
			}
			s, ok := creds.Servers[key]
			if !ok {
				return errors.New("not logged in" + strings.TrimSuffix(" to "+key, " to "))
			}
			c, err := a.env.NewClient(client.Options{URL: key, Token: s.Token, CAFile: s.CAFile, Insecure: s.Insecure})
			if err == nil {
				// The token is forgotten even when the daemon is away.
				err = c.Logout(cmd.Context())
			}
			delete(creds.Servers, key)
			if creds.Current == key {
				creds.Current = ""
			}
			if serr := creds.save(a.env.ConfigDir); serr != nil {
				return serr
			}
			if err != nil {
				fmt.Fprintf(a.errw(), "outpost: the session may still be open on the daemon: %v\n", err)
			}
			fmt.Fprintf(a.out(), "logged out of %s\n", key)
			return nil
		},
	}
}
