// Package config is outpostd's configuration file: its schema, embedded
// defaults, and validation that names the bad key.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/policy"
	"github.com/outpostdc/outpost/boot"
	"github.com/outpostdc/outpost/boot/dhcp"
)

//go:embed defaults.yaml
var defaults []byte

// Config is the whole file.
type Config struct {
	Site    string `yaml:"site"`
	DataDir string `yaml:"data_dir"`
	// Interface is the provisioning interface. Empty means dev mode on
	// loopback.
	Interface string `yaml:"interface"`
	LogLevel  string `yaml:"log_level"`
	HTTP      HTTP   `yaml:"http"`
	DHCP      DHCP   `yaml:"dhcp"`
	TFTP      TFTP   `yaml:"tftp"`
	Boot      Boot   `yaml:"boot"`
	Agent     Agent  `yaml:"agent"`
	BMC       BMC    `yaml:"bmc"`
	Jobs      Jobs   `yaml:"jobs"`
	HQ        HQ     `yaml:"hq"`
	Host      Host   `yaml:"host"`
}

// Host is the OOB box's own network, which Outpost's init sets up on the
// appliance image before it starts outpostd; outpostd ignores it.
type Host struct {
	Hostname     string `yaml:"hostname"`
	Management   Link   `yaml:"management"`
	Provisioning Link   `yaml:"provisioning"`
}

// Link is one of the box's interfaces, named or found by MAC.
type Link struct {
	Interface string `yaml:"interface"`
	MAC       string `yaml:"mac"`
	// Address is static, in CIDR form; empty with DHCP.
	Address string   `yaml:"address"`
	DHCP    bool     `yaml:"dhcp"`
	Gateway string   `yaml:"gateway"`
	DNS     []string `yaml:"dns"`
}

// Set reports whether the link is configured at all.
func (l Link) Set() bool { return l.Interface != "" || l.MAC != "" }

func (l Link) validate(key string, static bool) error {
	switch {
	case l.Interface != "" && l.MAC != "":
		return keyError(key, "give interface or mac, not both")
	case !l.Set():
		return keyError(key, "needs an interface name or a mac")
	case l.MAC != "":
		if _, err := net.ParseMAC(l.MAC); err != nil {
			return keyError(key+".mac", "%v", err)
		}
	}
	if static && l.DHCP {
		return keyError(key+".dhcp", "must be off: Outpost serves DHCP here, so its address is static")
	}
	if l.DHCP == (l.Address != "") {
		return keyError(key, "give a static address or dhcp: true, one of the two")
	}
	if l.DHCP {
		if l.Gateway != "" || len(l.DNS) > 0 {
			return keyError(key, "gateway and dns come from DHCP when dhcp is on")
		}
		return nil
	}
	p, err := netip.ParsePrefix(l.Address)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return keyError(key+".address", "%q is not an IPv4 address with a prefix length of /30 or shorter, like 10.0.0.1/24", l.Address)
	}
	if p.Addr() == p.Masked().Addr() {
		return keyError(key+".address", "%s is the network's own address", p.Addr())
	}
	if l.Gateway != "" {
		g, err := netip.ParseAddr(l.Gateway)
		if err != nil || !p.Contains(g) || g == p.Addr() {
			return keyError(key+".gateway", "%q must be another address in %s", l.Gateway, p.Masked())
		}
	}
	for i, d := range l.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return keyError(fmt.Sprintf("%s.dns[%d]", key, i), "%q is not an IP address", d)
		}
	}
	return nil
}

// validate checks the host section, if the file has one.
func (h Host) validate(c *Config) error {
	if !h.Management.Set() && !h.Provisioning.Set() && h.Hostname == "" {
		return nil
	}
	if h.Hostname != "" && !validHostname(h.Hostname) {
		return keyError("host.hostname", "%q is not a host name", h.Hostname)
	}
	if err := h.Management.validate("host.management", false); err != nil {
		return err
	}
	if err := h.Provisioning.validate("host.provisioning", true); err != nil {
		return err
	}
	if h.Management.Interface != "" && h.Management.Interface == h.Provisioning.Interface ||
		h.Management.MAC != "" && strings.EqualFold(h.Management.MAC, h.Provisioning.MAC) {
		return keyError("host", "management and provisioning must be different interfaces")
	}
	prov := netip.MustParsePrefix(h.Provisioning.Address)
	if h.Management.Address != "" && netip.MustParsePrefix(h.Management.Address).Masked().Overlaps(prov.Masked()) {
		return keyError("host", "the management and provisioning networks overlap")
	}
	if !c.DHCP.Enabled || len(c.DHCP.Subnets) == 0 {
		return nil
	}
	for _, s := range c.DHCP.Subnets {
		if p, err := netip.ParsePrefix(s.Prefix); err == nil && p.Contains(prov.Addr()) {
			return nil
		}
	}
	return keyError("host.provisioning.address", "%s is in none of dhcp.subnets: the box must be on the network it serves", prov.Addr())
}

func validHostname(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// HQ configures sync with headquarters. Without a URL the site runs
// alone.
type HQ struct {
	URL    string `yaml:"url"`
	SiteID string `yaml:"site_id"`
	// KeyFile holds this site's key from HQ; relative paths are under
	// data_dir. It must be readable by root only.
	KeyFile  string        `yaml:"key_file"`
	CAFile   string        `yaml:"ca_file"`
	Insecure bool          `yaml:"insecure"`
	Poll     time.Duration `yaml:"poll"`
	Batch    int           `yaml:"batch"`
}

// Jobs configures the job engine and its policies.
type Jobs struct {
	Attempts     int           `yaml:"attempts"`
	RetryBase    time.Duration `yaml:"retry_base"`
	BootTimeout  time.Duration `yaml:"boot_timeout"`
	AgentTimeout time.Duration `yaml:"agent_timeout"`
	WorkIdle     time.Duration `yaml:"work_idle"`
	FastTrack    time.Duration `yaml:"fast_track"`
	PowerTimeout time.Duration `yaml:"power_timeout"`
	Workers      int           `yaml:"workers"`
	Policies     Policies      `yaml:"policies"`
}

// Policies are the limits every job passes before it starts.
type Policies struct {
	MaxSite      int               `yaml:"max_site" json:"max_site"`
	MaxPerAction map[string]int    `yaml:"max_per_action" json:"max_per_action"`
	MaxPerRack   int               `yaml:"max_per_rack" json:"max_per_rack"`
	Breaker      Breaker           `yaml:"breaker" json:"breaker"`
	Windows      map[string]string `yaml:"windows" json:"windows"`
}

// Breaker pauses an action's queue when too many of its jobs fail.
type Breaker struct {
	Window    int     `yaml:"window" json:"window"`
	MaxFailed float64 `yaml:"max_failed" json:"max_failed"`
}

// Agent configures how outpostd talks to recon agents.
type Agent struct {
	// TokenTTL is how long an agent token from a report lasts.
	TokenTTL time.Duration `yaml:"token_ttl"`
	// Poll is how often a waiting agent checks in.
	Poll time.Duration `yaml:"poll"`
}

// BMC configures BMC enrolment and credentials.
type BMC struct {
	// Enroll has recon create a BMC user through in-band IPMI.
	Enroll bool   `yaml:"enroll"`
	User   string `yaml:"user"`
	UserID int    `yaml:"user_id"`
	// Credentials is the root-only file holding BMC credentials per
	// machine; relative paths are under data_dir.
	Credentials string `yaml:"credentials"`
	// LenientEFIReadback accepts a boot-flags readback that lost the EFI
	// bit, as OpenIPMI's simulator does. Leave it off for real BMCs.
	LenientEFIReadback bool          `yaml:"lenient_efi_readback"`
	Timeout            time.Duration `yaml:"timeout"`
	Attempts           int           `yaml:"attempts"`
}

// HTTP is the boot, API and metrics listener.
type HTTP struct {
	Listen string `yaml:"listen"`
	// PublicURL is how machines reach this service; it goes into DHCP
	// replies and iPXE scripts.
	PublicURL string `yaml:"public_url"`
	// TLSListen serves the API and web UI over HTTPS for people on the
	// management network; empty turns it off.
	TLSListen string `yaml:"tls_listen"`
	// TLSCert and TLSKey; relative paths are under data_dir. Missing
	// files are created with a self-signed certificate.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Socket is the unix socket the CLI uses on the box; root on it is
	// an admin. Relative paths are under data_dir.
	Socket string `yaml:"socket"`
}

// DHCP configures the DHCPv4 server.
type DHCP struct {
	Enabled  bool   `yaml:"enabled"`
	Listen   string `yaml:"listen"`
	ServerID string `yaml:"server_id"`
	Proxy    bool   `yaml:"proxy"`
	// ChainIPXEROMs sends NIC iPXE ROMs Outpost's own iPXE binary first.
	ChainIPXEROMs bool          `yaml:"chain_ipxe_roms"`
	LeaseTime     time.Duration `yaml:"lease_time"`
	OfferHold     time.Duration `yaml:"offer_hold"`
	DeclineHold   time.Duration `yaml:"decline_hold"`
	Subnets       []Subnet      `yaml:"subnets"`
	// RouterAdvertisements sends IPv6 RAs with router lifetime 0 on the
	// provisioning interface, so that iPXE stops waiting for IPv6.
	RouterAdvertisements bool `yaml:"router_advertisements"`
}

// Subnet is one DHCP network.
type Subnet struct {
	Prefix string   `yaml:"prefix"`
	Pool   string   `yaml:"pool"` // "first-last"
	Router string   `yaml:"router"`
	DNS    []string `yaml:"dns"`
	Domain string   `yaml:"domain"`
}

// TFTP configures the TFTP server.
type TFTP struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`
	// Root holds the iPXE binaries; relative paths are under the images dir.
	Root       string `yaml:"root"`
	Anticipate uint   `yaml:"anticipate"`
}

// Boot configures what machines boot.
type Boot struct {
	BIOS     string `yaml:"bios"`
	EFIx64   string `yaml:"efi_x64"`
	EFIARM64 string `yaml:"efi_arm64"`
	// ImagesDir holds kernels, initrds and OS images; relative paths are
	// under the working directory.
	ImagesDir string   `yaml:"images_dir"`
	Kernel    string   `yaml:"kernel"`
	Initrds   []string `yaml:"initrds"`
	Cmdline   string   `yaml:"cmdline"`
	// Arches are the firmware kinds the recon image boots on.
	Arches       []string      `yaml:"arches"`
	ReadyAction  string        `yaml:"ready_action"`  // wait | poweroff
	BrokenAction string        `yaml:"broken_action"` // local | halt
	FrozenAction string        `yaml:"frozen_action"` // local | halt
	TokenTTL     time.Duration `yaml:"token_ttl"`
}

// Defaults returns the embedded dev-mode configuration.
func Defaults() Config {
	var c Config
	if err := decode(defaults, &c); err != nil {
		panic("config: embedded defaults are invalid: " + err.Error())
	}
	return c
}

// Parse reads a file's contents over the defaults. Call Finish after
// applying any flags.
func Parse(b []byte) (Config, error) {
	c := Defaults()
	err := decode(b, &c)
	return c, err
}

// Dev-mode ports, unprivileged and on loopback.
const (
	DevHTTP = "127.0.0.1:8080"
	DevDHCP = "127.0.0.1:6767"
	DevTFTP = "127.0.0.1:6969"
)

// Finish fills in the listen addresses left empty, by mode, and validates.
// With no interface (dev mode) services listen on loopback's unprivileged
// ports; with one they use the real ports 67, 69 and 80.
func (c *Config) Finish() error {
	dev := c.Interface == ""
	fill := func(v *string, devAddr, real string) {
		if *v == "" {
			if dev {
				*v = devAddr
			} else {
				*v = real
			}
		}
	}
	fill(&c.HTTP.Listen, DevHTTP, ":80")
	fill(&c.DHCP.Listen, DevDHCP, ":67")
	fill(&c.TFTP.Listen, DevTFTP, ":69")
	return c.Validate()
}

func decode(b []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file is fine: yaml reports it as io.EOF.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// keyError names the offending key.
func keyError(key, format string, args ...any) error {
	return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...))
}

// Validate checks every key it can without touching the system.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Site) == "" {
		return keyError("site", "must not be empty")
	}
	if c.DataDir == "" {
		return keyError("data_dir", "must not be empty")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return keyError("log_level", "must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		return keyError("http.listen", "%v", err)
	}
	if c.HTTP.PublicURL != "" && !strings.HasPrefix(c.HTTP.PublicURL, "http://") && !strings.HasPrefix(c.HTTP.PublicURL, "https://") {
		return keyError("http.public_url", "must start with http:// or https://")
	}
	if c.HTTP.TLSListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.TLSListen); err != nil {
			return keyError("http.tls_listen", "%v", err)
		}
	}
	if c.DHCP.Enabled {
		if _, _, err := net.SplitHostPort(c.DHCP.Listen); err != nil {
			return keyError("dhcp.listen", "%v", err)
		}
		if c.DHCP.ServerID != "" {
			if a, err := netip.ParseAddr(c.DHCP.ServerID); err != nil || !a.Is4() {
				return keyError("dhcp.server_id", "%q is not an IPv4 address", c.DHCP.ServerID)
			}
		}
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"dhcp.lease_time", c.DHCP.LeaseTime}, {"dhcp.offer_hold", c.DHCP.OfferHold}, {"dhcp.decline_hold", c.DHCP.DeclineHold}} {
			if d.v < 0 {
				return keyError(d.key, "must not be negative")
			}
		}
		if c.DHCP.LeaseTime != 0 && c.DHCP.LeaseTime < time.Minute {
			return keyError("dhcp.lease_time", "must be at least 1m")
		}
		for i := range c.DHCP.Subnets {
			if _, err := c.DHCP.Subnets[i].parse(); err != nil {
				return keyError(fmt.Sprintf("dhcp.subnets[%d]", i), "%v", err)
			}
		}
	}
	if c.TFTP.Enabled {
		if _, _, err := net.SplitHostPort(c.TFTP.Listen); err != nil {
			return keyError("tftp.listen", "%v", err)
		}
		if c.TFTP.Root == "" {
			return keyError("tftp.root", "must not be empty")
		}
	}
	if c.Boot.BIOS == "" && c.Boot.EFIx64 == "" && c.Boot.EFIARM64 == "" {
		return keyError("boot", "at least one of bios, efi_x64, efi_arm64 must name an iPXE binary")
	}
	if c.Boot.ImagesDir == "" {
		return keyError("boot.images_dir", "must not be empty")
	}
	if c.Boot.Kernel == "" {
		return keyError("boot.kernel", "must not be empty")
	}
	for i, p := range append([]string{c.Boot.Kernel}, c.Boot.Initrds...) {
		if strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
			key := "boot.kernel"
			if i > 0 {
				key = fmt.Sprintf("boot.initrds[%d]", i-1)
			}
			return keyError(key, "must be a path inside boot.images_dir")
		}
	}
	if strings.ContainsAny(c.Boot.Cmdline, "\n\r") {
		return keyError("boot.cmdline", "must be one line")
	}
	if _, err := c.arches(); err != nil {
		return err
	}
	for _, a := range []struct {
		key, v string
		ok     []string
	}{
		{"boot.ready_action", c.Boot.ReadyAction, []string{"wait", "poweroff"}},
		{"boot.broken_action", c.Boot.BrokenAction, []string{"local", "halt"}},
		{"boot.frozen_action", c.Boot.FrozenAction, []string{"local", "halt"}},
	} {
		if !contains(a.ok, a.v) {
			return keyError(a.key, "must be one of %v, not %q", a.ok, a.v)
		}
	}
	if c.Boot.TokenTTL < time.Minute {
		return keyError("boot.token_ttl", "must be at least 1m")
	}
	if c.Agent.TokenTTL < time.Minute {
		return keyError("agent.token_ttl", "must be at least 1m")
	}
	if c.Agent.Poll < time.Second || c.Agent.Poll > time.Hour {
		return keyError("agent.poll", "must be between 1s and 1h")
	}
	if c.BMC.Enroll {
		if c.BMC.User == "" || len(c.BMC.User) > 16 {
			return keyError("bmc.user", "must be 1 to 16 characters (IPMI user names are at most 16)")
		}
		if c.BMC.UserID < 2 || c.BMC.UserID > 15 {
			return keyError("bmc.user_id", "must be 2 to 15 (slot 1 is the anonymous user)")
		}
	}
	if c.BMC.Credentials == "" {
		return keyError("bmc.credentials", "must not be empty")
	}
	if c.BMC.Timeout < 100*time.Millisecond {
		return keyError("bmc.timeout", "must be at least 100ms")
	}
	if c.BMC.Attempts < 1 {
		return keyError("bmc.attempts", "must be at least 1")
	}
	if c.Jobs.Attempts < 1 || c.Jobs.Attempts > 20 {
		return keyError("jobs.attempts", "must be 1 to 20")
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"jobs.retry_base", c.Jobs.RetryBase}, {"jobs.boot_timeout", c.Jobs.BootTimeout}, {"jobs.agent_timeout", c.Jobs.AgentTimeout},
		{"jobs.work_idle", c.Jobs.WorkIdle}, {"jobs.fast_track", c.Jobs.FastTrack}, {"jobs.power_timeout", c.Jobs.PowerTimeout}} {
		if d.v < time.Second {
			return keyError(d.key, "must be at least 1s")
		}
	}
	for a := range c.Jobs.Policies.MaxPerAction {
		if !appliance.JobAction(a).Valid() {
			return keyError("jobs.policies.max_per_action."+a, "unknown action (install, recycle or power)")
		}
	}
	for a := range c.Jobs.Policies.Windows {
		if !appliance.JobAction(a).Valid() {
			return keyError("jobs.policies.windows."+a, "unknown action (install, recycle or power)")
		}
	}
	if _, err := c.PolicyConfig(); err != nil {
		return err
	}
	if err := c.Host.validate(c); err != nil {
		return err
	}
	if c.HQ.URL != "" {
		if !strings.HasPrefix(c.HQ.URL, "https://") && !strings.HasPrefix(c.HQ.URL, "http://") {
			return keyError("hq.url", "must start with https:// (or http:// in a lab)")
		}
		if c.HQ.SiteID == "" {
			return keyError("hq.site_id", "is required with hq.url")
		}
		if c.HQ.KeyFile == "" {
			return keyError("hq.key_file", "is required with hq.url")
		}
		if c.HQ.Poll < 50*time.Millisecond {
			return keyError("hq.poll", "must be at least 50ms")
		}
		if c.HQ.Batch < 1 || c.HQ.Batch > 2000 {
			return keyError("hq.batch", "must be 1 to 2000")
		}
	}
	return nil
}

// PolicyConfig builds the job policies.
func (c *Config) PolicyConfig() (policy.Config, error) {
	p := c.Jobs.Policies
	out := policy.Config{MaxSite: p.MaxSite, MaxPerRack: p.MaxPerRack, MaxPerAction: map[policy.Action]int{},
		Breaker: policy.BreakerConfig{Window: p.Breaker.Window, MaxFailed: p.Breaker.MaxFailed}, Windows: map[policy.Action]policy.Window{}}
	for a, n := range p.MaxPerAction {
		out.MaxPerAction[policy.Action(a)] = n
	}
	for a, w := range p.Windows {
		win, err := policy.ParseWindow(w)
		if err != nil {
			return out, keyError("jobs.policies.windows."+a, "%v", err)
		}
		out.Windows[policy.Action(a)] = win
	}
	if err := out.Validate(); err != nil {
		return out, keyError("jobs.policies", "%v", err)
	}
	return out, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (c *Config) arches() ([]boot.Arch, error) {
	var out []boot.Arch
	for i, a := range c.Boot.Arches {
		switch a {
		case "bios":
			out = append(out, boot.ArchBIOS)
		case "uefi-x64":
			out = append(out, boot.ArchEFIx64)
		case "uefi-arm64":
			out = append(out, boot.ArchEFIARM64)
		default:
			return nil, keyError(fmt.Sprintf("boot.arches[%d]", i), "must be bios, uefi-x64 or uefi-arm64, not %q", a)
		}
	}
	return out, nil
}

// Policy returns the boot decision's inputs.
func (c *Config) Policy() appliance.BootPolicy {
	arches, _ := c.arches()
	return appliance.BootPolicy{
		ReadyPowerOff: c.Boot.ReadyAction == "poweroff",
		HaltBroken:    c.Boot.BrokenAction == "halt",
		HaltFrozen:    c.Boot.FrozenAction == "halt",
		Arches:        arches,
	}
}

func (s Subnet) parse() (dhcp.Subnet, error) {
	var out dhcp.Subnet
	p, err := netip.ParsePrefix(s.Prefix)
	if err != nil || !p.Addr().Is4() {
		return out, fmt.Errorf("prefix %q is not an IPv4 prefix", s.Prefix)
	}
	out.Prefix = p.Masked()
	first, last, ok := strings.Cut(s.Pool, "-")
	if !ok {
		return out, fmt.Errorf("pool %q must be first-last", s.Pool)
	}
	if out.PoolStart, err = netip.ParseAddr(strings.TrimSpace(first)); err != nil {
		return out, fmt.Errorf("pool start: %v", err)
	}
	if out.PoolEnd, err = netip.ParseAddr(strings.TrimSpace(last)); err != nil {
		return out, fmt.Errorf("pool end: %v", err)
	}
	if !out.Prefix.Contains(out.PoolStart) || !out.Prefix.Contains(out.PoolEnd) || out.PoolEnd.Less(out.PoolStart) {
		return out, fmt.Errorf("pool %s must lie inside %s, first before last", s.Pool, out.Prefix)
	}
	if s.Router != "" {
		if out.Router, err = netip.ParseAddr(s.Router); err != nil || !out.Prefix.Contains(out.Router) {
			return out, fmt.Errorf("router %q is not an address inside %s", s.Router, out.Prefix)
		}
	}
	for _, d := range s.DNS {
		a, err := netip.ParseAddr(d)
		if err != nil || !a.Is4() {
			return out, fmt.Errorf("dns %q is not an IPv4 address", d)
		}
		out.DNS = append(out.DNS, a)
	}
	out.Domain = s.Domain
	return out, nil
}

// DHCPConfig builds the DHCP server's configuration. serverID and
// ifacePrefix come from the provisioning interface; httpBase is the URL
// machines reach the HTTP boot service at.
func (c *Config) DHCPConfig(serverID netip.Addr, ifacePrefix netip.Prefix, httpBase string) (dhcp.Config, error) {
	out := dhcp.Config{
		ServerID: serverID, Proxy: c.DHCP.Proxy, ChainIPXEROMs: c.DHCP.ChainIPXEROMs, LeaseTime: c.DHCP.LeaseTime,
		OfferHold: c.DHCP.OfferHold, DeclineHold: c.DHCP.DeclineHold,
		Boot: dhcp.BootFiles{BIOS: c.Boot.BIOS, EFIx64: c.Boot.EFIx64, EFIARM64: c.Boot.EFIARM64,
			HTTPBase: httpBase},
	}
	if c.DHCP.ServerID != "" {
		out.ServerID = netip.MustParseAddr(c.DHCP.ServerID)
	}
	for _, s := range c.DHCP.Subnets {
		ps, err := s.parse()
		if err != nil {
			return out, err
		}
		out.Subnets = append(out.Subnets, ps)
	}
	if len(out.Subnets) == 0 && !out.Proxy && ifacePrefix.IsValid() {
		out.Subnets = append(out.Subnets, DefaultPool(ifacePrefix))
	}
	return out, out.Validate()
}

// DefaultPool is the pool used when an interface is named but no subnet
// is configured: the upper half of the interface's network, less the
// broadcast address.
func DefaultPool(p netip.Prefix) dhcp.Subnet {
	p = p.Masked()
	base := p.Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := uint32(1) << (32 - p.Bits())
	start, end := n+size/2, n+size-2
	if size < 8 {
		start, end = n+1, n+size-2
	}
	return dhcp.Subnet{Prefix: p, PoolStart: u32addr(start), PoolEnd: u32addr(end)}
}

func u32addr(n uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}
