package recon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds on what is read: every source here is untrusted, and a broken
// firmware or a hostile device must not make recon eat the machine.
const (
	maxString   = 256      // longest hardware string kept, in bytes
	maxAttr     = 4096     // a sysfs attribute is at most a page
	maxEntries  = 4096     // directory entries looked at per directory
	maxProcFile = 16 << 20 // /proc/cpuinfo of a very large machine
	maxSMBIOS   = 4 << 20  // SMBIOS 3 tables can exceed 64 KiB
	maxLinkHops = 40       // like the kernel's symlink limit
	maxEntry    = 64       // an SMBIOS entry point is 0x1f or 0x18 bytes
	sectorBytes = uint64(512)
)

// constError lets sentinel errors be constants.
type constError string

func (e constError) Error() string { return string(e) }

// Sentinel errors.
const (
	ErrTooLarge = constError("input too large")
)

// clean makes a hardware string safe to store and show: valid UTF-8, no
// NULs or control characters, trimmed and bounded.
func clean(s string) string {
	if len(s) > 4*maxString {
		s = s[:4*maxString]
	}
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' ' // tabs, newlines, NBSP, line separators
		case r == utf8.RuneError || !unicode.IsPrint(r):
			return -1 // NULs, control and format characters
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxString {
		cut := maxString
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut])
	}
	return s
}

// placeholders are strings firmware vendors leave in unset SMBIOS fields;
// they identify nothing, so they are reported as empty.
func isPlaceholder(s string) bool {
	switch strings.ToLower(s) {
	case "", "not specified", "not available", "not provided", "not settable",
		"to be filled by o.e.m.", "to be filled by oem", "default string",
		"none", "n/a", "na", "unknown", "0123456789", "123456789",
		"system serial number", "chassis serial number",
		"base board serial number", "serial number", "asset tag",
		"no asset tag", "no dimm", "empty":
		return true
	}
	return false
}

// cleanID is clean plus dropping placeholders.
func cleanID(s string) string {
	s = clean(s)
	if isPlaceholder(s) {
		return ""
	}
	return s
}

// readAll reads at most limit bytes from r and fails if there is more.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes: %w", limit, ErrTooLarge)
	}
	return b, nil
}

// readFile reads a whole file from fsys, bounded.
func readFile(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, limit)
}

// readAttr reads a sysfs attribute as a cleaned string.
func readAttr(fsys fs.FS, name string) (string, error) {
	b, err := readFile(fsys, name, maxAttr)
	if err != nil {
		return "", err
	}
	return clean(string(b)), nil
}

// attr is readAttr for optional attributes: absent means empty.
func attr(fsys fs.FS, name string) string {
	s, _ := readAttr(fsys, name)
	return s
}

// exists tells whether name exists, without following a final symlink.
func exists(fsys fs.FS, name string) bool {
	_, err := fs.Lstat(fsys, name)
	return err == nil
}

// linkBase is the last element of the target of symlink name, as sysfs
// names drivers and devices by their link targets.
func linkBase(fsys fs.FS, name string) string {
	t, err := fs.ReadLink(fsys, name)
	if err != nil {
		return ""
	}
	return clean(path.Base(t))
}

// resolve follows every symlink in name, like filepath.EvalSymlinks but
// within fsys, so sysfs device paths can be walked up.
func resolve(fsys fs.FS, name string) (string, error) {
	todo := strings.Split(path.Clean(name), "/")
	done := ""
	hops := 0
	for len(todo) > 0 {
		elem := todo[0]
		todo = todo[1:]
		switch elem {
		case ".", "":
			continue
		case "..":
			if done == "" {
				return "", fmt.Errorf("%s: escapes root", name)
			}
			done = path.Dir(done)
			if done == "." {
				done = ""
			}
			continue
		}
		next := path.Join(done, elem)
		if done == "" {
			next = elem
		}
		fi, err := fs.Lstat(fsys, next)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", fmt.Errorf("%s: too many links", name)
		}
		t, err := fs.ReadLink(fsys, next)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(t, "/") {
			done = ""
			t = strings.TrimPrefix(t, "/")
		}
		todo = append(strings.Split(t, "/"), todo...)
		if len(todo) > 1024 {
			return "", errors.New(name + ": path too long")
		}
	}
	if done == "" {
		return ".", nil
	}
	return done, nil
}

// readDirNames lists a directory's names, bounded.
func readDirNames(fsys fs.FS, dir string) ([]string, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	if len(ents) > maxEntries {
		ents = ents[:maxEntries]
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names, nil
}
