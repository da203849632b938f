// Command recon runs on a machine booted into Outpost's recon image, as
// u-root's uinit. It brings up the boot NIC, reports the hardware to
// outpostd, and then does what outpostd says: wait, power off, reboot, or
// run a job.
package main

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/outpostdc/outpost/initramfs"
	"github.com/outpostdc/outpost/initramfs/kmod"
	"github.com/outpostdc/outpost/recon"
	"github.com/outpostdc/outpost/recon/agent"
)

// imageVersion reads the version the image build recorded.
func imageVersion() string {
	if v := initramfs.ReleaseField(initramfs.Release, "version"); v != "" {
		return v
	}
	return "dev"
}

func main() {
	console := os.Stdout
	err := run(console)
	if err == nil || agent.Stopped(err) {
		return
	}
	fmt.Fprintf(console, "recon: %v\n", err)
	// Never leave a machine hanging silently: try again from the top.
	fmt.Fprintln(console, "recon: rebooting in 60 s (outpost.debug on the command line stops this)")
	if p, perr := readParams(); perr == nil && p.Debug {
		return
	}
	time.Sleep(60 * time.Second)
	agent.Reboot()
}

func readParams() (agent.Params, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return agent.Params{}, err
	}
	return agent.ParseCmdline(string(b))
}

func run(console *os.File) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	version := imageVersion()
	fmt.Fprintf(console, "recon %s starting\n", version)
	p, err := readParams()
	if err != nil {
		return fmt.Errorf("kernel command line: %w", err)
	}
	fmt.Fprintf(console, "recon: mode %s, outpostd %s, boot NIC %s\n", p.Mode, p.URL, p.MAC)
	n, err := kmod.Load(kmod.Dir)
	fmt.Fprintf(console, "recon: loaded %d kernel modules\n", n)
	if err != nil {
		fmt.Fprintf(console, "recon: %v\n", err)
	}
	if _, err := agent.BringUp(ctx, p.MAC, console); err != nil {
		return err
	}
	c := &agent.Client{Base: p.URL, HTTP: &http.Client{Timeout: 60 * time.Second}}
	root := os.DirFS("/")
	a := &agent.Agent{
		P: p, C: c, Console: console,
		Collect: func(ctx context.Context, e *recon.Enrollment) recon.Report {
			return collect(ctx, root, p, e, p.LLDPWait, version)
		},
		Late: func(ctx context.Context) *recon.Report {
			// Switches speak LLDP every 30 s by default: listen longer
			// in the background and report again if one is heard.
			r := collect(ctx, root, p, nil, 35*time.Second, version)
			if len(r.LLDP) == 0 {
				return nil
			}
			return &r
		},
		RunJob: (&agent.Jobs{C: c, Console: console, Root: root, Dev: "/dev",
			HTTP: &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 30 * time.Second}}}).Run,
		PowerOff: agent.PowerOff,
		Reboot:   agent.Reboot,
	}
	return a.Run(ctx)
}

func collect(ctx context.Context, root fs.FS, p agent.Params, e *recon.Enrollment, lldp time.Duration, version string) recon.Report {
	opts := recon.LiveOptions(version)
	opts.LLDPTimeout = lldp
	if lldp == 0 {
		opts.LLDP = nil
	}
	if e != nil {
		opts.Enroll = func(ctx context.Context) error { return recon.EnrollBMC(ctx, e.User, e.UserID, e.Password) }
	}
	r := recon.Collect(ctx, root, p.MAC, opts)
	if r.Agent.Kernel == "" {
		var u syscall.Utsname
		if syscall.Uname(&u) == nil {
			r.Agent.Kernel = utsString(u.Release[:])
		}
	}
	return r
}

func utsString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
