package install

import (
	"errors"
	"strings"
	"testing"

	"github.com/outpostdc/outpost/recon"
)

func TestChooseDisk(t *testing.T) {
	const g = 1 << 30
	disks := []recon.Disk{
		{Name: "sdb", SizeBytes: 960 * g, Serial: "S2", Type: recon.DiskSSD},
		{Name: "sda", SizeBytes: 960 * g, Serial: "S1", Type: recon.DiskSSD},
		{Name: "nvme0n1", SizeBytes: 3840 * g, Serial: "N1", Type: recon.DiskNVMe},
		{Name: "sdc", SizeBytes: 16 * g, Serial: "USB1", Removable: true},
		{Name: "sdd", SizeBytes: 8000 * g, Serial: "H1", Type: recon.DiskHDD},
		{Name: "sde", SizeBytes: 0, Serial: "EMPTY"},
	}
	for _, c := range []struct {
		name   string
		disks  []recon.Disk
		serial string
		size   uint64
		want   string
		errHas []string
	}{
		{name: "smallest fitting, ties by name", disks: disks, size: 10 * g, want: "sda"},
		{name: "exact fit", disks: disks, size: 960 * g, want: "sda"},
		{name: "skips small ones", disks: disks, size: 961 * g, want: "nvme0n1"},
		{name: "only the big hdd", disks: disks, size: 4000 * g, want: "sdd"},
		{name: "removable never picked", disks: disks[3:4], size: g, errHas: []string{"candidates: none"}},
		{name: "none large enough", disks: disks, size: 9000 * g, errHas: []string{"sda (1030792151040 bytes)", "sdd", "nvme0n1"}},
		{name: "no disks", size: 1, errHas: []string{"none"}},
		{name: "by serial", disks: disks, serial: "H1", size: g, want: "sdd"},
		{name: "by serial, removable", disks: disks, serial: "USB1", size: g, want: "sdc"},
		{name: "by serial, too small", disks: disks, serial: "USB1", size: 17 * g, errHas: []string{"sdc", "USB1"}},
		{name: "unknown serial", disks: disks, serial: "X9", errHas: []string{"X9", `sda="S1"`, `nvme0n1="N1"`, `sdc="USB1"`}},
		{name: "duplicate serial", disks: []recon.Disk{{Name: "sda", Serial: "D"}, {Name: "sdb", Serial: "D"}}, serial: "D", errHas: []string{"sda, sdb"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := ChooseDisk(c.disks, TargetRule{Serial: c.serial}, c.size)
			if c.errHas != nil {
				if !errors.Is(err, ErrNoDisk) {
					t.Fatalf("got %s, %v; want an error", d.Name, err)
				}
				for _, s := range c.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil || d.Name != c.want {
				t.Fatalf("got %q, %v; want %s", d.Name, err, c.want)
			}
		})
	}
}
