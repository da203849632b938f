package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/boot"
)

const (
	qInsertEvent = `INSERT INTO boot_events (ts, mac, ip, kind, summary, detail) VALUES (?, ?, ?, ?, ?, ?)`
	qLeaseMAC    = `SELECT mac FROM leases WHERE ip = ? ORDER BY updated_at DESC LIMIT 1`
)

var qInsertEvents = multiRow(qInsertEvent, rowsPerInsert)

// maxEventBatch bounds the rows of one events transaction, and so how
// long a lease commit can wait behind it.
const maxEventBatch = 256

// maxEventsFolded bounds the events one batch takes in, rows or not, so
// that a fast stream of repeats cannot keep the writer draining forever.
const maxEventsFolded = 4096

// Record queues a boot event for the timeline. It never blocks: a full
// queue drops the event and says so through Options.OnEventDrop. It never
// changes e.Detail, so callers may share one map between events.
func (s *Store) Record(e boot.Event) {
	select {
	case s.eventq <- eventItem{e: e}:
	default:
		s.drops.Add(1)
		if s.onDrop != nil {
			s.onDrop()
		}
	}
}

// eventItem is a queued event, or, with done set, a Flush marker.
type eventItem struct {
	e    boot.Event
	done chan struct{}
}

// eventBatch folds events into rows as they come: events that differ only
// in time become the first of them, with a count and the time of the last,
// so a machine stuck re-fetching its script costs one row per batch.
type eventBatch struct {
	rows  []boot.Event
	count []int
	last  []time.Time
	seen  map[eventKey]int
	taken int
	done  []chan struct{} // Flush markers, closed once the batch is written
}

// eventKey is what folded events share besides their detail.
type eventKey struct {
	mac, summary string
	ip           netip.Addr
	kind         boot.EventKind
}

func (b *eventBatch) add(it eventItem) {
	if it.done != nil {
		b.done = append(b.done, it.done)
		return
	}
	b.taken++
	e := it.e
	k := eventKey{mac: string(e.MAC), summary: e.Summary, ip: e.IP, kind: e.Kind}
	if i, ok := b.seen[k]; ok && sameDetail(b.rows[i].Detail, e.Detail) {
		b.count[i]++
		b.last[i] = e.Time
		return
	}
	if b.seen == nil {
		b.seen = make(map[eventKey]int)
	}
	b.seen[k] = len(b.rows)
	b.rows = append(b.rows, e)
	b.count = append(b.count, 1)
	b.last = append(b.last, e.Time)
}

// full says the batch must be written now.
func (b *eventBatch) full() bool {
	return len(b.rows) >= maxEventBatch || b.taken >= maxEventsFolded || len(b.done) > 0
}

func (b *eventBatch) empty() bool { return len(b.rows) == 0 && len(b.done) == 0 }

// events returns the rows, a folded one saying how many events it holds
// and when the last was. The callers' detail maps are not changed.
func (b *eventBatch) events() []boot.Event {
	for i, n := range b.count {
		if n == 1 {
			continue
		}
		e := &b.rows[i]
		d := make(map[string]any, len(e.Detail)+2)
		for k, v := range e.Detail {
			d[k] = v
		}
		d["count"], d["last"] = n, b.last[i]
		e.Detail = d
		e.Summary += " (" + strconv.Itoa(n) + " times)"
	}
	return b.rows
}

// written closes the Flush markers and empties the batch for reuse.
func (b *eventBatch) written() {
	for _, d := range b.done {
		close(d)
	}
	clear(b.rows) // drop the detail maps
	clear(b.seen)
	b.rows, b.count, b.last, b.done, b.taken = b.rows[:0], b.count[:0], b.last[:0], b.done[:0], 0
}

// sameDetail compares details of scalar values; anything else is taken
// as different, which only costs a row.
func sameDetail(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok {
			return false
		}
		switch av.(type) {
		case string, bool, int, int64, uint64, float64:
			if av != bv {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func (s *Store) writeEvents(ctx context.Context, conn *sql.Conn, rows []boot.Event) {
	err := connTx(ctx, conn, func(tx *sql.Tx) error { return s.insertEvents(ctx, tx, rows) })
	if err != nil {
		s.log.Error("sqlite: boot events not written", "count", len(rows), "err", err)
	}
}

// insertEventsSavepoint inserts events inside another transaction; on
// failure it undoes only them.
func (s *Store) insertEventsSavepoint(ctx context.Context, tx *sql.Tx, rows []boot.Event) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT events`); err != nil {
		return err
	}
	if err := s.insertEvents(ctx, tx, rows); err != nil {
		if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO events`); rerr != nil {
			return errors.Join(err, rerr)
		}
		tx.ExecContext(ctx, `RELEASE events`)
		return err
	}
	_, err := tx.ExecContext(ctx, `RELEASE events`)
	return err
}

func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, rows []boot.Event) error {
	// MACs first: TFTP and file downloads know only the address, and the
	// lease says whose it is.
	macs := make([]string, len(rows))
	var byIP *sql.Stmt
	for i, e := range rows {
		macs[i] = macString(e.MAC)
		if macs[i] != "" || !e.IP.IsValid() {
			continue
		}
		if byIP == nil {
			var err error
			if byIP, err = s.txStmt(ctx, tx, qLeaseMAC); err != nil {
				return err
			}
			defer byIP.Close()
		}
		if err := byIP.QueryRowContext(ctx, e.IP.String()).Scan(&macs[i]); err != nil && err != sql.ErrNoRows {
			return err
		}
	}
	return s.insertRows(ctx, tx, qInsertEvent, qInsertEvents, len(rows), func(i int) []any {
		e := rows[i]
		ip := ""
		if e.IP.IsValid() {
			ip = e.IP.String()
		}
		return []any{ns(e.Time), macs[i], ip, string(e.Kind), e.Summary, detailJSON(e.Detail)}
	})
}

// detailJSON encodes an event's detail.
func detailJSON(d map[string]any) string {
	if len(d) == 0 {
		return "{}"
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// Flush waits until every event queued before the call is written, so
// that a reader sees its own writes.
func (s *Store) Flush(ctx context.Context) error {
	done := make(chan struct{})
	// Wake the writer first: while it lingers it does not read the queue,
	// which may be full.
	select {
	case s.kick <- struct{}{}:
	default:
	}
	select {
	case s.eventq <- eventItem{done: done}:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return closedError{}
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Events returns the boot events for a MAC, oldest first.
func (s *Store) Events(ctx context.Context, mac string, n int) ([]appliance.BootEvent, error) {
	m, err := NormalizeMAC(mac)
	if err != nil {
		return nil, err
	}
	return s.events(ctx, []string{m}, n)
}

func (s *Store) events(ctx context.Context, macs []string, n int) ([]appliance.BootEvent, error) {
	var out []appliance.BootEvent
	for _, mac := range macs {
		rows, err := s.r.QueryContext(ctx, `SELECT id, ts, mac, ip, kind, summary, detail FROM boot_events
			WHERE mac = ? ORDER BY id DESC LIMIT ?`, mac, limit(n))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var e appliance.BootEvent
			var ts int64
			var detail string
			if err := rows.Scan(&e.ID, &ts, &e.MAC, &e.IP, &e.Kind, &e.Summary, &detail); err != nil {
				rows.Close()
				return nil, err
			}
			e.Time = fromNS(ts)
			e.Detail = json.RawMessage(detail)
			out = append(out, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Timeline merges a machine's boot events (over all its MACs) with its
// audit log, oldest first: the answer to "why did it boot that".
func (s *Store) Timeline(ctx context.Context, machineID int64, n int) ([]appliance.TimelineEntry, error) {
	m, err := s.Machine(ctx, machineID)
	if err != nil {
		return nil, err
	}
	var macs []string
	for _, i := range m.Interfaces {
		macs = append(macs, i.MAC)
	}
	evs, err := s.events(ctx, macs, n)
	if err != nil {
		return nil, err
	}
	audit, err := s.Audit(ctx, machineID, n)
	if err != nil {
		return nil, err
	}
	out := make([]appliance.TimelineEntry, 0, len(evs)+len(audit))
	for _, e := range evs {
		out = append(out, appliance.TimelineEntry{Time: e.Time, Source: "boot", Kind: e.Kind, MAC: e.MAC,
			Summary: e.Summary, Detail: e.Detail})
	}
	for _, a := range audit {
		summary := a.Action
		switch {
		case a.From != "" && a.To != "":
			summary += " " + string(a.From) + " -> " + string(a.To)
		case a.To != "":
			summary += " -> " + string(a.To)
		}
		if a.Reason != "" {
			summary += ": " + a.Reason
		}
		out = append(out, appliance.TimelineEntry{Time: a.Time, Source: "audit", Kind: a.Action,
			Summary: summary, Actor: a.Actor, Detail: a.Detail})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out, nil
}

// PruneEvents deletes boot events older than before and returns how many.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM boot_events WHERE ts < ?`, ns(before))
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return n, err
}
