// Package boot holds the types the network boot services share and the
// small interfaces through which they ask the inventory what to do.
// Nothing here knows about SQL or the machine lifecycle.
package boot

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Arch is a client system architecture, as sent in DHCP option 93 (RFC 4578,
// IANA "Processor Architecture Types").
type Arch uint16

// Architectures Outpost distinguishes.
const (
	ArchBIOS         Arch = 0
	ArchEFIIA32      Arch = 6
	ArchEFIx64       Arch = 7
	ArchEFIBC        Arch = 9 // EFI byte code; in practice x64 firmware
	ArchEFIARM64     Arch = 11
	ArchEFIx64HTTP   Arch = 16
	ArchEFIARM64HTTP Arch = 19
)

// Firmware is what Outpost learned about a booting client's firmware.
type Firmware struct {
	Arch Arch
	// PXE is set when the client identified itself as a PXE client
	// (option 60 "PXEClient" or "HTTPClient", or option 93 present).
	PXE bool
	// HTTP is set for UEFI HTTP boot clients ("HTTPClient").
	HTTP bool
	// IPXE is set when iPXE is already running (option 77 or 175).
	IPXE bool
}

// EFI reports whether the firmware is UEFI.
func (f Firmware) EFI() bool { return f.Arch != ArchBIOS }

// String names the firmware the way operators talk about it.
func (f Firmware) String() string {
	var s string
	switch f.Arch {
	case ArchBIOS:
		s = "bios"
	case ArchEFIx64, ArchEFIBC:
		s = "uefi-x64"
	case ArchEFIx64HTTP:
		s = "uefi-x64-http"
	case ArchEFIARM64:
		s = "uefi-arm64"
	case ArchEFIARM64HTTP:
		s = "uefi-arm64-http"
	case ArchEFIIA32:
		s = "uefi-ia32"
	default:
		s = "arch-" + strconv.Itoa(int(f.Arch))
	}
	if f.IPXE {
		s += "+ipxe"
	}
	return s
}

// Client is a machine asking to boot, as the boot services see it.
type Client struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Firmware Firmware
	// UUID and Serial are what iPXE reports from SMBIOS, if anything.
	UUID   string
	Serial string
	// Platform is iPXE's ${platform}: "pcbios" or "efi".
	Platform string
}

// Action is what a booting machine is told to do.
type Action string

// Actions a Decision can carry.
const (
	// ActionLinux boots a kernel and initrds over HTTP.
	ActionLinux Action = "linux"
	// ActionLocal leaves the network boot and boots the local disk.
	ActionLocal Action = "local"
	// ActionHalt prints the message and stops.
	ActionHalt Action = "halt"
)

// Decision is what one boot request is answered with.
type Decision struct {
	Action  Action
	Kernel  string   // URL, for ActionLinux
	Initrds []string // URLs, for ActionLinux
	Cmdline string   // for ActionLinux
	// Message is printed on the machine's console before anything else.
	Message string
	// Reason says why, for the timeline. It is not sent to the client.
	Reason string
}

// Host is what the inventory holds for one MAC address.
type Host struct {
	// IP is the reserved address, if any.
	IP       netip.Addr
	Hostname string
}

// Booter is what the boot services ask of the inventory. Implementations
// must be safe for concurrent use.
type Booter interface {
	// Host returns the reservation for mac. ok is false when there is none.
	Host(ctx context.Context, mac net.HardwareAddr) (h Host, ok bool, err error)
	// Boot decides what a client running iPXE boots.
	Boot(ctx context.Context, c Client) (Decision, error)
}

// EventKind names a step in a machine's boot.
type EventKind string

// Boot steps recorded in the timeline.
const (
	EventDHCP EventKind = "dhcp"
	EventTFTP EventKind = "tftp"
	EventHTTP EventKind = "http"
)

// Event is one boot step, for the per-MAC timeline.
type Event struct {
	Time time.Time
	Kind EventKind
	// MAC may be empty when only the IP is known (TFTP, file downloads);
	// the recorder resolves it from the lease table.
	MAC net.HardwareAddr
	IP  netip.Addr
	// Summary is one line, e.g. "DISCOVER -> OFFER 10.0.0.5 undionly.kpxe".
	Summary string
	// Detail holds structured facts (firmware, file, bytes, decision).
	Detail map[string]any
}

// Recorder takes boot events. Record must not block the protocol path.
type Recorder interface {
	Record(Event)
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(Event)

// Record calls f.
func (f RecorderFunc) Record(e Event) { f(e) }
