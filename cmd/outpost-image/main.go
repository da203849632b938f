// Command outpost-image builds Outpost's boot images with u-root's
// mkuimage (pinned in go.mod as a tool): the recon image that machines
// boot, and the appliance image the OOB box itself boots. It adds Debian's
// kernel and the kernel modules the image needs, with their dependencies
// from modules.dep, and writes a manifest with each file's size and
// SHA-256.
package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/outpostdc/outpost/initramfs"
)

// reconModules are what machines need to reach outpostd, see their disks
// and talk to their BMC in band.
func reconModules() []string {
	return []string{
		"virtio_pci", "e1000", "e1000e", "igb", "ixgbe", "i40e", "virtio_net",
		"nvme", "ahci", "sd_mod", "virtio_blk", "ipmi_si", "ipmi_devintf",
	}
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "outpost-image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("outpost-image", flag.ContinueOnError)
	kernel := fs.String("kernel", "images/kernel", "kernel dir from scripts/kernel.sh")
	out := fs.String("out", "", "output dir (default images/<image>)")
	version := fs.String("version", "dev", "version recorded in the image and manifest")
	config := fs.String("templates", "initramfs/.mkuimage.yaml", "mkuimage templates")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "recon" {
		return fmt.Errorf("usage: outpost-image [flags] recon")
	}
	image := fs.Arg(0)
	if *out == "" {
		*out = filepath.Join("images", image)
	}
	start := time.Now()
	b := &builder{kernel: *kernel, out: *out, version: *version, templates: *config}
	if err := b.build(image, reconModules()); err != nil {
		return err
	}
	fmt.Printf("outpost-image: %s built in %.1fs\n", image, time.Since(start).Seconds())
	return nil
}

type builder struct {
	kernel, out, version, templates string
}

func (b *builder) build(image string, modules []string) error {
	start := time.Now()
	kver, err := readTrim(filepath.Join(b.kernel, "VERSION"))
	if err != nil {
		return fmt.Errorf("kernel: %w (run scripts/kernel.sh)", err)
	}
	kpkg, _ := readTrim(filepath.Join(b.kernel, "PACKAGE"))
	modDir := filepath.Join(b.kernel, "lib", "modules", kver)
	stage, err := os.MkdirTemp("", "outpost-image")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	// Modules go to /lib/modules/outpost with a load order, which recon
	// (not u-root's init) loads: the order must put dependencies first.
	dep, err := os.Open(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return err
	}
	defer dep.Close()
	builtin, _ := os.Open(filepath.Join(modDir, "modules.builtin"))
	mods, err := initramfs.ParseModules(dep, builtin)
	if builtin != nil {
		builtin.Close()
	}
	if err != nil {
		return err
	}
	files, built, err := mods.Resolve(modules)
	if err != nil {
		return err
	}
	modStage := filepath.Join(stage, "modules")
	if err := os.MkdirAll(modStage, 0o755); err != nil {
		return err
	}
	var order []string
	for _, f := range files {
		name := filepath.Base(f)
		if err := copyFile(filepath.Join(modDir, f), filepath.Join(modStage, name)); err != nil {
			return err
		}
		order = append(order, name)
	}
	if err := os.WriteFile(filepath.Join(modStage, "load.order"), []byte(strings.Join(order, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	release := filepath.Join(stage, "outpost-release")
	if err := os.WriteFile(release, []byte(fmt.Sprintf("image=%s\nversion=%s\nkernel=%s\n", image, b.version, kver)), 0o644); err != nil {
		return err
	}
	fmt.Printf("outpost-image: %d modules for %v (built in: %v)\n", len(order), modules, built)

	if err := os.MkdirAll(b.out, 0o755); err != nil {
		return err
	}
	cpio := filepath.Join(stage, "initramfs.cpio")
	cmd := exec.Command("go", "tool", "mkuimage", "-config-file", b.templates, "-config", image, "-o", cpio,
		"-skip-ldd", "-files", modStage+":lib/modules/outpost", "-files", release+":etc/outpost-release")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOAMD64=v1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mkuimage: %w", err)
	}
	if err := gzipFile(cpio, filepath.Join(b.out, "initramfs.cpio.gz")); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(b.kernel, "vmlinuz"), filepath.Join(b.out, "vmlinuz")); err != nil {
		return err
	}
	st, err := os.Stat(cpio)
	if err != nil {
		return err
	}
	described, err := initramfs.Describe(b.out, map[string]string{"kernel": "vmlinuz", "initramfs": "initramfs.cpio.gz"})
	if err != nil {
		return err
	}
	m := initramfs.Manifest{Name: image, Version: b.version, Kernel: kpkg, Built: time.Now().UTC(),
		BuildSeconds: time.Since(start).Seconds(), Files: described}
	if err := initramfs.WriteManifest(b.out, m); err != nil {
		return err
	}
	for _, f := range described {
		fmt.Printf("outpost-image: %-10s %s  %8.1f MiB  sha256 %s\n", f.Name, f.Path, float64(f.Size)/(1<<20), f.SHA256[:16])
	}
	fmt.Printf("outpost-image: uncompressed cpio %.1f MiB\n", float64(st.Size())/(1<<20))
	return nil
}

func readTrim(p string) (string, error) {
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}
