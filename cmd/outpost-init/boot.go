package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/outpostdc/outpost/appliance/host"
	"github.com/outpostdc/outpost/initramfs/kmod"
)

// modernGODEBUG restores the defaults a module-mode build would have for
// the settings that changed after Go 1.20 and matter to a server.
const modernGODEBUG = "httpmuxgo121=0,httplaxcontentlength=0,httpservecontentkeepheaders=0,tlsrsakex=0,tls3des=0," +
	"tls10server=0,tlsunsafeekm=0,x509keypairleaf=1,asynctimerchan=0,panicnil=0,x509negativeserial=0"

// bootParams are the kernel command line's outpost.* settings.
type bootParams struct {
	// Format names a blank device to make the data partition on.
	Format string
}

func parseCmdline(s string) (bootParams, error) {
	var p bootParams
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "outpost.format":
			if !strings.HasPrefix(v, "/dev/") || strings.Contains(v, "..") || len(v) <= len("/dev/") {
				return p, fmt.Errorf("outpost.format=%q: name a device, like outpost.format=/dev/sdb", v)
			}
			p.Format = v
		}
	}
	return p, nil
}

func boot(args []string) error {
	fs := flag.NewFlagSet("outpost-init boot", flag.ContinueOnError)
	sysBlock := fs.String("sys-block", "/sys/class/block", "sysfs block directory")
	poll := fs.Duration("poll", 2*time.Second, "how often to look at the configuration and outpostd")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// u-root's busybox build compiles in GOPATH mode, whose GODEBUG
	// defaults are Go 1.20's: among them the old ServeMux, which ignores
	// method patterns. Children (outpostd, the shell and the tools it
	// starts) get today's defaults instead.
	os.Setenv("GODEBUG", modernGODEBUG)
	console := os.Stdout
	say := func(format string, a ...any) { fmt.Fprintf(console, "outpost: "+format+"\n", a...) }
	say("Outpost %s booting", version)
	n, err := kmod.Load(kmod.Dir)
	say("loaded %d kernel modules", n)
	if err != nil {
		say("%v", err)
	}
	st := host.Status{Version: version, Mode: "starting"}
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	params, err := parseCmdline(string(b))
	if err != nil {
		// A bad opt-in formats nothing; the rest of the boot goes on.
		say("%v", err)
	}
	st.Data = setUpData(context.Background(), *sysBlock, params, say)
	if err := host.WriteStatus(statusFile, st); err != nil {
		say("status: %v", err)
	}
	// As uinit this process must never end: u-root's init would exit and
	// the kernel panic. It supervises outpostd and keeps a shell on the
	// console.
	go shellLoop(console, say)
	return supervise(st, *poll)
}

// shellLoop keeps a shell on the console, starting a new one whenever
// the technician leaves the last.
func shellLoop(console *os.File, say func(string, ...any)) {
	// The loop takes the terminal back after each shell; it must not be
	// stopped for doing so from the background.
	signal.Ignore(syscall.SIGTTOU, syscall.SIGTTIN)
	for {
		sh, err := exec.LookPath("gosh")
		if err != nil {
			sh = "/bin/sh"
		}
		cmd := exec.Command(sh)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, console, console
		// The shell's process group gets the terminal, for job control.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0}
		err = cmd.Run()
		unix.IoctlSetPointerInt(int(os.Stdin.Fd()), unix.TIOCSPGRP, unix.Getpgrp())
		if err != nil {
			say("shell: %v", err)
		}
		time.Sleep(time.Second)
		say("starting a new shell")
	}
}

// setUpData finds, makes or refuses the data partition, and mounts it.
func setUpData(ctx context.Context, sysBlock string, p bootParams, say func(string, ...any)) host.DataState {
	tools := host.DefaultTools()
	disks := waitForDisks(sysBlock, p.Format, 10*time.Second, say)
	plan := host.PlanData(disks, p.Format)
	say("data: %s", plan.Why)
	state := host.DataState{Dir: dataDir, Note: plan.Why}
	out := prefixWriter{say}
	switch plan.Action {
	case host.None:
		return state
	case host.Format:
		if err := host.FormatData(ctx, tools, plan.Disk, out); err != nil {
			say("data: %v", err)
			state.Note = err.Error()
			return state
		}
		say("data: %s formatted as %s", plan.Disk.Path, host.DataLabel)
	}
	if err := host.MountData(ctx, tools, plan.Disk, dataDir, out); err != nil {
		say("data: %v", err)
		state.Note = err.Error()
		return state
	}
	say("data: %s mounted on %s", plan.Disk.Path, dataDir)
	state.Device, state.Mounted = plan.Disk.Path, true
	return state
}

// waitForDisks lists disks until the one named for formatting, or any
// disk, has appeared: drivers probe in the background.
func waitForDisks(sysBlock, want string, d time.Duration, say func(string, ...any)) []host.Disk {
	deadline := time.Now().Add(d)
	for {
		disks, err := host.ListDisks(sysBlock, "/dev")
		if err != nil {
			say("data: listing disks: %v", err)
		}
		found := len(disks) > 0
		if want != "" {
			found = false
			for _, x := range disks {
				found = found || x.Path == want
			}
		}
		if found || time.Now().After(deadline) {
			return disks
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// prefixWriter sends a tool's output to the console line by line.
type prefixWriter struct{ say func(string, ...any) }

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l != "" {
			p.say("  %s", l)
		}
	}
	return len(b), nil
}
