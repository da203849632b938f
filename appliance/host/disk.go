// Package host is the OOB box's own operating system, as Outpost's init
// runs it: the persistent data disk, the management and provisioning
// interfaces, a supervisor for outpostd, and the status shown on the
// console.
package host

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// DataLabel is the filesystem label of the data partition.
const DataLabel = "OUTPOST-DATA"

// Disk is what the box knows of one block device.
type Disk struct {
	Path string // /dev/vda
	Size int64
	// Blank means every byte where partition tables and filesystem
	// signatures live is zero; see Inspect.
	Blank bool
	// Holds says what the device holds, for the console, when not blank.
	Holds string
	// FSType and Label, when the device holds an ext2/3/4 filesystem.
	FSType string
	Label  string
}

// Regions read to decide if a device is blank: signatures of every common
// partition table, filesystem, RAID and volume manager live within the
// first 2 MiB (GPT, MBR, ext, XFS, btrfs, LVM, md 1.1/1.2, ZFS labels 0-1,
// swap, LUKS) or the last 1 MiB (GPT backup, md 0.90 and 1.0, ZFS labels
// 2-3).
const (
	headBytes = 2 << 20
	tailBytes = 1 << 20
)

// Inspect reads a device's head and tail. It never writes.
func Inspect(path string, dev io.ReaderAt, size int64) (Disk, error) {
	d := Disk{Path: path, Size: size}
	head := make([]byte, min(size, headBytes))
	if _, err := dev.ReadAt(head, 0); err != nil && err != io.EOF {
		return d, fmt.Errorf("%s: %w", path, err)
	}
	tailOff := max(size-tailBytes, int64(len(head)))
	tail := make([]byte, max(size-tailOff, 0))
	if len(tail) > 0 {
		if _, err := dev.ReadAt(tail, tailOff); err != nil && err != io.EOF {
			return d, fmt.Errorf("%s: %w", path, err)
		}
	}
	d.FSType, d.Label = extLabel(head)
	d.Holds = describe(head, tail, tailOff, d.FSType, d.Label)
	d.Blank = d.Holds == ""
	return d, nil
}

// extLabel reads an ext2/3/4 superblock at 1024: magic 0xEF53 at 56, the
// volume name at 120.
func extLabel(head []byte) (fstype, label string) {
	const sb = 1024
	if len(head) < sb+136 || binary.LittleEndian.Uint16(head[sb+56:]) != 0xEF53 {
		return "", ""
	}
	name := head[sb+120 : sb+136]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return "ext4", strings.ToValidUTF8(string(name), "?")
}

// signatures name a few common contents for the console; any non-zero
// byte already makes a device not blank.
var signatures = []struct {
	off   int
	magic string
	name  string
}{
	{0, "XFSB", "an XFS filesystem"},
	{0x10040, "_BHRfS_M", "a btrfs filesystem"},
	{512, "LABELONE", "an LVM physical volume"},
	{0, "LUKS\xba\xbe", "a LUKS encrypted volume"},
	{4086, "SWAPSPACE2", "a swap area"},
	{0x8001, "CD001", "an ISO 9660 filesystem"},
	{0x1000, "\xfc\x4e\x2b\xa9", "an md RAID member"},
}

// describe names what the regions hold, or "" if every byte is zero.
func describe(head, tail []byte, tailOff int64, fstype, label string) string {
	switch {
	case fstype != "" && label != "":
		return fmt.Sprintf("an ext2/3/4 filesystem labelled %q", label)
	case fstype != "":
		return "an ext2/3/4 filesystem with no label"
	case len(head) >= 520 && string(head[512:520]) == "EFI PART":
		return "a GPT partition table"
	case len(head) >= 512 && head[510] == 0x55 && head[511] == 0xAA:
		return "an MBR partition table or boot sector"
	}
	for _, sig := range signatures {
		if end := sig.off + len(sig.magic); end <= len(head) && string(head[sig.off:end]) == sig.magic {
			return sig.name
		}
	}
	if i := bytes.IndexFunc(head, func(r rune) bool { return r != 0 }); i >= 0 {
		return fmt.Sprintf("data (a non-zero byte at offset %d)", i)
	}
	if i := bytes.IndexFunc(tail, func(r rune) bool { return r != 0 }); i >= 0 {
		return fmt.Sprintf("data near its end (a non-zero byte at offset %d)", tailOff+int64(i))
	}
	return ""
}

// Plan is what to do about the data disk at boot.
type Plan struct {
	Action PlanAction
	Disk   Disk   // the disk to mount or format
	Why    string // for the console
}

// PlanAction is mount, format or none.
type PlanAction string

// Plan actions.
const (
	Mount  PlanAction = "mount"
	Format PlanAction = "format"
	None   PlanAction = "none"
)

// PlanData decides what to do with the disks found at boot. formatOptIn
// is the device the kernel command line names for formatting, or "".
// Only a blank device is ever formatted: a device that holds anything is
// left alone whatever the command line says.
func PlanData(disks []Disk, formatOptIn string) Plan {
	var data []Disk
	for _, d := range disks {
		if d.FSType != "" && d.Label == DataLabel {
			data = append(data, d)
		}
	}
	switch {
	case len(data) > 1:
		var paths []string
		for _, d := range data {
			paths = append(paths, d.Path)
		}
		return Plan{Action: None, Why: fmt.Sprintf("%d filesystems are labelled %s (%s); remove or relabel all but one",
			len(data), DataLabel, strings.Join(paths, ", "))}
	case len(data) == 1:
		why := fmt.Sprintf("data partition %s (label %s)", data[0].Path, DataLabel)
		if formatOptIn != "" && formatOptIn != data[0].Path {
			why += fmt.Sprintf("; outpost.format=%s ignored: the box already has its data partition", formatOptIn)
		}
		return Plan{Action: Mount, Disk: data[0], Why: why}
	case formatOptIn == "":
		return Plan{Action: None, Why: fmt.Sprintf("no filesystem is labelled %s; to make one on a blank disk, boot with outpost.format=/dev/DISK", DataLabel)}
	}
	for _, d := range disks {
		if d.Path != formatOptIn {
			continue
		}
		if !d.Blank {
			return Plan{Action: None, Disk: d, Why: fmt.Sprintf("not formatting %s: it holds %s. Outpost formats only blank disks; wipe it yourself if it is really unwanted", d.Path, d.Holds)}
		}
		return Plan{Action: Format, Disk: d, Why: fmt.Sprintf("formatting blank disk %s as %s (outpost.format)", d.Path, DataLabel)}
	}
	return Plan{Action: None, Why: fmt.Sprintf("outpost.format=%s: no such disk", formatOptIn)}
}
