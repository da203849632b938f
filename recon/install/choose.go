package install

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/outpostdc/outpost/recon"
)

// TargetRule says which disk an image goes to.
type TargetRule struct {
	// Serial picks the disk with this serial number. Empty means the
	// smallest fixed disk the image fits on: on a typical server that is
	// the boot SSD, not the data disks.
	Serial string
}

// ChooseDisk picks the disk to install an image of imageSize bytes on.
// A disk named by serial may be removable (someone asked for it), but
// must still be large enough.
func ChooseDisk(disks []recon.Disk, rule TargetRule, imageSize uint64) (recon.Disk, error) {
	if rule.Serial != "" {
		var found []recon.Disk
		for _, d := range disks {
			if d.Serial == rule.Serial {
				found = append(found, d)
			}
		}
		switch {
		case len(found) == 0:
			var serials []string
			for _, d := range disks {
				serials = append(serials, fmt.Sprintf("%s=%q", d.Name, d.Serial))
			}
			return recon.Disk{}, fmt.Errorf("%w: no disk has serial %q; disks: %s", ErrNoDisk, rule.Serial, list(serials))
		case len(found) > 1:
			var names []string
			for _, d := range found {
				names = append(names, d.Name)
			}
			return recon.Disk{}, fmt.Errorf("%w: serial %q is on several disks: %s", ErrNoDisk, rule.Serial, list(names))
		case found[0].SizeBytes < imageSize:
			return recon.Disk{}, fmt.Errorf("%w: disk %s (serial %q) has %d bytes, image needs %d",
				ErrNoDisk, found[0].Name, rule.Serial, found[0].SizeBytes, imageSize)
		}
		return found[0], nil
	}
	var fit, fixed []recon.Disk
	for _, d := range disks {
		if d.Removable || d.SizeBytes == 0 {
			continue
		}
		fixed = append(fixed, d)
		if d.SizeBytes >= imageSize {
			fit = append(fit, d)
		}
	}
	if len(fit) == 0 {
		var cands []string
		for _, d := range fixed {
			cands = append(cands, fmt.Sprintf("%s (%d bytes)", d.Name, d.SizeBytes))
		}
		return recon.Disk{}, fmt.Errorf("%w: no fixed disk holds %d bytes; candidates: %s", ErrNoDisk, imageSize, list(cands))
	}
	return slices.MinFunc(fit, func(a, b recon.Disk) int {
		return cmp.Or(cmp.Compare(a.SizeBytes, b.SizeBytes), cmp.Compare(a.Name, b.Name))
	}), nil
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
