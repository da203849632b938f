package appliance

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/outpostdc/outpost/recon"
)

func baseReport() recon.Report {
	return recon.Report{Version: recon.ReportVersion, BootMAC: "52:54:00:00:00:01",
		System: recon.System{Serial: "SN1", Product: "R640"},
		CPU:    recon.CPU{Sockets: 1, Cores: 4, Threads: 8, Model: "Xeon"}, Memory: recon.Memory{TotalBytes: 8 << 30},
		Disks: []recon.Disk{{Name: "sda", Type: recon.DiskSSD, SizeBytes: 480e9, Serial: "S1"}},
		NICs:  []recon.NIC{{Name: "eth0", MAC: "52:54:00:00:00:01"}, {Name: "eth1", MAC: "52:54:00:00:00:02"}},
		BMC:   &recon.BMC{IP: "10.0.0.9", Firmware: "1.0"}}
}

func TestHardwareChanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*recon.Report)
		want []string
	}{
		{"nothing", func(*recon.Report) {}, nil},
		{"disk replaced", func(r *recon.Report) { r.Disks[0].Serial = "S2" },
			[]string{"disk removed: sda ssd 480.0 GB serial S1", "disk added: sda ssd 480.0 GB serial S2"}},
		{"memory added", func(r *recon.Report) { r.Memory.TotalBytes = 16 << 30 }, []string{`memory: "8 GiB" -> "16 GiB"`}},
		{"NIC added", func(r *recon.Report) { r.NICs = append(r.NICs, recon.NIC{Name: "eth2", MAC: "52:54:00:00:00:03"}) },
			[]string{"NIC added: eth2 52:54:00:00:00:03"}},
		{"BMC moved", func(r *recon.Report) { r.BMC.IP = "10.0.0.10" }, []string{`BMC address: "10.0.0.9" -> "10.0.0.10"`}},
		{"BMC gone", func(r *recon.Report) { r.BMC = nil }, []string{`BMC address: "10.0.0.9" -> ""`, `BMC firmware: "1.0" -> ""`}},
	} {
		cur := baseReport()
		cur.Disks = append([]recon.Disk(nil), cur.Disks...)
		tc.mod(&cur)
		got := HardwareChanges(baseReport(), cur)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestNextAgentAction(t *testing.T) {
	for _, tc := range []struct {
		state State
		mode  BootMode
		p     BootPolicy
		want  AgentAction
	}{
		{StateReady, BootRecon, BootPolicy{}, AgentWait},
		{StateReady, BootRecon, BootPolicy{ReadyPowerOff: true}, AgentPowerOff},
		{StateReady, BootPowerOff, BootPolicy{}, AgentPowerOff},
		{StateAllocated, BootWait, BootPolicy{}, AgentWait},
		{StateInstalling, BootInstall, BootPolicy{}, AgentWait},
		{StateDeployed, BootWait, BootPolicy{}, AgentReboot},
		{StateBroken, BootWait, BootPolicy{}, AgentPowerOff},
		{StateFrozen, BootWait, BootPolicy{}, AgentPowerOff},
	} {
		if got, why := NextAgentAction(Machine{State: tc.state}, tc.mode, tc.p); got != tc.want || why == "" {
			t.Errorf("%s/%s: %s (%q), want %s", tc.state, tc.mode, got, why, tc.want)
		}
	}
}

// FuzzReport runs untrusted report bodies through what outpostd does
// before storing one: decoding, validation, identity and class.
func FuzzReport(f *testing.F) {
	b, _ := json.Marshal(baseReport())
	f.Add(b)
	f.Add([]byte(`{"version":1,"boot_mac":"52:54:00:00:00:01","system":{"serial":"To Be Filled By O.E.M.","uuid":"03000200-0400-0500-0006-000700080009"}}`))
	f.Add([]byte(`{"version":1,"boot_mac":"zz","nics":[{"mac":"x"}],"cpu":{"cores":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r recon.Report
		if json.Unmarshal(b, &r) != nil {
			return
		}
		if err := ValidateReport(r); err != nil {
			if ErrorCode(err) != CodeInvalid {
				t.Fatalf("validation error without the invalid code: %v", err)
			}
			return
		}
		if len(ReportMACs(r)) == 0 {
			t.Fatal("valid report without a MAC")
		}
		if _, ok := IdentityKey(r.System.Serial, r.System.UUID, r.System.ChassisSerial); !ok {
			t.Fatal("valid report without an identity")
		}
		if recon.Class(r) == "" {
			t.Fatal("empty class")
		}
		HardwareChanges(baseReport(), r)
	})
}
