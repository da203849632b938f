package appliance

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/outpostdc/outpost/recon"
)

// Report limits: anything larger is not a real machine.
const (
	MaxReportBytes = 1 << 20
	maxNICs        = 128
	maxDisks       = 512
	maxPCI         = 2048
	maxDIMMs       = 256
	maxField       = 256
)

// ValidateReport checks a hardware report before anything is stored.
func ValidateReport(r recon.Report) error {
	if r.Version != recon.ReportVersion {
		return Errorf(CodeInvalid, "report version %d is not supported (want %d)", r.Version, recon.ReportVersion)
	}
	if _, err := net.ParseMAC(r.BootMAC); err != nil {
		return Errorf(CodeInvalid, "boot_mac %q is not a MAC address", r.BootMAC)
	}
	switch {
	case len(r.NICs) > maxNICs:
		return Errorf(CodeInvalid, "%d NICs is over the limit of %d", len(r.NICs), maxNICs)
	case len(r.Disks) > maxDisks:
		return Errorf(CodeInvalid, "%d disks is over the limit of %d", len(r.Disks), maxDisks)
	case len(r.PCI) > maxPCI:
		return Errorf(CodeInvalid, "%d PCI devices is over the limit of %d", len(r.PCI), maxPCI)
	case len(r.Memory.DIMMs) > maxDIMMs:
		return Errorf(CodeInvalid, "%d DIMMs is over the limit of %d", len(r.Memory.DIMMs), maxDIMMs)
	}
	for name, v := range map[string]string{
		"system.serial": r.System.Serial, "system.uuid": r.System.UUID, "system.chassis_serial": r.System.ChassisSerial,
		"system.manufacturer": r.System.Manufacturer, "system.product": r.System.Product, "cpu.model": r.CPU.Model,
	} {
		if len(v) > maxField {
			return Errorf(CodeInvalid, "%s is longer than %d bytes", name, maxField)
		}
	}
	for i, n := range r.NICs {
		if _, err := net.ParseMAC(n.MAC); err != nil {
			return Errorf(CodeInvalid, "nics[%d].mac %q is not a MAC address", i, n.MAC)
		}
	}
	if r.CPU.Cores < 0 || r.CPU.Threads < 0 || r.CPU.Sockets < 0 {
		return Errorf(CodeInvalid, "negative CPU counts")
	}
	if _, ok := IdentityKey(r.System.Serial, r.System.UUID, r.System.ChassisSerial); !ok {
		return Errorf(CodeInvalid, "no usable identity: system serial %q, UUID %q and chassis serial %q are all missing or placeholders",
			r.System.Serial, r.System.UUID, r.System.ChassisSerial)
	}
	return nil
}

// ReportMACs returns every MAC a report names, boot MAC first, normalised.
func ReportMACs(r recon.Report) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		hw, err := net.ParseMAC(s)
		if err != nil || len(hw) != 6 || seen[hw.String()] {
			return
		}
		seen[hw.String()] = true
		out = append(out, hw.String())
	}
	add(r.BootMAC)
	for _, n := range r.NICs {
		add(n.MAC)
	}
	return out
}

// HardwareChanges lists what differs between two reports of one machine,
// for the audit log: a replaced disk, added memory, a new NIC.
func HardwareChanges(old, cur recon.Report) []string {
	var ch []string
	diff := func(what, a, b string) {
		if a != b {
			ch = append(ch, fmt.Sprintf("%s: %q -> %q", what, a, b))
		}
	}
	diff("system serial", old.System.Serial, cur.System.Serial)
	diff("product", old.System.Product, cur.System.Product)
	diff("BIOS version", old.System.BIOSVersion, cur.System.BIOSVersion)
	diff("CPU model", old.CPU.Model, cur.CPU.Model)
	diff("CPU", fmt.Sprintf("%d sockets, %d cores, %d threads", old.CPU.Sockets, old.CPU.Cores, old.CPU.Threads),
		fmt.Sprintf("%d sockets, %d cores, %d threads", cur.CPU.Sockets, cur.CPU.Cores, cur.CPU.Threads))
	diff("memory", bytesText(old.Memory.TotalBytes), bytesText(cur.Memory.TotalBytes))
	diffSets(&ch, "disk", diskKeys(old), diskKeys(cur))
	diffSets(&ch, "NIC", nicKeys(old), nicKeys(cur))
	diffSets(&ch, "DIMM", dimmKeys(old), dimmKeys(cur))
	var ob, cb recon.BMC
	if old.BMC != nil {
		ob = *old.BMC
	}
	if cur.BMC != nil {
		cb = *cur.BMC
	}
	diff("BMC address", ob.IP, cb.IP)
	diff("BMC firmware", ob.Firmware, cb.Firmware)
	return ch
}

func diffSets(ch *[]string, what string, a, b map[string]bool) {
	var gone, added []string
	for k := range a {
		if !b[k] {
			gone = append(gone, k)
		}
	}
	for k := range b {
		if !a[k] {
			added = append(added, k)
		}
	}
	sort.Strings(gone)
	sort.Strings(added)
	for _, k := range gone {
		*ch = append(*ch, what+" removed: "+k)
	}
	for _, k := range added {
		*ch = append(*ch, what+" added: "+k)
	}
}

func diskKeys(r recon.Report) map[string]bool {
	m := map[string]bool{}
	for _, d := range r.Disks {
		id := d.Serial
		if id == "" {
			id = d.WWN
		}
		m[strings.TrimSpace(fmt.Sprintf("%s %s %s serial %s", d.Name, d.Type, bytesText(d.SizeBytes), id))] = true
	}
	return m
}

func nicKeys(r recon.Report) map[string]bool {
	m := map[string]bool{}
	for _, n := range r.NICs {
		m[fmt.Sprintf("%s %s", n.Name, strings.ToLower(n.MAC))] = true
	}
	return m
}

func dimmKeys(r recon.Report) map[string]bool {
	m := map[string]bool{}
	for _, d := range r.Memory.DIMMs {
		m[fmt.Sprintf("%s %s serial %s", d.Slot, bytesText(d.SizeBytes), d.Serial)] = true
	}
	return m
}

func bytesText(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}

// AgentAction is what the recon agent is told to do next.
type AgentAction string

// Agent actions.
const (
	AgentWait     AgentAction = "wait"     // heartbeat and ask again
	AgentPowerOff AgentAction = "poweroff" // nothing to do; power off
	AgentReboot   AgentAction = "reboot"   // the boot decision changed; netboot again
	AgentJob      AgentAction = "job"      // run the job that comes with it
)

// NextAgentAction decides what an agent running on m does next, when no
// job is waiting for it. mode is the mode it was booted in.
func NextAgentAction(m Machine, mode BootMode, p BootPolicy) (AgentAction, string) {
	switch m.State {
	case StateReady, StateAllocated:
		if p.ReadyPowerOff || mode == BootPowerOff {
			return AgentPowerOff, string(m.State) + ": power off until a job comes"
		}
		return AgentWait, string(m.State) + ": wait for a job"
	case StateInstalling, StateRecycling:
		return AgentWait, string(m.State) + ": waiting for the job to be handed out"
	case StateDeployed:
		return AgentReboot, "deployed: boot the local disk"
	case StateBroken, StateFrozen:
		return AgentPowerOff, fmt.Sprintf("%s: %s", m.State, m.StateReason)
	}
	return AgentWait, string(m.State)
}
