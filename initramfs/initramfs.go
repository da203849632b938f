// Package initramfs holds what building Outpost's u-root images needs
// beyond mkuimage: choosing kernel modules with their dependencies from
// modules.dep, and the manifest that describes a built image.
// The mkuimage templates live next to it in .mkuimage.yaml.
package initramfs

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ModuleName is a module's name as modprobe knows it: the file's base
// name without .ko(.xz|.zst|.gz), with dashes as underscores.
func ModuleName(file string) string {
	b := path.Base(file)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return strings.ReplaceAll(strings.TrimSuffix(b, ".ko"), "-", "_")
}

// Modules is a parsed modules.dep.
type Modules struct {
	deps    map[string][]string // module name -> its dependencies' files
	files   map[string]string   // module name -> its file
	builtin map[string]bool
}

// ParseModules reads modules.dep and, if given, modules.builtin.
func ParseModules(dep io.Reader, builtin io.Reader) (*Modules, error) {
	m := &Modules{deps: map[string][]string{}, files: map[string]string{}, builtin: map[string]bool{}}
	sc := bufio.NewScanner(dep)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		file, rest, ok := strings.Cut(line, ":")
		if !ok || file == "" {
			return nil, fmt.Errorf("modules.dep line %d: no colon", n)
		}
		name := ModuleName(file)
		m.files[name] = file
		m.deps[name] = strings.Fields(rest)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if builtin != nil {
		sc := bufio.NewScanner(builtin)
		for sc.Scan() {
			if f := strings.TrimSpace(sc.Text()); f != "" {
				m.builtin[ModuleName(f)] = true
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Resolve returns the files to load for names, each after everything it
// depends on, and the names that are built into the kernel. An unknown
// name is an error.
func (m *Modules) Resolve(names []string) (files []string, builtin []string, err error) {
	done := map[string]bool{}
	var visit func(name string, stack []string) error
	visit = func(name string, stack []string) error {
		if done[name] {
			return nil
		}
		for _, s := range stack {
			if s == name {
				return fmt.Errorf("dependency loop: %s", strings.Join(append(stack, name), " -> "))
			}
		}
		file, ok := m.files[name]
		if !ok {
			return fmt.Errorf("module %s is not in modules.dep", name)
		}
		for _, d := range m.deps[name] {
			if err := visit(ModuleName(d), append(stack, name)); err != nil {
				return err
			}
		}
		done[name] = true
		files = append(files, file)
		return nil
	}
	for _, n := range names {
		n = ModuleName(n)
		if m.builtin[n] {
			builtin = append(builtin, n)
			continue
		}
		if err := visit(n, nil); err != nil {
			return nil, nil, err
		}
	}
	return files, builtin, nil
}

// File is one output of an image build.
type File struct {
	Name   string `json:"name"`
	Path   string `json:"path"` // relative to the manifest
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes a built image.
type Manifest struct {
	Name    string    `json:"name"`
	Version string    `json:"version"`
	Kernel  string    `json:"kernel,omitempty"` // the Debian package it came from
	Built   time.Time `json:"built"`
	// BuildSeconds is how long the build took.
	BuildSeconds float64 `json:"build_seconds"`
	Files        []File  `json:"files"`
}

// Describe hashes the files (relative to dir) for a manifest.
func Describe(dir string, names map[string]string) ([]File, error) {
	var out []File
	for name, rel := range names {
		f, err := os.Open(filepath.Join(dir, rel))
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: name, Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// WriteManifest writes m as dir/manifest.json.
func WriteManifest(dir string, m Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644)
}

// Release is /etc/outpost-release, which every image carries.
const Release = "/etc/outpost-release"

// ReleaseField reads one key=value field of a release file; it returns
// "" when the file or the field is missing.
func ReleaseField(path, key string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
