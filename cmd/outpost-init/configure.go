package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/outpostdc/outpost/appliance/config"
)

// The file configure writes: only what it sets, the rest stays default.
type fileLink struct {
	Interface string   `yaml:"interface,omitempty"`
	MAC       string   `yaml:"mac,omitempty"`
	Address   string   `yaml:"address,omitempty"`
	DHCP      bool     `yaml:"dhcp,omitempty"`
	Gateway   string   `yaml:"gateway,omitempty"`
	DNS       []string `yaml:"dns,omitempty,flow"`
}

type fileConfig struct {
	Site string `yaml:"site"`
	Host struct {
		Hostname     string   `yaml:"hostname,omitempty"`
		Management   fileLink `yaml:"management"`
		Provisioning fileLink `yaml:"provisioning"`
	} `yaml:"host"`
	HTTP struct {
		TLSListen string `yaml:"tls_listen"`
	} `yaml:"http"`
	DHCP *struct {
		Subnets []map[string]string `yaml:"subnets"`
	} `yaml:"dhcp,omitempty"`
	HQ *struct {
		URL     string `yaml:"url"`
		SiteID  string `yaml:"site_id"`
		KeyFile string `yaml:"key_file"`
		CAFile  string `yaml:"ca_file,omitempty"`
	} `yaml:"hq,omitempty"`
}

const configureUsage = `usage: outpost-init configure -site NAME -mgmt IFACE (-mgmt-address CIDR [-mgmt-gateway IP] | -mgmt-dhcp)
                            -prov IFACE -prov-address CIDR [flags]

Writes the box's configuration, checked, to the data partition. The
supervisor applies it within seconds: it brings up both interfaces and
starts outpostd. IFACE is an interface name (eth0) or a MAC address.

Example:
  outpost-init configure -site lon1 -hostname outpost-lon1 \
    -mgmt eth0 -mgmt-address 192.0.2.10/24 -mgmt-gateway 192.0.2.1 -dns 192.0.2.53 \
    -prov eth1 -prov-address 10.0.0.1/16

Flags:
`

func configure(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("outpost-init configure", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, configureUsage); fs.PrintDefaults() }
	path := fs.String("config", configFile, "file to write")
	site := fs.String("site", "", "site name (required)")
	hostname := fs.String("hostname", "", "the box's host name")
	mgmt := fs.String("mgmt", "", "management interface: name or MAC (required)")
	mgmtAddr := fs.String("mgmt-address", "", "management address, CIDR (or -mgmt-dhcp)")
	mgmtDHCP := fs.Bool("mgmt-dhcp", false, "configure the management interface by DHCP")
	mgmtGW := fs.String("mgmt-gateway", "", "default gateway on the management network")
	dns := fs.String("dns", "", "DNS servers, comma-separated")
	prov := fs.String("prov", "", "provisioning interface: name or MAC (required)")
	provAddr := fs.String("prov-address", "", "provisioning address, CIDR; DHCP is served on its network (required)")
	pool := fs.String("pool", "", "DHCP pool first-last (default: the upper half of the provisioning network)")
	https := fs.String("https", ":443", "HTTPS listener for the API and web UI; empty for none")
	hqURL := fs.String("hq-url", "", "headquarters URL; empty: this site runs alone")
	hqSite := fs.String("hq-site-id", "", "site ID as registered at HQ (default: -site)")
	hqKey := fs.String("hq-key-file", "", "file holding this site's key from HQ; copied, mode 0600")
	hqCA := fs.String("hq-ca-file", "", "PEM of HQ's CA; copied")
	force := fs.Bool("force", false, "replace an existing configuration (kept as .bak)")
	dry := fs.Bool("dry-run", false, "print the configuration instead of writing it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var missing []string
	for _, r := range []struct{ name, v string }{{"-site", *site}, {"-mgmt", *mgmt}, {"-prov", *prov}, {"-prov-address", *provAddr}} {
		if r.v == "" {
			missing = append(missing, r.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s required (outpost-init configure -h)", strings.Join(missing, ", "))
	}
	var f fileConfig
	f.Site = *site
	f.Host.Hostname = *hostname
	f.Host.Management = fileLink{Address: *mgmtAddr, DHCP: *mgmtDHCP, Gateway: *mgmtGW}
	if *dns != "" {
		f.Host.Management.DNS = strings.Split(*dns, ",")
	}
	f.Host.Provisioning = fileLink{Address: *provAddr}
	name(&f.Host.Management, *mgmt)
	name(&f.Host.Provisioning, *prov)
	f.HTTP.TLSListen = *https
	dir := filepath.Dir(*path)
	if *pool != "" {
		_, n, err := net.ParseCIDR(*provAddr)
		if err != nil {
			return fmt.Errorf("-prov-address: %w", err)
		}
		f.DHCP = &struct {
			Subnets []map[string]string `yaml:"subnets"`
		}{Subnets: []map[string]string{{"prefix": n.String(), "pool": *pool}}}
	}
	var copies []struct{ from, to string }
	if *hqURL != "" {
		if *hqKey == "" {
			return errors.New("-hq-key-file is required with -hq-url (outpost-hq add-site prints the key)")
		}
		f.HQ = &struct {
			URL     string `yaml:"url"`
			SiteID  string `yaml:"site_id"`
			KeyFile string `yaml:"key_file"`
			CAFile  string `yaml:"ca_file,omitempty"`
		}{URL: *hqURL, SiteID: *hqSite, KeyFile: "hq.key"}
		if f.HQ.SiteID == "" {
			f.HQ.SiteID = *site
		}
		copies = append(copies, struct{ from, to string }{*hqKey, filepath.Join(dir, "hq.key")})
		if *hqCA != "" {
			f.HQ.CAFile = "hq-ca.pem"
			copies = append(copies, struct{ from, to string }{*hqCA, filepath.Join(dir, "hq-ca.pem")})
		}
	}
	body, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	out := append([]byte(fmt.Sprintf("# Written by outpost-init configure at %s. Every key of outpostd's\n# configuration may be added; the rest keep their defaults.\n",
		time.Now().UTC().Format(time.RFC3339))), body...)
	cfg, err := config.Parse(out)
	if err == nil {
		cfg.Interface, cfg.DataDir = "provisioning", dir
		err = cfg.Finish()
	}
	if err != nil {
		return fmt.Errorf("this configuration would not work: %w", err)
	}
	if *dry {
		_, err := stdout.Write(out)
		return err
	}
	if _, err := os.Stat(*path); err == nil && !*force {
		return fmt.Errorf("%s exists; -force replaces it (the old one is kept as %s.bak)", *path, filepath.Base(*path))
	}
	if !mounted(dir) {
		fmt.Fprintf(stderr, "warning: %s is not a mounted data partition; this configuration will not survive a reboot\n", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range copies {
		b, err := os.ReadFile(c.from)
		if err != nil {
			return err
		}
		if err := writeAtomic(c.to, b, 0o600); err != nil {
			return err
		}
	}
	if old, err := os.ReadFile(*path); err == nil {
		if err := writeAtomic(*path+".bak", old, 0o600); err != nil {
			return err
		}
	}
	if err := writeAtomic(*path, out, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s; the supervisor applies it within a few seconds (outpost-init status)\n", *path)
	return nil
}

// name sets a link's interface or MAC, whichever s is.
func name(l *fileLink, s string) {
	if _, err := net.ParseMAC(s); err == nil {
		l.MAC = strings.ToLower(s)
		return
	}
	l.Interface = s
}

// writeAtomic writes a file so that a power cut leaves the old or the new
// contents, never a mix.
func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
