package recon

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"unicode/utf8"
)

// EtherTypeLLDP is the EtherType of LLDP frames (IEEE 802.1AB).
const EtherTypeLLDP = 0x88cc

// LLDP TLV types used here (802.1AB-2016 clause 8.4).
const (
	tlvEnd        = 0
	tlvChassisID  = 1
	tlvPortID     = 2
	tlvTTL        = 3
	tlvPortDesc   = 4
	tlvSystemName = 5
)

// Subtypes whose value is binary rather than text.
const (
	chassisMAC  = 4
	chassisAddr = 5
	portMAC     = 3
	portAddr    = 4
)

// ParseLLDPFrame parses an Ethernet frame carrying an LLDPDU, with or
// without one 802.1Q tag.
func ParseLLDPFrame(frame []byte) (LLDP, error) {
	if len(frame) < 14 {
		return LLDP{}, errors.New("lldp: frame too short")
	}
	et := binary.BigEndian.Uint16(frame[12:])
	payload := frame[14:]
	if et == 0x8100 || et == 0x88a8 {
		if len(frame) < 18 {
			return LLDP{}, errors.New("lldp: tagged frame too short")
		}
		et = binary.BigEndian.Uint16(frame[16:])
		payload = frame[18:]
	}
	if et != EtherTypeLLDP {
		return LLDP{}, fmt.Errorf("lldp: ethertype %#04x", et)
	}
	return ParseLLDPDU(payload)
}

// ParseLLDPDU parses an LLDPDU (the Ethernet payload). The chassis ID,
// port ID and TTL TLVs must come first, in that order, as the standard
// says; optional TLVs after them are read up to the End TLV or the end
// of the data, and unknown ones are skipped.
func ParseLLDPDU(b []byte) (LLDP, error) {
	var l LLDP
	for i := 0; len(b) > 0; i++ {
		if len(b) < 2 {
			return LLDP{}, errors.New("lldp: truncated TLV header")
		}
		h := binary.BigEndian.Uint16(b)
		typ, n := int(h>>9), int(h&0x1ff)
		if len(b) < 2+n {
			return LLDP{}, fmt.Errorf("lldp: TLV type %d length %d overruns the frame", typ, n)
		}
		v := b[2 : 2+n]
		b = b[2+n:]
		if i < 3 && typ != i+1 {
			return LLDP{}, fmt.Errorf("lldp: TLV %d has type %d, want %d", i+1, typ, i+1)
		}
		switch typ {
		case tlvEnd:
			return l, nil
		case tlvChassisID:
			if n < 2 || n > 256 {
				return LLDP{}, fmt.Errorf("lldp: chassis ID length %d", n)
			}
			l.ChassisID = idString(v[0], v[1:], chassisMAC, chassisAddr)
		case tlvPortID:
			if n < 2 || n > 256 {
				return LLDP{}, fmt.Errorf("lldp: port ID length %d", n)
			}
			l.PortID = idString(v[0], v[1:], portMAC, portAddr)
		case tlvTTL:
			if n < 2 {
				return LLDP{}, fmt.Errorf("lldp: TTL length %d", n)
			}
			l.TTLSeconds = int(binary.BigEndian.Uint16(v))
		case tlvPortDesc:
			l.PortDesc = clean(string(v))
		case tlvSystemName:
			l.SystemName = clean(string(v))
		}
	}
	if l.ChassisID == "" && l.PortID == "" {
		return LLDP{}, errors.New("lldp: empty LLDPDU")
	}
	return l, nil // a missing End TLV is common enough to forgive
}

// idString renders a chassis or port ID by its subtype: MAC addresses
// as aa:bb:cc:dd:ee:ff, network addresses as IPs, text as text, and
// anything else in hex.
func idString(subtype byte, v []byte, macSub, addrSub byte) string {
	switch subtype {
	case macSub:
		if len(v) == 6 {
			return net.HardwareAddr(v).String()
		}
	case addrSub:
		// First byte is the IANA address family: 1 IPv4, 2 IPv6.
		if len(v) == 5 && v[0] == 1 || len(v) == 17 && v[0] == 2 {
			return net.IP(v[1:]).String()
		}
	}
	if s := string(v); utf8.ValidString(s) && clean(s) == strings.TrimSpace(s) && clean(s) != "" {
		return clean(s)
	}
	return colonHex(v)
}

// colonHex prints bytes as aa:bb:cc, bounded like any hardware string.
func colonHex(v []byte) string {
	if len(v) > maxString/3 {
		v = v[:maxString/3]
	}
	h := hex.EncodeToString(v)
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}
