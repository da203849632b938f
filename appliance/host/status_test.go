package host

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStatusRender(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	base := Status{Version: "v1.4.0", Hostname: "outpost-lon1", Site: "lon1", Mode: "configured",
		Data: DataState{Device: "/dev/vda", Dir: "/data", Mounted: true},
		Interfaces: []Iface{{Role: "management", Name: "eth0", MAC: "52:54:00:00:00:01", Via: "static", Addrs: []string{"192.0.2.10/24"}},
			{Role: "provisioning", Name: "eth1", MAC: "52:54:00:00:00:02", Via: "static", Addrs: []string{"10.0.0.1/16"}}},
		Services: []Service{{Name: "outpostd", State: "running", PID: 312, Since: now.Add(-3 * time.Minute), Restarts: 1, LastExit: "was killed by signal 9 (killed)"}},
		Health:   "ok"}
	for _, c := range []struct {
		name string
		hq   HQLink
		want string
	}{
		{"alone", HQLink{}, "not configured (this site runs alone)"},
		{"connected", HQLink{Configured: true, URL: "https://hq", Connected: true, LastContact: now.Add(-2 * time.Second), Backlog: 3}, "connected to https://hq, last contact 2s ago, 3 queued"},
		{"partitioned", HQLink{Configured: true, URL: "https://hq", PartitionedSince: now.Add(-time.Hour), Backlog: 1234, LastError: "dial tcp: i/o timeout"},
			"PARTITIONED since 2026-11-22 09:00:00Z, 1234 changes queued; dial tcp: i/o timeout"},
		{"outpostd down", HQLink{Configured: true, Unknown: true}, "unknown (outpostd is not answering)"},
	} {
		s := base
		s.HQ = c.hq
		var b strings.Builder
		s.Render(&b, now)
		out := b.String()
		for _, want := range []string{"Outpost v1.4.0 ─ site lon1 ─ outpost-lon1", "/dev/vda on /data", "eth0 52:54:00:00:00:01 192.0.2.10/24 (static)",
			"running, pid 312, up 3m0s", "1 restart(s); last run was killed by signal 9 (killed)", c.want} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: no %q in\n%s", c.name, want, out)
			}
		}
		for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if n := len([]rune(l)); n > 80 && c.name != "partitioned" {
				t.Errorf("%s: line of %d columns: %q", c.name, n, l)
			}
		}
	}
	u := Status{Mode: "unconfigured", Note: "no configuration in /data/outpost.yaml\nrun: outpost-init configure -h", Data: DataState{Note: "no filesystem is labelled OUTPOST-DATA"}}
	var b strings.Builder
	u.Render(&b, now)
	if !strings.Contains(b.String(), "outpost-init configure -h") || !strings.Contains(b.String(), "none: no filesystem is labelled") {
		t.Errorf("unconfigured:\n%s", b.String())
	}
	if base.Key() == u.Key() {
		t.Error("keys equal for different states")
	}
	p := filepath.Join(t.TempDir(), "run", "status.json")
	if err := WriteStatus(p, base); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStatus(p)
	if err != nil || got.Key() != base.Key() {
		t.Fatalf("read back: %v %+v", err, got)
	}
}
