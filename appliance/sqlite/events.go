package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"sort"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/boot"
)

const (
	qInsertEvent = `INSERT INTO boot_events (ts, mac, ip, kind, summary, detail) VALUES (?, ?, ?, ?, ?, ?)`
	qLeaseMAC    = `SELECT mac FROM leases WHERE ip = ? ORDER BY updated_at DESC LIMIT 1`
)

// maxEventBatch bounds one events transaction, and so how long a lease
// commit can wait behind it.
const maxEventBatch = 256

// Record queues a boot event for the timeline. It never blocks: a full
// queue drops the event and says so through Options.OnEventDrop.
func (s *Store) Record(e boot.Event) {
	select {
	case s.eventq <- eventItem{e: e}:
	default:
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

func (s *Store) writeEvents(ctx context.Context, conn *sql.Conn, batch []eventItem) {
	defer func() {
		for _, it := range batch {
			if it.done != nil {
				close(it.done)
			}
		}
	}()
	err := connTx(ctx, conn, func(tx *sql.Tx) error {
		ins, err := s.txStmt(ctx, tx, qInsertEvent)
		if err != nil {
			return err
		}
		defer ins.Close()
		byIP, err := s.txStmt(ctx, tx, qLeaseMAC)
		if err != nil {
			return err
		}
		defer byIP.Close()
		for _, it := range batch {
			if it.done != nil {
				continue
			}
			e := it.e
			mac := macString(e.MAC)
			ip := ""
			if e.IP.IsValid() {
				ip = e.IP.String()
			}
			if mac == "" && ip != "" {
				// TFTP and file downloads know only the address.
				if err := byIP.QueryRowContext(ctx, ip).Scan(&mac); err != nil && err != sql.ErrNoRows {
					return err
				}
			}
			detail := []byte("{}")
			if len(e.Detail) > 0 {
				if b, err := json.Marshal(e.Detail); err == nil {
					detail = b
				}
			}
			if _, err := ins.ExecContext(ctx, ns(e.Time), mac, ip, string(e.Kind), e.Summary, string(detail)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("sqlite: boot events not written", "count", len(batch), "err", err)
	}
}

// Flush waits until every event queued before the call is written, so
// that a reader sees its own writes.
func (s *Store) Flush(ctx context.Context) error {
	done := make(chan struct{})
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
