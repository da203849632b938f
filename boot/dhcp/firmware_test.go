package dhcp

import (
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/outpostdc/outpost/boot"
)

func opts(kv ...any) dhcpv4.Options {
	o := dhcpv4.Options{}
	for i := 0; i < len(kv); i += 2 {
		o[uint8(kv[i].(int))] = []byte(kv[i+1].(string))
	}
	return o
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    dhcpv4.Options
		want boot.Firmware
	}{
		{"plain client", opts(), boot.Firmware{}},
		{"iPXE ROM (BIOS)", opts(93, "\x00\x00", 60, "PXEClient:Arch:00000:UNDI:002001", 77, "iPXE", 175, "\xb1\x05\x01\x80\x86\x10\x0e"),
			boot.Firmware{Arch: boot.ArchBIOS, PXE: true, IPXE: true}},
		{"BIOS PXE", opts(93, "\x00\x00", 60, "PXEClient:Arch:00000:UNDI:002001"),
			boot.Firmware{Arch: boot.ArchBIOS, PXE: true}},
		{"EDK2 x64", opts(93, "\x00\x07", 60, "PXEClient:Arch:00007:UNDI:003000"),
			boot.Firmware{Arch: boot.ArchEFIx64, PXE: true}},
		{"EFI BC", opts(93, "\x00\x09", 60, "PXEClient:Arch:00009:UNDI:003016"),
			boot.Firmware{Arch: boot.ArchEFIBC, PXE: true}},
		{"arch only in option 60", opts(60, "PXEClient:Arch:00007:UNDI:003000"),
			boot.Firmware{Arch: boot.ArchEFIx64, PXE: true}},
		{"UEFI HTTP x64", opts(93, "\x00\x10", 60, "HTTPClient:Arch:00016:UNDI:003001"),
			boot.Firmware{Arch: boot.ArchEFIx64HTTP, PXE: true, HTTP: true}},
		{"UEFI HTTP arm64", opts(93, "\x00\x13", 60, "HTTPClient:Arch:00019:UNDI:003001"),
			boot.Firmware{Arch: boot.ArchEFIARM64HTTP, PXE: true, HTTP: true}},
		{"arm64 PXE", opts(93, "\x00\x0b", 60, "PXEClient:Arch:00011:UNDI:003000"),
			boot.Firmware{Arch: boot.ArchEFIARM64, PXE: true}},
		{"iPXE EFI, RFC 3004 user class", opts(93, "\x00\x07", 60, "PXEClient:Arch:00007:UNDI:003010", 77, "\x04iPXE"),
			boot.Firmware{Arch: boot.ArchEFIx64, PXE: true, IPXE: true}},
		{"RFC 3004 user class with two entries", opts(77, "\x03abc\x04iPXE"), boot.Firmware{IPXE: true}},
		{"option 175 alone marks iPXE", opts(175, "\x13\x01\x01"), boot.Firmware{IPXE: true}},
		{"other user class", opts(77, "gPXE"), boot.Firmware{}},
		{"truncated RFC 3004 entry", opts(77, "\x09iPXE"), boot.Firmware{}},
		{"short option 93 ignored", opts(93, "\x07"), boot.Firmware{}},
		{"bad arch digits in option 60", opts(60, "PXEClient:Arch:0x007:UNDI"), boot.Firmware{PXE: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Detect(&dhcpv4.DHCPv4{Options: tc.o})
			if got != tc.want {
				t.Errorf("Detect = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	b := BootFiles{BIOS: "undionly.kpxe", EFIx64: "ipxe.efi", HTTPBase: "http://10.0.0.1"}
	arm := b
	arm.EFIARM64 = "ipxe-arm64.efi"
	for _, tc := range []struct {
		name string
		b    BootFiles
		fw   boot.Firmware
		want Choice
		ok   bool
	}{
		{"BIOS", b, boot.Firmware{Arch: boot.ArchBIOS, PXE: true}, Choice{File: "undionly.kpxe"}, true},
		{"EFI x64", b, boot.Firmware{Arch: boot.ArchEFIx64, PXE: true}, Choice{File: "ipxe.efi"}, true},
		{"EFI BC", b, boot.Firmware{Arch: boot.ArchEFIBC, PXE: true}, Choice{File: "ipxe.efi"}, true},
		{"UEFI HTTP", b, boot.Firmware{Arch: boot.ArchEFIx64HTTP, PXE: true, HTTP: true},
			Choice{File: "http://10.0.0.1/tftp/ipxe.efi", HTTP: true}, true},
		{"arm64 without a binary", b, boot.Firmware{Arch: boot.ArchEFIARM64, PXE: true}, Choice{}, false},
		{"arm64 with one", arm, boot.Firmware{Arch: boot.ArchEFIARM64, PXE: true}, Choice{File: "ipxe-arm64.efi"}, true},
		{"arm64 HTTP", arm, boot.Firmware{Arch: boot.ArchEFIARM64HTTP, PXE: true, HTTP: true},
			Choice{File: "http://10.0.0.1/tftp/ipxe-arm64.efi", HTTP: true}, true},
		{"iPXE breaks the loop", b, boot.Firmware{Arch: boot.ArchBIOS, PXE: true, IPXE: true},
			Choice{File: "http://10.0.0.1/boot.ipxe", HTTP: true}, true},
		{"IA32 EFI unsupported", b, boot.Firmware{Arch: boot.ArchEFIIA32, PXE: true}, Choice{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.b.Choose(tc.fw)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Choose = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
