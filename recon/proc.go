package recon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// scanLines splits a bounded procfs file into lines. The limit is checked
// before scanning so a truncated file is never taken for a whole one.
func scanLines(r io.Reader, limit int64, fn func(line string)) error {
	b, err := readAll(r, limit)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), int(limit)+1)
	for sc.Scan() {
		fn(sc.Text())
	}
	return sc.Err()
}

// keyValue splits a "key<tabs>: value" procfs line.
func keyValue(line string) (key, value string, ok bool) {
	k, v, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", false
	}
	return strings.TrimSpace(k), strings.TrimSpace(v), true
}

// ParseCPUInfo sums up /proc/cpuinfo (x86 layout). Sockets are the
// distinct "physical id"s (1 when the kernel shows none); cores are the
// distinct (physical id, core id) pairs, or else the sum of "cpu cores"
// per socket, or else the thread count; threads are the "processor"
// entries.
func ParseCPUInfo(r io.Reader) (CPU, error) {
	type coreKey struct{ pkg, core string }
	var (
		cpu         CPU
		packages    = map[string]bool{}
		cores       = map[coreKey]bool{}
		coresPerPkg = map[string]int{}
		pkg, core   string
		perPkg      int
		haveCore    bool
		inProc      bool
	)
	// flush ends an entry; keys seen outside one are dropped.
	flush := func() {
		if inProc {
			packages[pkg] = true
			if haveCore {
				cores[coreKey{pkg, core}] = true
			}
			if perPkg > 0 {
				coresPerPkg[pkg] = perPkg
			}
		}
		pkg, core, perPkg, haveCore, inProc = "", "", 0, false, false
	}
	err := scanLines(r, maxProcFile, func(line string) {
		if strings.TrimSpace(line) == "" {
			flush()
			return
		}
		k, v, ok := keyValue(line)
		if !ok {
			return
		}
		switch k {
		case "processor":
			flush() // tolerate a missing blank line between entries
			inProc = true
			cpu.Threads++
		case "physical id":
			pkg = clean(v)
		case "core id":
			core, haveCore = clean(v), true
		case "cpu cores":
			if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 1<<20 {
				perPkg = n
			}
		case "model name":
			if cpu.Model == "" {
				cpu.Model = clean(v)
			}
		}
	})
	if err != nil {
		return CPU{}, fmt.Errorf("cpuinfo: %w", err)
	}
	flush()
	if cpu.Threads == 0 {
		return CPU{}, errors.New("cpuinfo: no processor entries")
	}
	cpu.Sockets = len(packages)
	switch {
	case len(cores) > 0:
		cpu.Cores = len(cores)
	case len(coresPerPkg) > 0:
		for _, n := range coresPerPkg {
			cpu.Cores += n
		}
	default:
		cpu.Cores = cpu.Threads
	}
	if cpu.Cores > cpu.Threads {
		cpu.Cores = cpu.Threads // a lying "cpu cores" cannot beat reality
	}
	return cpu, nil
}

// ParseMeminfo returns MemTotal from /proc/meminfo, in bytes.
func ParseMeminfo(r io.Reader) (uint64, error) {
	var total uint64
	var found bool
	var perr error
	err := scanLines(r, 1<<20, func(line string) {
		k, v, ok := keyValue(line)
		if !ok || k != "MemTotal" || found {
			return
		}
		found = true
		num, unit, _ := strings.Cut(v, " ")
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			perr = fmt.Errorf("meminfo: MemTotal %q: %w", clean(v), err)
			return
		}
		mul := uint64(1)
		switch strings.TrimSpace(unit) {
		case "kB":
			mul = 1024
		case "":
		default:
			perr = fmt.Errorf("meminfo: MemTotal unit %q", clean(unit))
			return
		}
		if n > (1<<64-1)/mul {
			perr = fmt.Errorf("meminfo: MemTotal %d %s overflows", n, unit)
			return
		}
		total = n * mul
	})
	if err != nil {
		return 0, fmt.Errorf("meminfo: %w", err)
	}
	if perr != nil {
		return 0, perr
	}
	if !found {
		return 0, errors.New("meminfo: no MemTotal")
	}
	return total, nil
}

// TotalMemory is the installed memory: the sum of the DIMMs when SMBIOS
// lists them all with a known size (the kernel's MemTotal leaves out what
// firmware and the kernel reserve), else MemTotal.
func TotalMemory(dimms []DIMM, memTotal uint64) uint64 {
	var sum uint64
	for _, d := range dimms {
		if d.SizeBytes == 0 || sum+d.SizeBytes < sum {
			return memTotal
		}
		sum += d.SizeBytes
	}
	if sum == 0 {
		return memTotal
	}
	return sum
}
