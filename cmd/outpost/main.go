// Command outpost is the command line of an Outpost box: it talks to
// outpostd's API, over the box's unix socket (root there is the admin
// "root@console", no token needed) or over HTTPS with a token from
// `outpost login`.
//
// Connection: --socket (default /var/lib/outpost/outpostd.sock, env
// OUTPOST_SOCKET), --url (env OUTPOST_URL), --token (env OUTPOST_TOKEN),
// --ca, --insecure. `outpost login --url URL --user NAME` keeps the token
// in ~/.config/outpost/credentials.json (mode 0600) for that URL; later
// commands use it, and with no --url and no socket on this machine they use
// the URL logged in to last.
//
// Every list and show takes --json and prints the API's JSON. Commands
// that change machines ask for confirmation; --yes skips it, and without a
// terminal on stdin they refuse unless given --yes.
//
// Exit codes:
//
//	0  ok
//	1  other error
//	2  usage error: bad command, flag or argument, an invalid request (400),
//	   or a confirmation needed without a terminal and without --yes
//	3  not found (404)
//	4  conflict: refused by the lifecycle or a policy (409)
//	5  unauthorized or forbidden (401, 403)
//	6  cannot reach outpostd
//	7  a job failed or was cancelled (jobs watch, --wait)
package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"golang.org/x/term"

	"github.com/outpostdc/outpost/cmd/internal/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], processEnv())
	stop()
	os.Exit(code)
}

// processEnv is the real process's environment: the only place the CLI
// touches os.Stdin, os.Stdout and the user's home.
func processEnv() Env {
	cfgDir := ""
	if d, err := os.UserConfigDir(); err == nil {
		cfgDir = filepath.Join(d, "outpost")
	}
	return Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv:    os.Getenv,
		ConfigDir: cfgDir,
		NewClient: client.New,
		StdinTerminal: func() bool {
			return term.IsTerminal(int(os.Stdin.Fd()))
		},
		StderrTerminal: func() bool {
			return term.IsTerminal(int(os.Stderr.Fd()))
		},
		ReadPassword: func() (string, error) {
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			return string(b), err
		},
		TUIInput: os.Stdin,
	}
}
