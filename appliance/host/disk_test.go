package host

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// image makes a 64 MiB file and runs prepare on it, with real tools.
func image(t *testing.T, prepare ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 64<<20); err != nil {
		t.Fatal(err)
	}
	if len(prepare) > 0 {
		if _, err := exec.LookPath(prepare[0]); err != nil {
			t.Fatalf("%s: %v (scripts/deps.sh test installs it)", prepare[0], err)
		}
		out, err := exec.Command(prepare[0], append(prepare[1:], p)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", prepare, err, out)
		}
	}
	return p
}

func inspectFile(t *testing.T, p string) Disk {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	d, err := Inspect(p, f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func poke(t *testing.T, p string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestInspect(t *testing.T) {
	blank := image(t)
	if d := inspectFile(t, blank); !d.Blank || d.Holds != "" {
		t.Fatalf("blank: %+v", d)
	}
	data := image(t, "mkfs.ext4", "-q", "-L", DataLabel)
	if d := inspectFile(t, data); d.Blank || d.FSType != "ext4" || d.Label != DataLabel {
		t.Fatalf("data disk: %+v", d)
	}
	for _, c := range []struct {
		name  string
		path  string
		holds string
	}{
		{"ext4 with a foreign label", image(t, "mkfs.ext4", "-q", "-L", "scratch"), `labelled "scratch"`},
		{"ext2 without a label", image(t, "mkfs.ext2", "-q"), "with no label"},
		{"swap", image(t, "mkswap"), "swap"},
		{"one byte near the end", func() string { p := image(t); poke(t, p, 64<<20-4096, []byte{1}); return p }(), "near its end"},
		{"one byte at 1 MiB", func() string { p := image(t); poke(t, p, 1<<20, []byte{7}); return p }(), "offset 1048576"},
		{"MBR", func() string { p := image(t); poke(t, p, 510, []byte{0x55, 0xAA}); return p }(), "MBR"},
		{"GPT", func() string { p := image(t); poke(t, p, 512, []byte("EFI PART")); return p }(), "GPT"},
	} {
		d := inspectFile(t, c.path)
		if d.Blank || !strings.Contains(d.Holds, c.holds) {
			t.Errorf("%s: %+v, want it to hold %q", c.name, d, c.holds)
		}
	}
	// A device smaller than the regions read is still judged.
	small := filepath.Join(t.TempDir(), "small")
	os.WriteFile(small, make([]byte, 4096), 0o644)
	if d := inspectFile(t, small); !d.Blank {
		t.Fatalf("small blank: %+v", d)
	}
}

func TestPlanData(t *testing.T) {
	data := Disk{Path: "/dev/vdb", FSType: "ext4", Label: DataLabel, Holds: "x"}
	blank := Disk{Path: "/dev/vdc", Blank: true}
	foreign := Disk{Path: "/dev/vdd", FSType: "ext4", Label: "scratch", Holds: `an ext2/3/4 filesystem labelled "scratch"`}
	part := Disk{Path: "/dev/sda", Holds: "a GPT partition table"}
	for _, c := range []struct {
		name   string
		disks  []Disk
		optIn  string
		action PlanAction
		disk   string
		why    string
	}{
		{"data disk found", []Disk{blank, data}, "", Mount, "/dev/vdb", "data partition /dev/vdb"},
		{"data disk found, opt-in for another ignored", []Disk{blank, data}, "/dev/vdc", Mount, "/dev/vdb", "ignored"},
		{"data disk named by the opt-in is mounted, not formatted", []Disk{data}, "/dev/vdb", Mount, "/dev/vdb", "data partition"},
		{"nothing, no opt-in", []Disk{blank}, "", None, "", "outpost.format=/dev/DISK"},
		{"blank disk opted in", []Disk{foreign, blank}, "/dev/vdc", Format, "/dev/vdc", "formatting blank disk /dev/vdc"},
		{"foreign filesystem opted in", []Disk{foreign, blank}, "/dev/vdd", None, "/dev/vdd", `not formatting /dev/vdd: it holds an ext2/3/4 filesystem labelled "scratch"`},
		{"partitioned disk opted in", []Disk{part}, "/dev/sda", None, "/dev/sda", "GPT partition table"},
		{"opt-in names no disk", []Disk{blank}, "/dev/nope", None, "", "no such disk"},
		{"two data disks", []Disk{data, {Path: "/dev/vde", FSType: "ext4", Label: DataLabel}}, "", None, "", "2 filesystems are labelled"},
	} {
		p := PlanData(c.disks, c.optIn)
		if p.Action != c.action || p.Disk.Path != c.disk || !strings.Contains(p.Why, c.why) {
			t.Errorf("%s: got %s %q (%s), want %s %q (%s)", c.name, p.Action, p.Disk.Path, p.Why, c.action, c.disk, c.why)
		}
	}
}

func FuzzInspect(f *testing.F) {
	f.Add(make([]byte, 2048), int64(0))
	f.Add([]byte("EFI PART"), int64(512))
	f.Fuzz(func(t *testing.T, b []byte, off int64) {
		// Every byte must lie in the regions Inspect reads.
		if off < 0 || off+int64(len(b)) > 3<<20 {
			return
		}
		buf := make([]byte, int(off)+len(b))
		copy(buf[off:], b)
		d, err := Inspect("fuzz", strings.NewReader(string(buf)), int64(len(buf)))
		if err != nil {
			t.Fatal(err)
		}
		allZero := !strings.ContainsFunc(string(buf), func(r rune) bool { return r != 0 })
		if d.Blank != allZero {
			t.Fatalf("blank %v for a buffer that is all zero: %v (%s)", d.Blank, allZero, d.Holds)
		}
	})
}
