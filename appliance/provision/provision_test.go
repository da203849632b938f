package provision

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

func TestReconcile(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Five ready machines of the class, one of another.
	var ids []int64
	for i := 0; i < 6; i++ {
		m, err := st.CreateMachine(ctx, sqlite.NewMachine{Serial: fmt.Sprintf("SN-%d", i)}, "t", "")
		if err != nil {
			t.Fatal(err)
		}
		class := "2x16c-256g-2xnvme960"
		if i == 5 {
			class = "1x4c-8g"
		}
		st.Tx(ctx, func(tx *sql.Tx, now int64) error {
			_, err := tx.ExecContext(ctx, `UPDATE machines SET hw_class = ? WHERE id = ?`, class, m.ID)
			return err
		})
		ids = append(ids, m.ID)
	}
	st.AddImage(ctx, sqlite.Image{SHA256: "abc", Name: "debian", Version: "12", Format: "raw", Size: 1, RawSHA256: "abc", RawSize: 1, File: "os/abc.raw"}, "t")
	spec := appliance.ProvisionSpec{Count: 3, Role: "fancydb", Class: "2x16c-256g-2xnvme960", HostnamePattern: "fancydb-{n:02}", Image: "debian:12"}
	st.Tx(ctx, func(tx *sql.Tx, now int64) error { return sqlite.InsertRequestTx(ctx, tx, now, 42, 1, spec) })
	woken := 0
	r := &Reconciler{Store: st, Log: slog.New(slog.DiscardHandler), Attempts: 2, Wake: func() { woken++ }}
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	members, _ := st.Members(ctx, 42)
	if len(members) != 3 || woken == 0 {
		t.Fatalf("members %+v woken %d", members, woken)
	}
	var hosts []string
	for _, mem := range members {
		m, _ := st.Machine(ctx, mem.MachineID)
		j, _ := st.Job(ctx, mem.JobID)
		if m.State != appliance.StateAllocated || m.Role != "fancydb" || j.Action != appliance.ActionInstall || j.Params["image_sha256"] != "abc" {
			t.Fatalf("member %+v: machine %+v job %+v", mem, m, j)
		}
		hosts = append(hosts, m.Hostname)
	}
	if strings.Join(hosts, ",") != "fancydb-01,fancydb-02,fancydb-03" {
		t.Fatalf("hostnames %v", hosts)
	}
	// Member 1 installs; member 2 breaks; member 3 is still going.
	finish := func(mem sqlite.Member, status appliance.JobStatus, to appliance.State) {
		ph := appliance.PhaseWork
		st.UpdateJob(ctx, mem.JobID, sqlite.JobUpdate{From: appliance.JobQueued, To: appliance.JobRunning, Phase: &ph, Machine: appliance.StateInstalling})
		st.UpdateJob(ctx, mem.JobID, sqlite.JobUpdate{From: appliance.JobRunning, To: status, Machine: to, MachineReason: "test"})
	}
	finish(members[0], appliance.JobSucceeded, appliance.StateDeployed)
	finish(members[1], appliance.JobFailed, appliance.StateBroken)
	if err := r.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	members, _ = st.Members(ctx, 42)
	byStatus := map[string]int{}
	for _, m := range members {
		byStatus[m.Status]++
	}
	if len(members) != 4 || byStatus["done"] != 1 || byStatus["failed"] != 1 || byStatus["installing"] != 2 {
		t.Fatalf("after a failure: %+v", members)
	}
	reqs, _ := st.Requests(ctx, false)
	if reqs[0].Done != 1 || reqs[0].Failed != 1 || reqs[0].Installing != 2 || reqs[0].Status != "open" {
		t.Fatalf("request %+v", reqs[0])
	}
	// The replacement took the next number, and one ready machine of the
	// class is left; the other class is never picked.
	last := members[3]
	m, _ := st.Machine(ctx, last.MachineID)
	if m.Hostname != "fancydb-04" || last.MachineID == ids[5] {
		t.Fatalf("replacement %+v %s", last, m.Hostname)
	}
	// Another failure exhausts the class: the request says why it is short.
	finish(members[2], appliance.JobFailed, appliance.StateBroken)
	r.Reconcile(ctx)
	finish(members[3], appliance.JobFailed, appliance.StateBroken)
	r.Reconcile(ctx)
	reqs, _ = st.Requests(ctx, false)
	if reqs[0].Status != "short" || !strings.Contains(reqs[0].Reason, "not enough ready machines of class 2x16c-256g-2xnvme960") {
		t.Fatalf("request %+v", reqs[0])
	}
}
