package config

import (
	"net/netip"
	"strings"
	"testing"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Defaults()
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != DevHTTP || c.DHCP.Listen != DevDHCP || c.TFTP.Listen != DevTFTP {
		t.Fatalf("dev listens: %q %q %q", c.HTTP.Listen, c.DHCP.Listen, c.TFTP.Listen)
	}
	c = Defaults()
	c.Interface = "br0"
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != ":80" || c.DHCP.Listen != ":67" || c.TFTP.Listen != ":69" {
		t.Fatalf("real listens: %q %q %q", c.HTTP.Listen, c.DHCP.Listen, c.TFTP.Listen)
	}
}

func TestBadConfigNamesTheKey(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"site: ''", "site"},
		{"log_level: loud", "log_level"},
		{"http: {listen: 'nope'}", "http.listen"},
		{"http: {public_url: 'ftp://x'}", "http.public_url"},
		{"dhcp: {server_id: '::1'}", "dhcp.server_id"},
		{"dhcp: {lease_time: 10s}", "dhcp.lease_time"},
		{"dhcp: {subnets: [{prefix: '10.0.0.0/24', pool: '10.0.1.1-10.0.1.9'}]}", "dhcp.subnets[0]"},
		{"dhcp: {subnets: [{prefix: '10.0.0.0/24', pool: '10.0.0.9-10.0.0.1'}]}", "dhcp.subnets[0]"},
		{"dhcp: {subnets: [{prefix: 'x', pool: '1-2'}]}", "dhcp.subnets[0]"},
		{"dhcp: {subnets: [{prefix: '10.0.0.0/24', pool: '10.0.0.1-10.0.0.9', router: '10.9.9.9'}]}", "dhcp.subnets[0]"},
		{"tftp: {root: ''}", "tftp.root"},
		{"boot: {bios: '', efi_x64: ''}", "boot"},
		{"boot: {kernel: '../etc/passwd'}", "boot.kernel"},
		{"boot: {initrds: ['/abs']}", "boot.initrds[0]"},
		{"boot: {arches: [bios, ppc]}", "boot.arches[1]"},
		{"boot: {ready_action: sleep}", "boot.ready_action"},
		{"boot: {token_ttl: 1s}", "boot.token_ttl"},
		{"nonsense: 1", "nonsense"},
		{"host: {management: {interface: eth0, dhcp: true}}", "host.provisioning"},
		{"host: {management: {interface: eth0, mac: '52:54:00:00:00:01', dhcp: true}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.management"},
		{"host: {management: {mac: 'zz', dhcp: true}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.management.mac"},
		{"host: {management: {interface: eth0}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.management"},
		{"host: {management: {interface: eth0, dhcp: true, gateway: 10.1.1.1}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.management"},
		{"host: {management: {interface: eth0, address: 192.0.2.10/24, gateway: 198.51.100.1}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.management.gateway"},
		{"host: {management: {interface: eth0, address: 192.0.2.10}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.management.address"},
		{"host: {management: {interface: eth0, address: 192.0.2.0/24}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.management.address"},
		{"host: {management: {interface: eth0, address: 192.0.2.10/24, dns: [x]}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.management.dns[0]"},
		{"host: {management: {interface: eth0, dhcp: true}, provisioning: {interface: eth1, dhcp: true}}", "host.provisioning.dhcp"},
		{"host: {management: {interface: eth0, dhcp: true}, provisioning: {interface: eth0, address: 10.0.0.1/16}}", "host"},
		{"host: {management: {interface: eth0, address: 10.0.9.1/24}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host"},
		{"host: {hostname: 'bad_name', management: {interface: eth0, dhcp: true}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.hostname"},
		{"dhcp: {subnets: [{prefix: 10.9.0.0/16, pool: 10.9.1.0-10.9.1.9}]}\nhost: {management: {interface: eth0, dhcp: true}, provisioning: {interface: eth1, address: 10.0.0.1/16}}", "host.provisioning.address"},
		{"dhcp: {leasetime: 1h}", "leasetime"},
	} {
		c, err := Parse([]byte(tc.yaml))
		if err == nil {
			err = c.Finish()
		}
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: error %v does not name %q", tc.yaml, err, tc.key)
		}
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	c, err := Parse([]byte("site: lon1\ndhcp:\n  lease_time: 2h\n  subnets:\n  - {prefix: 10.0.0.0/24, pool: 10.0.0.100-10.0.0.200, router: 10.0.0.1, dns: [10.0.0.1]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if c.Site != "lon1" || c.DHCP.LeaseTime.Hours() != 2 || c.Boot.BIOS != "undionly.kpxe" {
		t.Fatalf("%+v", c)
	}
	dc, err := c.DHCPConfig(mustAddr("10.0.0.1"), mustPrefix("10.0.0.0/24"), "http://10.0.0.1")
	if err != nil || len(dc.Subnets) != 1 || dc.Subnets[0].PoolEnd.String() != "10.0.0.200" {
		t.Fatalf("%+v %v", dc, err)
	}
}

func TestDefaultPool(t *testing.T) {
	for _, tc := range []struct{ prefix, start, end string }{
		{"10.66.0.1/24", "10.66.0.128", "10.66.0.254"},
		{"192.168.4.0/22", "192.168.6.0", "192.168.7.254"},
		{"10.0.0.0/30", "10.0.0.1", "10.0.0.2"},
	} {
		s := DefaultPool(mustPrefix(tc.prefix))
		if s.PoolStart.String() != tc.start || s.PoolEnd.String() != tc.end {
			t.Errorf("DefaultPool(%s) = %s-%s, want %s-%s", tc.prefix, s.PoolStart, s.PoolEnd, tc.start, tc.end)
		}
	}
}

func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestHostSection(t *testing.T) {
	for _, y := range []string{
		"host: {hostname: outpost-lon1, management: {interface: eth0, address: 192.0.2.10/24, gateway: 192.0.2.1, dns: [192.0.2.53]}, provisioning: {mac: '52:54:00:00:00:02', address: 10.0.0.1/16}}",
		"host: {management: {mac: '52:54:00:00:00:01', dhcp: true}, provisioning: {interface: eth1, address: 10.0.0.1/16}}",
		"dhcp: {subnets: [{prefix: 10.0.0.0/16, pool: 10.0.1.0-10.0.1.9}]}\nhost: {management: {interface: eth0, dhcp: true}, provisioning: {interface: eth1, address: 10.0.0.1/16}}",
	} {
		c, err := Parse([]byte(y))
		if err == nil {
			err = c.Finish()
		}
		if err != nil {
			t.Errorf("%s: %v", y, err)
		}
		if !c.Host.Provisioning.Set() || !c.Host.Management.Set() {
			t.Errorf("%s: host section lost: %+v", y, c.Host)
		}
	}
}
