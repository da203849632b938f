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

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/ldd"

	"github.com/outpostdc/outpost/initramfs"
)

// applianceModules are what the OOB box needs: its NICs, its data disk
// and ext4.
func applianceModules() []string {
	return []string{
		"virtio_pci", "e1000", "e1000e", "igb", "ixgbe", "i40e", "virtio_net",
		"nvme", "ahci", "sd_mod", "virtio_blk", "ext4",
		// ext4 checksums its metadata with crc32c, which it loads by name.
		"crc32c_generic", "crc32c_intel",
	}
}

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
	recon := fs.String("recon", "", "the built recon image the appliance serves (default: beside -kernel)")
	ipxe := fs.String("ipxe", "", "the iPXE binaries the appliance serves (default: beside -kernel)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *recon == "" {
		*recon = filepath.Join(filepath.Dir(*kernel), "recon")
	}
	if *ipxe == "" {
		*ipxe = filepath.Join(filepath.Dir(*kernel), "ipxe")
	}
	if fs.NArg() != 1 || fs.Arg(0) != "recon" && fs.Arg(0) != "appliance" {
		return fmt.Errorf("usage: outpost-image [flags] recon|appliance")
	}
	image := fs.Arg(0)
	if *out == "" {
		*out = filepath.Join("images", image)
	}
	start := time.Now()
	b := &builder{kernel: *kernel, out: *out, version: *version, templates: *config}
	var err error
	if image == "recon" {
		err = b.build(image, reconModules(), nil)
	} else {
		var files []string
		if files, err = applianceFiles(*recon, *ipxe); err == nil {
			err = b.build(image, applianceModules(), files)
		}
	}
	if err != nil {
		return err
	}
	fmt.Printf("outpost-image: %s built in %.1fs\n", image, time.Since(start).Seconds())
	return nil
}

type builder struct {
	kernel, out, version, templates string
}

// applianceFiles are what the appliance image carries besides commands
// and modules: the iPXE binaries and recon image it serves, and
// e2fsprogs (from the build host's Debian packages) for its data disk.
func applianceFiles(recon, ipxe string) ([]string, error) {
	var files []string
	for _, f := range []struct{ dir, name, dst string }{
		{recon, "vmlinuz", "usr/share/outpost/recon/vmlinuz"},
		{recon, "initramfs.cpio.gz", "usr/share/outpost/recon/initramfs.cpio.gz"},
		{recon, "manifest.json", "usr/share/outpost/recon/manifest.json"},
		{ipxe, "undionly.kpxe", "usr/share/outpost/ipxe/undionly.kpxe"},
		{ipxe, "ipxe.efi", "usr/share/outpost/ipxe/ipxe.efi"},
		{ipxe, "snponly.efi", "usr/share/outpost/ipxe/snponly.efi"},
		{"/usr/sbin", "mke2fs", "usr/sbin/mke2fs"},
		{"/usr/sbin", "e2fsck", "usr/sbin/e2fsck"},
		{"/etc", "mke2fs.conf", "etc/mke2fs.conf"},
	} {
		src := filepath.Join(f.dir, f.name)
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("%w (make recon ipxe builds the images; scripts/deps.sh installs e2fsprogs)", err)
		}
		files = append(files, src+":"+f.dst)
	}
	// mkuimage's own ldd pass would also read the modules; resolve the
	// libraries of the two dynamic binaries here instead.
	libs, err := ldd.FList("/usr/sbin/mke2fs", "/usr/sbin/e2fsck")
	if err != nil {
		return nil, err
	}
	for _, l := range libs {
		files = append(files, l+":"+strings.TrimPrefix(l, "/"))
	}
	return files, nil
}

func (b *builder) build(image string, modules []string, extra []string) error {
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
	args := []string{"tool", "mkuimage", "-config-file", b.templates, "-config", image, "-o", cpio,
		"-files", modStage + ":lib/modules/outpost", "-files", release + ":etc/outpost-release", "-skip-ldd"}
	for _, f := range extra {
		args = append(args, "-files", f)
	}
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOAMD64=v1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mkuimage: %w", err)
	}
	// The appliance carries the recon image, already compressed; zstd
	// at its best level still saves a good share on the rest.
	initrd := "initramfs.cpio.gz"
	compress := gzipFile
	if image == "appliance" {
		initrd, compress = "initramfs.cpio.zst", zstdFile
	}
	if err := compress(cpio, filepath.Join(b.out, initrd)); err != nil {
		return err
	}
	if err := copyFile(filepath.Join(b.kernel, "vmlinuz"), filepath.Join(b.out, "vmlinuz")); err != nil {
		return err
	}
	st, err := os.Stat(cpio)
	if err != nil {
		return err
	}
	described, err := initramfs.Describe(b.out, map[string]string{"kernel": "vmlinuz", "initramfs": initrd})
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
	return compressFile(src, dst, func(w io.Writer) (io.WriteCloser, error) {
		return gzip.NewWriterLevel(w, gzip.BestCompression)
	})
}

func zstdFile(src, dst string) error {
	return compressFile(src, dst, func(w io.Writer) (io.WriteCloser, error) {
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBestCompression))
	})
}

// compressFile writes src compressed to dst, atomically.
func compressFile(src, dst string, newWriter func(io.Writer) (io.WriteCloser, error)) error {
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
	zw, err := newWriter(out)
	if err != nil {
		out.Close()
		return err
	}
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
