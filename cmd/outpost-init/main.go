// Command outpost-init boots the Outpost appliance. u-root's init runs it
// as uinit: it loads kernel modules, finds (or, on a blank disk the
// kernel command line names, makes) the data partition, brings up the
// box's interfaces and keeps outpostd alive, with a shell on the console.
//
//	outpost-init [boot]    the boot sequence and the supervisor (as uinit)
//	outpost-init status    what the console shows, again
//	outpost-init configure writes a valid configuration
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/outpostdc/outpost/initramfs"
)

// version is set by the build; images record theirs in /etc/outpost-release.
var version = "dev"

// Where things live on the appliance.
const (
	dataDir    = "/var/lib/outpost" // the data partition's mount point
	configFile = dataDir + "/outpost.yaml"
	statusFile = "/run/outpost/status.json"
	pidFile    = "/run/outpost/outpostd.pid"
	shareDir   = "/usr/share/outpost" // iPXE binaries and the recon image, in the initramfs
	resolvConf = "/etc/resolv.conf"
)

func main() {
	if version == "dev" {
		if v := initramfs.ReleaseField(initramfs.Release, "version"); v != "" {
			version = v
		}
	}
	args := os.Args[1:]
	cmd := "boot"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "boot":
		err = boot(args)
	case "status":
		err = status(args, os.Stdout)
	case "configure":
		err = configure(args, os.Stdout, os.Stderr)
	case "help", "-h", "--help":
		fmt.Println("usage: outpost-init [boot|status|configure] [flags]; outpost-init configure -h for the configuration")
	default:
		err = fmt.Errorf("unknown command %q (boot, status, configure)", cmd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", filepath.Base(os.Args[0]), err)
		os.Exit(1)
	}
}
