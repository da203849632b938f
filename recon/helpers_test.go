package recon

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// checkStrings fails t for any string in v (walked recursively) that is
// not clean: invalid UTF-8, control characters, untrimmed or too long.
func checkStrings(t testing.TB, v any) {
	t.Helper()
	walkStrings(reflect.ValueOf(v), "", func(where, s string) {
		if !isClean(s) {
			t.Errorf("%s = %q: not a clean hardware string", where, s)
		}
	})
}

func isClean(s string) bool {
	if !utf8.ValidString(s) || len(s) > maxString || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

func walkStrings(v reflect.Value, where string, fn func(where, s string)) {
	switch v.Kind() {
	case reflect.String:
		fn(where, v.String())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkStrings(v.Elem(), where, fn)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			walkStrings(v.Field(i), where+"."+v.Type().Field(i).Name, fn)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", where, i), fn)
		}
	}
}

// --- SMBIOS ---------------------------------------------------------

// smbStruct is one SMBIOS structure: formatted area after the 4-byte
// header, and its strings (referenced 1-based from the formatted area).
type smbStruct struct {
	typ     byte
	handle  uint16
	data    []byte
	strings []string
}

func (s smbStruct) bytes() []byte {
	b := []byte{s.typ, byte(4 + len(s.data)), byte(s.handle), byte(s.handle >> 8)}
	b = append(b, s.data...)
	for _, str := range s.strings {
		b = append(b, str...)
		b = append(b, 0)
	}
	if len(s.strings) == 0 {
		b = append(b, 0)
	}
	return append(b, 0)
}

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// testUUID is stored as SMBIOS 2.6+ does: the first three fields
// little-endian. It reads 4c4c4544-0042-3510-8052-b4c04f4a4d32.
func testUUID() []byte {
	return []byte{0x44, 0x45, 0x4c, 0x4c, 0x42, 0x00, 0x10, 0x35, 0x80, 0x52, 0xb4, 0xc0, 0x4f, 0x4a, 0x4d, 0x32}
}

func smbBIOS() smbStruct {
	return smbStruct{typ: 0, handle: 0, data: cat(
		[]byte{1, 2}, le16(0xf000), []byte{3, 0xff},
		[]byte{0x80, 0x98, 0x8b, 0x7f, 0x01, 0x00, 0x00, 0x00}, // characteristics
		[]byte{0x03, 0x0d, 3, 4, 0xff, 0xff}, le16(0x0020),
	), strings: []string{"American Megatrends Inc.", "3.4", "12/03/2020"}}
}

func smbSystem(uuid []byte) smbStruct {
	return smbStruct{typ: 1, handle: 1, data: cat(
		[]byte{1, 2, 3, 4}, uuid, []byte{6, 5, 6},
	), strings: []string{"Supermicro", "SYS-1029U-TRT", "0123456789", "S12345678\x07 ", "To be filled by O.E.M.", "Default string"}}
}

func smbBoard() smbStruct {
	return smbStruct{typ: 2, handle: 2, data: cat(
		[]byte{1, 2, 3, 4, 5, 0x09, 6}, le16(3), []byte{0x0a, 0},
	), strings: []string{"Supermicro", "X11DPU", "1.10", "ZM18AS012345", "Base Board Asset Tag", "Default string"}}
}

func smbChassis() smbStruct {
	return smbStruct{typ: 3, handle: 3, data: cat(
		[]byte{1, 0x17, 2, 3, 4, 3, 3, 3, 3}, le32(0), []byte{1, 2, 0, 3, 5},
	), strings: []string{"Supermicro", "0123456789", "C1160LI47AB0123", "OUTPOST-0042", "Default string"}}
}

// dimmSpec describes one type 17 structure for smbDIMM.
type dimmSpec struct {
	locator, bank    string
	size             uint16 // raw Size word
	ext              uint32 // Extended Size, MiB
	typ              byte
	speed, cfg       uint16
	extSpeed, extCfg uint32
	vendor, serial   string
	short            bool // SMBIOS 2.8 layout (0x28 bytes) instead of 3.3 (0x5c)
}

func smbDIMM(handle uint16, d dimmSpec) smbStruct {
	// Strings are numbered from 1; an empty one is index 0, not stored.
	var strs []string
	ref := func(s string) byte {
		if s == "" {
			return 0
		}
		strs = append(strs, s)
		return byte(len(strs))
	}
	loc, bank, vendor, serial := ref(d.locator), ref(d.bank), ref(d.vendor), ref(d.serial)
	asset, part := ref("Not Specified"), ref("M393A4K40DB2-CTD")
	data := cat(
		le16(0x1000), le16(0xfffe), le16(72), le16(64), le16(d.size),
		[]byte{0x09, 0, loc, bank, d.typ}, le16(0x0080), le16(d.speed),
		[]byte{vendor, serial, asset, part, 0x02}, le32(d.ext), le16(d.cfg),
		le16(1200), le16(1200), le16(1200), // voltages, to 0x28
	)
	if !d.short {
		data = cat(data,
			[]byte{0x03}, le16(0x000c), []byte{0}, le16(0xce00), le16(0), le16(0), le16(0), // to 0x34
			make([]byte, 32), // nonvolatile, volatile, cache, logical sizes
			le32(d.extSpeed), le32(d.extCfg),
		)
	}
	return smbStruct{typ: 17, handle: handle, data: data, strings: strs}
}

// serverDIMMs is a 2-socket server with 8 of 16 slots filled with
// 32 GiB DDR4-2933 RDIMMs running at 2666 MT/s.
func serverDIMMs() []dimmSpec {
	var ds []dimmSpec
	for cpu := 1; cpu <= 2; cpu++ {
		for i, ch := range "ABCDEFGH" {
			d := dimmSpec{
				locator: fmt.Sprintf("P%d-DIMM%c1", cpu, ch),
				bank:    fmt.Sprintf("P%d_Node%d_Channel%d_Dimm0", cpu-1, cpu-1, i),
				size:    0x7fff, ext: 32768, typ: 0x1a, speed: 2933, cfg: 2666,
				vendor: "Samsung", serial: fmt.Sprintf("%08X", 0x36a1b2c0+cpu*16+i),
			}
			if i >= 4 { // channels E-H empty
				d = dimmSpec{locator: d.locator, bank: d.bank, typ: 0x02, vendor: "NO DIMM", serial: "NO DIMM"}
			}
			ds = append(ds, d)
		}
	}
	return ds
}

// smbTable builds a table from the structures plus the end marker.
func smbTable(structs ...smbStruct) []byte {
	var b []byte
	for _, s := range structs {
		b = append(b, s.bytes()...)
	}
	return append(b, smbStruct{typ: 127, handle: 0xfeff}.bytes()...)
}

// serverSMBIOS is the table of the fake server in testdata/root.
func serverSMBIOS() []byte {
	structs := []smbStruct{smbBIOS(), smbSystem(testUUID()), smbBoard(), smbChassis()}
	for i, d := range serverDIMMs() {
		structs = append(structs, smbDIMM(uint16(0x30+i), d))
	}
	return smbTable(structs...)
}

func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}

// entry64 is an SMBIOS 3 entry point for a table of n bytes.
func entry64(major, minor byte, n int) []byte {
	e := cat([]byte("_SM3_"), []byte{0, 0x18, major, minor, 0, 1, 0}, le32(uint32(n)), make([]byte, 8))
	e[5] = checksum(e)
	return e
}

// entry32 is an SMBIOS 2.x entry point.
func entry32(major, minor byte, n, count int) []byte {
	e := cat([]byte("_SM_"), []byte{0, 0x1f, major, minor}, le16(0x80), []byte{0, 0, 0, 0, 0, 0},
		[]byte("_DMI_"), []byte{0}, le16(uint16(n)), le32(0x000f0000), le16(uint16(count)), []byte{major<<4 | minor})
	e[0x15] = checksum(e[0x10:0x1f])
	e[4] = checksum(e)
	return e
}

// --- partition tables -----------------------------------------------

type gptPart struct {
	typ         string // GUID text
	name        string
	first, last uint64
}

// guidBytes encodes a GUID in its on-disk mixed-endian form.
func guidBytes(t testing.TB, s string) []byte {
	t.Helper()
	raw, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(raw) != 16 {
		t.Fatalf("bad GUID %q", s)
	}
	return cat(
		[]byte{raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6]},
		raw[8:],
	)
}

// gptImage builds a disk image of sectors sectors of ss bytes with a
// protective MBR, primary and backup GPT holding parts.
func gptImage(t testing.TB, ss, sectors uint64, parts []gptPart) []byte {
	t.Helper()
	return gptImageN(t, ss, sectors, 128, parts)
}

// gptImageN is gptImage with n partition entries instead of the usual
// 128; n*128 must be a multiple of ss. Small images make good fuzz seeds.
func gptImageN(t testing.TB, ss, sectors uint64, n int, parts []gptPart) []byte {
	t.Helper()
	img := make([]byte, ss*sectors)
	// Protective MBR.
	pe := img[446:]
	pe[4] = 0xee
	binary.LittleEndian.PutUint32(pe[8:], 1)
	binary.LittleEndian.PutUint32(pe[12:], uint32(min(sectors-1, 0xffffffff)))
	img[510], img[511] = 0x55, 0xaa

	const esize = 128
	arr := make([]byte, n*esize)
	for i, p := range parts {
		e := arr[i*esize:]
		copy(e, guidBytes(t, p.typ))
		copy(e[16:], guidBytes(t, fmt.Sprintf("00000000-0000-4000-8000-%012x", i+1)))
		binary.LittleEndian.PutUint64(e[32:], p.first)
		binary.LittleEndian.PutUint64(e[40:], p.last)
		for j, c := range utf16.Encode([]rune(p.name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], c)
		}
	}
	arrSectors := uint64(len(arr)) / ss
	last := sectors - 1
	header := func(my, alt, entries uint64) []byte {
		h := make([]byte, 92)
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], 92)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alt)
		binary.LittleEndian.PutUint64(h[40:], 2+arrSectors)
		binary.LittleEndian.PutUint64(h[48:], last-1-arrSectors)
		copy(h[56:], guidBytes(t, "5a3c7e8d-1f2b-4c6d-9e0f-123456789abc"))
		binary.LittleEndian.PutUint64(h[72:], entries)
		binary.LittleEndian.PutUint32(h[80:], uint32(n))
		binary.LittleEndian.PutUint32(h[84:], esize)
		binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(arr))
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h))
		return h
	}
	copy(img[ss:], header(1, last, 2))
	copy(img[2*ss:], arr)
	copy(img[(last-arrSectors)*ss:], arr)
	copy(img[last*ss:], header(last, 1, last-arrSectors))
	return img
}

type mbrPartSpec struct {
	boot        byte
	typ         byte
	start, size uint32
}

func putMBREntry(sector []byte, i int, p mbrPartSpec) {
	e := sector[446+16*i:]
	e[0] = p.boot
	e[4] = p.typ
	binary.LittleEndian.PutUint32(e[8:], p.start)
	binary.LittleEndian.PutUint32(e[12:], p.size)
	sector[510], sector[511] = 0x55, 0xaa
}

// mbrImage builds a DOS-labelled image: primaries, and logical
// partitions (start/size relative to their EBR) in the extended
// partition, which must be one of the primaries.
func mbrImage(sectors uint32, primaries []mbrPartSpec, logical []mbrPartSpec) []byte {
	img := make([]byte, 512*int(sectors))
	var extStart uint32
	for i, p := range primaries {
		putMBREntry(img, i, p)
		if isExtended(p.typ) {
			extStart = p.start
		}
	}
	ebr := extStart
	for i, l := range logical {
		sec := img[512*int(ebr):]
		putMBREntry(sec, 0, l)
		if i+1 < len(logical) {
			next := ebr + l.start + l.size - extStart
			putMBREntry(sec, 1, mbrPartSpec{typ: 0x05, start: next, size: logical[i+1].start + logical[i+1].size})
			ebr = extStart + next
		}
	}
	return img
}

// --- LLDP -----------------------------------------------------------

// tlv encodes one LLDP TLV.
func tlv(typ int, value ...byte) []byte {
	return append([]byte{byte(typ<<1 | len(value)>>8), byte(len(value))}, value...)
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }
