package recon

import (
	"fmt"
	"io/fs"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
)

// ReadNICs lists the physical network interfaces in sys/class/net of fsys
// (rooted at "/"): those with a device link, which virtual interfaces
// (lo, bridges, bonds, VLANs) lack. Booted marks the one whose MAC is
// bootMAC.
func ReadNICs(fsys fs.FS, bootMAC string) ([]NIC, error) {
	names, err := readDirNames(fsys, "sys/class/net")
	if err != nil {
		return nil, fmt.Errorf("nics: %w", err)
	}
	sort.Strings(names)
	boot := normalMAC(bootMAC)
	var nics []NIC
	for _, name := range names {
		dir := path.Join("sys/class/net", name)
		if !exists(fsys, path.Join(dir, "device")) {
			continue
		}
		n := NIC{
			Name:   clean(name),
			MAC:    normalMAC(attr(fsys, path.Join(dir, "address"))),
			Driver: linkBase(fsys, path.Join(dir, "device/driver")),
			PCI:    pciOf(fsys, path.Join(dir, "device")),
			// Reading carrier fails on an interface that is down: no link.
			Link: attr(fsys, path.Join(dir, "carrier")) == "1",
		}
		if s, err := strconv.Atoi(attr(fsys, path.Join(dir, "speed"))); err == nil && s > 0 && s < 10_000_000 {
			n.SpeedMbps = s
		}
		n.Booted = boot != "" && n.MAC == boot
		nics = append(nics, n)
	}
	return nics, nil
}

// pciOf finds the PCI function a device hangs off, walking up its sysfs
// path: a virtio NIC is virtioN below the PCI function.
func pciOf(fsys fs.FS, dev string) string {
	p, err := resolve(fsys, dev)
	if err != nil {
		return ""
	}
	for ; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		if b := path.Base(p); isPCIAddr(b) {
			return b
		}
	}
	return ""
}

// isPCIAddr tells whether s is a PCI function address, domain included,
// like 0000:3b:00.1.
func isPCIAddr(s string) bool {
	dom, rest, ok := strings.Cut(s, ":")
	if !ok || len(dom) < 4 || len(dom) > 8 || !isHex(dom) {
		return false
	}
	bus, rest, ok := strings.Cut(rest, ":")
	if !ok || len(bus) != 2 || !isHex(bus) {
		return false
	}
	dev, fn, ok := strings.Cut(rest, ".")
	return ok && len(dev) == 2 && isHex(dev) && len(fn) == 1 && fn[0] >= '0' && fn[0] <= '7'
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// normalMAC lowercases a MAC address into aa:bb:cc:dd:ee:ff form; text
// that is no MAC address is returned cleaned but otherwise unchanged.
func normalMAC(s string) string {
	s = clean(s)
	if hw, err := net.ParseMAC(s); err == nil {
		return hw.String()
	}
	return strings.ToLower(s)
}

// ReadPCI lists the PCI functions in sys/bus/pci/devices of fsys (rooted
// at "/"), sorted by address.
func ReadPCI(fsys fs.FS) ([]PCIDev, error) {
	names, err := readDirNames(fsys, "sys/bus/pci/devices")
	if err != nil {
		return nil, fmt.Errorf("pci: %w", err)
	}
	sort.Strings(names)
	devs := make([]PCIDev, 0, len(names))
	for _, name := range names {
		dir := path.Join("sys/bus/pci/devices", name)
		hex := func(f string) string {
			s := strings.ToLower(attr(fsys, path.Join(dir, f)))
			return strings.TrimPrefix(s, "0x")
		}
		d := PCIDev{
			Address:  clean(name),
			Vendor:   hex("vendor"),
			Device:   hex("device"),
			Class:    hex("class"),
			SubVend:  hex("subsystem_vendor"),
			SubDev:   hex("subsystem_device"),
			Revision: hex("revision"),
			Driver:   linkBase(fsys, path.Join(dir, "driver")),
		}
		if d.Vendor == "" && d.Device == "" {
			continue // not a PCI function directory
		}
		devs = append(devs, d)
	}
	return devs, nil
}
