package ipxe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpostdc/outpost/boot"
)

func TestRender(t *testing.T) {
	r := New()
	for _, tc := range []struct {
		name string
		d    boot.Decision
		efi  bool
	}{
		{"linux", boot.Decision{Action: boot.ActionLinux, Kernel: "http://10.0.0.1/images/recon/vmlinuz",
			Initrds: []string{"http://10.0.0.1/images/recon/initramfs.cpio.gz"},
			Cmdline: "initrd=initramfs.cpio.gz outpost.mode=recon outpost.token=abc"}, false},
		{"local-bios", boot.Decision{Action: boot.ActionLocal}, false},
		{"local-efi", boot.Decision{Action: boot.ActionLocal}, true},
		{"halt-with-message", boot.Decision{Action: boot.ActionHalt,
			Message: "machine SN1 is frozen: rack\nmove ${evil} && shell"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Render(tc.d, tc.efi)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".ipxe")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				os.WriteFile(golden, got, 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	r := New()
	for _, d := range []boot.Decision{
		{Action: boot.ActionLinux},
		{Action: "dance"},
		{Action: boot.ActionLinux, Kernel: "http://x/k", Cmdline: "a\nshell"},
		{Action: boot.ActionLinux, Kernel: "http://x/k", Initrds: []string{"http://x/i\r"}},
	} {
		if b, err := r.Render(d, false); err == nil {
			t.Errorf("Render(%+v) = %q, want an error", d, b)
		}
	}
}

func TestMessageHasNoExpansion(t *testing.T) {
	b, _ := New().Render(boot.Decision{Action: boot.ActionHalt, Message: "${net0/mac} || reboot"}, false)
	if strings.Contains(string(b), "${") || strings.Contains(string(b), "||") {
		t.Fatalf("message not neutralised:\n%s", b)
	}
}
