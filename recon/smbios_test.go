package recon

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseSMBIOSServer(t *testing.T) {
	table := serverSMBIOS()
	sys, dimms, err := ParseSMBIOS(entry64(3, 2, len(table)), table)
	if err != nil {
		t.Fatal(err)
	}
	want := System{
		Manufacturer:    "Supermicro",
		Product:         "SYS-1029U-TRT",
		Serial:          "S12345678", // BEL and trailing space removed
		UUID:            "4c4c4544-0042-3510-8052-b4c04f4a4d32",
		BoardSerial:     "ZM18AS012345",
		ChassisSerial:   "C1160LI47AB0123",
		BIOSVendor:      "American Megatrends Inc.",
		BIOSVersion:     "3.4",
		BIOSDate:        "12/03/2020",
		ChassisAssetTag: "OUTPOST-0042",
	}
	if sys != want {
		t.Errorf("system\n got %+v\nwant %+v", sys, want)
	}
	if len(dimms) != 8 {
		t.Fatalf("got %d DIMMs, want 8 (8 empty slots skipped): %+v", len(dimms), dimms)
	}
	wantFirst := DIMM{Slot: "P1-DIMMA1", SizeBytes: 32 << 30, SpeedMTs: 2666, Type: "DDR4", Vendor: "Samsung", Serial: "36A1B2D0"}
	if dimms[0] != wantFirst {
		t.Errorf("first DIMM\n got %+v\nwant %+v", dimms[0], wantFirst)
	}
	if dimms[7].Slot != "P2-DIMMD1" {
		t.Errorf("last DIMM slot %q, want P2-DIMMD1", dimms[7].Slot)
	}
	if got := TotalMemory(dimms, 1); got != 256<<30 {
		t.Errorf("TotalMemory = %d, want 256 GiB", got)
	}
}

// The dump in testdata/root must be what the builder makes, so the
// fake machine and the unit tests describe the same hardware.
func TestSMBIOSDumpUpToDate(t *testing.T) {
	got, err := os.ReadFile("testdata/root/sys/firmware/dmi/tables/DMI")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, serverSMBIOS()) {
		t.Error("testdata/root/sys/firmware/dmi/tables/DMI differs from serverSMBIOS()")
	}
}

func TestReadSMBIOS(t *testing.T) {
	sys, dimms, err := ReadSMBIOS(os.DirFS("testdata/root"))
	if err != nil {
		t.Fatal(err)
	}
	if sys.Serial != "S12345678" || len(dimms) != 8 {
		t.Errorf("got serial %q and %d DIMMs", sys.Serial, len(dimms))
	}
	if _, _, err := ReadSMBIOS(fstest.MapFS{}); err == nil {
		t.Error("no error for a machine without SMBIOS")
	}
	big := fstest.MapFS{
		smbiosEntryPath: {Data: entry64(3, 2, 16)},
		smbiosTablePath: {Data: make([]byte, maxSMBIOS+1)},
	}
	if _, _, err := ReadSMBIOS(big); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("oversized table: err = %v", err)
	}
}

func TestParseSMBIOSDIMMs(t *testing.T) {
	tests := []struct {
		name string
		spec dimmSpec
		want *DIMM // nil: slot skipped
	}{
		{"empty slot", dimmSpec{locator: "DIMM_B2", typ: 0x02, vendor: "NO DIMM"}, nil},
		{"MiB size", dimmSpec{locator: "A1", size: 16384, typ: 0x1a, speed: 3200, cfg: 2933, vendor: "Hynix", serial: "1234ABCD"},
			&DIMM{Slot: "A1", SizeBytes: 16 << 30, SpeedMTs: 2933, Type: "DDR4", Vendor: "Hynix", Serial: "1234ABCD"}},
		{"KiB granularity", dimmSpec{locator: "A1", size: 0x8000 | 512, typ: 0x18, speed: 1333},
			&DIMM{Slot: "A1", SizeBytes: 512 << 10, SpeedMTs: 1333, Type: "DDR3"}},
		{"extended size", dimmSpec{locator: "A1", size: 0x7fff, ext: 131072, typ: 0x22, speed: 4800, cfg: 4400, vendor: "Micron Technology"},
			&DIMM{Slot: "A1", SizeBytes: 128 << 30, SpeedMTs: 4400, Type: "DDR5", Vendor: "Micron Technology"}},
		{"extended speeds", dimmSpec{locator: "A1", size: 0x7fff, ext: 65536, typ: 0x22, speed: 0xffff, cfg: 0xffff, extSpeed: 70000, extCfg: 68000},
			&DIMM{Slot: "A1", SizeBytes: 64 << 30, SpeedMTs: 68000, Type: "DDR5"}},
		{"no configured speed", dimmSpec{locator: "A1", size: 8192, typ: 0x1a, speed: 2400},
			&DIMM{Slot: "A1", SizeBytes: 8 << 30, SpeedMTs: 2400, Type: "DDR4"}},
		{"unknown size", dimmSpec{locator: "A1", size: 0xffff, typ: 0x02},
			&DIMM{Slot: "A1"}},
		{"bank locator fallback", dimmSpec{bank: "BANK 0", size: 4096, typ: 0x1a},
			&DIMM{Slot: "BANK 0", SizeBytes: 4 << 30, Type: "DDR4"}},
		{"SMBIOS 2.8 layout", dimmSpec{locator: "DIMM 0", size: 0x7fff, ext: 32768, typ: 0x1a, speed: 2666, cfg: 2400, short: true},
			&DIMM{Slot: "DIMM 0", SizeBytes: 32 << 30, SpeedMTs: 2400, Type: "DDR4"}},
		{"junk strings", dimmSpec{locator: " A1\x01\x7f ", size: 1024, typ: 0x1a, vendor: "Unknown", serial: "\x1b[31mSN1"},
			&DIMM{Slot: "A1", SizeBytes: 1 << 30, Type: "DDR4", Serial: "[31mSN1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := smbTable(smbDIMM(0x40, tt.spec))
			_, dimms, err := ParseSMBIOS(nil, table)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == nil && len(dimms) != 0:
				t.Errorf("got %+v, want slot skipped", dimms)
			case tt.want != nil && (len(dimms) != 1 || dimms[0] != *tt.want):
				t.Errorf("got %+v, want [%+v]", dimms, *tt.want)
			}
		})
	}
}

func TestParseSMBIOSUUID(t *testing.T) {
	tests := []struct {
		name  string
		entry func(n int) []byte
		uuid  []byte
		want  string
	}{
		{"3.x little-endian fields", func(n int) []byte { return entry64(3, 0, n) }, testUUID(), "4c4c4544-0042-3510-8052-b4c04f4a4d32"},
		{"2.4 network order", func(n int) []byte { return entry32(2, 4, n, 2) }, testUUID(), "44454c4c-4200-1035-8052-b4c04f4a4d32"},
		{"2.6 little-endian fields", func(n int) []byte { return entry32(2, 6, n, 2) }, testUUID(), "4c4c4544-0042-3510-8052-b4c04f4a4d32"},
		{"no entry point", func(int) []byte { return nil }, testUUID(), "4c4c4544-0042-3510-8052-b4c04f4a4d32"},
		{"not settable", func(n int) []byte { return entry64(3, 0, n) }, make([]byte, 16), ""},
		{"not present", func(n int) []byte { return entry64(3, 0, n) }, bytes.Repeat([]byte{0xff}, 16), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := smbTable(smbSystem(tt.uuid))
			sys, _, err := ParseSMBIOS(tt.entry(len(table)), table)
			if err != nil {
				t.Fatal(err)
			}
			if sys.UUID != tt.want {
				t.Errorf("UUID = %q, want %q", sys.UUID, tt.want)
			}
		})
	}
}

func TestParseSMBIOSDamaged(t *testing.T) {
	good := serverSMBIOS()
	tests := []struct {
		name        string
		entry       []byte
		table       []byte
		wantErr     string
		wantSerial  string
		wantDIMMsGE int
	}{
		{"bad entry checksum still parses", func() []byte { e := entry64(3, 2, len(good)); e[10] ^= 1; return e }(), good, "entry point", "S12345678", 8},
		{"truncated after system", nil, good[:len(smbBIOS().bytes())+len(smbSystem(testUUID()).bytes())+6], "offset", "S12345678", 0},
		{"empty", nil, nil, "", "", 0},
		{"garbage", nil, []byte{0x11, 0xff, 0, 0, 1, 2, 3}, "offset", "", 0},
		{"data after end of table ignored", nil, append(bytes.Clone(good), 0xff, 0xff, 0xff), "", "S12345678", 8},
		{"first system structure wins", nil, smbTable(smbSystem(testUUID()), smbStruct{typ: 1, handle: 9, data: make([]byte, 23), strings: []string{"other"}}), "", "S12345678", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys, dimms, err := ParseSMBIOS(tt.entry, tt.table)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want containing %q", err, tt.wantErr)
			}
			if sys.Serial != tt.wantSerial || len(dimms) < tt.wantDIMMsGE {
				t.Errorf("serial %q with %d DIMMs, want %q with at least %d", sys.Serial, len(dimms), tt.wantSerial, tt.wantDIMMsGE)
			}
		})
	}
}

func FuzzParseSMBIOS(f *testing.F) {
	table := serverSMBIOS()
	f.Add(entry64(3, 2, len(table)), table)
	f.Add([]byte(nil), table)
	f.Add(entry32(2, 4, len(table), 20), smbTable(smbSystem(testUUID()), smbDIMM(1, serverDIMMs()[0])))
	f.Add([]byte(nil), smbTable(smbDIMM(1, dimmSpec{size: 0x7fff, ext: 1 << 31, speed: 0xffff, cfg: 0xffff, extSpeed: 1<<32 - 1})))
	f.Add([]byte("_SM3_"), []byte{17, 4, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, entry, table []byte) {
		entryCopy, tableCopy := bytes.Clone(entry), bytes.Clone(table)
		sys, dimms, err := ParseSMBIOS(entry, table)
		if !bytes.Equal(entry, entryCopy) || !bytes.Equal(table, tableCopy) {
			t.Fatal("ParseSMBIOS modified its input")
		}
		checkStrings(t, sys)
		checkStrings(t, dimms)
		// Every DIMM needs a structure of at least 0x15 bytes plus
		// terminators.
		if len(dimms) > len(table)/0x17 {
			t.Errorf("%d DIMMs from %d bytes", len(dimms), len(table))
		}
		for _, d := range dimms {
			if d.SpeedMTs < 0 || d.SizeBytes > 1<<51 {
				t.Errorf("impossible DIMM %+v", d)
			}
		}
		if err == nil && len(table) == 0 && !reflect.ValueOf(sys).IsZero() {
			t.Error("system from nothing")
		}
	})
}
