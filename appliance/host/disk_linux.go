package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Tools are the e2fsprogs binaries the image carries.
type Tools struct {
	Mke2fs string
	E2fsck string
}

// DefaultTools is where the appliance image puts them.
func DefaultTools() Tools { return Tools{Mke2fs: "/usr/sbin/mke2fs", E2fsck: "/usr/sbin/e2fsck"} }

// ListDisks inspects every disk and partition the kernel shows in sysfs,
// skipping loop, RAM and optical devices.
func ListDisks(sysBlock, devDir string) ([]Disk, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, err
	}
	var out []Disk
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "sr") || strings.HasPrefix(name, "zram") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(sysBlock, name, "size"))
		if err != nil {
			continue
		}
		sectors, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || sectors == 0 {
			continue
		}
		path := filepath.Join(devDir, name)
		d, err := inspectPath(path, sectors*512)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func inspectPath(path string, size int64) (Disk, error) {
	f, err := os.Open(path)
	if err != nil {
		return Disk{Path: path}, err
	}
	defer f.Close()
	return Inspect(path, f, size)
}

// FormatData makes the data filesystem on a blank disk. It inspects the
// disk again first, and refuses if anything appeared on it since.
func FormatData(ctx context.Context, t Tools, d Disk, out io.Writer) error {
	again, err := inspectPath(d.Path, d.Size)
	if err != nil {
		return err
	}
	if !again.Blank {
		return fmt.Errorf("not formatting %s: it now holds %s", d.Path, again.Holds)
	}
	// No -F: mke2fs asks before overwriting anything it recognises, and
	// with no terminal on stdin that question is a refusal.
	cmd := exec.CommandContext(ctx, t.Mke2fs, "-q", "-t", "ext4", "-L", DataLabel, "-m", "1", d.Path)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mke2fs %s: %w", d.Path, err)
	}
	return nil
}

// MountData checks the data filesystem and mounts it on dir. A check
// that finds errors it cannot fix on its own stops the mount: the box
// then runs unconfigured rather than on a damaged inventory.
func MountData(ctx context.Context, t Tools, d Disk, dir string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, t.E2fsck, "-p", d.Path)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		// 1: errors fixed; 2: fixed, reboot advised (not for an unmounted fs).
		if !errors.As(err, &ee) || ee.ExitCode() > 2 {
			return fmt.Errorf("e2fsck %s: %w: check it by hand (e2fsck %s) before Outpost uses it", d.Path, err, d.Path)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(d.Path, dir, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", d.Path, dir, err)
	}
	return nil
}
