// Package hq is headquarters' side of sync: a PostgreSQL store of every
// site's facts and of the intents HQ sends them, and the HTTP service
// sites push to and pull from.
package hq

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/sync/wire"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is HQ's database.
type Store struct {
	DB *pgxpool.Pool

	turns turns
}

// turnWait is how long a batch that arrives ahead of the one before it
// (a site keeps two in flight) waits for it before it is refused as a gap.
const turnWait = 5 * time.Second

// turns is what this process last saw each site's acked_seq become, so
// that a batch ahead of its predecessor waits for it instead of being
// refused. It is only a hint: the transaction checks the database, and a
// site that is not known here (HQ restarted, another replica) never waits.
type turns struct {
	mu    gosync.Mutex
	acked map[string]int64
	moved map[string]chan struct{}
}

// wait returns once the site's acked_seq reaches from-1, or after max.
func (t *turns) wait(ctx context.Context, site string, from int64, max time.Duration) {
	timer := time.NewTimer(max)
	defer timer.Stop()
	for {
		t.mu.Lock()
		a, known := t.acked[site]
		if !known || a >= from-1 {
			t.mu.Unlock()
			return
		}
		if t.moved == nil {
			t.moved = make(map[string]chan struct{})
		}
		ch := t.moved[site]
		if ch == nil {
			ch = make(chan struct{})
			t.moved[site] = ch
		}
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		}
	}
}

func (t *turns) set(site string, acked int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.acked == nil {
		t.acked = make(map[string]int64)
	}
	t.acked[site] = acked
	if ch := t.moved[site]; ch != nil {
		close(ch)
		delete(t.moved, site)
	}
}

// Open connects and migrates.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("hq: database: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("hq: database: %w", err)
	}
	s := &Store{DB: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() { s.DB.Close() }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.DB.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("hq: migrations table: %w", err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("hq: migration %s: no number", base)
		}
		body, _ := migrations.ReadFile(name)
		err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, v).Scan(&n); err != nil || n > 0 {
				return err
			}
			for _, stmt := range splitSQL(string(body)) {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("%w\n%s", err, stmt)
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, v, base)
			return err
		})
		if err != nil {
			return fmt.Errorf("hq: migration %s: %w", base, err)
		}
	}
	return nil
}

// splitSQL splits a migration into statements, one per ";" at a line end,
// dropping comments: distributed SQL databases want one statement per Exec.
func splitSQL(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line + "\n")
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

func hashKey(k string) string {
	h := sha256.Sum256([]byte(k))
	return hex.EncodeToString(h[:])
}

func secret(prefix string) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// AddSite registers a site and returns its key, shown once.
func (s *Store) AddSite(ctx context.Context, id, name string) (string, error) {
	if id == "" || len(id) > 64 || strings.ContainsAny(id, " /\\\x00") {
		return "", appliance.Errorf(appliance.CodeInvalid, "site id must be 1 to 64 characters, no spaces or slashes")
	}
	key, err := secret("site_")
	if err != nil {
		return "", err
	}
	_, err = s.DB.Exec(ctx, `INSERT INTO sites (id, name, key_hash) VALUES ($1, $2, $3)`, id, name, hashKey(key))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return "", appliance.Errorf(appliance.CodeConflict, "site %q exists", id)
	}
	return key, err
}

// SiteForKey authenticates a site by its key.
func (s *Store) SiteForKey(ctx context.Context, key string) (string, error) {
	var id string
	err := s.DB.QueryRow(ctx, `SELECT id FROM sites WHERE key_hash = $1`, hashKey(key)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", appliance.Errorf(appliance.CodeUnauthorized, "unknown site key")
	}
	return id, err
}

// PushError refuses a batch; Acked tells the site where HQ stands.
type PushError struct {
	Code  appliance.Code
	Kind  string // replayed, gap, invalid
	Msg   string
	Acked int64
}

func (e *PushError) Error() string { return e.Msg }

// CheckPush validates a batch before anything is applied.
func CheckPush(p wire.Push) error {
	bad := func(format string, a ...any) error {
		return &PushError{Code: appliance.CodeInvalid, Kind: "invalid", Msg: fmt.Sprintf(format, a...)}
	}
	if len(p.Changes) == 0 {
		return bad("empty batch")
	}
	if len(p.Changes) > wire.MaxChanges {
		return &PushError{Code: appliance.CodeTooLarge, Kind: "invalid", Msg: fmt.Sprintf("%d changes, over the limit of %d", len(p.Changes), wire.MaxChanges)}
	}
	if p.From <= 0 || p.Changes[0].Seq != p.From {
		return bad("from is %d, first change is %d", p.From, p.Changes[0].Seq)
	}
	tables := map[string]bool{}
	for _, t := range wire.Tables() {
		tables[t] = true
	}
	for i, c := range p.Changes {
		if c.Seq != p.From+int64(i) {
			return bad("change %d has seq %d, want %d: a batch is consecutive", i, c.Seq, p.From+int64(i))
		}
		if !tables[c.Tbl] {
			return bad("change %d: unknown table %q", c.Seq, c.Tbl)
		}
		if c.Key == "" || len(c.Key) > 256 {
			return bad("change %d: key must be 1 to 256 bytes", c.Seq)
		}
		switch c.Op {
		case "upsert":
			if !isObject(c.Row) {
				return bad("change %d: row is not a JSON object", c.Seq)
			}
		case "delete":
		default:
			return bad("change %d: op %q is not upsert or delete", c.Seq, c.Op)
		}
	}
	return nil
}

// ParsePush decodes a push body strictly: unknown fields and anything after
// the batch are refused. CheckPush then validates what it holds.
func ParsePush(body []byte) (wire.Push, error) {
	var p wire.Push
	if err := wire.Strict(body, &p); err != nil {
		return p, appliance.Errorf(appliance.CodeInvalid, "malformed batch: %v", err)
	}
	return p, nil
}

// pgJSON makes a row storable as jsonb, which cannot hold U+0000: a NUL
// in a string (a DMI field full of them, say) becomes U+FFFD, so that one
// odd value cannot block a site's sync for good.
func pgJSON(raw []byte) ([]byte, error) {
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(withoutNUL(v))
}

func withoutNUL(v any) any {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, "\x00", "\uFFFD")
	case []any:
		for i := range x {
			x[i] = withoutNUL(x[i])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[strings.ReplaceAll(k, "\x00", "\uFFFD")] = withoutNUL(e)
		}
		return out
	}
	return v
}

// isObject says whether raw is one valid JSON object; it checks without
// decoding, which would cost more than the rest of a push.
func isObject(raw []byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}

// ApplyPush applies a batch in one transaction and returns the sequence
// number up to which HQ now holds everything. A batch HQ already holds is
// refused as replayed and changes nothing; one that skips ahead is
// refused as a gap. Either way the error carries what HQ holds.
func (s *Store) ApplyPush(ctx context.Context, site string, p wire.Push) (int64, error) {
	if err := CheckPush(p); err != nil {
		return 0, err
	}
	last := p.Changes[len(p.Changes)-1].Seq
	// The rows are worked out before the site's row is locked, for the
	// usual case of a batch that follows what HQ holds, so that this
	// overlaps the batch before it.
	rows := latest(p.Changes, p.From-1)
	if !p.Reset {
		s.turns.wait(ctx, site, p.From, turnWait)
	}
	var acked int64
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT acked_seq FROM sites WHERE id = $1 FOR UPDATE`, site).Scan(&acked); err != nil {
			return err
		}
		if p.Reset {
			// The site resends everything: what HQ held is replaced.
			if _, err := tx.Exec(ctx, `DELETE FROM facts WHERE site_id = $1`, site); err != nil {
				return err
			}
			acked = p.From - 1
		}
		if last <= acked {
			return &PushError{Code: appliance.CodeConflict, Kind: "replayed", Acked: acked,
				Msg: fmt.Sprintf("batch %d-%d replayed: HQ holds everything up to %d", p.From, last, acked)}
		}
		if p.From > acked+1 {
			return &PushError{Code: appliance.CodeConflict, Kind: "gap", Acked: acked,
				Msg: fmt.Sprintf("batch starts at %d but HQ holds only up to %d: resend from %d", p.From, acked, acked+1)}
		}
		b := &pgx.Batch{}
		if acked != p.From-1 {
			rows = latest(p.Changes, acked) // an overlapping batch
		}
		if len(rows.delKinds) > 0 {
			b.Queue(`DELETE FROM facts WHERE site_id = $1 AND (kind, key) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
				site, rows.delKinds, rows.delKeys)
		}
		if len(rows.kinds) > 0 {
			b.Queue(`INSERT INTO facts (site_id, kind, key, data, seq, changed_at)
				SELECT $1, u.kind, u.key, u.data::jsonb, u.seq, u.changed_at
				FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[]) AS u (kind, key, data, seq, changed_at)
				ON CONFLICT (site_id, kind, key) DO UPDATE SET data = excluded.data, seq = excluded.seq,
				changed_at = excluded.changed_at, applied_at = now()`, site, rows.kinds, rows.keys, rows.data, rows.seqs, rows.at)
		}
		lag := int64(0)
		if rows.newest > 0 {
			lag = time.Since(time.Unix(0, rows.newest)).Milliseconds()
		}
		b.Queue(`UPDATE sites SET acked_seq = $2, last_contact = now(), backlog = $3, lag_ms = $4 WHERE id = $1`, site, last, p.Backlog, lag)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		acked = last
		return nil
	})
	var pe *PushError
	if err == nil || errors.As(err, &pe) && pe.Kind != "invalid" {
		s.turns.set(site, acked)
	}
	return acked, err
}

// factRows is a batch as columns, for one multi-row statement per
// operation: a statement per change costs PostgreSQL more than its row.
type factRows struct {
	kinds, keys, data []string
	seqs              []int64
	at                []time.Time
	delKinds, delKeys []string
	newest            int64
}

// latest keeps the last change of each row after acked: applied in
// order, the earlier ones would be overwritten in the same transaction,
// and a multi-row upsert may touch a row only once.
func latest(changes []wire.Change, acked int64) factRows {
	type ref struct{ kind, key string }
	last := make(map[ref]int, len(changes))
	var r factRows
	for i, c := range changes {
		if c.Seq > acked {
			last[ref{c.Tbl, c.Key}] = i
			r.newest = max(r.newest, c.TS)
		}
	}
	for i, c := range changes {
		if c.Seq <= acked || last[ref{c.Tbl, c.Key}] != i {
			continue
		}
		if c.Op == "delete" {
			r.delKinds, r.delKeys = append(r.delKinds, c.Tbl), append(r.delKeys, c.Key)
			continue
		}
		at := time.Unix(0, c.TS)
		if c.TS == 0 {
			at = time.Now()
		}
		row, err := pgJSON(c.Row)
		if err != nil {
			row = c.Row // CheckPush found it valid; PostgreSQL will say why not
		}
		r.kinds, r.keys, r.data = append(r.kinds, c.Tbl), append(r.keys, c.Key), append(r.data, string(row))
		r.seqs, r.at = append(r.seqs, c.Seq), append(r.at, at)
	}
	return r
}

// IntentsAfter lists a site's intents after a cursor and notes the
// site's progress.
func (s *Store) IntentsAfter(ctx context.Context, site string, after int64, n int) ([]wire.Intent, error) {
	if n <= 0 || n > 1000 {
		n = 500
	}
	if _, err := s.DB.Exec(ctx, `UPDATE sites SET intent_cursor = greatest(intent_cursor, $2), last_contact = now() WHERE id = $1`,
		site, after); err != nil {
		return nil, err
	}
	rows, err := s.DB.Query(ctx, `SELECT seq, kind, body, created_at, created_by FROM intents WHERE site_id = $1 AND seq > $2
		ORDER BY seq LIMIT $3`, site, after, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []wire.Intent{}
	for rows.Next() {
		var in wire.Intent
		if err := rows.Scan(&in.Seq, &in.Kind, &in.Body, &in.CreatedAt, &in.CreatedBy); err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// AddIntent appends an intent to a site's log.
func (s *Store) AddIntent(ctx context.Context, site, kind string, body any, by string) (int64, error) {
	var seq int64
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var err error
		seq, err = addIntentTx(ctx, tx, site, kind, body, by)
		return err
	})
	return seq, err
}

func addIntentTx(ctx context.Context, tx pgx.Tx, site, kind string, body any, by string) (int64, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	var seq int64
	err = tx.QueryRow(ctx, `UPDATE sites SET intent_seq = intent_seq + 1 WHERE id = $1 RETURNING intent_seq`, site).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, appliance.Errorf(appliance.CodeNotFound, "site %q not found", site)
	}
	if err != nil {
		return 0, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO intents (site_id, seq, kind, body, created_by) VALUES ($1, $2, $3, $4, $5)`, site, seq, kind, b, by)
	return seq, err
}

// CreateRequest records a provisioning request and sends it to its site.
func (s *Store) CreateRequest(ctx context.Context, site string, spec appliance.ProvisionSpec, by string) (int64, int64, error) {
	if err := spec.Check(); err != nil {
		return 0, 0, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, 0, err
	}
	// IDs are allocated here, not by a sequence: see the migration.
	id := int64(binary.BigEndian.Uint64(b[:])>>12) + 1
	var seq int64
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var err error
		seq, err = addIntentTx(ctx, tx, site, wire.KindProvision, wire.ProvisionBody{Request: id, ProvisionSpec: spec}, by)
		if err != nil {
			return err
		}
		sb, _ := json.Marshal(spec)
		_, err = tx.Exec(ctx, `INSERT INTO requests (id, site_id, intent_seq, spec, created_by) VALUES ($1, $2, $3, $4, $5)`,
			id, site, seq, sb, by)
		return err
	})
	return id, seq, err
}

// WithdrawRequest takes a request back from its site.
func (s *Store) WithdrawRequest(ctx context.Context, id int64, by string) error {
	return pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var site string
		var seq int64
		var withdrawn bool
		err := tx.QueryRow(ctx, `SELECT site_id, intent_seq, withdrawn FROM requests WHERE id = $1 FOR UPDATE`, id).Scan(&site, &seq, &withdrawn)
		if errors.Is(err, pgx.ErrNoRows) {
			return appliance.Errorf(appliance.CodeNotFound, "request %d not found", id)
		}
		if err != nil {
			return err
		}
		if withdrawn {
			return appliance.Errorf(appliance.CodeConflict, "request %d is already withdrawn", id)
		}
		if _, err := addIntentTx(ctx, tx, site, wire.KindWithdraw, wire.WithdrawBody{Seq: seq}, by); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE requests SET withdrawn = true WHERE id = $1`, id)
		return err
	})
}
