package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
)

// SyncState is the site's side of the link to HQ.
type SyncState struct {
	Enabled          bool      `json:"enabled"`
	SiteID           string    `json:"site_id"`
	AckedSeq         int64     `json:"acked_seq"`
	IntentCursor     int64     `json:"intent_cursor"`
	LastContact      time.Time `json:"last_contact,omitempty"`
	PartitionedSince time.Time `json:"partitioned_since,omitempty"`
	LastError        string    `json:"last_error,omitempty"`
	// Backlog is how many changes wait in the outbox.
	Backlog int64 `json:"backlog"`
	// LastSeq is the newest change queued.
	LastSeq int64 `json:"last_seq"`
	// ResetSeq, when set, is the first change of a resent snapshot.
	ResetSeq int64 `json:"reset_seq,omitempty"`
}

// Sync returns the sync state with the outbox depth.
func (s *Store) Sync(ctx context.Context) (SyncState, error) {
	var st SyncState
	var contact, part int64
	err := s.r.QueryRowContext(ctx, `SELECT enabled, site_id, acked_seq, intent_cursor, last_contact, partitioned_since, last_error,
		coalesce((SELECT max(seq) FROM outbox), 0), reset_seq FROM sync_state WHERE id = 1`).
		Scan(&st.Enabled, &st.SiteID, &st.AckedSeq, &st.IntentCursor, &contact, &part, &st.LastError, &st.LastSeq, &st.ResetSeq)
	st.LastContact, st.PartitionedSince = fromNS(contact), fromNS(part)
	if st.LastSeq < st.AckedSeq {
		st.LastSeq = st.AckedSeq
	}
	// The outbox holds exactly the changes after acked_seq, numbered
	// without gaps (HQ takes only consecutive batches), so this is its
	// count without a scan of the whole table at every push.
	st.Backlog = st.LastSeq - st.AckedSeq
	return st, err
}

// EnableSync starts queueing changes for HQ as site siteID. The first time
// it queues a snapshot of every synced row, so that HQ starts complete.
func (s *Store) EnableSync(ctx context.Context, siteID string) error {
	if siteID == "" {
		return appliance.Errorf(appliance.CodeInvalid, "site id is required")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var enabled bool
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT enabled, site_id FROM sync_state WHERE id = 1`).Scan(&enabled, &cur); err != nil {
			return err
		}
		if enabled {
			if cur != siteID {
				return appliance.Errorf(appliance.CodeConflict, "this appliance syncs as site %q, not %q", cur, siteID)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sync_state SET enabled = 1, site_id = ? WHERE id = 1`, siteID); err != nil {
			return err
		}
		return snapshotTx(ctx, tx, ns(s.now()))
	})
}

// Resnapshot drops the outbox and queues the whole state again, marked so
// that HQ discards what it holds for this site and starts over. It is for
// when HQ's history and the site's disagree (HQ restored from a backup,
// or a rebuilt site reusing its key).
func (s *Store) Resnapshot(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox`); err != nil {
			return err
		}
		if err := snapshotTx(ctx, tx, ns(s.now())); err != nil {
			return err
		}
		var first int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(min(seq), 0) FROM outbox`).Scan(&first); err != nil {
			return err
		}
		acked := first - 1
		if first == 0 {
			// Nothing to resend: the next change follows the last number
			// used, so the outbox stays gapless after acked_seq.
			if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)`).Scan(&acked); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE sync_state SET reset_seq = ?, acked_seq = ? WHERE id = 1`, first, acked)
		return err
	})
}

// snapshotTx queues every synced row.
func snapshotTx(ctx context.Context, tx *sql.Tx, now int64) error {
	for _, t := range syncTables() {
		obj := make([]string, len(t.Cols))
		for i, c := range t.Cols {
			obj[i] = fmt.Sprintf("'%s', %s", c, c)
		}
		q := fmt.Sprintf(`INSERT INTO outbox (tbl, op, key, row, ts) SELECT '%s', 'upsert', %s, json_object(%s), ? FROM %s ORDER BY %s`,
			t.Name, t.Key, strings.Join(obj, ", "), t.Name, t.Key)
		if _, err := tx.ExecContext(ctx, q, now); err != nil {
			return fmt.Errorf("snapshot of %s: %w", t.Name, err)
		}
	}
	return nil
}

// Change is one queued change.
type Change struct {
	Seq int64           `json:"seq"`
	Tbl string          `json:"tbl"`
	Op  string          `json:"op"`
	Key string          `json:"key"`
	Row json.RawMessage `json:"row,omitempty"`
	TS  int64           `json:"ts"`
}

// Outbox returns queued changes after seq, oldest first, bounded by count
// and by the bytes of their rows (at least one change is returned).
func (s *Store) Outbox(ctx context.Context, after int64, maxN, maxBytes int) ([]Change, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, tbl, op, key, row, ts FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?`, after, maxN)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Change
	size := 0
	for rows.Next() {
		var c Change
		var row string
		if err := rows.Scan(&c.Seq, &c.Tbl, &c.Op, &c.Key, &row, &c.TS); err != nil {
			return nil, err
		}
		if c.Op == "upsert" {
			c.Row = json.RawMessage(row)
		}
		size += len(row) + len(c.Key) + 32
		if len(out) > 0 && size > maxBytes {
			break
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Acked records that HQ holds everything up to seq, and only then trims
// the outbox up to it.
func (s *Store) Acked(ctx context.Context, seq int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sync_state SET acked_seq = max(acked_seq, ?), last_contact = ?, partitioned_since = 0, last_error = '',
			reset_seq = CASE WHEN reset_seq <= ? THEN 0 ELSE reset_seq END WHERE id = 1`, seq, ns(s.now()), seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq <= ?`, seq)
		return err
	})
}

// LinkUp records a successful exchange with HQ.
func (s *Store) LinkUp(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sync_state SET last_contact = ?, partitioned_since = 0, last_error = '' WHERE id = 1`, ns(s.now()))
		return err
	})
}

// LinkDown records a failed exchange; the partition starts at the first.
func (s *Store) LinkDown(ctx context.Context, why string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sync_state SET last_error = ?,
			partitioned_since = CASE WHEN partitioned_since = 0 THEN ? ELSE partitioned_since END WHERE id = 1`, why, ns(s.now()))
		return err
	})
}

// Intent is an order from HQ.
type Intent struct {
	Seq  int64           `json:"seq"`
	Kind string          `json:"kind"`
	Body json.RawMessage `json:"body"`
}

// IntentOutcome is what applying one intent did.
type IntentOutcome struct {
	Status string // applied, conflict, withdrawn, failed, duplicate
	Note   string
}

// ApplyIntent applies one intent exactly once: its effect, its record and
// the cursor move in one transaction. An intent at or below the cursor is
// a duplicate and changes nothing.
func (s *Store) ApplyIntent(ctx context.Context, in Intent, apply func(tx *sql.Tx, now int64) (IntentOutcome, error)) (IntentOutcome, error) {
	var out IntentOutcome
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cursor int64
		if err := tx.QueryRowContext(ctx, `SELECT intent_cursor FROM sync_state WHERE id = 1`).Scan(&cursor); err != nil {
			return err
		}
		if in.Seq <= cursor {
			out = IntentOutcome{Status: "duplicate"}
			return nil
		}
		now := ns(s.now())
		var err error
		out, err = apply(tx, now)
		if err != nil {
			if appliance.ErrorCode(err) == appliance.CodeInternal {
				return err
			}
			// A bad intent is recorded as failed; it must not block the
			// ones after it.
			out = IntentOutcome{Status: "failed", Note: err.Error()}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO intents (seq, kind, body, status, note, applied_at) VALUES (?, ?, ?, ?, ?, ?)`,
			in.Seq, in.Kind, string(in.Body), out.Status, out.Note, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE sync_state SET intent_cursor = ? WHERE id = 1`, in.Seq)
		return err
	})
	return out, err
}

// AppliedIntent is an intent as the site recorded it.
type AppliedIntent struct {
	Seq       int64           `json:"seq"`
	Kind      string          `json:"kind"`
	Body      json.RawMessage `json:"body"`
	Status    string          `json:"status"`
	Note      string          `json:"note,omitempty"`
	AppliedAt time.Time       `json:"applied_at"`
}

// Intents lists applied intents, newest first.
func (s *Store) Intents(ctx context.Context, n int) ([]AppliedIntent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, kind, body, status, note, applied_at FROM intents ORDER BY seq DESC LIMIT ?`, limit(n))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AppliedIntent
	for rows.Next() {
		var a AppliedIntent
		var body string
		var at int64
		if err := rows.Scan(&a.Seq, &a.Kind, &body, &a.Status, &a.Note, &at); err != nil {
			return nil, err
		}
		a.Body, a.AppliedAt = json.RawMessage(body), fromNS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Conflict is a local fact that contradicts an HQ intent. Neither side is
// overwritten: the intent waits, and both values are kept.
type Conflict struct {
	ID         int64           `json:"id"`
	IntentSeq  int64           `json:"intent_seq"`
	Kind       string          `json:"kind"`
	MachineID  int64           `json:"machine_id,omitempty"`
	SiteValue  json.RawMessage `json:"site_value"`
	HQValue    json.RawMessage `json:"hq_value"`
	Rule       string          `json:"rule"`
	Status     string          `json:"status"`
	Resolution string          `json:"resolution,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	ResolvedAt time.Time       `json:"resolved_at,omitempty"`
}

// AddConflictTx records a conflict in an intent's transaction.
func AddConflictTx(ctx context.Context, tx *sql.Tx, now int64, c Conflict) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO conflicts (intent_seq, kind, machine_id, site_value, hq_value, rule, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, 'open', ?)`, c.IntentSeq, c.Kind, c.MachineID, string(c.SiteValue), string(c.HQValue), c.Rule, now)
	if err != nil {
		return err
	}
	return audit(ctx, tx, now, c.MachineID, "sync", "conflict", "", "",
		fmt.Sprintf("HQ intent %d (%s) conflicts with local state: %s", c.IntentSeq, c.Kind, c.Rule), nil)
}

// Conflicts lists conflicts; status "" lists all.
func (s *Store) Conflicts(ctx context.Context, status string) ([]Conflict, error) {
	q := `SELECT id, intent_seq, kind, machine_id, site_value, hq_value, rule, status, resolution, created_at, resolved_at FROM conflicts`
	var args []any
	if status != "" {
		q += ` WHERE status = ?`
		args = append(args, status)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var c Conflict
		var sv, hv string
		var created, resolved int64
		if err := rows.Scan(&c.ID, &c.IntentSeq, &c.Kind, &c.MachineID, &sv, &hv, &c.Rule, &c.Status, &c.Resolution, &created, &resolved); err != nil {
			return nil, err
		}
		c.SiteValue, c.HQValue = json.RawMessage(sv), json.RawMessage(hv)
		c.CreatedAt, c.ResolvedAt = fromNS(created), fromNS(resolved)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ResolveConflictTx closes an open conflict with how it was settled.
func ResolveConflictTx(ctx context.Context, tx *sql.Tx, now, id int64, resolution string) error {
	r, err := tx.ExecContext(ctx, `UPDATE conflicts SET status = 'resolved', resolution = ?, resolved_at = ? WHERE id = ? AND status = 'open'`,
		resolution, now, id)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return appliance.Errorf(appliance.CodeConflict, "conflict %d is not open", id)
	}
	return nil
}

// Tx runs fn in a write transaction, for packages that compose store
// writes with their own (intents, provisioning).
func (s *Store) Tx(ctx context.Context, fn func(tx *sql.Tx, now int64) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return fn(tx, ns(s.now())) })
}

// MachineTx reads a machine inside a transaction.
func (s *Store) MachineTx(ctx context.Context, tx *sql.Tx, where string, arg any) (appliance.Machine, error) {
	return s.machineWhere(ctx, tx, where, arg)
}

// CreateJobTx queues a job inside a transaction (see CreateJob).
func (s *Store) CreateJobTx(ctx context.Context, tx *sql.Tx, now int64, n NewJob, requester appliance.Actor) (int64, error) {
	if !n.Action.Valid() {
		return 0, appliance.Errorf(appliance.CodeInvalid, "unknown action %q", n.Action)
	}
	var other int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE machine_id = ? AND status IN ('queued', 'running')`, n.MachineID).Scan(&other)
	if err == nil {
		return 0, appliance.Errorf(appliance.CodeConflict, "machine %d already has job %d in progress", n.MachineID, other)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	params, err := json.Marshal(n.Params)
	if err != nil {
		return 0, err
	}
	r, err := tx.ExecContext(ctx, `INSERT INTO jobs (action, machine_id, params, requester, status, max_attempts, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)`, string(n.Action), n.MachineID, string(params), string(requester), n.MaxAttempts, now, now)
	if err != nil {
		return 0, err
	}
	id, _ := r.LastInsertId()
	return id, jobAudit(ctx, tx, now, n.MachineID, id, requester, "job_created", fmt.Sprintf("job %d %s queued", id, n.Action), map[string]any{"params": n.Params})
}

// TransitionTx moves a machine inside a transaction (see Transition).
func TransitionTx(ctx context.Context, tx *sql.Tx, now, id int64, to appliance.State, actor appliance.Actor, reason string) error {
	return transition(ctx, tx, now, id, to, actor, reason)
}

// AuditTx writes an audit entry inside a transaction.
func AuditTx(ctx context.Context, tx *sql.Tx, now, machineID int64, actor appliance.Actor, action, reason string) error {
	return audit(ctx, tx, now, machineID, actor, action, "", "", reason, nil)
}

// PolicyOverride returns the last policy body HQ sent, if any.
func (s *Store) PolicyOverride(ctx context.Context) ([]byte, bool, error) {
	var body string
	err := s.r.QueryRowContext(ctx, `SELECT body FROM policy_overrides WHERE id = 1`).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	return []byte(body), err == nil, err
}

// SyncedRows returns a synced table's rows as the outbox carries them,
// by key: what HQ must hold for this site once sync has drained.
func (s *Store) SyncedRows(ctx context.Context, table string) (map[string]json.RawMessage, error) {
	for _, t := range syncTables() {
		if t.Name != table {
			continue
		}
		obj := make([]string, len(t.Cols))
		for i, c := range t.Cols {
			obj[i] = fmt.Sprintf("'%s', %s", c, c)
		}
		rows, err := s.r.QueryContext(ctx, fmt.Sprintf(`SELECT %s, json_object(%s) FROM %s`, t.Key, strings.Join(obj, ", "), t.Name))
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := map[string]json.RawMessage{}
		for rows.Next() {
			var k, row string
			if err := rows.Scan(&k, &row); err != nil {
				return nil, err
			}
			out[k] = json.RawMessage(row)
		}
		return out, rows.Err()
	}
	return nil, appliance.Errorf(appliance.CodeNotFound, "table %q is not synced", table)
}

// SyncedTables lists the tables that flow to HQ.
func SyncedTables() []string {
	var out []string
	for _, t := range syncTables() {
		out = append(out, t.Name)
	}
	return out
}
