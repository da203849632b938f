package recon

import (
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadDisksTestdata(t *testing.T) {
	disks, err := ReadDisks(os.DirFS("testdata/root"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Disk{
		{
			Name: "nvme0n1", SizeBytes: 960197124096, Model: "SAMSUNG MZQLB960HAJR-00007", Serial: "S437NA0M123456",
			WWN: "eui.343337304d1234560025384100000001", Type: DiskNVMe,
			Partitions: []Partition{
				{Number: 1, StartByte: 2048 * 512, SizeBytes: 1048576 * 512},
				{Number: 2, StartByte: 1050624 * 512, SizeBytes: 1874332000 * 512},
			},
		},
		{
			Name: "sda", SizeBytes: 4000787030016, Model: "ST4000NM0035-1V4", Serial: "ZC1ABCDE",
			WWN: "naa.5000c500a1b2c3d4", Type: DiskHDD,
			Partitions: []Partition{
				{Number: 1, StartByte: 2048 * 512, SizeBytes: 1048576 * 512},
				{Number: 2, StartByte: 1050624 * 512, SizeBytes: 7812984832 * 512},
			},
		},
		{
			Name: "sdb", SizeBytes: 30031872 * 512, Model: "Cruzer Blade", Type: DiskHDD, Removable: true,
			Partitions: []Partition{{Number: 1, StartByte: 2048 * 512, SizeBytes: 30029824 * 512}},
		},
		{
			Name: "vda", SizeBytes: 8 << 30, Serial: "outpost-vda-01", Type: DiskHDD,
			Partitions: []Partition{{Number: 1, StartByte: 2048 * 512, SizeBytes: 16775135 * 512}},
		},
	}
	if !reflect.DeepEqual(disks, want) {
		t.Errorf("disks\n got %+v\nwant %+v", disks, want)
	}
	checkStrings(t, disks)
}

// diskFS is a one-disk sysfs, with the disk's contents at dev/vda.
func diskFS(img []byte, sysParts map[string][3]string) fstest.MapFS {
	m := fstest.MapFS{
		"sys/block/vda": {Mode: fs.ModeSymlink, Data: []byte("../devices/pci0000:00/0000:00:05.0/virtio2/block/vda")},
		"sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda/device":           {Mode: fs.ModeSymlink, Data: []byte("../../../virtio2")},
		"sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda/size":             {Data: []byte("8192\n")},
		"sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda/removable":        {Data: []byte("0\n")},
		"sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda/queue/rotational": {Data: []byte("0\n")},
		"sys/devices/pci0000:00/0000:00:05.0/virtio2/vendor":                     {Data: []byte("0x1af4\n")},
	}
	for name, v := range sysParts {
		dir := "sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda/" + name + "/"
		m[dir+"partition"] = &fstest.MapFile{Data: []byte(v[0] + "\n")}
		m[dir+"start"] = &fstest.MapFile{Data: []byte(v[1] + "\n")}
		m[dir+"size"] = &fstest.MapFile{Data: []byte(v[2] + "\n")}
	}
	if img != nil {
		m["dev/vda"] = &fstest.MapFile{Data: img, Mode: fs.ModeDevice}
	}
	return m
}

func TestReadDisksWithTable(t *testing.T) {
	img := gptImage(t, 512, 8192, testGPTParts())
	tests := []struct {
		name      string
		fsys      fstest.MapFS
		wantTable string
		wantParts []Partition
	}{
		{
			name: "kernel and table agree: types and names added",
			fsys: diskFS(img, map[string][3]string{
				"vda1": {"1", "2048", "2048"}, "vda2": {"2", "4096", "2048"}, "vda3": {"3", "6144", "2015"},
			}),
			wantTable: "gpt",
			wantParts: wantGPTParts(512),
		},
		{
			name:      "kernel shows no partitions: the table's are used",
			fsys:      diskFS(img, nil),
			wantTable: "gpt",
			wantParts: wantGPTParts(512),
		},
		{
			name:      "kernel's view wins over a table it has not re-read",
			fsys:      diskFS(img, map[string][3]string{"vda1": {"1", "2048", "6111"}}),
			wantTable: "gpt",
			wantParts: []Partition{{Number: 1, StartByte: 2048 * 512, SizeBytes: 6111 * 512, Type: guidESP, Name: "EFI System Partition"}},
		},
		{
			name:      "no device node",
			fsys:      diskFS(nil, map[string][3]string{"vda1": {"1", "2048", "100"}}),
			wantTable: "",
			wantParts: []Partition{{Number: 1, StartByte: 2048 * 512, SizeBytes: 100 * 512}},
		},
		{
			name:      "blank disk",
			fsys:      diskFS(make([]byte, 8192*512), nil),
			wantTable: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disks, err := ReadDisks(tt.fsys)
			if err != nil {
				t.Fatal(err)
			}
			if len(disks) != 1 {
				t.Fatalf("got %d disks, want 1: %+v", len(disks), disks)
			}
			d := disks[0]
			if d.Name != "vda" || d.Type != DiskSSD || d.SizeBytes != 8192*512 {
				t.Errorf("disk %+v", d)
			}
			if d.Table != tt.wantTable || !reflect.DeepEqual(d.Partitions, tt.wantParts) {
				t.Errorf("got %q %+v\nwant %q %+v", d.Table, d.Partitions, tt.wantTable, tt.wantParts)
			}
		})
	}
}

func TestReadDisksErrors(t *testing.T) {
	if _, err := ReadDisks(fstest.MapFS{}); err == nil {
		t.Error("no error without sys/block")
	}
	bad := diskFS(nil, nil)
	bad["sys/devices/pci0000:00/0000:00:05.0/virtio2/block/vda/size"] = &fstest.MapFile{Data: []byte("lots\n")}
	disks, err := ReadDisks(bad)
	if err == nil || !strings.Contains(err.Error(), "vda") || len(disks) != 0 {
		t.Errorf("bad size: disks %+v, err %v", disks, err)
	}
}

func TestSkipBlock(t *testing.T) {
	for name, want := range map[string]bool{
		"sda": false, "nvme0n1": false, "vda": false, "xvda": false, "hda": false,
		"loop0": true, "ram0": true, "zram0": true, "dm-0": true, "md127": true, "sr0": true,
		"nvme0c0n1": true, "nbd0": true,
	} {
		if got := skipBlock(name); got != want {
			t.Errorf("skipBlock(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseVPD80(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"\x00\x80\x00\x14            ZC1ABCDE", "ZC1ABCDE"},
		{"\x00\x80\x00\x04ABCDEFGH", "ABCD"},   // length bounds the serial
		{"\x00\x80\x00\x40SHORT", "SHORT"},     // length beyond the data
		{"\x00\x83\x00\x04ABCD", ""},           // another page
		{"\x00\x80", ""},                       // truncated
		{"\x00\x80\x00\x05A\x00B\x01C", "ABC"}, // control bytes dropped
	}
	for _, tt := range tests {
		if got := parseVPD80([]byte(tt.in)); got != tt.want {
			t.Errorf("parseVPD80(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
