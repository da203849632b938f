package recon

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// lldpFrame is an LLDP frame as a switch port sends it, written out from
// IEEE 802.1AB-2016 clause 8 byte by byte.
func lldpFrame() []byte {
	return cat(
		[]byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}, // nearest-bridge group address
		[]byte{0x00, 0x1b, 0x21, 0xaa, 0xbb, 0x8c}, // port MAC
		[]byte{0x88, 0xcc},                         // EtherType
		// Chassis ID: type 1, length 7, subtype 4 (MAC address).
		[]byte{0x02, 0x07, 0x04, 0x00, 0x1b, 0x21, 0xaa, 0xbb, 0x00},
		// Port ID: type 2, length 13, subtype 5 (interface name).
		[]byte{0x04, 0x0d, 0x05}, []byte("Ethernet1/12"),
		// TTL: type 3, length 2, 120 s.
		[]byte{0x06, 0x02, 0x00, 0x78},
		// Port description: type 4, length 14.
		[]byte{0x08, 0x0e}, []byte("to-srv-r12-u07"),
		// System name: type 5, length 14.
		[]byte{0x0a, 0x0e}, []byte("leaf-r12-a.dc1"),
		// System description: type 6, length 21.
		[]byte{0x0c, 0x15}, []byte("Arista Networks EOS  "),
		// System capabilities: type 7, bridge and router.
		[]byte{0x0e, 0x04, 0x00, 0x14, 0x00, 0x14},
		// Management address: type 8, IPv4 10.0.0.1, ifIndex 1.
		[]byte{0x10, 0x0c, 0x05, 0x01, 0x0a, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00},
		// Organizationally specific: IEEE 802.1 port VLAN ID 1.
		[]byte{0xfe, 0x06, 0x00, 0x80, 0xc2, 0x01, 0x00, 0x01},
		// End of LLDPDU.
		[]byte{0x00, 0x00},
	)
}

func TestParseLLDPFrame(t *testing.T) {
	want := LLDP{
		ChassisID:  "00:1b:21:aa:bb:00",
		PortID:     "Ethernet1/12",
		PortDesc:   "to-srv-r12-u07",
		SystemName: "leaf-r12-a.dc1",
		TTLSeconds: 120,
	}
	frame := lldpFrame()
	got, err := ParseLLDPFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}

	// The same LLDPDU behind an 802.1Q tag, and padded as on the wire.
	tagged := cat(frame[:12], []byte{0x81, 0x00, 0x00, 0x64}, frame[12:], make([]byte, 8))
	if got, err := ParseLLDPFrame(tagged); err != nil || got != want {
		t.Errorf("tagged: got %+v, %v", got, err)
	}

	for name, f := range map[string][]byte{
		"short":          frame[:10],
		"IPv4 ethertype": cat(frame[:12], []byte{0x08, 0x00}, frame[14:]),
		"short tag":      cat(frame[:12], []byte{0x81, 0x00, 0x00}),
	} {
		if _, err := ParseLLDPFrame(f); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseLLDPDUIDs(t *testing.T) {
	mandatory := func(chassis, port []byte) []byte {
		return cat(tlv(1, chassis...), tlv(2, port...), tlv(3, 0, 30), tlv(0))
	}
	tests := []struct {
		name              string
		chassis, port     []byte
		wantChassis, want string
	}{
		{"MAC and interface name", cat([]byte{4}, []byte{0xde, 0xad, 0xbe, 0xef, 0, 1}), cat([]byte{5}, []byte("swp1")), "de:ad:be:ef:00:01", "swp1"},
		{"port MAC subtype", cat([]byte{7}, []byte("chassis-1")), cat([]byte{3}, []byte{0, 1, 2, 3, 4, 5}), "chassis-1", "00:01:02:03:04:05"},
		{"IPv4 network address", cat([]byte{5, 1}, []byte{192, 0, 2, 7}), cat([]byte{4, 1}, []byte{192, 0, 2, 8}), "192.0.2.7", "192.0.2.8"},
		{"IPv6 network address", cat([]byte{5, 2}, []byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}), cat([]byte{7}, []byte("1")), "2001:db8::1", "1"},
		{"bad MAC length: hex", cat([]byte{4}, []byte{1, 2, 3}), cat([]byte{1}, []byte("Gi0/1")), "01:02:03", "Gi0/1"},
		{"binary component: hex", cat([]byte{1}, []byte{0x00, 0xff, 0x10}), cat([]byte{2}, []byte{0x80, 0x01}), "00:ff:10", "80:01"},
		{"locally assigned text", cat([]byte{7}, []byte("  sw-1  ")), cat([]byte{7}, []byte("p\u00f6rt")), "sw-1", "p\u00f6rt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLLDPDU(mandatory(tt.chassis, tt.port))
			if err != nil {
				t.Fatal(err)
			}
			if got.ChassisID != tt.wantChassis || got.PortID != tt.want || got.TTLSeconds != 30 {
				t.Errorf("got %+v, want chassis %q port %q", got, tt.wantChassis, tt.want)
			}
		})
	}
}

func TestParseLLDPDUErrors(t *testing.T) {
	chassis := tlv(1, 4, 0, 1, 2, 3, 4, 5)
	port := tlv(2, 5, 'e', 't', 'h', '0')
	ttl := tlv(3, 0, 120)
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"empty", nil, "empty"},
		{"only end", tlv(0), "type 0"},
		{"port first", cat(port, chassis, ttl), "type 2"},
		{"no TTL", cat(chassis, port, tlv(5, 'x')), "type 5"},
		{"truncated header", cat(chassis, port, ttl, []byte{0x0a}), "truncated"},
		{"length overruns", cat(chassis, port, ttl, []byte{0x0a, 0x20, 'x'}), "overruns"},
		{"empty chassis ID", cat(tlv(1, 4), port, ttl), "chassis ID length"},
		{"short TTL", cat(chassis, port, tlv(3, 1)), "TTL length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLLDPDU(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
	// No End TLV, and data after End, are both accepted.
	if l, err := ParseLLDPDU(cat(chassis, port, ttl)); err != nil || l.PortID != "eth0" {
		t.Errorf("without End: %+v, %v", l, err)
	}
	if l, err := ParseLLDPDU(cat(chassis, port, ttl, tlv(0), []byte{0xff})); err != nil || l.TTLSeconds != 120 {
		t.Errorf("junk after End: %+v, %v", l, err)
	}
}

func TestListenLLDPErrors(t *testing.T) {
	// No such interface: fails at once, whatever the privileges.
	_, err := ListenLLDP(context.Background(), "no-such-if0", time.Second)
	if err == nil {
		t.Fatal("no error for a missing interface")
	}
	if errors.Is(err, ErrLLDPTimeout) {
		t.Errorf("err = %v, want no timeout", err)
	}
}

func FuzzParseLLDPDU(f *testing.F) {
	frame := lldpFrame()
	f.Add(frame[14:])
	f.Add(cat(tlv(1, 5, 2, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), tlv(2, 3, 1, 2, 3, 4, 5, 6), tlv(3, 0xff, 0xff)))
	f.Add(cat(tlv(1, 7, 0xff, 0xfe), tlv(2, 7, 0), tlv(3, 0, 0), tlv(127, 0, 0x12, 0x0f, 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		l, err := ParseLLDPDU(b)
		if !bytes.Equal(in, b) {
			t.Fatal("input modified")
		}
		if err != nil {
			if l != (LLDP{}) {
				t.Errorf("partial result %+v with error %v", l, err)
			}
			return
		}
		checkStrings(t, l)
		if l.TTLSeconds < 0 || l.TTLSeconds > 65535 {
			t.Errorf("TTL %d", l.TTLSeconds)
		}
		if l.ChassisID == "" && l.PortID == "" {
			t.Error("neighbour without chassis or port ID")
		}
		// The same bytes as a frame parse the same.
		fl, ferr := ParseLLDPFrame(cat(frame[:14], b))
		if ferr != nil || fl != l {
			t.Errorf("as a frame: %+v, %v; as LLDPDU: %+v", fl, ferr, l)
		}
	})
}
