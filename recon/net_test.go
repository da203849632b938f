package recon

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"
)

func TestReadNICsTestdata(t *testing.T) {
	tests := []struct {
		bootMAC    string
		wantBooted string
	}{
		{"3C:EC:EF:12:34:56", "eth0"},
		{"52-54-00-ab-cd-ef", "eth1"},
		{"00:00:00:00:00:00", ""}, // lo is no NIC
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.bootMAC, func(t *testing.T) {
			nics, err := ReadNICs(os.DirFS("testdata/root"), tt.bootMAC)
			if err != nil {
				t.Fatal(err)
			}
			want := []NIC{
				{Name: "eth0", MAC: "3c:ec:ef:12:34:56", Driver: "ixgbe", PCI: "0000:18:00.0", Link: true, SpeedMbps: 10000},
				{Name: "eth1", MAC: "52:54:00:ab:cd:ef", Driver: "virtio_net", PCI: "0000:00:03.0", Link: true},
				{Name: "eth2", MAC: "3c:ec:ef:12:34:57", Driver: "ixgbe", PCI: "0000:18:00.1"},
			}
			for i := range want {
				want[i].Booted = want[i].Name == tt.wantBooted
			}
			if !reflect.DeepEqual(nics, want) {
				t.Errorf("nics\n got %+v\nwant %+v", nics, want)
			}
		})
	}
}

func TestReadNICsOddSysfs(t *testing.T) {
	m := fstest.MapFS{
		// A NIC whose device is no PCI function (e.g. a USB adapter
		// seen only through a platform device), with junk attributes.
		"sys/class/net/usb0":                         {Mode: fs.ModeSymlink, Data: []byte("../../devices/platform/usb0/net/usb0")},
		"sys/devices/platform/usb0/net/usb0/device":  {Mode: fs.ModeSymlink, Data: []byte("../../../usb0")},
		"sys/devices/platform/usb0/net/usb0/address": {Data: []byte("\x00not-a-mac\x07\n")},
		"sys/devices/platform/usb0/net/usb0/speed":   {Data: []byte("99999999999999999999\n")},
		"sys/devices/platform/usb0/uevent":           {Data: []byte("DRIVER=cdc_ether\n")},
	}
	nics, err := ReadNICs(m, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []NIC{{Name: "usb0", MAC: "not-a-mac"}}
	if !reflect.DeepEqual(nics, want) {
		t.Errorf("got %+v, want %+v", nics, want)
	}
	if _, err := ReadNICs(fstest.MapFS{}, ""); err == nil {
		t.Error("no error without sys/class/net")
	}
}

// A loop of links must not hang the walk. A real directory is used, as
// fstest.MapFS itself recurses forever on such a loop.
func TestReadNICsLinkLoop(t *testing.T) {
	dir := t.TempDir()
	net := filepath.Join(dir, "sys/class/net")
	if err := os.MkdirAll(net, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range [][2]string{{"loop1", "loop0"}, {"loop0", "loop1"}, {"../../../eth9", "eth9"}} {
		if err := os.Symlink(l[0], filepath.Join(net, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	nics, err := ReadNICs(os.DirFS(dir), "")
	if err != nil || len(nics) != 0 {
		t.Errorf("got %+v, %v; want no NICs", nics, err)
	}
	if got := pciOf(os.DirFS(dir), "sys/class/net/loop0"); got != "" {
		t.Errorf("pciOf a loop = %q", got)
	}
}

func TestResolve(t *testing.T) {
	m := fstest.MapFS{
		"a/b/c":  {Data: []byte("x")},
		"l1":     {Mode: fs.ModeSymlink, Data: []byte("a/b")},
		"a/abs":  {Mode: fs.ModeSymlink, Data: []byte("/a/b/c")},
		"a/up":   {Mode: fs.ModeSymlink, Data: []byte("../../etc")},
		"a/self": {Mode: fs.ModeSymlink, Data: []byte("self")},
		"a/rel":  {Mode: fs.ModeSymlink, Data: []byte("./b/../b")},
	}
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"l1/c", "a/b/c", false},
		{"a/abs", "a/b/c", false},
		{"a/rel/c", "a/b/c", false},
		{"a/up", "", true},
		{"a/self", "", true},
		{"a/missing", "", true},
	}
	for _, tt := range tests {
		got, err := resolve(m, tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("resolve(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestIsPCIAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"0000:00:1f.2": true, "10000:3b:00.1": true, "0000:18:00.7": true,
		"0000:18:00.8": false, "virtio0": false, "pci0000:00": false, "0000:00:1F.2": false,
		"0000:00:1f": false, "00:1f.2": false,
	} {
		if got := isPCIAddr(s); got != want {
			t.Errorf("isPCIAddr(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestReadPCI(t *testing.T) {
	devs, err := ReadPCI(os.DirFS("testdata/root"))
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 10 {
		t.Fatalf("got %d devices, want 10: %+v", len(devs), devs)
	}
	byAddr := map[string]PCIDev{}
	for i, d := range devs {
		if i > 0 && devs[i-1].Address >= d.Address {
			t.Errorf("not sorted: %s before %s", devs[i-1].Address, d.Address)
		}
		byAddr[d.Address] = d
	}
	tests := []PCIDev{
		{Address: "0000:00:00.0", Vendor: "8086", Device: "2020", Class: "060000", SubVend: "15d9", SubDev: "095d", Revision: "04"},
		{Address: "0000:18:00.0", Vendor: "8086", Device: "15ad", Class: "020000", Driver: "ixgbe", SubVend: "15d9", SubDev: "15ad", Revision: "00"},
		{Address: "0000:3d:00.0", Vendor: "144d", Device: "a808", Class: "010802", Driver: "nvme", SubVend: "144d", SubDev: "a801", Revision: "00"},
		{Address: "0000:00:03.0", Vendor: "1af4", Device: "1000", Class: "020000", Driver: "virtio-pci", SubVend: "1af4", SubDev: "0001", Revision: "00"},
	}
	for _, want := range tests {
		if got := byAddr[want.Address]; got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	checkStrings(t, devs)
	if _, err := ReadPCI(fstest.MapFS{}); err == nil {
		t.Error("no error without sys/bus/pci/devices")
	}
}
