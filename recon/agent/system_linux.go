package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// BringUp finds the NIC with mac, brings it up and configures it with
// DHCP. It returns the interface name.
func BringUp(ctx context.Context, mac string, console io.Writer) (string, error) {
	want, err := net.ParseMAC(mac)
	if err != nil {
		return "", err
	}
	var name string
	// Drivers may still be probing: wait for the NIC to appear.
	deadline := time.Now().Add(30 * time.Second)
	for name == "" {
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			if i.HardwareAddr.String() == want.String() {
				name = i.Name
			}
		}
		if name != "" {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no interface has MAC %s", want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(console, "recon: bringing up %s (%s)\n", name, want)
	link, err := dhclient.IfUp(name, 30*time.Second)
	if err != nil {
		return name, fmt.Errorf("%s: %w", name, err)
	}
	cfg := dhclient.Config{Timeout: 5 * time.Second, Retries: 5}
	for r := range dhclient.SendRequests(ctx, []netlink.Link{link}, true, false, cfg, 30*time.Second) {
		if r.Err != nil {
			return name, fmt.Errorf("DHCP on %s: %w", name, r.Err)
		}
		if err := r.Lease.Configure(); err != nil {
			return name, fmt.Errorf("configuring %s: %w", name, err)
		}
		fmt.Fprintf(console, "recon: %s configured by DHCP: %s\n", name, r.Lease)
		return name, nil
	}
	return name, fmt.Errorf("DHCP on %s: no answer", name)
}

// PowerOff syncs and powers the machine off.
func PowerOff() error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

// Reboot syncs and restarts the machine.
func Reboot() error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}
