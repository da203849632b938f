package recon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"
)

func TestCollectTestdata(t *testing.T) {
	var lldpCalls atomic.Int32
	opts := CollectOptions{
		AgentVersion: "v0.3.1\n",
		BMC: func(ctx context.Context) (*BMC, error) {
			if _, ok := ctx.Deadline(); !ok {
				return nil, errors.New("BMC collector has no deadline")
			}
			return &BMC{DeviceID: 0x20, Firmware: "1.73", IPMIVersion: "2.0", IP: "10.20.30.40"}, nil
		},
		Enroll: func(ctx context.Context) error { return errors.New("ipmi: set user access: cc 0xd4") },
		LLDP: func(ctx context.Context, iface string, timeout time.Duration) (LLDP, error) {
			lldpCalls.Add(1)
			if timeout != 50*time.Millisecond {
				return LLDP{}, fmt.Errorf("timeout %s", timeout)
			}
			if iface == "eth1" {
				return LLDP{}, fmt.Errorf("%w on eth1", ErrLLDPTimeout)
			}
			return LLDP{ChassisID: "00:1b:21:aa:bb:00", PortID: "Ethernet1/12", TTLSeconds: 120}, nil
		},
		LLDPTimeout: 50 * time.Millisecond,
	}
	r := Collect(context.Background(), os.DirFS("testdata/root"), "3C:EC:EF:12:34:56", opts)

	if r.Version != ReportVersion || r.BootMAC != "3c:ec:ef:12:34:56" {
		t.Errorf("version %d, boot MAC %q", r.Version, r.BootMAC)
	}
	if r.Agent != (AgentInfo{Version: "v0.3.1", Kernel: "6.12.48-outpost"}) {
		t.Errorf("agent %+v", r.Agent)
	}
	if r.System.Serial != "S12345678" || r.System.UUID != "4c4c4544-0042-3510-8052-b4c04f4a4d32" {
		t.Errorf("system %+v", r.System)
	}
	if r.CPU != (CPU{Sockets: 2, Model: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz", Cores: 32, Threads: 64}) {
		t.Errorf("cpu %+v", r.CPU)
	}
	if r.Memory.TotalBytes != 256<<30 || len(r.Memory.DIMMs) != 8 {
		t.Errorf("memory %d bytes in %d DIMMs, want 256 GiB from SMBIOS", r.Memory.TotalBytes, len(r.Memory.DIMMs))
	}
	if len(r.Disks) != 4 || len(r.NICs) != 3 || len(r.PCI) != 10 {
		t.Errorf("%d disks, %d NICs, %d PCI devices", len(r.Disks), len(r.NICs), len(r.PCI))
	}
	if !r.NICs[0].Booted {
		t.Errorf("eth0 not marked booted: %+v", r.NICs[0])
	}
	wantBMC := &BMC{DeviceID: 0x20, Firmware: "1.73", IPMIVersion: "2.0", IP: "10.20.30.40", EnrollmentError: "ipmi: set user access: cc 0xd4"}
	if !reflect.DeepEqual(r.BMC, wantBMC) {
		t.Errorf("bmc %+v", r.BMC)
	}
	// LLDP runs only on the two NICs with link (eth2 has none).
	if n := lldpCalls.Load(); n != 2 {
		t.Errorf("LLDP called %d times, want 2", n)
	}
	wantLLDP := []LLDP{{Interface: "eth0", ChassisID: "00:1b:21:aa:bb:00", PortID: "Ethernet1/12", TTLSeconds: 120}}
	if !reflect.DeepEqual(r.LLDP, wantLLDP) {
		t.Errorf("lldp %+v", r.LLDP)
	}
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "lldp eth1") || !strings.Contains(r.Errors[0], "no neighbour") {
		t.Errorf("errors %q, want only eth1's LLDP timeout", r.Errors)
	}
	if got, want := Class(r), "2x16c-256g-1xhdd4000-1xnvme960-1xhdd8"; got != want {
		t.Errorf("class %q, want %q", got, want)
	}
	checkStrings(t, r)

	// The report must survive the trip to outpostd.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip changed the report: %v", err)
	}
}

func TestCollectNothing(t *testing.T) {
	r := Collect(context.Background(), fstest.MapFS{}, "", CollectOptions{})
	if r.Version != ReportVersion {
		t.Errorf("version %d", r.Version)
	}
	// SMBIOS, cpuinfo, meminfo, disks, NICs, PCI: each says it failed.
	for _, want := range []string{"smbios", "cpuinfo", "meminfo", "disks", "nics", "pci"} {
		found := false
		for _, e := range r.Errors {
			found = found || strings.Contains(e, want)
		}
		if !found {
			t.Errorf("no error mentions %s: %q", want, r.Errors)
		}
	}
	if r.BMC != nil || r.LLDP != nil {
		t.Errorf("live collectors ran without being asked: %+v %+v", r.BMC, r.LLDP)
	}
}

func TestCollectBMCFailure(t *testing.T) {
	enrolled := false
	opts := CollectOptions{
		BMC:        func(ctx context.Context) (*BMC, error) { return nil, errors.New("open /dev/ipmi0: no such file") },
		Enroll:     func(ctx context.Context) error { enrolled = true; return nil },
		BMCTimeout: time.Second,
	}
	r := Collect(context.Background(), os.DirFS("testdata/root"), "", opts)
	if r.BMC != nil || enrolled {
		t.Errorf("bmc %+v, enroll ran %v", r.BMC, enrolled)
	}
	if len(r.Errors) != 1 || !strings.HasPrefix(r.Errors[0], "bmc: open /dev/ipmi0") {
		t.Errorf("errors %q", r.Errors)
	}

	opts.BMC = func(ctx context.Context) (*BMC, error) { return &BMC{DeviceID: 1}, nil }
	r = Collect(context.Background(), os.DirFS("testdata/root"), "", opts)
	if r.BMC == nil || !r.BMC.Enrolled || r.BMC.EnrollmentError != "" {
		t.Errorf("bmc %+v, want enrolled", r.BMC)
	}
}

func TestLiveOptions(t *testing.T) {
	o := LiveOptions("v1")
	if o.AgentVersion != "v1" || o.BMC == nil || o.LLDP == nil || o.Enroll != nil {
		t.Errorf("live options %+v", o)
	}
}
