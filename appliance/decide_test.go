package appliance

import (
	"strings"
	"testing"

	"github.com/outpostdc/outpost/boot"
)

func TestDecide(t *testing.T) {
	bios := boot.Firmware{Arch: boot.ArchBIOS, PXE: true, IPXE: true}
	efi := boot.Firmware{Arch: boot.ArchEFIx64, PXE: true, IPXE: true}
	arm := boot.Firmware{Arch: boot.ArchEFIARM64, PXE: true, IPXE: true}
	both := BootPolicy{Arches: []boot.Arch{boot.ArchBIOS, boot.ArchEFIx64}}
	m := func(s State, reason string) *Machine { return &Machine{Serial: "SN1", State: s, StateReason: reason} }
	for _, tc := range []struct {
		name   string
		m      *Machine
		fw     boot.Firmware
		p      BootPolicy
		mode   BootMode
		reason string
	}{
		{"unknown machine gets recon", nil, bios, both, BootRecon, "unknown machine"},
		{"unknown UEFI machine gets recon", nil, efi, both, BootRecon, "unknown machine"},
		{"discovered gets recon", m(StateDiscovered, ""), bios, both, BootRecon, "not yet ingested"},
		{"ready waits", m(StateReady, ""), bios, both, BootWait, "ready: wait"},
		{"allocated waits", m(StateAllocated, ""), efi, both, BootWait, "allocated: wait"},
		{"ready powers off when configured", m(StateReady, ""), bios, BootPolicy{ReadyPowerOff: true, Arches: both.Arches}, BootPowerOff, "power off"},
		{"installing runs the installer", m(StateInstalling, ""), bios, both, BootInstall, "installer"},
		{"recycling runs the wiper", m(StateRecycling, ""), efi, both, BootWipe, "wiper"},
		{"deployed boots local disk", m(StateDeployed, ""), bios, both, BootLocal, "local disk"},
		{"deployed boots local disk on any firmware", m(StateDeployed, ""), arm, both, BootLocal, "local disk"},
		{"broken boots locally by default", m(StateBroken, "disk died"), bios, both, BootLocal, "disk died"},
		{"broken halts when configured", m(StateBroken, "disk died"), bios, BootPolicy{HaltBroken: true, Arches: both.Arches}, BootHalt, "disk died"},
		{"frozen boots locally by default", m(StateFrozen, "audit"), bios, both, BootLocal, "audit"},
		{"frozen halts when configured", m(StateFrozen, "audit"), bios, BootPolicy{HaltFrozen: true, Arches: both.Arches}, BootHalt, "audit"},
		{"unknown arm64 without an image halts", nil, arm, both, BootHalt, "no image for uefi-arm64"},
		{"ready arm64 without an image boots locally", m(StateReady, ""), arm, both, BootLocal, "no image"},
		{"installing arm64 without an image halts", m(StateInstalling, ""), arm, both, BootHalt, "no image"},
		{"arm64 with an image", nil, arm, BootPolicy{Arches: []boot.Arch{boot.ArchEFIARM64}}, BootRecon, "unknown"},
		{"unknown state halts", m("weird", ""), bios, both, BootHalt, "unknown state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.m, tc.fw, tc.p)
			if d.Mode != tc.mode || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("Decide = %+v, want mode %s with reason containing %q", d, tc.mode, tc.reason)
			}
			if (d.Mode == BootHalt || tc.m != nil && (tc.m.State == StateBroken || tc.m.State == StateFrozen)) && d.Message == "" {
				t.Fatalf("a machine that is stopped or broken must be told why: %+v", d)
			}
		})
	}
}

func TestIdentityKey(t *testing.T) {
	for _, tc := range []struct {
		serial, uuid, chassis, want string
		ok                          bool
	}{
		{"SN123", "6f9619ff-8b86-d011-b42d-00c04fc964ff", "C1", "SN123", true},
		{" SN123 ", "", "", "SN123", true},
		{"To Be Filled By O.E.M.", "6F9619FF-8B86-D011-B42D-00C04FC964FF", "C1", "uuid:6f9619ff-8b86-d011-b42d-00c04fc964ff", true},
		{"0123456789", "00000000-0000-0000-0000-000000000000", "CH-77", "chassis:CH-77", true},
		{"", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "Chassis Serial Number", "", false},
		{"Default string", "03000200-0400-0500-0006-000700080009", "0000000", "", false},
		{"System Serial Number", "", "XXXXXXXX", "", false},
		{"NA", "", "", "", false},
	} {
		got, ok := IdentityKey(tc.serial, tc.uuid, tc.chassis)
		if got != tc.want || ok != tc.ok {
			t.Errorf("IdentityKey(%q, %q, %q) = %q, %v; want %q, %v", tc.serial, tc.uuid, tc.chassis, got, ok, tc.want, tc.ok)
		}
	}
}
