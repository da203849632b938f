package recon

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// skipBlock lists kernel block devices that are never disks of the
// machine: virtual devices, optical drives and NVMe multipath paths.
func skipBlock(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "dm-", "md", "sr", "nbd", "fd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	// nvme0c0n1 is one path of nvme0n1 under native multipath.
	if rest, ok := strings.CutPrefix(name, "nvme"); ok && strings.Contains(rest, "c") {
		return true
	}
	return false
}

// ReadDisks lists the whole disks in sys/block of fsys (rooted at "/"),
// with their partitions from sysfs. When dev/<name> can be opened and
// read, the partition table is read too, which adds the table kind and
// the partitions' types and names.
func ReadDisks(fsys fs.FS) ([]Disk, error) {
	names, err := readDirNames(fsys, "sys/block")
	if err != nil {
		return nil, fmt.Errorf("disks: %w", err)
	}
	sort.Strings(names)
	var disks []Disk
	var errs []string
	for _, name := range names {
		// Virtual devices have no "device" link; real disks always do.
		if skipBlock(name) || !exists(fsys, path.Join("sys/block", name, "device")) {
			continue
		}
		d, err := readDisk(fsys, name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		disks = append(disks, d)
	}
	if len(errs) > 0 {
		return disks, fmt.Errorf("disks: %s", strings.Join(errs, "; "))
	}
	return disks, nil
}

func readDisk(fsys fs.FS, name string) (Disk, error) {
	dir := path.Join("sys/block", name)
	sectors, err := readUint(fsys, path.Join(dir, "size"))
	if err != nil {
		return Disk{}, fmt.Errorf("%s: %w", name, err)
	}
	if sectors > (1<<64-1)/sectorBytes {
		return Disk{}, fmt.Errorf("%s: size %d sectors: %w", name, sectors, ErrTooLarge)
	}
	d := Disk{
		Name:      clean(name),
		SizeBytes: sectors * sectorBytes,
		Removable: attr(fsys, path.Join(dir, "removable")) == "1",
		Model:     cleanID(attr(fsys, path.Join(dir, "device/model"))),
		Serial:    diskSerial(fsys, dir),
		WWN:       cleanID(attr(fsys, path.Join(dir, "wwid"))),
	}
	if d.WWN == "" {
		d.WWN = cleanID(attr(fsys, path.Join(dir, "device/wwid")))
	}
	switch {
	case strings.HasPrefix(name, "nvme"):
		d.Type = DiskNVMe
	case attr(fsys, path.Join(dir, "queue/rotational")) == "0":
		d.Type = DiskSSD
	default:
		d.Type = DiskHDD
	}
	d.Partitions = sysfsPartitions(fsys, dir, name)
	if d.SizeBytes > 0 {
		d.Table, d.Partitions = withTable(fsys, name, int64(min(d.SizeBytes, 1<<62)), d.Partitions)
	}
	return d, nil
}

// diskSerial looks where each driver puts it: NVMe and some SCSI
// drivers in device/serial, virtio-blk in serial, SATA/SAS only in the
// unit serial number VPD page.
func diskSerial(fsys fs.FS, dir string) string {
	for _, f := range []string{"device/serial", "serial"} {
		if s := cleanID(attr(fsys, path.Join(dir, f))); s != "" {
			return s
		}
	}
	b, err := readFile(fsys, path.Join(dir, "device/vpd_pg80"), maxAttr)
	if err != nil {
		return ""
	}
	return parseVPD80(b)
}

// parseVPD80 decodes SCSI VPD page 0x80 (unit serial number): a 4-byte
// header whose last byte is the serial's length.
func parseVPD80(b []byte) string {
	if len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(b[2])<<8 | int(b[3])
	b = b[4:]
	if n < len(b) {
		b = b[:n]
	}
	return cleanID(string(b))
}

// sysfsPartitions lists the partition directories of a disk: those with
// a "partition" attribute.
func sysfsPartitions(fsys fs.FS, dir, name string) []Partition {
	ents, err := readDirNames(fsys, dir)
	if err != nil {
		return nil
	}
	var parts []Partition
	for _, e := range ents {
		if !strings.HasPrefix(e, name) {
			continue
		}
		pdir := path.Join(dir, e)
		num, err := readUint(fsys, path.Join(pdir, "partition"))
		if err != nil || num > 1<<20 {
			continue
		}
		start, err1 := readUint(fsys, path.Join(pdir, "start"))
		size, err2 := readUint(fsys, path.Join(pdir, "size"))
		if err1 != nil || err2 != nil || start > (1<<64-1)/sectorBytes || size > (1<<64-1)/sectorBytes {
			continue
		}
		parts = append(parts, Partition{Number: int(num), StartByte: start * sectorBytes, SizeBytes: size * sectorBytes})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts
}

// withTable reads the partition table from dev/<name> when it can be
// opened. The kernel's view (sysfs) stays authoritative for what exists;
// the table adds types and names, matched by number and start.
func withTable(fsys fs.FS, name string, size int64, sysParts []Partition) (string, []Partition) {
	f, err := fsys.Open(path.Join("dev", name))
	if err != nil {
		return "", sysParts
	}
	defer f.Close()
	ra, ok := f.(io.ReaderAt)
	if !ok {
		return "", sysParts
	}
	table, parts, err := ReadPartitionTable(ra, size)
	if err != nil && len(parts) == 0 {
		return table, sysParts
	}
	if len(sysParts) == 0 {
		return table, parts
	}
	for i, sp := range sysParts {
		for _, p := range parts {
			if p.Number == sp.Number && p.StartByte == sp.StartByte {
				sysParts[i].Type, sysParts[i].Name = p.Type, p.Name
			}
		}
	}
	return table, sysParts
}

// readUint reads a decimal sysfs attribute.
func readUint(fsys fs.FS, name string) (uint64, error) {
	s, err := readAttr(fsys, name)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}
