package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/cmd/internal/lab"
	"github.com/outpostdc/outpost/sync/wire"
)

// workload is what a site does while cut off: ingests, leases, freezes
// and jobs, 1,000 operations in all. It returns the serial of a machine a
// technician froze and left frozen.
func (s *siteLab) workload(t *testing.T, ingests, leases, freezes, jobs int) (frozen string) {
	t.Helper()
	type m struct {
		id     int64
		serial string
	}
	var machines []m
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for k := 0; k < ingests; k++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(k int) {
			defer func() { <-sem; wg.Done() }()
			serial := fmt.Sprintf("%s-SN%04d", s.id, k)
			mac := fmt.Sprintf("52:54:%02x:01:%02x:%02x", s.n, k>>8, k&0xff)
			id, _ := s.ingest(t, serial, mac, "1x4c-8g")
			mu.Lock()
			machines = append(machines, m{id, serial})
			mu.Unlock()
		}(k)
	}
	wg.Wait()
	// Leases, through a relay on the provisioning network.
	h := s.net.AddHost(t, "")
	relay := fmt.Sprintf("10.1%d.0.2", s.n)
	lab.Run(t, "ip", "-n", h.NS, "addr", "add", relay+"/16", "dev", "eth0")
	conn, err := lab.ListenPacketIn(h.NS, "udp4", relay+":67")
	if err != nil {
		t.Fatal(err)
	}
	macs := make([]net.HardwareAddr, leases)
	for i := range macs {
		macs[i] = net.HardwareAddr{0x02, byte(s.n), 0x02, 0, byte(i >> 8), byte(i)}
	}
	acks := 0
	err = lab.DORA(lab.Context(t, 3*time.Minute), conn, &net.UDPAddr{IP: net.ParseIP(fmt.Sprintf("10.1%d.0.1", s.n)), Port: 67},
		net.ParseIP(relay), macs, 32, func(net.HardwareAddr, net.IP) { acks++ })
	conn.Close()
	if err != nil || acks != leases {
		t.Fatalf("%s: %d of %d leases: %v", s.id, acks, leases, err)
	}
	// Technicians freeze and unfreeze machines; the last stays frozen.
	for i := 0; i < freezes/2; i++ {
		x := machines[i%len(machines)]
		if code := s.call(t, "POST", "/api/v1/machines/"+fmt.Sprint(x.id)+"/state", map[string]string{"state": "frozen", "reason": "cabling audit"}, nil); code != 200 {
			t.Fatalf("%s freeze %s: %d", s.id, x.serial, code)
		}
		if i == freezes/2-1 {
			frozen = x.serial
			continue
		}
		if code := s.call(t, "POST", "/api/v1/machines/"+fmt.Sprint(x.id)+"/unfreeze", map[string]string{"reason": "done"}, nil); code != 200 {
			t.Fatalf("%s unfreeze %s: %d", s.id, x.serial, code)
		}
	}
	// Jobs on other machines (they have no BMC credentials, so they fail
	// and the machines end broken: outcomes are facts too).
	for i := 0; i < jobs; i++ {
		x := machines[(freezes/2+i)%len(machines)]
		code := s.call(t, "POST", "/api/v1/jobs", map[string]any{"action": "power", "machine_id": x.id, "params": map[string]string{"op": "status"}}, nil)
		if code != 201 && code != 409 {
			t.Fatalf("%s job on %s: %d", s.id, x.serial, code)
		}
	}
	return frozen
}

// converged waits until HQ holds exactly each site's rows, then checks
// them table by table, compared by query on both sides.
func converged(t *testing.T, h *hqLab, sites []*siteLab, timeout time.Duration) {
	t.Helper()
	for _, s := range sites {
		lab.WaitFor(t, timeout, s.id+" drained and caught up", func() bool {
			st := s.sync(t)
			var hqSites struct {
				Sites []struct {
					ID        string `json:"id"`
					AckedSeq  int64  `json:"acked_seq"`
					IntentSeq int64  `json:"intent_seq"`
				} `json:"sites"`
			}
			h.call(t, "GET", "/api/v1/sites", nil, &hqSites)
			for _, x := range hqSites.Sites {
				if x.ID == s.id {
					return st.Connected && st.Backlog == 0 && x.AckedSeq == st.LastSeq && st.IntentCursor == x.IntentSeq
				}
			}
			return false
		})
	}
	db := h.db(t)
	ctx := context.Background()
	for _, s := range sites {
		r, err := sqlite.OpenReader(ctx, filepath.Join(s.data, "outpost.db"))
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range sqlite.SyncedTables() {
			want, err := r.SyncedRows(ctx, table)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := db.Query(ctx, `SELECT key, data FROM facts WHERE site_id = $1 AND kind = $2`, s.id, table)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]byte{}
			dups := 0
			for rows.Next() {
				var k string
				var d []byte
				rows.Scan(&k, &d)
				if _, ok := got[k]; ok {
					dups++
				}
				got[k] = d
			}
			rows.Close()
			if dups > 0 || len(got) != len(want) {
				t.Fatalf("%s %s: HQ holds %d rows (%d duplicates), the site %d", s.id, table, len(got), dups, len(want))
			}
			for k, w := range want {
				if !wire.SameJSON(got[k], w) {
					t.Fatalf("%s %s %s differs:\nHQ:   %s\nsite: %s", s.id, table, k, got[k], w)
				}
			}
		}
		st, err := r.Sync(ctx)
		r.Close()
		if err != nil || st.Backlog != 0 {
			t.Fatalf("%s: %d changes left in the outbox (%v)", s.id, st.Backlog, err)
		}
		t.Logf("%s: HQ holds exactly the site's rows in %d tables", s.id, len(sqlite.SyncedTables()))
	}
}

// partitionRun is the partition scenario: cut every site off, work at
// every site and at HQ, heal, and check convergence and conflicts.
func partitionRun(t *testing.T, degraded, crashes bool) {
	h := newHQ(t)
	var sites []*siteLab
	for n := 1; n <= 3; n++ {
		sites = append(sites, h.newSite(t, n, "", ""))
	}
	if degraded {
		// A long, lossy WAN: 300 ms each way through a proxy in the site,
		// 30 % of packets on the WAN interface dropped.
		for _, s := range sites {
			p := lab.StartDelayProxy(t, s.net.NS, "127.0.0.1:9443", fmt.Sprintf("10.80.%d.1:8443", s.n), 300*time.Millisecond)
			s.proc.Stop(15 * time.Second)
			s.setHQ(t, "https://"+p.Addr)
			lab.Lossy(t, s.net.NS, "wan0", 30)
			s.start(t)
		}
	}
	for _, s := range sites {
		lab.WaitFor(t, 2*time.Minute, s.id+" connected", func() bool { return s.sync(t).Connected })
		h.cut(t, s)
	}
	for _, s := range sites {
		lab.WaitFor(t, time.Minute, s.id+" sees the partition", func() bool { return !s.sync(t).Connected })
	}
	// HQ intents written during the cut.
	var wg sync.WaitGroup
	frozen := make([]string, len(sites))
	for i, s := range sites {
		wg.Add(1)
		go func(i int, s *siteLab) {
			defer wg.Done()
			frozen[i] = s.workload(t, 250, 400, 200, 150)
		}(i, s)
	}
	wg.Wait()
	for i, s := range sites {
		st := s.sync(t)
		if st.Connected || st.Backlog == 0 {
			t.Fatalf("%s during the cut: %+v", s.id, st)
		}
		// HQ asks for a recycle on the machine the technician froze, and
		// sets a policy.
		for _, in := range []map[string]any{
			{"site": s.id, "kind": "job", "body": map[string]any{"serial": frozen[i], "action": "recycle"}},
			{"site": s.id, "kind": "policy", "body": map[string]any{"max_site": 20, "max_per_rack": 4}},
		} {
			if code := h.call(t, "POST", "/api/v1/intents", in, nil); code != 201 {
				t.Fatalf("intent for %s: %d", s.id, code)
			}
		}
		t.Logf("%s: %d changes queued during the cut", s.id, st.Backlog)
	}
	for _, s := range sites {
		h.heal(t, s)
	}
	if crashes {
		crash(t, h, sites)
	}
	timeout := 3 * time.Minute
	if degraded {
		timeout = 12 * time.Minute
	}
	converged(t, h, sites, timeout)
	for i, s := range sites {
		var cs struct {
			Conflicts []struct {
				Kind    string          `json:"kind"`
				Status  string          `json:"status"`
				HQValue json.RawMessage `json:"hq_value"`
			} `json:"conflicts"`
		}
		s.call(t, "GET", "/api/v1/conflicts", nil, &cs)
		found := false
		for _, c := range cs.Conflicts {
			found = found || c.Status == "open" && strings.Contains(string(c.HQValue), frozen[i])
		}
		if !found {
			t.Fatalf("%s: the freeze/recycle conflict was not recorded: %+v", s.id, cs)
		}
		var hc struct {
			Conflicts []struct {
				Site string `json:"site"`
			} `json:"conflicts"`
		}
		h.call(t, "GET", "/api/v1/conflicts?site="+s.id+"&status=open", nil, &hc)
		if len(hc.Conflicts) == 0 {
			t.Fatalf("HQ does not see %s's conflict", s.id)
		}
	}
}

// crash kills outpostd mid-push, HQ mid-apply and restarts PostgreSQL
// while the sites drain their backlogs.
func crash(t *testing.T, h *hqLab, sites []*siteLab) {
	t.Helper()
	draining := func(s *siteLab) func() bool {
		return func() bool { st := s.sync(t); return st.AckedSeq > 0 && st.Backlog > 0 }
	}
	lab.WaitFor(t, time.Minute, sites[0].id+" pushing", draining(sites[0]))
	acked := sites[0].sync(t).AckedSeq
	sites[0].proc.Kill()
	t.Logf("killed %s's outpostd with SIGKILL mid-push (acked %d)", sites[0].id, acked)
	sites[0].start(t)
	if draining(sites[1])() {
		h.proc.Kill()
		t.Logf("killed outpost-hq with SIGKILL while %s was pushing", sites[1].id)
		time.Sleep(time.Second)
		h.start(t)
	} else {
		h.proc.Kill()
		t.Log("killed outpost-hq with SIGKILL (the backlogs had already drained)")
		h.start(t)
	}
	if err := h.pg.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Log("restarted PostgreSQL")
}

// TestPartitionConverges: three sites cut off from HQ keep working; when
// the WAN heals they converge, with crashes of every part on the way.
func TestPartitionConverges(t *testing.T) { partitionRun(t, false, true) }

// TestDegradedLinkConverges: the same run over a WAN with 30 % packet
// loss and 300 ms of delay each way.
func TestDegradedLinkConverges(t *testing.T) { partitionRun(t, true, false) }
