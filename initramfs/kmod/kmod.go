// Package kmod loads the kernel modules an Outpost image carries. The
// image build (cmd/outpost-image) copies them flat into one directory
// with a load.order file that lists dependencies first.
package kmod

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is where images keep their modules.
const Dir = "/lib/modules/outpost"

// Load loads the modules dir/load.order lists, in order, and returns how
// many it loaded. A module already loaded counts as loaded; the others
// that fail are named in the error, after the rest have been tried.
func Load(dir string) (int, error) {
	f, err := os.Open(filepath.Join(dir, "load.order"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var failed []string
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.HasPrefix(name, "#") {
			continue
		}
		if strings.Contains(name, "/") {
			failed = append(failed, name+": not a file name")
			continue
		}
		if err := load(filepath.Join(dir, name)); err != nil {
			failed = append(failed, name+": "+err.Error())
			continue
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return n, err
	}
	if len(failed) > 0 {
		return n, fmt.Errorf("modules not loaded: %s", strings.Join(failed, "; "))
	}
	return n, nil
}

func load(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}
