package dhcp

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/outpostdc/outpost/boot"
)

// Subnet is one IPv4 network Outpost hands addresses out on.
type Subnet struct {
	Prefix netip.Prefix
	// PoolStart and PoolEnd bound the dynamic pool, inclusive.
	// Reservations may lie outside it but must be inside Prefix.
	PoolStart, PoolEnd netip.Addr
	Router             netip.Addr   // optional
	DNS                []netip.Addr // optional
	Domain             string       // optional
}

// Contains reports whether a lies in the subnet.
func (s Subnet) Contains(a netip.Addr) bool { return s.Prefix.Contains(a) }

// InPool reports whether a lies in the dynamic pool.
func (s Subnet) InPool(a netip.Addr) bool {
	return a.Compare(s.PoolStart) >= 0 && a.Compare(s.PoolEnd) <= 0
}

// BootFiles says what each kind of firmware is sent.
type BootFiles struct {
	// TFTPServer is next-server; it defaults to the server identifier.
	TFTPServer netip.Addr
	BIOS       string // "undionly.kpxe"
	EFIx64     string // "ipxe.efi" or "snponly.efi"
	EFIARM64   string // optional
	// HTTPBase is the URL prefix of the HTTP boot service, e.g.
	// "http://10.0.0.1". The iPXE script lives at HTTPBase+"/boot.ipxe"
	// and UEFI HTTP clients fetch HTTPBase+"/tftp/"+file.
	HTTPBase string
}

// Config is the DHCP service's configuration.
type Config struct {
	// ServerID is the address sent as option 54 and used as next-server.
	ServerID netip.Addr
	Subnets  []Subnet
	// LeaseTime is how long a bound lease lasts.
	LeaseTime time.Duration
	// OfferHold is how long an offered address stays reserved for the
	// client it was offered to.
	OfferHold time.Duration
	// DeclineHold keeps a declined address out of the pool this long.
	DeclineHold time.Duration
	// Proxy makes this a ProxyDHCP server: it answers PXE clients only,
	// with boot options and no addresses.
	Proxy bool
	// ChainIPXEROMs sends iPXE clients that did not come from Outpost's
	// own iPXE binary (NIC option ROMs) that binary first, so every
	// machine runs one known iPXE build. See chainState.
	ChainIPXEROMs bool
	Boot          BootFiles
}

// Validate checks c and fills in defaults.
func (c *Config) Validate() error {
	if !c.ServerID.Is4() {
		return errors.New("dhcp: server_id must be an IPv4 address")
	}
	if c.LeaseTime <= 0 {
		c.LeaseTime = time.Hour
	}
	if c.OfferHold <= 0 {
		c.OfferHold = 30 * time.Second
	}
	if c.DeclineHold <= 0 {
		c.DeclineHold = 10 * time.Minute
	}
	if !c.Boot.TFTPServer.IsValid() {
		c.Boot.TFTPServer = c.ServerID
	}
	if c.Boot.HTTPBase == "" {
		return errors.New("dhcp: boot.http_base is required")
	}
	if c.Proxy {
		return nil
	}
	if len(c.Subnets) == 0 {
		return errors.New("dhcp: at least one subnet is required unless proxy mode is on")
	}
	for i, s := range c.Subnets {
		if !s.Prefix.Addr().Is4() {
			return fmt.Errorf("dhcp: subnets[%d].prefix %s is not IPv4", i, s.Prefix)
		}
		if !s.Prefix.Contains(s.PoolStart) || !s.Prefix.Contains(s.PoolEnd) {
			return fmt.Errorf("dhcp: subnets[%d] pool %s-%s is not inside %s", i, s.PoolStart, s.PoolEnd, s.Prefix)
		}
		if s.PoolEnd.Less(s.PoolStart) {
			return fmt.Errorf("dhcp: subnets[%d] pool end %s is before start %s", i, s.PoolEnd, s.PoolStart)
		}
		if s.Router.IsValid() && !s.Prefix.Contains(s.Router) {
			return fmt.Errorf("dhcp: subnets[%d].router %s is not inside %s", i, s.Router, s.Prefix)
		}
		for j, o := range c.Subnets[:i] {
			if o.Prefix.Overlaps(s.Prefix) {
				return fmt.Errorf("dhcp: subnets[%d] %s overlaps subnets[%d] %s", i, s.Prefix, j, o.Prefix)
			}
		}
	}
	return nil
}

// Choice is the boot file a client is sent.
type Choice struct {
	File string
	// HTTP means File is a URL and the reply must carry option 60
	// "HTTPClient" (UEFI HTTP boot) or be fetched by iPXE over HTTP.
	HTTP bool
}

// Choose picks the boot file for fw. ok is false when Outpost has nothing
// for that firmware, in which case the client gets an address but no boot.
func (b BootFiles) Choose(fw boot.Firmware) (c Choice, ok bool) {
	if fw.IPXE {
		return Choice{File: b.HTTPBase + "/boot.ipxe", HTTP: true}, true
	}
	var file string
	switch fw.Arch {
	case boot.ArchBIOS:
		file = b.BIOS
	case boot.ArchEFIx64, boot.ArchEFIBC, boot.ArchEFIx64HTTP:
		file = b.EFIx64
	case boot.ArchEFIARM64, boot.ArchEFIARM64HTTP:
		file = b.EFIARM64
	}
	if file == "" {
		return Choice{}, false
	}
	if fw.HTTP {
		return Choice{File: b.HTTPBase + "/tftp/" + file, HTTP: true}, true
	}
	return Choice{File: file}, true
}
