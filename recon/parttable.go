package recon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"
)

// Partition table kinds, as lsblk names them.
const (
	TableGPT = "gpt"
	TableDOS = "dos"
)

const (
	gptMaxEntries  = 1024    // far above the customary 128
	gptMaxEntryLen = 4096    // spec: 128 * 2^n
	gptMaxArray    = 1 << 20 // bytes of entry array read
	mbrMaxLogical  = 128     // logical partitions followed in an EBR chain
)

// ReadPartitionTable reads the partition table of a disk of size bytes:
// GPT (512- or 4096-byte sectors; the backup header at the end when the
// primary is damaged), else MBR with its extended partitions. table is ""
// when the disk has neither. Entries that do not fit in the disk are
// dropped.
func ReadPartitionTable(r io.ReaderAt, size int64) (table string, parts []Partition, err error) {
	if size < 512 {
		return "", nil, nil
	}
	mbr := make([]byte, 512)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return "", nil, fmt.Errorf("reading MBR: %w", err)
	}
	sizes := []int64{512, 4096}
	var gptErr error
	for _, ss := range sizes {
		parts, err := readGPTAt(r, size, ss, 1)
		if err == nil {
			return TableGPT, parts, nil
		}
		if !errors.Is(err, errNoGPT) && gptErr == nil {
			gptErr = err
		}
	}
	protective := isMBR(mbr) && hasProtective(mbr)
	// The backup header is only trusted when something says a GPT is
	// meant to be there, so a stale backup on a reused MBR disk is not.
	if protective || gptErr != nil {
		for _, ss := range sizes {
			if size/ss < 3 {
				continue
			}
			if parts, err := readGPTAt(r, size, ss, size/ss-1); err == nil {
				return TableGPT, parts, nil
			}
		}
	}
	switch {
	case protective:
		if gptErr == nil {
			gptErr = errors.New("gpt: protective MBR but no valid GPT header")
		}
		return TableGPT, nil, gptErr
	case isMBR(mbr):
		parts, err = readMBR(r, size, mbr)
		return TableDOS, parts, err
	}
	return "", nil, gptErr
}

const errNoGPT = constError("no GPT signature")

func readGPTAt(r io.ReaderAt, size, ss, lba int64) ([]Partition, error) {
	hdr := make([]byte, ss)
	if _, err := r.ReadAt(hdr, lba*ss); err != nil {
		return nil, errNoGPT
	}
	if string(hdr[:8]) != "EFI PART" {
		return nil, errNoGPT
	}
	le := binary.LittleEndian
	hsize := le.Uint32(hdr[12:])
	if hsize < 92 || int64(hsize) > ss {
		return nil, fmt.Errorf("gpt: header size %d", hsize)
	}
	want := le.Uint32(hdr[16:])
	h := bytes.Clone(hdr[:hsize])
	clear(h[16:20])
	if crc32.ChecksumIEEE(h) != want {
		return nil, errors.New("gpt: header checksum mismatch")
	}
	if my := le.Uint64(hdr[24:]); my != uint64(lba) {
		return nil, fmt.Errorf("gpt: header at LBA %d says it is at %d", lba, my)
	}
	sectors := uint64(size / ss)
	first, last := le.Uint64(hdr[40:]), le.Uint64(hdr[48:])
	entLBA := le.Uint64(hdr[72:])
	n, esize := le.Uint32(hdr[80:]), le.Uint32(hdr[84:])
	if esize < 128 || esize%8 != 0 || esize > gptMaxEntryLen {
		return nil, fmt.Errorf("gpt: entry size %d", esize)
	}
	if n > gptMaxEntries || uint64(n)*uint64(esize) > gptMaxArray {
		return nil, fmt.Errorf("gpt: %d entries of %d bytes", n, esize)
	}
	arrLen := uint64(n) * uint64(esize)
	if entLBA >= sectors || arrLen > (sectors-entLBA)*uint64(ss) {
		return nil, errors.New("gpt: entry array outside the disk")
	}
	arr := make([]byte, arrLen)
	if _, err := r.ReadAt(arr, int64(entLBA)*ss); err != nil {
		return nil, fmt.Errorf("gpt: reading entries: %w", err)
	}
	if crc32.ChecksumIEEE(arr) != le.Uint32(hdr[88:]) {
		return nil, errors.New("gpt: entry array checksum mismatch")
	}
	var parts []Partition
	for i := range n {
		e := arr[uint64(i)*uint64(esize):][:128]
		if allZero(e[:16]) {
			continue
		}
		s, l := le.Uint64(e[32:]), le.Uint64(e[40:])
		if l < s || s < first || l > last || l >= sectors {
			continue // damaged entry: it would point outside the disk
		}
		parts = append(parts, Partition{
			Number:    int(i) + 1,
			StartByte: s * uint64(ss),
			SizeBytes: (l - s + 1) * uint64(ss),
			Type:      guidString(e[:16]),
			Name:      gptName(e[56:128]),
		})
	}
	return parts, nil
}

// guidString prints a GUID in its mixed-endian on-disk layout, in lower
// case as udev and lsblk do.
func guidString(b []byte) string {
	le := binary.LittleEndian
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16])
}

// gptName decodes the UTF-16LE partition name up to its first NUL.
func gptName(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return clean(string(utf16.Decode(u)))
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// isMBR checks the boot signature and, as libblkid does, that every
// boot indicator is 0x00 or 0x80, so a FAT boot sector is not taken for
// a partition table.
func isMBR(s []byte) bool {
	if s[510] != 0x55 || s[511] != 0xaa {
		return false
	}
	for i := range 4 {
		if b := s[446+16*i]; b != 0 && b != 0x80 {
			return false
		}
	}
	return true
}

func hasProtective(s []byte) bool {
	for i := range 4 {
		if s[446+16*i+4] == 0xee {
			return true
		}
	}
	return false
}

func isExtended(t byte) bool { return t == 0x05 || t == 0x0f || t == 0x85 }

// readMBR lists the primary partitions (1-4) and the logical ones (5 on)
// chained from the first extended partition.
func readMBR(r io.ReaderAt, size int64, mbr []byte) ([]Partition, error) {
	sectors := uint64(size) / sectorBytes
	var parts []Partition
	var extStart, extSize uint64
	for i := range 4 {
		e := mbr[446+16*i:][:16]
		typ := e[4]
		start, n := uint64(binary.LittleEndian.Uint32(e[8:])), uint64(binary.LittleEndian.Uint32(e[12:]))
		if typ == 0 || n == 0 || start+n > sectors {
			continue
		}
		if isExtended(typ) && extSize == 0 {
			extStart, extSize = start, n
		}
		parts = append(parts, mbrPart(i+1, typ, start, n))
	}
	if extSize == 0 {
		return parts, nil
	}
	// Each EBR holds a logical partition (relative to the EBR) and a
	// link to the next EBR (relative to the extended partition).
	seen := map[uint64]bool{}
	ebr := make([]byte, 512)
	num := 5
	for cur := extStart; num < 5+mbrMaxLogical; num++ {
		if seen[cur] || cur >= extStart+extSize {
			break
		}
		seen[cur] = true
		if _, err := r.ReadAt(ebr, int64(cur*sectorBytes)); err != nil {
			return parts, fmt.Errorf("mbr: reading EBR at sector %d: %w", cur, err)
		}
		if ebr[510] != 0x55 || ebr[511] != 0xaa {
			break
		}
		e := ebr[446:][:16]
		start := cur + uint64(binary.LittleEndian.Uint32(e[8:]))
		n := uint64(binary.LittleEndian.Uint32(e[12:]))
		if e[4] != 0 && n != 0 && start+n <= extStart+extSize && start+n <= sectors {
			parts = append(parts, mbrPart(num, e[4], start, n))
		}
		next := ebr[446+16:][:16]
		if !isExtended(next[4]) {
			break
		}
		cur = extStart + uint64(binary.LittleEndian.Uint32(next[8:]))
	}
	return parts, nil
}

func mbrPart(num int, typ byte, start, n uint64) Partition {
	return Partition{
		Number:    num,
		StartByte: start * sectorBytes,
		SizeBytes: n * sectorBytes,
		Type:      fmt.Sprintf("0x%02x", typ),
	}
}
