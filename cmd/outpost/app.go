package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/outpostdc/outpost/cmd/internal/client"
)

// Exit codes; the package doc and `outpost --help` list them.
const (
	exitOK          = 0
	exitOther       = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitConflict    = 4
	exitAuth        = 5
	exitUnreachable = 6
	exitJobFailed   = 7
)

const exitCodesHelp = `Exit codes:
  0  ok
  1  other error
  2  usage error: bad command, flag or argument, an invalid request (400),
     or a confirmation needed without a terminal and without --yes
  3  not found (404)
  4  conflict: refused by the lifecycle or a policy (409)
  5  unauthorized or forbidden (401, 403)
  6  cannot reach outpostd
  7  a job failed or was cancelled (jobs watch, --wait)`

// DefaultSocket is where outpostd listens for the CLI on the box.
const DefaultSocket = "/var/lib/outpost/outpostd.sock"

// Env is everything the CLI takes from its process, so that tests run
// commands in-process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// ConfigDir holds credentials.json; empty keeps no credentials.
	ConfigDir string
	// NewClient makes API clients.
	NewClient func(client.Options) (*client.Client, error)
	// StdinTerminal says whether stdin is a terminal: prompts need one.
	StdinTerminal func() bool
	// StderrTerminal says whether progress bars may redraw on stderr.
	StderrTerminal func() bool
	// ReadPassword reads a line from the terminal without echo.
	ReadPassword func() (string, error)
	// TUIInput is the terminal the TUI reads keys from.
	TUIInput io.Reader
}

// codeError carries an exit code with an error.
type codeError struct {
	code int
	err  error
	// usage adds a pointer to --help.
	usage bool
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &codeError{code: exitUsage, err: fmt.Errorf(format, a...), usage: true}
}

// cobraError marks errors cobra made itself (unknown commands, bad flags
// and argument counts): usage errors.
type cobraError struct{ err error }

func (e *cobraError) Error() string { return e.err.Error() }

// ExitCode maps an error to the documented exit codes.
func ExitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *codeError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ce *cobraError
	if errors.As(err, &ce) {
		return exitUsage
	}
	var ue *client.UnreachableError
	if errors.As(err, &ue) {
		return exitUnreachable
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case 400:
			return exitUsage
		case 401, 403:
			return exitAuth
		case 404:
			return exitNotFound
		case 409:
			return exitConflict
		}
	}
	return exitOther
}

// app is one run of the CLI: its environment and global flags.
type app struct {
	env    Env
	stdin  *bufio.Reader
	socket string
	url    string
	token  string
	ca     string
	insec  bool
	json   bool
	root   *cobra.Command
}

// Run runs the CLI with args and returns the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.StdinTerminal == nil {
		env.StdinTerminal = func() bool { return false }
	}
	if env.StderrTerminal == nil {
		env.StderrTerminal = func() bool { return false }
	}
	if env.NewClient == nil {
		env.NewClient = client.New
	}
	a := &app{env: env, stdin: bufio.NewReader(env.Stdin)}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if !isOurs(err) {
		// An error cobra made before running the command.
		err = &cobraError{err}
	}
	a.report(cmd, err)
	return ExitCode(err)
}

// isOurs reports whether err came out of a command's RunE: those are
// wrapped by wrapRun, so anything else is cobra's own.
func isOurs(err error) bool {
	var r *runError
	return errors.As(err, &r)
}

// runError marks errors returned by a command's RunE.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// report prints an error with a hint of what to do.
func (a *app) report(cmd *cobra.Command, err error) {
	w := a.env.Stderr
	fmt.Fprintf(w, "outpost: %v\n", err)
	var ee *codeError
	var ce *cobraError
	switch {
	case errors.As(err, &ee) && ee.usage, errors.As(err, &ce):
		name := "outpost"
		if cmd != nil {
			name = cmd.CommandPath()
		}
		fmt.Fprintf(w, "Run '%s --help' for usage.\n", name)
	}
	switch ExitCode(err) {
	case exitUnreachable:
		if a.url == "" {
			fmt.Fprintln(w, "Is outpostd running? Off the box, or as a user other than root, use --url and `outpost login`.")
		}
	case exitAuth:
		if client.StatusOf(err) == 401 {
			fmt.Fprintln(w, "Log in with `outpost login --url URL --user NAME`, or pass --token.")
		}
	}
}

// rootCommand builds the whole command tree.
func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "outpost",
		Short: "Operate an Outpost box: machines, jobs, images, policies",
		Long: `outpost operates an Outpost box through outpostd's API.

On the box, root uses outpostd's unix socket and needs no login. Elsewhere,
log in once with 'outpost login --url https://BOX:8443 --user NAME'.

` + exitCodesHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	a.root = root
	sock := a.env.Getenv("OUTPOST_SOCKET")
	if sock == "" {
		sock = DefaultSocket
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.socket, "socket", sock, "outpostd's unix socket (env OUTPOST_SOCKET)")
	pf.StringVar(&a.url, "url", a.env.Getenv("OUTPOST_URL"), "outpostd's URL, https://box:8443 (env OUTPOST_URL)")
	pf.StringVar(&a.token, "token", a.env.Getenv("OUTPOST_TOKEN"), "API token (env OUTPOST_TOKEN)")
	pf.StringVar(&a.ca, "ca", "", "PEM file of the CA (or self-signed certificate) to trust for --url")
	pf.BoolVar(&a.insec, "insecure", false, "do not verify --url's certificate")
	pf.BoolVar(&a.json, "json", false, "print the API's JSON")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf("%v", err)
	})
	root.AddCommand(
		a.machinesCommand(),
		a.jobsCommand(),
		a.installCommand(), a.recycleCommand(), a.powerCommand(), a.freezeCommand(), a.unfreezeCommand(),
		a.policiesCommand(), a.queuesCommand(), a.racksCommand(),
		a.imagesCommand(),
		a.leasesCommand(),
		a.syncCommand(),
		a.healthCommand(),
		a.usersCommand(), a.tokensCommand(), a.whoamiCommand(), a.loginCommand(), a.logoutCommand(),
		a.tuiCommand(),
	)
	walk(root, func(c *cobra.Command) {
		if c.RunE != nil {
			c.RunE = wrapRun(c.RunE)
		}
		if c.Args != nil {
			c.Args = wrapArgs(c.Args)
		}
	})
	return root
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, s := range c.Commands() {
		walk(s, fn)
	}
}

func wrapRun(run func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		if err := run(c, args); err != nil {
			return &runError{err}
		}
		return nil
	}
}

func wrapArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := check(c, args); err != nil {
			return &runError{usageErrorf("%v", err)}
		}
		return nil
	}
}

// group makes a command that only holds subcommands: run bare it prints
// its help, with an unknown subcommand it is a usage error.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use: use, Short: short,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	c.AddCommand(subs...)
	return c
}

// client connects as the flags, the environment and the stored
// credentials say.
func (a *app) client() (*client.Client, error) {
	o := client.Options{URL: a.url, Token: a.token, CAFile: a.ca, Insecure: a.insec}
	creds, _ := loadCredentials(a.env.ConfigDir)
	sockChosen := a.root.PersistentFlags().Changed("socket") || a.env.Getenv("OUTPOST_SOCKET") != ""
	if o.URL == "" && !sockChosen && creds.Current != "" {
		if _, err := os.Stat(a.socket); err != nil {
			// Not on the box (or no daemon): use the URL logged in to last.
			o.URL = creds.Current
		}
	}
	if o.URL != "" {
		if s, ok := creds.Servers[normURL(o.URL)]; ok {
			if o.Token == "" {
				o.Token = s.Token
			}
			if o.CAFile == "" {
				o.CAFile = s.CAFile
			}
			o.Insecure = o.Insecure || s.Insecure
		}
	} else {
		o.Socket = a.socket
	}
	c, err := a.env.NewClient(o)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	return c, nil
}

func (a *app) out() io.Writer  { return a.env.Stdout }
func (a *app) errw() io.Writer { return a.env.Stderr }

// confirm asks a yes/no question on the terminal; yes skips it. Without a
// terminal it refuses, so that scripts say --yes on purpose.
func (a *app) confirm(yes bool, question string) error {
	if yes {
		return nil
	}
	if !a.env.StdinTerminal() {
		return &codeError{code: exitUsage, err: fmt.Errorf("refusing to go on without confirmation: stdin is not a terminal (pass --yes): %s", question)}
	}
	fmt.Fprintf(a.errw(), "%s [y/N] ", question)
	line, err := a.stdin.ReadString('\n')
	if err != nil && line == "" {
		return errors.New("no answer; nothing done")
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("not confirmed; nothing done")
}

// readSecret reads a password: without echo on a terminal, else one line
// of stdin (for scripts).
func (a *app) readSecret(prompt string, twice bool) (string, error) {
	if !a.env.StdinTerminal() || a.env.ReadPassword == nil {
		line, err := a.stdin.ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(a.errw(), prompt)
	p, err := a.env.ReadPassword()
	fmt.Fprintln(a.errw())
	if err != nil {
		return "", err
	}
	if twice {
		fmt.Fprint(a.errw(), "Again: ")
		q, err := a.env.ReadPassword()
		fmt.Fprintln(a.errw())
		if err != nil {
			return "", err
		}
		if p != q {
			return "", errors.New("the passwords differ")
		}
	}
	return p, nil
}

// addYes adds --yes to a command that asks for confirmation.
func addYes(fs *pflag.FlagSet, yes *bool) {
	fs.BoolVarP(yes, "yes", "y", false, "do not ask for confirmation")
}
