package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Firmware selects how a VM boots.
type Firmware int

// Firmware kinds.
const (
	// BIOS is SeaBIOS with QEMU's iPXE ROM on an e1000.
	BIOS Firmware = iota
	// UEFI is OVMF with EDK2's own PXE client on virtio-net without a ROM.
	UEFI
)

// VM describes a QEMU guest on a test network.
type VM struct {
	Name     string
	Firmware Firmware
	MACs     []string // one NIC per MAC, the first boots
	Taps     []string // one tap per MAC
	NS       string   // the namespace holding the taps
	MemMB    int
	CPUs     int
	Serial   string // SMBIOS type 1 serial
	UUID     string
	Disks    []string // raw images, attached as virtio disks
	// BootNIC is the index of the NIC that network-boots.
	BootNIC int
	// IPMI adds QEMU's internal BMC on a KCS interface.
	IPMI bool
	// Kernel, Initrd and Append boot directly instead of from the network.
	Kernel, Initrd, Append string
	Extra                  []string
}

// Args builds the QEMU command line.
func (v *VM) Args(t testing.TB) []string {
	t.Helper()
	mem, cpus := v.MemMB, v.CPUs
	if mem == 0 {
		mem = 512
	}
	if cpus == 0 {
		cpus = 1
	}
	a := []string{"-accel", "tcg", "-cpu", "max", "-m", fmt.Sprint(mem), "-smp", fmt.Sprint(cpus),
		"-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot", "-name", v.Name}
	if v.Serial != "" || v.UUID != "" {
		s := "type=1,manufacturer=Outpost Lab,product=TCG-1"
		if v.Serial != "" {
			s += ",serial=" + v.Serial
		}
		if v.UUID != "" {
			s += ",uuid=" + v.UUID
		}
		a = append(a, "-smbios", s)
	}
	if v.Firmware == UEFI {
		vars := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
		b, err := os.ReadFile("/usr/share/OVMF/OVMF_VARS_4M.fd")
		if err != nil {
			t.Fatalf("OVMF: %v (scripts/deps.sh installs ovmf)", err)
		}
		os.WriteFile(vars, b, 0o644)
		a = append(a, "-drive", "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
			"-drive", "if=pflash,format=raw,file="+vars)
	}
	for i, mac := range v.MACs {
		id := fmt.Sprintf("n%d", i)
		a = append(a, "-netdev", fmt.Sprintf("tap,id=%s,ifname=%s,script=no,downscript=no", id, v.Taps[i]))
		dev := fmt.Sprintf("e1000,netdev=%s,mac=%s", id, mac)
		if v.Firmware == UEFI {
			dev = fmt.Sprintf("virtio-net-pci,netdev=%s,mac=%s,romfile=", id, mac)
		}
		if i == v.BootNIC && v.Kernel == "" {
			dev += ",bootindex=1"
		}
		a = append(a, "-device", dev)
	}
	for i, d := range v.Disks {
		a = append(a, "-drive", fmt.Sprintf("file=%s,format=raw,if=none,id=d%d", d, i),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=d%d,bootindex=%d", i, 10+i))
	}
	if v.IPMI {
		a = append(a, "-device", "ipmi-bmc-sim,id=bmc0", "-device", "isa-ipmi-kcs,bmc=bmc0")
	}
	if v.Kernel != "" {
		a = append(a, "-kernel", v.Kernel, "-append", v.Append)
		if v.Initrd != "" {
			a = append(a, "-initrd", v.Initrd)
		}
	}
	return append(a, v.Extra...)
}

// Start boots the VM inside its namespace and returns the process, whose
// output is the serial console.
func (v *VM) Start(t testing.TB) *Proc {
	t.Helper()
	p, _ := v.start(t, false)
	return p
}

// StartConsole boots the VM and also returns its serial console's input,
// for typing at the guest's shell.
func (v *VM) StartConsole(t testing.TB) (*Proc, io.WriteCloser) {
	t.Helper()
	return v.start(t, true)
}

func (v *VM) start(t testing.TB, input bool) (*Proc, io.WriteCloser) {
	t.Helper()
	RequireCmd(t, "qemu-system-x86_64")
	qa := v.Args(t)
	args := append([]string{"netns", "exec", v.NS, "qemu-system-x86_64"}, qa...)
	cmd := exec.CommandContext(context.Background(), "ip", args...)
	t.Logf("vm %s: qemu %s", v.Name, strings.Join(qa, " "))
	var in io.WriteCloser
	if input {
		var err error
		if in, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	return Start(t, "vm "+v.Name, cmd), in
}

// BootTimeout is how long a TCG guest may take to reach userland.
const BootTimeout = 4 * time.Minute
