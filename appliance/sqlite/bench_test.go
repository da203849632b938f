package sqlite

// Benchmarks of the inventory store against a real SQLite file (WAL,
// synchronous=FULL, as outpostd opens it). bench/run.sh runs them as
// `make bench` parts "ingest" and "query"; see bench/README.md.
//
//	go test -run XXX -bench BenchmarkIngest -benchtime 10000x ./appliance/sqlite
//	go test -run XXX -bench BenchmarkQuery ./appliance/sqlite
//
// OUTPOST_BENCH_MACHINES sets the inventory size of BenchmarkIngest
// (default 10000); OUTPOST_BENCH_QUERY_SIZES the sizes BenchmarkQuery
// loads (default "10000,100000").

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/recon"
)

func benchEnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchMAC is NIC nic of synthetic machine i.
func benchMAC(i, nic int) string {
	return fmt.Sprintf("02:b%d:%02x:%02x:%02x:%02x", nic, byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
}

func benchSerial(i int) string { return fmt.Sprintf("BENCH%07d", i) }

func benchUUID(i int) string {
	return fmt.Sprintf("%08x-8b86-4d11-b42d-%012x", i, uint64(i)*2654435761)
}

// benchReport is a realistic hardware report of synthetic machine i: two
// NICs, four disks, sixteen DIMMs, forty PCI functions, a BMC and LLDP
// neighbours; about 11 KB of JSON.
func benchReport(i int) recon.Report {
	r := recon.Report{Version: recon.ReportVersion, BootMAC: benchMAC(i, 0),
		System: recon.System{Manufacturer: "Dell Inc.", Product: "PowerEdge R650", Serial: benchSerial(i), UUID: benchUUID(i),
			BoardSerial: fmt.Sprintf(".BRD%07d.", i), ChassisSerial: fmt.Sprintf("CH%07d", i), BIOSVendor: "Dell Inc.",
			BIOSVersion: "1.13.2", BIOSDate: "03/22/2024", ChassisAssetTag: fmt.Sprintf("AT-%07d", i)},
		CPU:    recon.CPU{Sockets: 2, Model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", Cores: 64, Threads: 128},
		Memory: recon.Memory{TotalBytes: 16 * 32 << 30},
		BMC: &recon.BMC{DeviceID: 32, DeviceRevision: 1, Firmware: "6.10", IPMIVersion: "2.0", ManufacturerID: 674,
			ProductID: 256, LANChannel: 1, IP: fmt.Sprintf("10.%d.%d.%d", 128+byte(i>>16)%64, byte(i>>8), byte(i)),
			MAC: fmt.Sprintf("02:bc:%02x:%02x:%02x:%02x", byte(i>>24), byte(i>>16), byte(i>>8), byte(i)), IPSource: "dhcp"},
		Agent: recon.AgentInfo{Version: "v0.9.0-bench", Kernel: "6.1.0-18-amd64"},
	}
	for d := range 16 {
		r.Memory.DIMMs = append(r.Memory.DIMMs, recon.DIMM{Slot: fmt.Sprintf("DIMM.Socket.%c%d", 'A'+d/8, d%8+1),
			SizeBytes: 32 << 30, SpeedMTs: 3200, Type: "DDR4", Vendor: "Hynix", Serial: fmt.Sprintf("%08X", i*16+d)})
	}
	for d := range 4 {
		disk := recon.Disk{Name: fmt.Sprintf("nvme%dn1", d), SizeBytes: 1920383410176, Model: "Dell Ent NVMe P5600 MU U.2 1.6TB",
			Serial: fmt.Sprintf("PHAB%07d%d", i, d), WWN: fmt.Sprintf("eui.%016x", uint64(i)<<4|uint64(d)), Type: recon.DiskNVMe}
		if d >= 2 {
			disk = recon.Disk{Name: fmt.Sprintf("sd%c", 'a'+d-2), SizeBytes: 480103981056, Model: "SSDSC2KB480G8R",
				Serial: fmt.Sprintf("BTYF%07d%d", i, d), WWN: fmt.Sprintf("0x55cd2e41%08x", i*4+d), Type: recon.DiskSSD}
		}
		if d == 0 {
			disk.Table = "gpt"
			disk.Partitions = []recon.Partition{
				{Number: 1, StartByte: 1 << 20, SizeBytes: 512 << 20, Type: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", Name: "EFI"},
				{Number: 2, StartByte: 513 << 20, SizeBytes: 1 << 30, Type: "0fc63daf-8483-4772-8e79-3d69d8477de4", Name: "boot"},
				{Number: 3, StartByte: 1537 << 20, SizeBytes: 1900000000000, Type: "e6d6d379-f507-44c2-a23c-238f2a3df928", Name: "lvm"},
			}
		}
		r.Disks = append(r.Disks, disk)
	}
	for n := range 2 {
		r.NICs = append(r.NICs, recon.NIC{Name: fmt.Sprintf("eno%dnp0", n+1), MAC: benchMAC(i, n), Driver: "bnxt_en",
			PCI: fmt.Sprintf("0000:31:00.%d", n), Link: true, SpeedMbps: 25000, Booted: n == 0})
		r.LLDP = append(r.LLDP, recon.LLDP{Interface: fmt.Sprintf("eno%dnp0", n+1), ChassisID: fmt.Sprintf("b8:59:9f:00:%02x:%02x", n, byte(i/40)),
			PortID: fmt.Sprintf("Ethernet%d", i%40+1), PortDesc: fmt.Sprintf("srv%07d eno%d", i, n+1),
			SystemName: fmt.Sprintf("tor-%04d-%c", i/40, 'a'+n), TTLSeconds: 120})
	}
	classes := []string{"060000", "060400", "080600", "0c0330", "0c0500", "088000", "010802", "020000", "030000", "110100"}
	for p := range 40 {
		r.PCI = append(r.PCI, recon.PCIDev{Address: fmt.Sprintf("0000:%02x:%02x.%d", p/8*16, p%8, p%2), Vendor: "8086",
			Device: fmt.Sprintf("%04x", 0x09a2+p), Class: classes[p%len(classes)], Driver: []string{"pcieport", "", "nvme", "xhci_hcd"}[p%4],
			SubVend: "1028", SubDev: fmt.Sprintf("%04x", 0x0a6b+p%3), Revision: "04"})
	}
	return r
}

// benchStore opens a fresh store in a temporary directory, as outpostd does.
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "outpost.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// issueTokens issues one boot token per report, through IssueToken.
func issueTokens(b *testing.B, s *Store, reps []recon.Report) []string {
	b.Helper()
	ctx := context.Background()
	toks := make([]string, len(reps))
	exp := time.Now().Add(24 * time.Hour)
	for i, r := range reps {
		t, err := s.IssueToken(ctx, Token{MAC: r.BootMAC, Purpose: string(appliance.BootRecon), Expires: exp})
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = t
	}
	return toks
}

// BenchmarkIngest measures hardware reports stored per second: "new" is a
// machine's first report (it creates the machine), "reingest" a later
// boot's report of a known, unchanged machine into an inventory of
// OUTPOST_BENCH_MACHINES machines; "reingest-parallel" sends those from
// 16 goroutines at once, as many agents reporting together would. Each
// report is one transaction committed with synchronous=FULL.
func BenchmarkIngest(b *testing.B) {
	machines := benchEnvInt("OUTPOST_BENCH_MACHINES", 10000)
	ctx := context.Background()
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")
	}
	b.Run("new", func(b *testing.B) {
		s := benchStore(b)
		reps := make([]recon.Report, b.N)
		for i := range reps {
			reps[i] = benchReport(i)
		}
		toks := issueTokens(b, s, reps)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Ingest(ctx, toks[i], reps[i], 24*time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		report(b)
		n, _ := s.CountByState(ctx)
		if n[appliance.StateReady] != b.N {
			b.Fatalf("%d ready machines after %d first reports", n[appliance.StateReady], b.N)
		}
	})
	// loaded returns a store holding `machines` ingested machines and
	// fresh tokens for n later reports of them.
	loaded := func(b *testing.B, n int) (*Store, []recon.Report, []string) {
		s := benchStore(b)
		base := make([]recon.Report, machines)
		for i := range base {
			base[i] = benchReport(i)
		}
		for i, t := range issueTokens(b, s, base) {
			if _, err := s.Ingest(ctx, t, base[i], 24*time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		reps := make([]recon.Report, n)
		for i := range reps {
			reps[i] = base[(i*7919)%machines] // spread over the inventory
		}
		return s, reps, issueTokens(b, s, reps)
	}
	b.Run("reingest", func(b *testing.B) {
		s, reps, toks := loaded(b, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			res, err := s.Ingest(ctx, toks[i], reps[i], 24*time.Hour)
			if err != nil {
				b.Fatal(err)
			}
			if res.Created || len(res.Changes) != 0 {
				b.Fatalf("re-report created %v, changes %v", res.Created, res.Changes)
			}
		}
		b.StopTimer()
		report(b)
	})
	b.Run("reingest-parallel", func(b *testing.B) {
		s, reps, toks := loaded(b, b.N)
		var next atomic.Int64
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := next.Add(1) - 1
				if _, err := s.Ingest(ctx, toks[i], reps[i], 24*time.Hour); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		report(b)
	})
}

// BenchmarkCommitFull is the disk's ceiling for one report per
// transaction: one 11 KB row per commit on a connection opened exactly
// as the store's writer (WAL, synchronous=FULL).
func BenchmarkCommitFull(b *testing.B) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", dsn(filepath.Join(b.TempDir(), "commit.db"), true))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(benchReport(1))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO t (body) VALUES (?)`, string(body)); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	b.ReportMetric(float64(len(body)), "row-bytes")
}

// bulkLoad inserts n synthetic machines (each with its hardware document
// and two interfaces) in large transactions on the writer connection. It
// is a test-only shortcut: loading 100,000 machines through Ingest would
// take many minutes. States, racks and hostnames are spread as in a
// production site: 40 machines per rack, most of them deployed.
func bulkLoad(b *testing.B, s *Store, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UnixNano()
	const chunk = 5000
	for lo := 0; lo < n; lo += chunk {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			mst, err := tx.PrepareContext(ctx, `INSERT INTO machines (id, serial, state, hostname, role, rack, location, hw_class, uuid,
				hardware, created_at, updated_at, bmc_address, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer mst.Close()
			ist, err := tx.PrepareContext(ctx, `INSERT INTO interfaces (mac, machine_id, name, boot, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer ist.Close()
			for i := lo; i < min(lo+chunk, n); i++ {
				r := benchReport(i)
				hw, err := json.Marshal(r)
				if err != nil {
					return err
				}
				id := int64(i + 1)
				if _, err := mst.ExecContext(ctx, id, r.System.Serial, string(benchState(i)), fmt.Sprintf("srv%07d", i), "compute",
					benchRack(i), "dc1/hall2", recon.Class(r), r.System.UUID, string(hw), now, now, r.BMC.IP, now); err != nil {
					return err
				}
				for k, nic := range r.NICs {
					if _, err := ist.ExecContext(ctx, nic.MAC, id, nic.Name, k == 0, now, now); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchRack(i int) string { return fmt.Sprintf("r%04d", i/40) }

// benchState: 60 % deployed, 20 % ready, 10 % allocated, the rest spread.
func benchState(i int) appliance.State {
	switch k := (i * 37) % 100; {
	case k < 60:
		return appliance.StateDeployed
	case k < 80:
		return appliance.StateReady
	case k < 90:
		return appliance.StateAllocated
	case k < 94:
		return appliance.StateInstalling
	case k < 96:
		return appliance.StateRecycling
	case k < 99:
		return appliance.StateBroken
	default:
		return appliance.StateDiscovered
	}
}

// latencies times each call of fn and reports p50, p99 and max.
func latencies(b *testing.B, fn func(r *rand.Rand) error) {
	r := rand.New(rand.NewPCG(1, uint64(b.N)))
	d := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		if err := fn(r); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	slices.Sort(d)
	pct := func(p float64) float64 { return float64(d[min(len(d)-1, int(float64(len(d))*p))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(float64(d[len(d)-1].Nanoseconds()), "max-ns")
}

// queryPlan is SQLite's plan for q, for the benchmark log.
func queryPlan(b *testing.B, s *Store, q string, args ...any) string {
	rows, err := s.r.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			b.Fatal(err)
		}
		steps = append(steps, detail)
	}
	return strings.Join(steps, "; ")
}

// BenchmarkQuery measures the API's inventory reads with 10,000 and
// 100,000 machines: a filtered list (state and rack, limit 100, as the
// web UI's rack view asks), and single machines by MAC (what every boot
// asks) and by serial. Each reports p50 and p99 latency per call.
func BenchmarkQuery(b *testing.B) {
	ctx := context.Background()
	var sizes []int
	for _, f := range strings.Split(os.Getenv("OUTPOST_BENCH_QUERY_SIZES"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) == 0 {
		sizes = []int{10000, 100000}
	}
	for _, n := range sizes {
		s := benchStore(b)
		t0 := time.Now()
		bulkLoad(b, s, n)
		b.Logf("loaded %d machines in %s", n, time.Since(t0).Round(time.Millisecond))
		racks := (n + 39) / 40
		b.Logf("list plan: %s", queryPlan(b, s, `SELECT `+machineCols+` FROM machines m WHERE m.state = ? AND m.rack = ? ORDER BY m.id LIMIT ?`,
			string(appliance.StateDeployed), "r0001", 100))
		b.Run(fmt.Sprintf("machines=%d/list-state-rack", n), func(b *testing.B) {
			latencies(b, func(r *rand.Rand) error {
				rack := fmt.Sprintf("r%04d", r.IntN(racks))
				ms, err := s.Machines(ctx, appliance.MachineFilter{State: appliance.StateDeployed, Rack: rack, Limit: 100})
				if err == nil && len(ms) == 0 {
					err = fmt.Errorf("no deployed machine in rack %s", rack)
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("machines=%d/by-mac", n), func(b *testing.B) {
			latencies(b, func(r *rand.Rand) error {
				i := r.IntN(n)
				m, err := s.MachineByMAC(ctx, benchMAC(i, r.IntN(2)))
				if err == nil && (m.Serial != benchSerial(i) || len(m.Interfaces) != 2) {
					err = fmt.Errorf("MAC of machine %d found %s with %d interfaces", i, m.Serial, len(m.Interfaces))
				}
				return err
			})
		})
		b.Run(fmt.Sprintf("machines=%d/by-serial", n), func(b *testing.B) {
			latencies(b, func(r *rand.Rand) error {
				i := r.IntN(n)
				m, err := s.MachineBySerial(ctx, benchSerial(i))
				if err == nil && m.ID != int64(i+1) {
					err = fmt.Errorf("serial of machine %d found machine %d", i, m.ID)
				}
				return err
			})
		})
	}
}
