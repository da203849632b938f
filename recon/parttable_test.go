package recon

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

const (
	guidESP   = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
	guidLinux = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	guidSwap  = "0657fd6d-a4ab-43c4-84e5-0933c84b4f4f"
)

// tempImage writes img to a temporary file and opens it, as a disk
// would be read.
func tempImage(t *testing.T, img []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func testGPTParts() []gptPart {
	return []gptPart{
		{guidESP, "EFI System Partition", 2048, 4095},
		{guidLinux, "root", 4096, 6143},
		{guidSwap, "swap \u00e9t\u00e9", 6144, 8158},
	}
}

func wantGPTParts(ss uint64) []Partition {
	var want []Partition
	for i, p := range testGPTParts() {
		want = append(want, Partition{Number: i + 1, StartByte: p.first * ss, SizeBytes: (p.last - p.first + 1) * ss, Type: p.typ, Name: p.name})
	}
	return want
}

func TestReadPartitionTableGPT(t *testing.T) {
	const sectors = 8192 // 4 MiB of 512-byte sectors
	img := gptImage(t, 512, sectors, testGPTParts())
	f := tempImage(t, img)
	table, parts, err := ReadPartitionTable(f, int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if table != "gpt" {
		t.Errorf("table = %q, want gpt", table)
	}
	if want := wantGPTParts(512); !reflect.DeepEqual(parts, want) {
		t.Errorf("partitions\n got %+v\nwant %+v", parts, want)
	}
}

func TestReadPartitionTableGPT4K(t *testing.T) {
	// A 4Kn disk: the header is at byte 4096, LBAs count 4096 bytes.
	parts := []gptPart{{guidLinux, "data", 6, 250}}
	img := gptImage(t, 4096, 256, parts)
	table, got, err := ReadPartitionTable(bytes.NewReader(img), int64(len(img)))
	if err != nil || table != "gpt" {
		t.Fatalf("table %q, err %v", table, err)
	}
	want := []Partition{{Number: 1, StartByte: 6 * 4096, SizeBytes: 245 * 4096, Type: guidLinux, Name: "data"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// A GPT with fewer than the usual 128 entries is still valid.
func TestReadPartitionTableGPTFewEntries(t *testing.T) {
	img := gptImageN(t, 512, 12, 4, []gptPart{{guidESP, "EFI", 3, 5}, {guidLinux, "x", 6, 9}})
	table, parts, err := ReadPartitionTable(bytes.NewReader(img), int64(len(img)))
	want := []Partition{
		{Number: 1, StartByte: 3 * 512, SizeBytes: 3 * 512, Type: guidESP, Name: "EFI"},
		{Number: 2, StartByte: 6 * 512, SizeBytes: 4 * 512, Type: guidLinux, Name: "x"},
	}
	if err != nil || table != "gpt" || !reflect.DeepEqual(parts, want) {
		t.Errorf("got %q %+v %v, want gpt %+v", table, parts, err, want)
	}
}

func TestReadPartitionTableGPTDamaged(t *testing.T) {
	const sectors = 8192
	parts := []gptPart{{guidLinux, "only", 34, 8000}}
	wantParts := []Partition{{Number: 1, StartByte: 34 * 512, SizeBytes: 7967 * 512, Type: guidLinux, Name: "only"}}
	tests := []struct {
		name      string
		damage    func(img []byte)
		wantTable string
		wantParts []Partition
		wantErr   bool
	}{
		{"primary header checksum: backup used", func(img []byte) { img[512+30] ^= 0xff }, "gpt", wantParts, false},
		{"primary entries checksum: backup used", func(img []byte) { img[1024+60] ^= 0xff }, "gpt", wantParts, false},
		{"primary signature wiped, protective MBR: backup used", func(img []byte) { clear(img[512:520]) }, "gpt", wantParts, false},
		{"both headers bad", func(img []byte) { img[512+30] ^= 0xff; img[len(img)-512+30] ^= 0xff }, "gpt", nil, true},
		{"entry outside the disk dropped", func(img []byte) {
			for _, off := range []int{1024, len(img) - 33*512} {
				binary.LittleEndian.PutUint64(img[off+40:], sectors+10)
			}
			fixGPT(img, 512, 1, 2)
			fixGPT(img, 512, sectors-1, sectors-33)
		}, "gpt", nil, false},
		{"absurd entry count", func(img []byte) {
			binary.LittleEndian.PutUint32(img[512+80:], 1<<30)
			fixGPTHeader(img[512:])
			img[len(img)-512+30] ^= 0xff
		}, "gpt", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := gptImage(t, 512, sectors, parts)
			tt.damage(img)
			table, got, err := ReadPartitionTable(tempImage(t, img), int64(len(img)))
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if table != tt.wantTable || !reflect.DeepEqual(got, tt.wantParts) {
				t.Errorf("got %q %+v, want %q %+v", table, got, tt.wantTable, tt.wantParts)
			}
		})
	}
}

// fixGPT recomputes the checksums of the header at LBA hdr whose entries
// start at LBA ent, after a test changed the entries.
func fixGPT(img []byte, ss, hdr, ent int) {
	h := img[hdr*ss:]
	n := int(binary.LittleEndian.Uint32(h[80:]) * binary.LittleEndian.Uint32(h[84:]))
	binary.LittleEndian.PutUint32(h[88:], crc32IEEE(img[ent*ss:ent*ss+n]))
	fixGPTHeader(h)
}

func fixGPTHeader(h []byte) {
	clear(h[16:20])
	binary.LittleEndian.PutUint32(h[16:], crc32IEEE(h[:92]))
}

func TestReadPartitionTableMBR(t *testing.T) {
	img := mbrImage(65536,
		[]mbrPartSpec{
			{boot: 0x80, typ: 0x83, start: 2048, size: 20480},
			{typ: 0x05, start: 22528, size: 40960},
		},
		[]mbrPartSpec{
			{typ: 0x82, start: 2048, size: 8192},
			{typ: 0x8e, start: 2048, size: 10240},
		},
	)
	table, parts, err := ReadPartitionTable(tempImage(t, img), int64(len(img)))
	if err != nil || table != "dos" {
		t.Fatalf("table %q, err %v", table, err)
	}
	want := []Partition{
		{Number: 1, StartByte: 2048 * 512, SizeBytes: 20480 * 512, Type: "0x83"},
		{Number: 2, StartByte: 22528 * 512, SizeBytes: 40960 * 512, Type: "0x05"},
		{Number: 5, StartByte: (22528 + 2048) * 512, SizeBytes: 8192 * 512, Type: "0x82"},
		{Number: 6, StartByte: (22528 + 2048 + 8192 + 2048) * 512, SizeBytes: 10240 * 512, Type: "0x8e"},
	}
	if !reflect.DeepEqual(parts, want) {
		t.Errorf("partitions\n got %+v\nwant %+v", parts, want)
	}
}

func TestReadPartitionTableNone(t *testing.T) {
	fat := make([]byte, 4096)
	copy(fat, []byte{0xeb, 0x3c, 0x90, 'm', 'k', 'f', 's', '.', 'f', 'a', 't'})
	fat[446] = 0x29 // volume ID bytes where a boot indicator would be
	fat[510], fat[511] = 0x55, 0xaa

	loop := mbrImage(4096, []mbrPartSpec{{typ: 0x0f, start: 100, size: 1000}}, nil)
	// An EBR linking to itself must not loop forever.
	putMBREntry(loop[100*512:], 0, mbrPartSpec{typ: 0x83, start: 1, size: 10})
	putMBREntry(loop[100*512:], 1, mbrPartSpec{typ: 0x05, start: 0, size: 20})

	tests := []struct {
		name      string
		img       []byte
		size      int64
		wantTable string
		wantN     int
	}{
		{"blank disk", make([]byte, 1<<20), 1 << 20, "", 0},
		{"FAT superfloppy", fat, 4096, "", 0},
		{"tiny", []byte{1, 2, 3}, 3, "", 0},
		{"EBR loop", loop, int64(len(loop)), "dos", 2},
		{"MBR partition past the end dropped", mbrImage(100, []mbrPartSpec{{typ: 0x83, start: 1, size: 1000}}, nil), 100 * 512, "dos", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, parts, err := ReadPartitionTable(bytes.NewReader(tt.img), tt.size)
			if err != nil {
				t.Fatal(err)
			}
			if table != tt.wantTable || len(parts) != tt.wantN {
				t.Errorf("got %q with %d partitions %+v, want %q with %d", table, len(parts), parts, tt.wantTable, tt.wantN)
			}
		})
	}
}

func FuzzReadPartitionTable(f *testing.F) {
	f.Add(gptImageN(f, 512, 12, 4, []gptPart{{guidESP, "EFI", 3, 5}, {guidLinux, "x", 6, 9}}))
	f.Add(gptImageN(f, 4096, 8, 32, []gptPart{{guidLinux, "4k", 3, 5}}))
	f.Add(mbrImage(16, []mbrPartSpec{{typ: 0x83, start: 1, size: 3}, {typ: 0x05, start: 4, size: 12}},
		[]mbrPartSpec{{typ: 0x83, start: 1, size: 2}, {typ: 0x83, start: 1, size: 2}}))
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, img []byte) {
		size := int64(len(img))
		table, parts, err := ReadPartitionTable(bytes.NewReader(img), size)
		switch table {
		case "", "gpt", "dos":
		default:
			t.Fatalf("table %q", table)
		}
		if table == "" && len(parts) > 0 {
			t.Errorf("partitions %+v without a table (err %v)", parts, err)
		}
		checkStrings(t, parts)
		seen := map[int]bool{}
		for _, p := range parts {
			if p.Number < 1 || seen[p.Number] {
				t.Errorf("bad or repeated number in %+v", p)
			}
			seen[p.Number] = true
			if p.SizeBytes == 0 || p.StartByte+p.SizeBytes < p.StartByte || p.StartByte+p.SizeBytes > uint64(size) {
				t.Errorf("partition %+v outside a %d-byte disk", p, size)
			}
		}
	})
}
