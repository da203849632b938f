package host

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"

	"github.com/outpostdc/outpost/appliance/config"
)

// Iface is one of the box's interfaces as configured.
type Iface struct {
	Role  string   `json:"role"` // management or provisioning
	Name  string   `json:"name"`
	MAC   string   `json:"mac"`
	Via   string   `json:"via"` // static or dhcp
	Addrs []string `json:"addrs"`
	// Renew is when a DHCP lease should be renewed; zero for static.
	Renew time.Time `json:"renew,omitzero"`
}

// FindLink finds a configured link by name or MAC, waiting up to wait for
// drivers still probing.
func FindLink(l config.Link, wait time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(wait)
	for {
		if link, err := findLink(l); err == nil || time.Now().After(deadline) {
			return link, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func findLink(l config.Link) (netlink.Link, error) {
	if l.Interface != "" {
		return netlink.LinkByName(l.Interface)
	}
	want, err := net.ParseMAC(l.MAC)
	if err != nil {
		return nil, err
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	for _, k := range links {
		if k.Attrs().HardwareAddr.String() == want.String() {
			return k, nil
		}
	}
	return nil, fmt.Errorf("no interface has MAC %s", want)
}

// ConfigureLink brings a link up as the configuration says: a static
// address, gateway and DNS servers, or DHCP. Addresses the link had
// before that the configuration does not name are removed.
func ConfigureLink(ctx context.Context, role string, l config.Link, resolvConf string, out io.Writer) (Iface, error) {
	link, err := FindLink(l, 30*time.Second)
	if err != nil {
		return Iface{Role: role}, fmt.Errorf("%s interface: %w", role, err)
	}
	name := link.Attrs().Name
	ifc := Iface{Role: role, Name: name, MAC: link.Attrs().HardwareAddr.String(), Via: "static"}
	if err := netlink.LinkSetUp(link); err != nil {
		return ifc, fmt.Errorf("%s: up: %w", name, err)
	}
	if l.DHCP {
		return dhcpLink(ctx, ifc, link, out)
	}
	addr, err := netlink.ParseAddr(l.Address)
	if err != nil {
		return ifc, err
	}
	if err := flushOther(link, addr); err != nil {
		return ifc, err
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return ifc, fmt.Errorf("%s: address %s: %w", name, l.Address, err)
	}
	if l.Gateway != "" {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(l.Gateway)}
		if err := netlink.RouteReplace(r); err != nil {
			return ifc, fmt.Errorf("%s: default route via %s: %w", name, l.Gateway, err)
		}
	}
	if len(l.DNS) > 0 {
		var b strings.Builder
		for _, d := range l.DNS {
			fmt.Fprintf(&b, "nameserver %s\n", d)
		}
		if err := os.WriteFile(resolvConf, []byte(b.String()), 0o644); err != nil {
			return ifc, err
		}
	}
	ifc.Addrs = []string{l.Address}
	return ifc, nil
}

func flushOther(link netlink.Link, keep *netlink.Addr) error {
	have, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return err
	}
	for _, a := range have {
		if a.IPNet.String() != keep.IPNet.String() {
			if err := netlink.AddrDel(link, &a); err != nil {
				return fmt.Errorf("%s: removing %s: %w", link.Attrs().Name, a.IPNet, err)
			}
		}
	}
	return nil
}

func dhcpLink(ctx context.Context, ifc Iface, link netlink.Link, out io.Writer) (Iface, error) {
	ifc.Via = "dhcp"
	cfg := dhclient.Config{Timeout: 5 * time.Second, Retries: 3}
	for r := range dhclient.SendRequests(ctx, []netlink.Link{link}, true, false, cfg, 30*time.Second) {
		if r.Err != nil {
			return ifc, fmt.Errorf("DHCP on %s: %w", ifc.Name, r.Err)
		}
		if err := r.Lease.Configure(); err != nil {
			return ifc, fmt.Errorf("configuring %s: %w", ifc.Name, err)
		}
		lease := 12 * time.Hour
		if p, ok := r.Lease.(*dhclient.Packet4); ok {
			lease = p.P.IPAddressLeaseTime(lease)
			ifc.Addrs = []string{p.Lease().String()}
		}
		ifc.Renew = time.Now().Add(lease / 2)
		fmt.Fprintf(out, "outpost: %s: %s by DHCP, renewing in %s\n", ifc.Name, strings.Join(ifc.Addrs, " "), lease/2)
		return ifc, nil
	}
	return ifc, fmt.Errorf("DHCP on %s: no answer", ifc.Name)
}
