package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/outpostdc/outpost/boot"
)

// eventLinger is how long the first boot event of a batch waits for
// others, so that a burst costs one transaction, not one per event.
// Leases never wait on it, and Flush cuts it short.
const eventLinger = 20 * time.Millisecond

// leaseLinger is the longest a lease waits for others to share its
// commit, and leaseGroup how many end the wait early. An ACK is late by at
// most this; DHCP clients wait seconds.
const (
	leaseLinger = time.Millisecond
	leaseGroup  = 32
)

// dropLogEvery spaces the warnings about dropped boot events.
const dropLogEvery = 10 * time.Second

// writerLoop owns the two high-rate write paths. Leases come first: a
// DHCP ACK waits on them, and the timeline events queued by then share
// their commit. Events with no lease to ride on go in batches of their
// own with synchronous=NORMAL: losing the last events in a power cut is
// acceptable, and the next FULL commit syncs them anyway.
func (s *Store) writerLoop() {
	defer s.wg.Done()
	leases := make([]leaseReq, 0, maxLeaseBatch)
	var ev eventBatch
	linger := time.NewTimer(eventLinger)
	linger.Stop()
	lingering := false
	hurry := false // a full batch was left queued: no linger for the next
	var dropsLogged uint64
	var dropLogAt time.Time
	for {
		leases = leases[:0]
		// While lingering, events stay queued: taking them one at a time
		// would wake this goroutine for every Record.
		eventq, lingerC := s.eventq, (<-chan time.Time)(nil)
		if lingering {
			eventq, lingerC = nil, linger.C
		}
		expired := false
		select {
		case r := <-s.leaseq:
			leases = append(leases, r)
		default:
			select {
			case r := <-s.leaseq:
				leases = append(leases, r)
			case e := <-eventq:
				ev.add(e)
			case <-lingerC:
				expired = true
			case <-s.kick:
				expired = lingering
			case <-s.stop:
				s.drain(&ev)
				return
			}
		}
		if len(leases) > 0 {
			leases = s.gatherLeases(leases)
			// Queued events ride along: one commit instead of two.
			s.drainEvents(&ev)
			s.flushLeases(leases, &ev) // leaves ev empty
			if lingering {
				linger.Stop()
				lingering = false
			}
			continue
		}
		if ev.empty() {
			continue
		}
		if !expired && !hurry && !ev.full() {
			if !lingering {
				linger.Reset(eventLinger)
				lingering = true
			}
			continue
		}
		linger.Stop()
		lingering = false
		s.drainEvents(&ev)
		if d := s.drops.Load(); d != dropsLogged && time.Since(dropLogAt) >= dropLogEvery {
			s.log.Warn("sqlite: boot event queue full, events dropped", "dropped", d-dropsLogged, "total", d)
			dropsLogged, dropLogAt = d, time.Now()
		}
		s.flushEvents(&ev)
		hurry = len(s.eventq) >= maxEventBatch
	}
}

// gatherLeases waits up to leaseLinger for more leases to join the first,
// unless leaseGroup are already there: a commit costs the same for one
// lease as for dozens (the pages, the fsync), and on this path the fsync
// is often fast enough that leases would otherwise go one by one.
func (s *Store) gatherLeases(batch []leaseReq) []leaseReq {
	batch = s.fillLeases(batch)
	if len(batch) >= leaseGroup {
		return batch
	}
	t := time.NewTimer(leaseLinger)
	defer t.Stop()
	for len(batch) < leaseGroup {
		select {
		case r := <-s.leaseq:
			batch = append(batch, r)
		case <-t.C:
			return batch
		case <-s.stop:
			return batch
		}
	}
	return batch
}

func (s *Store) fillLeases(batch []leaseReq) []leaseReq {
	for len(batch) < maxLeaseBatch {
		select {
		case r := <-s.leaseq:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// flushLeases commits a batch of leases, and the events in ev with them
// when there are any. A failure of the events never fails the leases.
func (s *Store) flushLeases(batch []leaseReq, ev *eventBatch) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rows []boot.Event
	if ev != nil && !ev.empty() {
		rows = ev.events()
	}
	var evErr error
	err := s.withConn(ctx, func(c *sql.Conn) error {
		return connTx(ctx, c, func(tx *sql.Tx) error {
			if err := s.insertLeases(ctx, tx, batch); err != nil {
				return err
			}
			if len(rows) > 0 {
				evErr = s.insertEventsSavepoint(ctx, tx, rows)
			}
			return nil
		})
	})
	for _, r := range batch {
		r.done <- err
	}
	if ev != nil && !ev.empty() {
		if len(rows) > 0 && (err != nil || evErr != nil) {
			s.log.Error("sqlite: boot events not written with leases", "count", len(rows), "err", errors.Join(err, evErr))
		}
		ev.written()
	}
}

func (s *Store) flushEvents(b *eventBatch) {
	defer b.written()
	rows := b.events()
	if len(rows) == 0 {
		return // only Flush markers
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.withConn(ctx, func(c *sql.Conn) error {
		if _, err := c.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
			return err
		}
		s.writeEvents(ctx, c, rows)
		_, err := c.ExecContext(ctx, `PRAGMA synchronous = FULL`)
		return err
	})
	if err != nil {
		// The connection may be left at NORMAL: drop it so that the next
		// one opens with the DSN's FULL.
		s.log.Error("sqlite: event batch connection failed", "err", err)
	}
}

func (s *Store) drainEvents(b *eventBatch) {
	for !b.full() {
		select {
		case e := <-s.eventq:
			b.add(e)
		default:
			return
		}
	}
}

// drain writes whatever is queued, at stop, after the events that were
// waiting for the linger timer.
func (s *Store) drain(ev *eventBatch) {
	for {
		leases := s.fillLeases(nil)
		s.drainEvents(ev)
		if len(leases) == 0 && ev.empty() {
			return
		}
		if len(leases) > 0 {
			s.flushLeases(leases, nil)
		}
		if !ev.empty() {
			s.flushEvents(ev)
		}
	}
}

// withConn holds the single writer connection for fn, so that connection
// settings fn changes cannot leak into another caller's transaction.
func (s *Store) withConn(ctx context.Context, fn func(*sql.Conn) error) error {
	c, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	err = fn(c)
	if err != nil {
		// Returning a possibly misconfigured connection to the pool is
		// worse than reopening one.
		c.Raw(func(any) error { return driver.ErrBadConn })
	}
	c.Close()
	return err
}

func connTx(ctx context.Context, c *sql.Conn, fn func(*sql.Tx) error) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
