package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"time"
)

// writerLoop owns the two high-rate write paths. Leases come first: a
// DHCP ACK waits on them. Timeline events go in small batches between
// lease commits, with synchronous=NORMAL: losing the last events in a
// power cut is acceptable, and the next FULL commit syncs them anyway.
func (s *Store) writerLoop() {
	defer s.wg.Done()
	leases := make([]leaseReq, 0, maxLeaseBatch)
	events := make([]eventItem, 0, maxEventBatch)
	for {
		leases, events = leases[:0], events[:0]
		select {
		case r := <-s.leaseq:
			leases = append(leases, r)
		default:
			select {
			case r := <-s.leaseq:
				leases = append(leases, r)
			case e := <-s.eventq:
				events = append(events, e)
			case <-s.stop:
				s.drain()
				return
			}
		}
		if len(leases) > 0 {
			s.flushLeases(s.fillLeases(leases))
			continue
		}
		s.drainEvents(&events)
		s.flushEvents(events)
	}
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

func (s *Store) flushLeases(batch []leaseReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.withConn(ctx, func(c *sql.Conn) error { return s.writeLeases(ctx, c, batch) })
	for _, r := range batch {
		r.done <- err
	}
}

func (s *Store) flushEvents(batch []eventItem) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.withConn(ctx, func(c *sql.Conn) error {
		if _, err := c.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
			return err
		}
		s.writeEvents(ctx, c, batch)
		_, err := c.ExecContext(ctx, `PRAGMA synchronous = FULL`)
		return err
	})
	if err != nil {
		// The connection may be left at NORMAL: drop it so that the next
		// one opens with the DSN's FULL.
		s.log.Error("sqlite: event batch connection failed", "err", err)
	}
}

func (s *Store) drainEvents(batch *[]eventItem) {
	for len(*batch) < maxEventBatch {
		select {
		case e := <-s.eventq:
			*batch = append(*batch, e)
		default:
			return
		}
	}
}

// drain writes whatever is queued, at stop.
func (s *Store) drain() {
	for {
		leases := s.fillLeases(nil)
		var events []eventItem
		s.drainEvents(&events)
		if len(leases) == 0 && len(events) == 0 {
			return
		}
		if len(leases) > 0 {
			s.flushLeases(leases)
		}
		if len(events) > 0 {
			s.flushEvents(events)
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
