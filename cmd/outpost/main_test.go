package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/cmd/internal/client"
	"github.com/outpostdc/outpost/cmd/internal/client/outpostdtest"
)

// Two real outpostd: the golden script runs against the first, so its
// output does not depend on which other tests ran; the others use the
// second. TestMain passes them to the tests in environment variables.
const (
	envGolden = "OUTPOST_TEST_DAEMON_GOLDEN"
	envOther  = "OUTPOST_TEST_DAEMON_OTHER"
)

func daemon(t *testing.T, key string) *outpostdtest.Daemon {
	t.Helper()
	d, err := outpostdtest.Imported(key)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "outpost-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := outpostdtest.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i, key := range []string{envGolden, envOther} {
		d, err := outpostdtest.Start(bin, filepath.Join(dir, fmt.Sprint("d", i)))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer d.Stop()
		if key == envGolden {
			if err := seed(d); err != nil {
				fmt.Fprintln(os.Stderr, "seeding:", err)
				return 1
			}
		}
		if err := d.Export(key); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// seed makes a small site: machines in several states, a failed power
// job, a paused queue, a frozen rack, an image and a boot event.
func seed(d *outpostdtest.Daemon) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.Options{Socket: d.Socket})
	if err != nil {
		return err
	}
	for _, n := range []client.NewMachine{
		{Serial: "SN0001", Hostname: "web-1", Rack: "r1", Role: "web", MACs: []string{"52:54:00:00:00:01"}},
		{Serial: "SN0002", Hostname: "web-2", Rack: "r1", Role: "web", MACs: []string{"52:54:00:00:00:02"}},
		{Serial: "SN0003", Hostname: "db-1", Rack: "r2", Role: "db", MACs: []string{"52:54:00:00:00:03"}, State: "deployed"},
		{Serial: "SN0004", Hostname: "db-2", Rack: "r2", Role: "db", MACs: []string{"52:54:00:00:00:04"}, State: "deployed"},
		{Serial: "SN0005", Hostname: "spare-1", Rack: "r3", MACs: []string{"52:54:00:00:00:05", "52:54:00:00:01:05"}},
	} {
		if _, err := c.CreateMachine(ctx, n); err != nil {
			return err
		}
	}
	if _, err := c.Freeze(ctx, 4, "disk swap"); err != nil {
		return err
	}
	// No BMC credentials: the job fails at once and the machine breaks.
	j, err := c.SubmitJob(ctx, client.NewJob{Action: "power", MachineID: 5, Params: map[string]string{"op": "cycle"}, MaxAttempts: 1})
	if err != nil {
		return err
	}
	for {
		if j, err = c.Job(ctx, j.ID); err != nil {
			return err
		}
		if j.Status.Done() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.PauseQueue(ctx, "recycle", "change window closed"); err != nil {
		return err
	}
	if err := c.FreezeRack(ctx, "r3", "power work"); err != nil {
		return err
	}
	if _, err := c.CreateUser(ctx, "vera", "viewer", "viewer-password-1"); err != nil {
		return err
	}
	img := bytes.Repeat([]byte("outpost"), 1024)
	if _, err := c.UploadImage(ctx, client.ImageMeta{Name: "tiny", Version: "1", Format: "raw"}, bytes.NewReader(img), int64(len(img))); err != nil {
		return err
	}
	if _, err := d.BootScript(ctx, "52:54:00:00:00:01"); err != nil {
		return err
	}
	return nil
}

// result is one in-process run of the CLI.
type result struct {
	stdout, stderr string
	code           int
}

// runOpts adjusts a run's environment.
type runOpts struct {
	stdin     string
	terminal  bool // stdin and stderr are terminals
	env       map[string]string
	configDir string
}

// runCLI runs outpost in-process against d's socket (as root).
func runCLI(t *testing.T, d *outpostdtest.Daemon, o runOpts, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"OUTPOST_SOCKET": d.Socket}
	for k, v := range o.env {
		env[k] = v
	}
	cfg := o.configDir
	if cfg == "" {
		cfg = t.TempDir()
	}
	e := Env{
		Stdin: strings.NewReader(o.stdin), Stdout: &out, Stderr: &errb,
		Getenv:         func(k string) string { return env[k] },
		ConfigDir:      cfg,
		NewClient:      client.New,
		StdinTerminal:  func() bool { return o.terminal },
		StderrTerminal: func() bool { return o.terminal },
		ReadPassword: func() (string, error) {
			return "", fmt.Errorf("no terminal in tests")
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := Run(ctx, args, e)
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}
