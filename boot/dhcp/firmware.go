package dhcp

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/outpostdc/outpost/boot"
)

// optIPXEEncap is iPXE's encapsulated option space (175). Clients running
// iPXE send it; servers send sub-option 176 (no-pxedhcp) back.
const optIPXEEncap = 175

// Detect reads the client's firmware from options 93, 60, 77 and 175.
func Detect(m *dhcpv4.DHCPv4) boot.Firmware {
	var fw boot.Firmware
	haveArch := false
	if v := m.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(v) >= 2 {
		fw.Arch = boot.Arch(uint16(v[0])<<8 | uint16(v[1]))
		haveArch = true
		fw.PXE = true
	}
	class := string(m.Options.Get(dhcpv4.OptionClassIdentifier))
	switch {
	case strings.HasPrefix(class, "PXEClient"):
		fw.PXE = true
	case strings.HasPrefix(class, "HTTPClient"):
		fw.PXE = true
		fw.HTTP = true
	}
	// Option 60 carries the arch too: "PXEClient:Arch:00007:UNDI:003000".
	if !haveArch && fw.PXE {
		if i := strings.Index(class, ":Arch:"); i >= 0 && len(class) >= i+11 {
			if n, err := strconv.ParseUint(class[i+6:i+11], 10, 16); err == nil {
				fw.Arch = boot.Arch(n)
			}
		}
	}
	if fw.Arch == boot.ArchEFIx64HTTP || fw.Arch == boot.ArchEFIARM64HTTP {
		fw.HTTP = true
	}
	fw.IPXE = isIPXEUserClass(m.Options.Get(dhcpv4.OptionUserClassInformation)) ||
		m.Options.Has(dhcpv4.GenericOptionCode(optIPXEEncap))
	return fw
}

// isIPXEUserClass matches option 77 both as iPXE sends it (the raw string)
// and in RFC 3004 form (length-prefixed entries).
func isIPXEUserClass(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	if bytes.Equal(v, []byte("iPXE")) {
		return true
	}
	for len(v) > 0 {
		n := int(v[0])
		if n == 0 || 1+n > len(v) {
			return false
		}
		if bytes.Equal(v[1:1+n], []byte("iPXE")) {
			return true
		}
		v = v[1+n:]
	}
	return false
}
