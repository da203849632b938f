// Package agent is the recon image's main loop: it reads its orders from
// the kernel command line, reports the machine's hardware to outpostd,
// then asks what to do next until told to power off, reboot or run a job.
package agent

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Params are the agent's orders, from the kernel command line.
type Params struct {
	URL       string // outpost.url
	Token     string // outpost.token, one-time
	Mode      string // outpost.mode: recon, wait, poweroff, install, wipe
	MAC       string // outpost.mac: the NIC the machine booted from
	MachineID int64  // outpost.machine, when known
	// LLDPWait is how long the first report waits for a switch to speak.
	LLDPWait time.Duration // outpost.lldp_wait
	// Debug keeps the agent from powering the machine off or rebooting
	// on a fatal error, so that the console stays readable.
	Debug bool // outpost.debug
}

// Modes the recon image runs in.
func validMode(m string) bool {
	switch m {
	case "recon", "wait", "poweroff", "install", "wipe":
		return true
	}
	return false
}

// maxCmdline bounds what is parsed; Linux limits the command line to a
// few KiB on every architecture.
const maxCmdline = 16 << 10

// ParseCmdline reads Params from /proc/cmdline's contents.
func ParseCmdline(s string) (Params, error) {
	p := Params{LLDPWait: 3 * time.Second}
	if len(s) > maxCmdline {
		return p, fmt.Errorf("command line is %d bytes, over %d", len(s), maxCmdline)
	}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "outpost.url":
			p.URL = v
		case "outpost.token":
			p.Token = v
		case "outpost.mode":
			p.Mode = v
		case "outpost.mac":
			p.MAC = v
		case "outpost.machine":
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil || id <= 0 {
				return p, fmt.Errorf("outpost.machine=%q is not a machine ID", v)
			}
			p.MachineID = id
		case "outpost.lldp_wait":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > 5*time.Minute {
				return p, fmt.Errorf("outpost.lldp_wait=%q is not a duration up to 5m", v)
			}
			p.LLDPWait = d
		case "outpost.debug":
			p.Debug = v == "" || v == "1" || v == "true"
		}
	}
	u, err := url.Parse(p.URL)
	switch {
	case p.URL == "":
		return p, fmt.Errorf("outpost.url is missing")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return p, fmt.Errorf("outpost.url=%q is not an http(s) URL", p.URL)
	case p.Token == "":
		return p, fmt.Errorf("outpost.token is missing")
	case !validMode(p.Mode):
		return p, fmt.Errorf("outpost.mode=%q is not recon, wait, poweroff, install or wipe", p.Mode)
	}
	hw, err := net.ParseMAC(p.MAC)
	if err != nil || len(hw) != 6 {
		return p, fmt.Errorf("outpost.mac=%q is not a MAC address", p.MAC)
	}
	p.MAC = hw.String()
	p.URL = strings.TrimRight(p.URL, "/")
	return p, nil
}
