package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/sync/hq"
	"github.com/outpostdc/outpost/sync/wire"
)

// newHQDB makes the part's database, migrates it and registers the
// sites; it returns the DSN and each site's key.
func (b *bench) newHQDB(ctx context.Context, name string, sites []string) (string, map[string]string, error) {
	dsn, err := b.pg.CreateDB(ctx, name)
	if err != nil {
		return "", nil, err
	}
	s, err := hq.Open(ctx, dsn)
	if err != nil {
		return "", nil, err
	}
	defer s.Close()
	keys := map[string]string{}
	for _, id := range sites {
		if keys[id], err = s.AddSite(ctx, id, "bench "+id); err != nil {
			return "", nil, err
		}
	}
	return dsn, keys, nil
}

// load is a snapshot of what the work cost: CPU of HQ, of PostgreSQL and
// of this process (the sites and their uplinks), and PostgreSQL's own
// counters.
type load struct {
	at                     time.Time
	hq, pg, self           time.Duration
	commits, ins, upd, del int64
	wal                    string
}

// sample reads CPU times. PostgreSQL's is the postmaster's, with the
// children it has reaped, plus every live child's.
func (b *bench) sample(h *hqProc) (load, error) {
	l := load{at: time.Now()}
	var err error
	if l.hq, err = h.cpu(); err != nil {
		return l, err
	}
	if l.pg, err = b.pgCPU(); err != nil {
		return l, err
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	l.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return l, nil
}

func (b *bench) pgCPU() (time.Duration, error) {
	raw, err := os.ReadFile(filepath.Join(b.pg.Dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	if err != nil {
		return 0, err
	}
	u, s, cu, cs, err := procCPU(pm)
	if err != nil {
		return 0, err
	}
	total := u + s + cu + cs
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == pm {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st)[strings.LastIndexByte(string(st), ')')+2:])
		if len(f) > 1 && f[1] == strconv.Itoa(pm) {
			if u, s, _, _, err := procCPU(pid); err == nil {
				total += u + s
				if os.Getenv("DEBUGPG") != "" {
					cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
					fmt.Fprintln(os.Stderr, "PGDEBUG", pid, u+s, string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
				}
			}
		}
	}
	return total, nil
}

// counters reads pg_stat_database for db and the WAL position. Backends
// report their statistics when idle, at most once a second, so callers
// wait a little after the work for them to land.
func (b *bench) counters(ctx context.Context, dsn string, l *load) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	return c.QueryRow(ctx, `SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, pg_current_wal_lsn()::text
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&l.commits, &l.ins, &l.upd, &l.del, &l.wal)
}

// walBytes is the WAL written between two positions.
func (b *bench) walBytes(ctx context.Context, dsn, from, to string) (int64, error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n float64
	err = c.QueryRow(ctx, `SELECT pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn)`, to, from).Scan(&n)
	return int64(n), err
}

// statsSettle is how long to leave PostgreSQL idle before reading its
// counters: idle backends flush them within a second.
const statsSettle = 1500 * time.Millisecond

// report prints the cost rows shared by the parts.
func (b *bench) report(ctx context.Context, dsn string, before, after load, changes int) error {
	perK := func(d time.Duration) string {
		return fmt.Sprintf("%.1f", float64(d.Microseconds())/float64(changes)*1000/1e3)
	}
	b.row("HQ process CPU, s", fmt.Sprintf("%.2f", (after.hq-before.hq).Seconds()))
	b.row("  per 1000 changes, ms", perK(after.hq-before.hq))
	b.row("PostgreSQL CPU (all its processes), s", fmt.Sprintf("%.2f", (after.pg-before.pg).Seconds()))
	b.row("  per 1000 changes, ms", perK(after.pg-before.pg))
	b.row("site side CPU (stores + uplinks), s", fmt.Sprintf("%.2f", (after.self-before.self).Seconds()))
	b.row("  per 1000 changes, ms", perK(after.self-before.self))
	wal, err := b.walBytes(ctx, dsn, before.wal, after.wal)
	if err != nil {
		return err
	}
	b.row("PostgreSQL xact_commit", strconv.FormatInt(after.commits-before.commits, 10))
	b.row("PostgreSQL tup_inserted / updated / deleted", fmt.Sprintf("%d/%d/%d", after.ins-before.ins, after.upd-before.upd, after.del-before.del))
	b.row("WAL written, MB", fmt.Sprintf("%.1f", float64(wal)/1e6))
	b.row("  per change, bytes", fmt.Sprintf("%.0f", float64(wal)/float64(changes)))
	return nil
}

// verify checks that HQ holds exactly the site's rows, table by table,
// compared as JSON values (the idea of cmd/outpost-hq's converged).
func verify(ctx context.Context, dsn string, s *site) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for _, table := range sqlite.SyncedTables() {
		want, err := s.st.SyncedRows(ctx, table)
		if err != nil {
			return err
		}
		rows, err := c.Query(ctx, `SELECT key, data FROM facts WHERE site_id = $1 AND kind = $2`, s.id, table)
		if err != nil {
			return err
		}
		got := map[string][]byte{}
		for rows.Next() {
			var k string
			var d []byte
			if err := rows.Scan(&k, &d); err != nil {
				rows.Close()
				return err
			}
			got[k] = d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(got) != len(want) {
			return fmt.Errorf("%s %s: HQ holds %d rows, the site %d", s.id, table, len(got), len(want))
		}
		for k, w := range want {
			if !wire.SameJSON(got[k], w) {
				return fmt.Errorf("%s %s %s differs:\nHQ:   %s\nsite: %s", s.id, table, k, got[k], w)
			}
		}
	}
	return nil
}

// digest sums up what HQ holds for a site, to show a replay changed nothing.
func digest(ctx context.Context, dsn, site string) (string, error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	var d string
	err = c.QueryRow(ctx, `SELECT count(*)::text || ' ' || coalesce(md5(string_agg(kind || key || seq || data::text || applied_at::text, ',' ORDER BY kind, key)), '')
		|| ' ' || (SELECT acked_seq FROM sites WHERE id = $1)::text FROM facts WHERE site_id = $1`, site).Scan(&d)
	return d, err
}
