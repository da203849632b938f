package recon

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseCPUInfoDumps(t *testing.T) {
	tests := []struct {
		file string
		want CPU
	}{
		{"testdata/cpuinfo/xeon-gold-6130-2s.txt", CPU{Sockets: 2, Model: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", Cores: 32, Threads: 64}},
		{"testdata/cpuinfo/qemu-vm-1s.txt", CPU{Sockets: 1, Model: "Intel Xeon Processor (Cascadelake)", Cores: 4, Threads: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ParseCPUInfo(f)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCPUInfoCases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    CPU
		wantErr bool
	}{
		{
			name: "no physical id: one socket, cores from threads",
			in:   "processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\n\nprocessor\t: 1\nmodel name\t: QEMU Virtual CPU version 2.5+\n",
			want: CPU{Sockets: 1, Model: "QEMU Virtual CPU version 2.5+", Cores: 2, Threads: 2},
		},
		{
			name: "cpu cores without core id",
			in: "processor: 0\nphysical id: 0\ncpu cores: 2\n\nprocessor: 1\nphysical id: 0\ncpu cores: 2\n\n" +
				"processor: 2\nphysical id: 1\ncpu cores: 2\n\nprocessor: 3\nphysical id: 1\ncpu cores: 2\n",
			want: CPU{Sockets: 2, Cores: 4, Threads: 4},
		},
		{
			name: "hyperthreads share core ids",
			in: "processor: 0\nphysical id: 0\ncore id: 0\n\nprocessor: 1\nphysical id: 0\ncore id: 1\n\n" +
				"processor: 2\nphysical id: 0\ncore id: 0\n\nprocessor: 3\nphysical id: 0\ncore id: 1\n",
			want: CPU{Sockets: 1, Cores: 2, Threads: 4},
		},
		{
			name: "no blank lines between entries",
			in:   "processor: 0\nphysical id: 0\ncore id: 0\nprocessor: 1\nphysical id: 1\ncore id: 0\n",
			want: CPU{Sockets: 2, Cores: 2, Threads: 2},
		},
		{
			name: "lying cpu cores capped by threads",
			in:   "processor: 0\ncpu cores: 999\n",
			want: CPU{Sockets: 1, Cores: 1, Threads: 1},
		},
		{
			name: "control characters in model",
			in:   "processor: 0\nmodel name: \x00Evil\x1b[2J CPU  \n",
			want: CPU{Sockets: 1, Model: "Evil[2J CPU", Cores: 1, Threads: 1},
		},
		{name: "empty", in: "", wantErr: true},
		{name: "no processor lines", in: "model name: x\nflags: fpu\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCPUInfo(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCPUInfoBounded(t *testing.T) {
	big := strings.Repeat("processor: 0\n\n", maxProcFile/14+1)
	if _, err := ParseCPUInfo(strings.NewReader(big)); err == nil {
		t.Error("no error for a cpuinfo over the limit")
	}
	if _, err := ParseCPUInfo(iotest.ErrReader(os.ErrPermission)); err == nil {
		t.Error("no error for a failing reader")
	}
}

func TestParseMeminfo(t *testing.T) {
	f, err := os.Open("testdata/meminfo/server.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseMeminfo(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(263783420) * 1024; got != want {
		t.Errorf("got %d, want %d", got, want)
	}

	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{"kB", "MemTotal:        4025144 kB\nMemFree: 1 kB\n", 4025144 * 1024, false},
		{"no unit", "MemTotal: 1000\n", 1000, false},
		{"first MemTotal wins", "MemTotal: 1 kB\nMemTotal: 2 kB\n", 1024, false},
		{"missing", "MemFree: 1 kB\n", 0, true},
		{"not a number", "MemTotal: lots kB\n", 0, true},
		{"negative", "MemTotal: -5 kB\n", 0, true},
		{"odd unit", "MemTotal: 5 MB\n", 0, true},
		{"overflow", "MemTotal: 18446744073709551615 kB\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMeminfo(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestTotalMemory(t *testing.T) {
	const memTotal = 251 << 30
	tests := []struct {
		name  string
		dimms []DIMM
		want  uint64
	}{
		{"no DIMMs: MemTotal", nil, memTotal},
		{"DIMMs summed", []DIMM{{SizeBytes: 128 << 30}, {SizeBytes: 128 << 30}}, 256 << 30},
		{"a DIMM of unknown size: MemTotal", []DIMM{{SizeBytes: 128 << 30}, {}}, memTotal},
		{"overflow: MemTotal", []DIMM{{SizeBytes: 1 << 63}, {SizeBytes: 1 << 63}}, memTotal},
	}
	for _, tt := range tests {
		if got := TotalMemory(tt.dimms, memTotal); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func FuzzParseCPUInfo(f *testing.F) {
	for _, name := range []string{"testdata/cpuinfo/qemu-vm-1s.txt", "testdata/cpuinfo/xeon-gold-6130-2s.txt"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("processor: 0\nphysical id: 0\ncore id: 0\ncpu cores: 1\nmodel name: \xff\x00x\n"))
	f.Add([]byte("processor\n:\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cpu, err := ParseCPUInfo(bytes.NewReader(b))
		if err != nil {
			if cpu != (CPU{}) {
				t.Errorf("partial result %+v with error %v", cpu, err)
			}
			return
		}
		checkStrings(t, cpu)
		if cpu.Threads < 1 || cpu.Sockets < 1 || cpu.Cores < 1 || cpu.Cores > cpu.Threads || cpu.Sockets > cpu.Threads {
			t.Errorf("inconsistent %+v", cpu)
		}
		if n := bytes.Count(b, []byte("processor")); cpu.Threads > n {
			t.Errorf("%d threads from %d processor keys", cpu.Threads, n)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	b, err := os.ReadFile("testdata/meminfo/server.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("MemTotal: 1 kB"))
	f.Add([]byte("MemTotal:18014398509481983 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseMeminfo(bytes.NewReader(b))
		if err != nil && n != 0 {
			t.Errorf("value %d with error %v", n, err)
		}
		if err == nil && !bytes.Contains(b, []byte("MemTotal")) {
			t.Errorf("value %d without MemTotal", n)
		}
	})
}
