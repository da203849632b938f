package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpostdc/outpost/appliance/config"
)

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outpost.yaml")
	key := filepath.Join(t.TempDir(), "key")
	os.WriteFile(key, []byte("site-key-123\n"), 0o644)
	good := []string{"-config", path, "-site", "lon1", "-hostname", "outpost-lon1", "-mgmt", "eth0", "-mgmt-address", "192.0.2.10/24",
		"-mgmt-gateway", "192.0.2.1", "-dns", "192.0.2.53,192.0.2.54", "-prov", "52:54:00:AA:00:02", "-prov-address", "10.0.0.1/16"}
	run := func(args ...string) (string, error) {
		var out, errOut strings.Builder
		err := configure(args, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing", nil, "-site, -mgmt, -prov, -prov-address required"},
		{"gateway elsewhere", append(append([]string{}, good...), "-mgmt-gateway", "198.51.100.1"), "host.management.gateway"},
		{"static and dhcp", append(append([]string{}, good...), "-mgmt-dhcp"), "host.management"},
		{"same interface twice", append(append([]string{}, good...), "-prov", "eth0"), "different interfaces"},
		{"pool outside", append(append([]string{}, good...), "-pool", "10.9.0.1-10.9.0.9"), "dhcp.subnets[0]"},
		{"hq without key", append(append([]string{}, good...), "-hq-url", "https://hq.example:8443"), "-hq-key-file is required"},
		{"stray argument", append(append([]string{}, good...), "extra"), "unexpected arguments"},
	} {
		out, err := run(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (%s), want %q", c.name, err, out, c.want)
		}
		if _, serr := os.Stat(path); serr == nil {
			t.Fatalf("%s: a refused configuration was written", c.name)
		}
	}
	if out, err := run(append(good, "-dry-run")...); err != nil || !strings.Contains(out, "site: lon1") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("dry run wrote the file")
	}
	args := append(append([]string{}, good...), "-pool", "10.0.1.0-10.0.1.255", "-hq-url", "https://hq.example:8443", "-hq-key-file", key)
	if out, err := run(args...); err != nil || !strings.Contains(out, "wrote "+path) {
		t.Fatalf("configure: %v\n%s", err, out)
	}
	raw, _ := os.ReadFile(path)
	cfg, err := config.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Interface, cfg.DataDir = "x", dir
	if err := cfg.Finish(); err != nil {
		t.Fatalf("written file does not validate: %v\n%s", err, raw)
	}
	h := cfg.Host
	if cfg.Site != "lon1" || h.Hostname != "outpost-lon1" || h.Management.Interface != "eth0" || h.Management.Gateway != "192.0.2.1" ||
		len(h.Management.DNS) != 2 || h.Provisioning.MAC != "52:54:00:aa:00:02" || h.Provisioning.Address != "10.0.0.1/16" ||
		cfg.HTTP.TLSListen != ":443" || cfg.HQ.URL != "https://hq.example:8443" || cfg.HQ.SiteID != "lon1" || cfg.HQ.KeyFile != "hq.key" ||
		len(cfg.DHCP.Subnets) != 1 || cfg.DHCP.Subnets[0].Pool != "10.0.1.0-10.0.1.255" {
		t.Fatalf("written configuration:\n%s", raw)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "hq.key")); err != nil || string(b) != "site-key-123\n" {
		t.Fatalf("hq.key: %v %q", err, b)
	}
	for _, f := range []string{path, filepath.Join(dir, "hq.key")} {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
	}
	// Again: refused without -force; with it, the old file is kept.
	if _, err := run(good...); err == nil || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("overwrite without -force: %v", err)
	}
	if _, err := run(append(append([]string{}, good...), "-force", "-mgmt-address", "192.0.2.11/24")...); err != nil {
		t.Fatal(err)
	}
	if bak, _ := os.ReadFile(path + ".bak"); string(bak) != string(raw) {
		t.Fatal("the previous configuration was not kept")
	}
	if now, _ := os.ReadFile(path); !strings.Contains(string(now), "192.0.2.11/24") {
		t.Fatalf("new configuration:\n%s", now)
	}
}

func TestParseCmdline(t *testing.T) {
	for _, c := range []struct {
		in, format, err string
	}{
		{"console=ttyS0 quiet", "", ""},
		{"console=ttyS0 outpost.format=/dev/vdb", "/dev/vdb", ""},
		{"outpost.format=vdb", "", "name a device"},
		{"outpost.format=/dev/", "", "name a device"},
		{"outpost.format=/dev/../etc/passwd", "", "name a device"},
		{"outpost.format", "", "name a device"},
	} {
		p, err := parseCmdline(c.in)
		if p.Format != c.format || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %+v %v", c.in, p, err)
		}
	}
}
