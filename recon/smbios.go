package recon

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/u-root/u-root/pkg/smbios"
)

// SMBIOS files as the kernel exports them, relative to "/".
const (
	smbiosEntryPath = "sys/firmware/dmi/tables/smbios_entry_point"
	smbiosTablePath = "sys/firmware/dmi/tables/DMI"
)

// ReadSMBIOS reads the SMBIOS entry point and table from fsys (rooted at
// "/") and parses them.
func ReadSMBIOS(fsys fs.FS) (System, []DIMM, error) {
	entry, err := readFile(fsys, smbiosEntryPath, maxEntry)
	if err != nil {
		return System{}, nil, fmt.Errorf("smbios: %w", err)
	}
	table, err := readFile(fsys, smbiosTablePath, maxSMBIOS)
	if err != nil {
		return System{}, nil, fmt.Errorf("smbios: %w", err)
	}
	return ParseSMBIOS(entry, table)
}

// ParseSMBIOS extracts the system identity (types 0-3) and the populated
// memory devices (type 17) from a raw SMBIOS table. entry may be empty
// when the entry point is unknown; it only matters for the UUID byte
// order of pre-2.6 firmware. A damaged structure stops the walk, and what
// was parsed before it is returned along with the error, since a partial
// inventory beats none.
func ParseSMBIOS(entry, table []byte) (System, []DIMM, error) {
	var sys System
	var dimms []DIMM
	if len(table) > maxSMBIOS {
		return sys, nil, fmt.Errorf("smbios table: %w", ErrTooLarge)
	}
	var errs []error
	major, minor := uint8(3), uint8(0)
	if len(entry) > 0 {
		e32, e64, err := smbios.ParseEntry(entry)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("smbios entry point: %w", err))
		case e64 != nil:
			major, minor = e64.SMBIOSMajorVersion, e64.SMBIOSMinorVersion
		case e32 != nil:
			major, minor = e32.SMBIOSMajorVersion, e32.SMBIOSMinorVersion
		}
	}
	legacyUUID := major < 2 || major == 2 && minor < 6

	var seen0, seen1, seen2, seen3 bool
	for data := table; len(data) > 0; {
		t, rest, err := smbios.ParseTable(data)
		// The end marker comes back as an error along with its table.
		if t != nil && t.Type == smbios.TableTypeEndOfTable {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("smbios table at offset %d: %w", len(table)-len(data), err))
			break
		}
		if len(rest) >= len(data) { // no progress: never loop forever
			break
		}
		data = rest
		// Only the first structure of types 0-3 describes the machine.
		switch t.Type {
		case smbios.TableTypeBIOSInfo:
			if seen0 {
				continue
			}
			seen0 = true
			bi, err := smbios.ParseBIOSInfo(t)
			if err != nil {
				errs = append(errs, fmt.Errorf("smbios type 0: %w", err))
				continue
			}
			sys.BIOSVendor = cleanID(bi.Vendor)
			sys.BIOSVersion = cleanID(bi.Version)
			sys.BIOSDate = cleanID(bi.ReleaseDate)
		case smbios.TableTypeSystemInfo:
			if seen1 {
				continue
			}
			seen1 = true
			si, err := smbios.ParseSystemInfo(t)
			if err != nil {
				errs = append(errs, fmt.Errorf("smbios type 1: %w", err))
				continue
			}
			sys.Manufacturer = cleanID(si.Manufacturer)
			sys.Product = cleanID(si.ProductName)
			sys.Serial = cleanID(si.SerialNumber)
			if t.Len() >= 0x18 {
				sys.UUID = formatUUID(si.UUID, legacyUUID)
			}
		case smbios.TableTypeBaseboardInfo:
			if seen2 {
				continue
			}
			seen2 = true
			bb, err := smbios.ParseBaseboardInfo(t)
			if err != nil {
				errs = append(errs, fmt.Errorf("smbios type 2: %w", err))
				continue
			}
			sys.BoardSerial = cleanID(bb.SerialNumber)
		case smbios.TableTypeChassisInfo:
			if seen3 {
				continue
			}
			seen3 = true
			ci, err := smbios.ParseChassisInfo(t)
			if err != nil {
				errs = append(errs, fmt.Errorf("smbios type 3: %w", err))
				continue
			}
			sys.ChassisSerial = cleanID(ci.SerialNumber)
			sys.ChassisAssetTag = cleanID(ci.AssetTagNumber)
		case smbios.TableTypeMemoryDevice:
			md, err := smbios.NewMemoryDevice(t)
			if err != nil {
				errs = append(errs, fmt.Errorf("smbios type 17 handle %#04x: %w", t.Handle, err))
				continue
			}
			if d, ok := dimmFrom(md); ok {
				dimms = append(dimms, d)
			}
		}
	}
	return sys, dimms, errors.Join(errs...)
}

// dimmFrom converts a type 17 structure; ok is false for an empty slot.
func dimmFrom(md *smbios.MemoryDevice) (DIMM, bool) {
	size, populated := dimmSize(md)
	if !populated {
		return DIMM{}, false
	}
	slot := cleanID(md.DeviceLocator)
	if slot == "" {
		slot = cleanID(md.BankLocator)
	}
	d := DIMM{
		Slot:      slot,
		SizeBytes: size,
		SpeedMTs:  dimmSpeed(md),
		Vendor:    cleanID(md.Manufacturer),
		Serial:    cleanID(md.SerialNumber),
	}
	// Types 0x01 and 0x02 are "Other" and "Unknown": no information.
	if md.Type > 0x02 {
		d.Type = clean(md.Type.String())
	}
	return d, true
}

// dimmSize decodes the Size word (DSP0134 7.18.5): 0 is an empty slot,
// 0xFFFF a module of unknown size, 0x7FFF defers to Extended Size (MiB),
// and bit 15 selects KiB instead of MiB granularity.
func dimmSize(md *smbios.MemoryDevice) (uint64, bool) {
	switch md.Size {
	case 0:
		return 0, false
	case 0xffff:
		return 0, true
	case 0x7fff:
		if md.Len() < 0x20 {
			return 0, true
		}
		return uint64(md.ExtendedSize&0x7fffffff) << 20, true
	}
	if md.Size&0x8000 != 0 {
		return uint64(md.Size&0x7fff) << 10, true
	}
	return uint64(md.Size) << 20, true
}

// dimmSpeed prefers the configured speed, the one the module runs at.
// 0xFFFF means the value is in the 32-bit extended field (SMBIOS 3.3).
func dimmSpeed(md *smbios.MemoryDevice) int {
	pick := func(v uint16, extOff int) int {
		switch v {
		case 0:
			return 0
		case 0xffff:
			ext, err := md.GetDWordAt(extOff)
			if err != nil {
				return 0
			}
			return int(ext & 0x7fffffff)
		}
		return int(v)
	}
	if md.Len() >= 0x22 {
		if s := pick(md.ConfiguredSpeed, 0x58); s > 0 {
			return s
		}
	}
	if md.Len() >= 0x17 {
		return pick(md.Speed, 0x54)
	}
	return 0
}

// formatUUID prints the system UUID as the kernel's product_uuid does.
// SMBIOS 2.6+ stores the first three fields little-endian; older
// firmware stored all of it in network order.
func formatUUID(u smbios.UUID, legacy bool) string {
	allSame := true
	for _, b := range u[1:] {
		if b != u[0] {
			allSame = false
			break
		}
	}
	if allSame && (u[0] == 0 || u[0] == 0xff) {
		return "" // "not settable" / "not present"
	}
	if legacy {
		return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	}
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%x-%x",
		u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6], u[8:10], u[10:16])
}
