// Package sqlite is the inventory store: one SQLite file in WAL mode, a
// single writer connection that takes its lock at BEGIN, a pool of
// readers, and migrations embedded in the binary.
//
// Machines, state changes, audit entries, tokens and leases are written
// durably (synchronous=FULL) before the call returns. Boot events, the
// timeline's DHCP, TFTP and HTTP steps, are best effort: Record queues
// them without blocking, the writer commits them in batches about 20 ms
// after the first of a batch came (Flush waits for them), a full queue
// drops them (counted by Options.OnEventDrop and logged), and events of
// one batch that differ only in time are stored as one row that says how
// many times and when the last one was.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/outpostdc/outpost/appliance"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune a Store.
type Options struct {
	Log *slog.Logger
	Now func() time.Time
	// Readers is the size of the reader pool.
	Readers int
	// EventQueue bounds boot events waiting to be written.
	EventQueue int
	// OnEventDrop is called when the event queue is full.
	OnEventDrop func()
}

// Store is the inventory.
type Store struct {
	w, r *sql.DB
	log  *slog.Logger
	now  func() time.Time

	leaseq chan leaseReq
	eventq chan eventItem
	onDrop func()
	drops  atomic.Uint64 // events dropped, for the writer's warnings
	kick   chan struct{} // Flush ends the writer's linger
	stop   chan struct{}
	wg     gosync.WaitGroup
	closed gosync.Once
	// stmts caches prepared reader statements for hot queries: modernc
	// parses SQL anew for every unprepared query.
	stmts  gosync.Map // query string -> *sql.Stmt on the reader pool
	wstmts gosync.Map // the same on the writer
	// gen counts ended write transactions, so that callers can cache
	// inventory reads: see Generation.
	gen atomic.Uint64
}

// Generation changes after every write transaction on the inventory has
// ended (lease and boot-event batches change no machine and leave it).
// A read begun after Generation returned g sees every write ended before
// it, so a result cached under g is current while Generation returns g.
// Only this process writes the file; an outside writer would go unseen.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// txStmt returns a statement bound to tx, reusing one prepared at Open
// when there is one: the writer pool has one connection, so those are
// parsed once. Preparing lazily here could deadlock, because the caller
// may hold that one connection.
func (s *Store) txStmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st, ok := s.wstmts.Load(q); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
	}
	return tx.PrepareContext(ctx, q)
}

// hotWrites are prepared at Open for txStmt.
func hotWrites() []string {
	return []string{qUpsertLease, qUpsertLeases, qInsertEvent, qInsertEvents, qLeaseMAC}
}

// rowsPerInsert is how many rows the multi-row forms of the hot inserts
// take: one statement per row costs more in the driver than the row does
// in SQLite.
const rowsPerInsert = 16

// multiRow repeats the VALUES tuple of a one-row INSERT n times; what
// follows the tuple (an ON CONFLICT clause) is kept.
func multiRow(q string, n int) string {
	i := strings.Index(q, "VALUES (")
	j := i + strings.Index(q[i:], ")") + 1
	tuple := q[i+len("VALUES ") : j]
	return q[:i] + "VALUES " + strings.TrimSuffix(strings.Repeat(tuple+", ", n), ", ") + q[j:]
}

// insertRows runs q (a one-row INSERT whose multi-row form for
// rowsPerInsert rows is many) for every row, rowsPerInsert at a time.
func (s *Store) insertRows(ctx context.Context, tx *sql.Tx, one, many string, n int, args func(i int) []any) error {
	var stOne, stMany *sql.Stmt
	defer func() {
		for _, st := range []*sql.Stmt{stOne, stMany} {
			if st != nil {
				st.Close()
			}
		}
	}()
	var err error
	i := 0
	if n >= rowsPerInsert {
		if stMany, err = s.txStmt(ctx, tx, many); err != nil {
			return err
		}
		buf := make([]any, 0, 8*rowsPerInsert)
		for ; i+rowsPerInsert <= n; i += rowsPerInsert {
			buf = buf[:0]
			for k := i; k < i+rowsPerInsert; k++ {
				buf = append(buf, args(k)...)
			}
			if _, err := stMany.ExecContext(ctx, buf...); err != nil {
				return err
			}
		}
	}
	if i < n {
		if stOne, err = s.txStmt(ctx, tx, one); err != nil {
			return err
		}
		for ; i < n; i++ {
			if _, err := stOne.ExecContext(ctx, args(i)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// queryRow runs a cached prepared statement on the reader pool.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st, ok := s.stmts.Load(q); ok {
		return st.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	st, err := s.r.PrepareContext(ctx, q)
	if err != nil {
		return s.r.QueryRowContext(ctx, q, args...)
	}
	if prev, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st.QueryRowContext(ctx, args...)
}

func dsn(path string, writer bool) string {
	v := url.Values{}
	v.Add("_pragma", "busy_timeout(10000)")
	v.Add("_pragma", "foreign_keys(1)")
	v.Add("_pragma", "journal_mode(WAL)")
	// FULL syncs the WAL at every commit: a lease acknowledged is a lease
	// that survives power loss. Group commit keeps that cheap.
	v.Add("_pragma", "synchronous(FULL)")
	if writer {
		v.Add("_txlock", "immediate")
	} else {
		v.Add("_pragma", "query_only(1)")
	}
	return "file:" + path + "?" + v.Encode()
}

// Open opens (creating if needed) and migrates the store at path.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.EventQueue <= 0 {
		o.EventQueue = 16384
	}
	w, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s := &Store{w: w, log: o.Log, now: o.Now, onDrop: o.OnEventDrop,
		leaseq: make(chan leaseReq, 1024), eventq: make(chan eventItem, o.EventQueue),
		kick: make(chan struct{}, 1), stop: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	for _, q := range hotWrites() {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
		s.wstmts.Store(q, st)
	}
	r, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	s.r = r
	s.wg.Add(1)
	go s.writerLoop()
	return s, nil
}

// Close flushes queued writes and closes the database.
func (s *Store) Close() error {
	if s.leaseq == nil {
		return s.r.Close() // a reader (OpenReader)
	}
	var err error
	s.closed.Do(func() {
		close(s.stop)
		s.wg.Wait()
		for _, m := range []*gosync.Map{&s.stmts, &s.wstmts} {
			m.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
		}
		err = errors.Join(s.r.Close(), s.w.Close())
	})
	return err
}

// migrate applies embedded migrations not yet applied, each in its own
// transaction, in file-name order.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: name must start with a number", base)
		}
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				v, base, s.now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", base, err)
		}
		s.log.Info("sqlite: applied migration", "name", base)
	}
	return nil
}

// SchemaVersion returns the newest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// tx runs fn in a write transaction on the single writer connection.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	// After the commit: a reader that saw the old generation may have
	// read the old rows.
	defer s.gen.Add(1)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Ping checks both pools.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return err
	}
	return s.r.PingContext(ctx)
}

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func notFound(what string, key any) error {
	return appliance.Errorf(appliance.CodeNotFound, "%s %v not found", what, key)
}

// OpenReader opens a store read-only, beside the outpostd that owns it:
// for checks and tools. Only reading methods may be used.
func OpenReader(ctx context.Context, path string) (*Store, error) {
	r, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return &Store{r: r, w: r, log: slog.New(slog.DiscardHandler), now: time.Now, stop: make(chan struct{})}, nil
}
