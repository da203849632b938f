package initramfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const dep = `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko
kernel/drivers/nvme/host/nvme-core.ko:
kernel/drivers/char/ipmi/ipmi_si.ko.xz: kernel/drivers/char/ipmi/ipmi_msghandler.ko.xz
kernel/drivers/char/ipmi/ipmi_msghandler.ko.xz:
kernel/loop/a.ko: kernel/loop/b.ko
kernel/loop/b.ko: kernel/loop/a.ko
`

func TestResolve(t *testing.T) {
	m, err := ParseModules(strings.NewReader(dep), strings.NewReader("kernel/net/packet/af_packet.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	files, builtin, err := m.Resolve([]string{"virtio_net", "nvme", "ipmi-si", "af_packet", "nvme_core"})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, f := range files {
		if _, dup := pos[ModuleName(f)]; dup {
			t.Fatalf("%s listed twice: %v", f, files)
		}
		pos[ModuleName(f)] = i
	}
	for mod, deps := range map[string][]string{
		"virtio_net": {"net_failover", "failover", "virtio", "virtio_ring"}, "net_failover": {"failover"},
		"virtio": {"virtio_ring"}, "nvme": {"nvme_core"}, "ipmi_si": {"ipmi_msghandler"},
	} {
		for _, d := range deps {
			if pos[d] > pos[mod] {
				t.Errorf("%s loads before its dependency %s: %v", mod, d, files)
			}
		}
	}
	if len(files) != 9 || strings.Join(builtin, ",") != "af_packet" {
		t.Fatalf("files %v builtin %v", files, builtin)
	}
	if _, _, err := m.Resolve([]string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "not in modules.dep") {
		t.Fatalf("unknown module: %v", err)
	}
	if _, _, err := m.Resolve([]string{"a"}); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("loop: %v", err)
	}
	if _, err := ParseModules(strings.NewReader("no colon here\n"), nil); err == nil {
		t.Fatal("bad modules.dep accepted")
	}
}

func TestManifest(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("kernel"), 0o644)
	files, err := Describe(dir, map[string]string{"kernel": "vmlinuz"})
	const sum = "6923dd1bc0460082c5d55a831908c24a282860b7f1cd6c2b79cf1bc8857c639c" // sha256sum of "kernel"
	if err != nil || len(files) != 1 || files[0].Size != 6 || files[0].SHA256 != sum || files[0].Path != "vmlinuz" {
		t.Fatalf("%+v %v", files, err)
	}
	if err := WriteManifest(dir, Manifest{Name: "recon", Version: "v1", Files: files}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if !strings.Contains(string(b), `"sha256": "`+sum+`"`) || !strings.Contains(string(b), `"size": 6`) {
		t.Fatalf("manifest:\n%s", b)
	}
	if _, err := Describe(dir, map[string]string{"x": "missing"}); err == nil {
		t.Fatal("missing file described")
	}
}
