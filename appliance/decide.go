package appliance

import (
	"fmt"

	"github.com/outpostdc/outpost/boot"
)

// BootMode is what a booting machine is sent to do.
type BootMode string

// Boot modes. The recon image runs the first five; the cmdline carries
// the mode.
const (
	BootRecon    BootMode = "recon"    // report hardware, then ask what next
	BootWait     BootMode = "wait"     // report, then heartbeat until a job comes
	BootPowerOff BootMode = "poweroff" // report, then power off
	BootInstall  BootMode = "install"  // write an OS image
	BootWipe     BootMode = "wipe"     // wipe the disks
	BootLocal    BootMode = "local"    // boot the local disk
	BootHalt     BootMode = "halt"     // print why, then stop
)

// NetbootsImage reports whether the mode boots the recon image.
func (m BootMode) NetbootsImage() bool {
	switch m {
	case BootRecon, BootWait, BootPowerOff, BootInstall, BootWipe:
		return true
	}
	return false
}

// BootPolicy is the site's configuration the decision depends on.
type BootPolicy struct {
	// ReadyPowerOff powers ready and allocated machines off instead of
	// holding them in wait mode.
	ReadyPowerOff bool
	// HaltBroken and HaltFrozen stop such machines instead of letting
	// them boot their local disk.
	HaltBroken bool
	HaltFrozen bool
	// Arches lists the architectures the recon image exists for.
	Arches []boot.Arch
}

// Decision is the boot decision: what a machine boots, and why.
type Decision struct {
	Mode   BootMode
	Reason string
	// Message is printed on the machine's console.
	Message string
}

// Decide is the boot decision: a pure function of the machine's record
// (nil when the MAC is unknown) and the firmware it is booting with.
func Decide(m *Machine, fw boot.Firmware, p BootPolicy) Decision {
	d := decideState(m, p)
	if d.Mode.NetbootsImage() && !p.supports(fw.Arch) {
		fallback := BootLocal
		if m == nil || m.State == StateInstalling || m.State == StateRecycling {
			fallback = BootHalt
		}
		return Decision{
			Mode:    fallback,
			Reason:  fmt.Sprintf("%s wanted, but no image for %s firmware", d.Mode, fw),
			Message: fmt.Sprintf("Outpost has no boot image for %s firmware", fw),
		}
	}
	return d
}

func decideState(m *Machine, p BootPolicy) Decision {
	if m == nil {
		return Decision{Mode: BootRecon, Reason: "unknown machine: recon to ingest it"}
	}
	switch m.State {
	case StateDiscovered:
		return Decision{Mode: BootRecon, Reason: "discovered, not yet ingested: recon"}
	case StateReady, StateAllocated:
		if p.ReadyPowerOff {
			return Decision{Mode: BootPowerOff, Reason: string(m.State) + ": power off until a job"}
		}
		return Decision{Mode: BootWait, Reason: string(m.State) + ": wait in recon for a job"}
	case StateInstalling:
		return Decision{Mode: BootInstall, Reason: "installing: run the installer"}
	case StateRecycling:
		return Decision{Mode: BootWipe, Reason: "recycling: run the wiper"}
	case StateDeployed:
		return Decision{Mode: BootLocal, Reason: "deployed: boot the local disk"}
	case StateBroken, StateFrozen:
		why := m.StateReason
		if why == "" {
			why = "no reason recorded"
		}
		halt := p.HaltBroken
		if m.State == StateFrozen {
			halt = p.HaltFrozen
		}
		d := Decision{Mode: BootLocal, Message: fmt.Sprintf("machine %s is %s: %s", m.Serial, m.State, why)}
		if halt {
			d.Mode = BootHalt
		}
		d.Reason = fmt.Sprintf("%s (%s): %s", m.State, why, d.Mode)
		return d
	}
	return Decision{Mode: BootHalt, Reason: fmt.Sprintf("unknown state %q: halt", m.State),
		Message: fmt.Sprintf("machine is in unknown state %q", m.State)}
}

func (p BootPolicy) supports(a boot.Arch) bool {
	if a == boot.ArchEFIBC || a == boot.ArchEFIx64HTTP {
		a = boot.ArchEFIx64
	}
	if a == boot.ArchEFIARM64HTTP {
		a = boot.ArchEFIARM64
	}
	for _, x := range p.Arches {
		if x == a {
			return true
		}
	}
	return false
}
