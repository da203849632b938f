package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/cmd/internal/lab"
	"github.com/outpostdc/outpost/recon"
)

const reconConfig = `
dhcp:
  router_advertisements: true
  subnets:
    - {prefix: 10.71.0.0/24, pool: 10.71.0.100-10.71.0.199, router: 10.71.0.1}
boot:
  cmdline: console=ttyS0,115200 panic=-1
  # Machines report and power off, so each boot of the test ends by itself.
  ready_action: poweroff
`

type machineResp struct {
	ID         int64  `json:"id"`
	Serial     string `json:"serial"`
	State      string `json:"state"`
	Class      string `json:"hw_class"`
	Interfaces []struct {
		MAC string `json:"mac"`
	} `json:"interfaces"`
	Hardware recon.Report `json:"hardware"`
}

func (s *site) machines(t testing.TB) []machineResp {
	t.Helper()
	var r struct {
		Machines []machineResp `json:"machines"`
	}
	s.api(t, "/api/v1/machines", &r)
	return r.Machines
}

// TestReconIngest boots a VM that nobody has seen into the recon image and
// checks it lands in the inventory with exactly its hardware; then boots it
// again, and from its other NIC, and checks it is still one machine.
func TestReconIngest(t *testing.T) {
	s := newSite(t, "10.71.0.1/24", reconConfig)
	s.net.AddBridge(t, "br1")
	const serial, mac1, mac2 = "OUT-TCG-0001", "52:54:00:71:00:01", "52:54:00:71:00:02"
	disk := filepath.Join(t.TempDir(), "disk.raw")
	const diskSize = 2 << 30
	if err := os.Truncate(createFile(t, disk), diskSize); err != nil {
		t.Fatal(err)
	}
	tap1, tap2 := s.net.AddTap(t), s.net.AddTapOn(t, "br1")
	vm := &lab.VM{Name: "recon", Firmware: lab.BIOS, MACs: []string{mac1, mac2}, Taps: []string{tap1, tap2},
		NS: s.net.NS, MemMB: 1024, CPUs: 2, Serial: serial, UUID: "a3c1c2a4-7b0e-4e2b-9a57-7f9a3e2b1c01",
		Disks: []string{disk}, IPMI: true}

	boot := func(name string) *lab.Proc {
		t.Helper()
		start := time.Now()
		p := vm.Start(t)
		p.WaitOutput(t, lab.BootTimeout, "recon: ingested as machine")
		t.Logf("%s: power-on to ingested in %.1fs", name, time.Since(start).Seconds())
		lab.WaitFor(t, 2*time.Minute, name+": VM powers off", p.Exited)
		return p
	}

	p := boot("first boot")
	ms := s.machines(t)
	if len(ms) != 1 {
		t.Fatalf("%d machines after one boot", len(ms))
	}
	var m machineResp
	s.api(t, "/api/v1/machines/"+itoa(ms[0].ID), &m)
	hw := m.Hardware
	var macs []string
	for _, i := range m.Interfaces {
		macs = append(macs, i.MAC)
	}
	if m.Serial != serial || m.State != "ready" || strings.Join(macs, ",") != mac1+","+mac2 {
		t.Fatalf("machine %s state %s MACs %v\nconsole:\n%s", m.Serial, m.State, macs, p.Out.String())
	}
	if len(hw.Disks) != 1 || hw.Disks[0].SizeBytes != diskSize {
		t.Errorf("disks %+v, want one of %d bytes", hw.Disks, diskSize)
	}
	if hw.Memory.TotalBytes != 1024<<20 {
		t.Errorf("memory %d bytes, want %d", hw.Memory.TotalBytes, 1024<<20)
	}
	if hw.CPU.Threads != 2 {
		t.Errorf("CPU threads %d, want 2", hw.CPU.Threads)
	}
	if hw.BMC == nil || hw.BMC.IPMIVersion == "" {
		t.Errorf("BMC not read over KCS: %+v (errors %v)", hw.BMC, hw.Errors)
	}
	if !strings.Contains(m.Class, "-1g-") && !strings.HasSuffix(m.Class, "-1g") {
		t.Errorf("class %q does not show 1 GiB", m.Class)
	}
	t.Logf("ingested %s: class %s, errors %v", m.Serial, m.Class, hw.Errors)

	boot("second boot")
	if ms := s.machines(t); len(ms) != 1 || ms[0].ID != m.ID {
		t.Fatalf("second boot: %+v", ms)
	}
	var audit struct {
		Audit []struct {
			Action string `json:"action"`
		} `json:"audit"`
	}
	s.api(t, "/api/v1/machines/"+itoa(m.ID)+"/audit", &audit)
	var actions []string
	for _, a := range audit.Audit {
		actions = append(actions, a.Action)
	}
	if !strings.Contains(strings.Join(actions, ","), "reingest") {
		t.Fatalf("second boot did not update the record: audit %v", actions)
	}

	// Move the cables: the second NIC is now on the boot network.
	s.net.Move(t, tap1, "br1")
	s.net.Move(t, tap2, s.net.Bridge)
	vm.BootNIC = 1
	boot("boot from the other NIC")
	ms = s.machines(t)
	if len(ms) != 1 || ms[0].ID != m.ID {
		t.Fatalf("booting from the other NIC made %d machines: %+v", len(ms), ms)
	}
	tl := s.macTimeline(t, mac2)
	if !strings.Contains(tl, "script: linux") {
		t.Fatalf("second NIC's timeline lacks its boot:\n%s", tl)
	}
}

func createFile(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
