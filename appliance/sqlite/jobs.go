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

const jobCols = `id, action, machine_id, params, requester, status, attempts, max_attempts, phase, phase_deadline,
	waiting, progress, result, error, next_attempt_at, created_at, started_at, ended_at, updated_at`

func scanJob(r scanner) (appliance.Job, error) {
	var j appliance.Job
	var action, status, params, progress, result string
	var deadline, next, created, started, ended, updated int64
	err := r.Scan(&j.ID, &action, &j.MachineID, &params, &j.Requester, &status, &j.Attempts, &j.MaxAttempts, &j.Phase,
		&deadline, &j.Waiting, &progress, &result, &j.Error, &next, &created, &started, &ended, &updated)
	if err != nil {
		return j, err
	}
	j.Action, j.Status = appliance.JobAction(action), appliance.JobStatus(status)
	// Never nil: callers add to it.
	j.Params = map[string]string{}
	if params != "" && params != "{}" {
		json.Unmarshal([]byte(params), &j.Params)
	}
	if progress != "" && progress != "{}" {
		j.Progress = json.RawMessage(progress)
	}
	if result != "" && result != "{}" {
		j.Result = json.RawMessage(result)
	}
	j.PhaseDeadline, j.NextAttemptAt = fromNS(deadline), fromNS(next)
	j.CreatedAt, j.StartedAt, j.EndedAt, j.UpdatedAt = fromNS(created), fromNS(started), fromNS(ended), fromNS(updated)
	return j, nil
}

// NewJob is a job request.
type NewJob struct {
	Action      appliance.JobAction `json:"action"`
	MachineID   int64               `json:"machine_id"`
	Params      map[string]string   `json:"params"`
	MaxAttempts int                 `json:"max_attempts"`
}

// CreateJob queues a job. A machine has at most one unfinished job.
func (s *Store) CreateJob(ctx context.Context, n NewJob, requester appliance.Actor) (appliance.Job, error) {
	if !n.Action.Valid() {
		return appliance.Job{}, appliance.Errorf(appliance.CodeInvalid, "unknown action %q (install, recycle or power)", n.Action)
	}
	if n.MaxAttempts < 1 || n.MaxAttempts > 20 {
		return appliance.Job{}, appliance.Errorf(appliance.CodeInvalid, "max_attempts must be 1 to 20")
	}
	params, err := json.Marshal(n.Params)
	if err != nil {
		return appliance.Job{}, err
	}
	var id int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM machines WHERE id = ?`, n.MachineID).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return notFound("machine", n.MachineID)
		}
		var other int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE machine_id = ? AND status IN ('queued', 'running')`, n.MachineID).Scan(&other)
		if err == nil {
			return appliance.Errorf(appliance.CodeConflict, "machine %d already has job %d in progress", n.MachineID, other)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := ns(s.now())
		r, err := tx.ExecContext(ctx, `INSERT INTO jobs (action, machine_id, params, requester, status, max_attempts, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)`, string(n.Action), n.MachineID, string(params), string(requester), n.MaxAttempts, now, now)
		if err != nil {
			return err
		}
		id, _ = r.LastInsertId()
		return jobAudit(ctx, tx, now, n.MachineID, id, requester, "job_created",
			fmt.Sprintf("job %d %s queued", id, n.Action), map[string]any{"params": n.Params})
	})
	if err != nil {
		return appliance.Job{}, err
	}
	return s.JobTx(ctx, s.w, id)
}

func jobAudit(ctx context.Context, tx *sql.Tx, now, machineID, jobID int64, actor appliance.Actor, action, reason string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["job_id"] = jobID
	return audit(ctx, tx, now, machineID, actor, action, "", "", reason, detail)
}

// Job returns one job.
func (s *Store) Job(ctx context.Context, id int64) (appliance.Job, error) {
	return s.JobTx(ctx, s.r, id)
}

// JobTx reads a job through q.
func (s *Store) JobTx(ctx context.Context, q querier, id int64) (appliance.Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, notFound("job", id)
	}
	return j, err
}

// JobFilter selects jobs.
type JobFilter struct {
	Status    appliance.JobStatus
	Statuses  []appliance.JobStatus
	Action    appliance.JobAction
	MachineID int64
	AfterID   int64
	Limit     int
}

// Jobs lists jobs, oldest first.
func (s *Store) Jobs(ctx context.Context, f JobFilter) ([]appliance.Job, error) {
	q := `SELECT ` + jobCols + ` FROM jobs WHERE id > ?`
	args := []any{f.AfterID}
	if f.Status != "" {
		f.Statuses = append(f.Statuses, f.Status)
	}
	if len(f.Statuses) > 0 {
		q += ` AND status IN (?` + strings.Repeat(`, ?`, len(f.Statuses)-1) + `)`
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if f.Action != "" {
		q += ` AND action = ?`
		args = append(args, string(f.Action))
	}
	if f.MachineID > 0 {
		q += ` AND machine_id = ?`
		args = append(args, f.MachineID)
	}
	q += ` ORDER BY id LIMIT ?`
	lim := f.Limit
	if lim <= 0 || lim > 100000 {
		lim = 1000
	}
	args = append(args, lim)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appliance.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// ActiveJob returns the machine's unfinished job, if any.
func (s *Store) ActiveJob(ctx context.Context, machineID int64) (appliance.Job, bool, error) {
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE machine_id = ? AND status IN ('queued', 'running')
		ORDER BY id DESC LIMIT 1`, machineID))
	if errors.Is(err, sql.ErrNoRows) {
		return j, false, nil
	}
	return j, err == nil, err
}

// JobUpdate changes a job in one transaction with the machine state
// change and the audit entry it implies. Zero fields are left alone.
type JobUpdate struct {
	// From guards the change: it applies only if the job is in this
	// status (and, with Phase set, in FromPhase when given).
	From      appliance.JobStatus
	FromPhase string
	To        appliance.JobStatus
	Phase     *string
	Deadline  *time.Time
	Waiting   *string
	Progress  any
	Result    any
	// Params replaces the job's parameters.
	Params map[string]string
	Error  *string
	NextAt *time.Time
	// Attempt counts a new attempt starting.
	Attempt bool
	// Machine moves the job's machine to this state, with MachineReason.
	Machine       appliance.State
	MachineReason string
	// Audit is the line for the audit log and timeline; empty: none.
	Audit string
	Actor appliance.Actor
}

// errStale is returned when the job moved on before the update.
type staleError struct{ msg string }

func (e staleError) Error() string { return e.msg }

// IsStale reports whether an update lost a race with another.
func IsStale(err error) bool {
	var s staleError
	return errors.As(err, &s)
}

// UpdateJob applies u to job id. It fails with a stale error when the job
// is no longer in u.From (and u.FromPhase), so that concurrent paths
// (an agent's report and a watchdog) cannot both act.
func (s *Store) UpdateJob(ctx context.Context, id int64, u JobUpdate) (appliance.Job, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		j, err := s.JobTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if u.From != "" && j.Status != u.From || u.FromPhase != "" && j.Phase != u.FromPhase {
			return staleError{fmt.Sprintf("job %d is %s/%s, not %s/%s", id, j.Status, j.Phase, u.From, u.FromPhase)}
		}
		now := s.now()
		set := []string{"updated_at = ?"}
		args := []any{ns(now)}
		add := func(col string, v any) { set = append(set, col+" = ?"); args = append(args, v) }
		if u.To != "" && u.To != j.Status {
			if err := appliance.CheckJobStatus(j.Status, u.To); err != nil {
				return err
			}
			add("status", string(u.To))
			if u.To.Done() {
				add("ended_at", ns(now))
			}
			if u.To == appliance.JobRunning && j.StartedAt.IsZero() {
				add("started_at", ns(now))
			}
		}
		if u.Attempt {
			add("attempts", j.Attempts+1)
		}
		if u.Phase != nil {
			add("phase", *u.Phase)
		}
		if u.Deadline != nil {
			add("phase_deadline", ns(*u.Deadline))
		}
		if u.Waiting != nil {
			add("waiting", *u.Waiting)
		}
		if u.Error != nil {
			add("error", *u.Error)
		}
		if u.NextAt != nil {
			add("next_attempt_at", ns(*u.NextAt))
		}
		if u.Params != nil {
			b, err := json.Marshal(u.Params)
			if err != nil {
				return err
			}
			add("params", string(b))
		}
		for col, v := range map[string]any{"progress": u.Progress, "result": u.Result} {
			if v != nil {
				b, err := json.Marshal(v)
				if err != nil {
					return err
				}
				add(col, string(b))
			}
		}
		args = append(args, id)
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET `+strings.Join(set, ", ")+` WHERE id = ?`, args...); err != nil {
			return err
		}
		if u.Machine != "" {
			var cur string
			if err := tx.QueryRowContext(ctx, `SELECT state FROM machines WHERE id = ?`, j.MachineID).Scan(&cur); err != nil {
				return err
			}
			if appliance.State(cur) != u.Machine {
				if err := transition(ctx, tx, ns(now), j.MachineID, u.Machine, u.Actor, u.MachineReason); err != nil {
					return err
				}
			}
		}
		if u.Audit != "" {
			actor := u.Actor
			if actor == "" {
				actor = appliance.ActorSystem
			}
			detail := map[string]any{"phase": j.Phase, "status": string(j.Status)}
			if u.Phase != nil {
				detail["phase"] = *u.Phase
			}
			if u.To != "" {
				detail["status"] = string(u.To)
			}
			return jobAudit(ctx, tx, ns(now), j.MachineID, id, actor, "job", fmt.Sprintf("job %d %s: %s", id, j.Action, u.Audit), detail)
		}
		return nil
	})
	if err != nil {
		return appliance.Job{}, err
	}
	return s.JobTx(ctx, s.w, id)
}

// RecentOutcomes returns whether each of the last n finished jobs of an
// action failed, oldest first, for the failure-rate breaker. Cancelled
// jobs, and jobs that ended before the queue was last resumed, do not
// count.
func (s *Store) RecentOutcomes(ctx context.Context, action appliance.JobAction, n int) ([]bool, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT status FROM jobs WHERE action = ? AND status IN ('succeeded', 'failed')
		AND ended_at > coalesce((SELECT at FROM queue_resumes WHERE action = ?), 0)
		ORDER BY ended_at DESC, id DESC LIMIT ?`, string(action), string(action), n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bool
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			return nil, err
		}
		out = append(out, st == string(appliance.JobFailed))
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}

// PausedQueue is one paused job queue.
type PausedQueue struct {
	Action appliance.JobAction `json:"action"`
	Since  time.Time           `json:"since"`
	Actor  string              `json:"actor"`
	Reason string              `json:"reason"`
}

// PauseQueue stops jobs of an action from starting until resumed.
func (s *Store) PauseQueue(ctx context.Context, action appliance.JobAction, actor appliance.Actor, reason string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		now := ns(s.now())
		r, err := tx.ExecContext(ctx, `INSERT INTO paused_queues (action, since, actor, reason) VALUES (?, ?, ?, ?)
			ON CONFLICT (action) DO NOTHING`, string(action), now, string(actor), reason)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return appliance.Errorf(appliance.CodeConflict, "the %s queue is already paused", action)
		}
		return audit(ctx, tx, now, 0, actor, "queue_paused", "", "", string(action)+": "+reason, map[string]any{"queue": string(action)})
	})
}

// ResumeQueue lets a paused queue run again.
func (s *Store) ResumeQueue(ctx context.Context, action appliance.JobAction, actor appliance.Actor, reason string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM paused_queues WHERE action = ?`, string(action))
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return appliance.Errorf(appliance.CodeConflict, "the %s queue is not paused", action)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO queue_resumes (action, at) VALUES (?, ?)
			ON CONFLICT (action) DO UPDATE SET at = excluded.at`, string(action), ns(s.now())); err != nil {
			return err
		}
		return audit(ctx, tx, ns(s.now()), 0, actor, "queue_resumed", "", "", string(action)+": "+reason, map[string]any{"queue": string(action)})
	})
}

// PausedQueues lists the paused queues.
func (s *Store) PausedQueues(ctx context.Context) ([]PausedQueue, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT action, since, actor, reason FROM paused_queues ORDER BY action`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PausedQueue
	for rows.Next() {
		var p PausedQueue
		var since int64
		if err := rows.Scan(&p.Action, &since, &p.Actor, &p.Reason); err != nil {
			return nil, err
		}
		p.Since = fromNS(since)
		out = append(out, p)
	}
	return out, rows.Err()
}

// FrozenRack is a rack no job may touch.
type FrozenRack struct {
	Rack   string    `json:"rack"`
	Since  time.Time `json:"since"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
}

// FreezeRack refuses jobs on every machine in a rack.
func (s *Store) FreezeRack(ctx context.Context, rack string, actor appliance.Actor, reason string) error {
	if strings.TrimSpace(rack) == "" || strings.TrimSpace(reason) == "" {
		return appliance.Errorf(appliance.CodeInvalid, "a rack and a reason are required")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		now := ns(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO frozen_racks (rack, since, actor, reason) VALUES (?, ?, ?, ?)
			ON CONFLICT (rack) DO UPDATE SET reason = excluded.reason, actor = excluded.actor`, rack, now, string(actor), reason); err != nil {
			return err
		}
		return audit(ctx, tx, now, 0, actor, "rack_frozen", "", "", rack+": "+reason, map[string]any{"rack": rack})
	})
}

// UnfreezeRack lifts a rack freeze.
func (s *Store) UnfreezeRack(ctx context.Context, rack string, actor appliance.Actor) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM frozen_racks WHERE rack = ?`, rack)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return appliance.Errorf(appliance.CodeNotFound, "rack %q is not frozen", rack)
		}
		return audit(ctx, tx, ns(s.now()), 0, actor, "rack_unfrozen", "", "", rack, map[string]any{"rack": rack})
	})
}

// FrozenRacks lists frozen racks.
func (s *Store) FrozenRacks(ctx context.Context) ([]FrozenRack, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT rack, since, actor, reason FROM frozen_racks ORDER BY rack`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FrozenRack
	for rows.Next() {
		var f FrozenRack
		var since int64
		if err := rows.Scan(&f.Rack, &since, &f.Actor, &f.Reason); err != nil {
			return nil, err
		}
		f.Since = fromNS(since)
		out = append(out, f)
	}
	return out, rows.Err()
}

// SetFirmware records the firmware a machine booted with, when it changed.
func (s *Store) SetFirmware(ctx context.Context, machineID int64, fw string) error {
	var cur string
	if err := s.queryRow(ctx, `SELECT firmware FROM machines WHERE id = ?`, machineID).Scan(&cur); err != nil || cur == fw {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE machines SET firmware = ? WHERE id = ?`, fw, machineID)
		return err
	})
}

// Firmware returns the firmware a machine last booted with.
func (s *Store) Firmware(ctx context.Context, machineID int64) (string, error) {
	var fw string
	err := s.queryRow(ctx, `SELECT firmware FROM machines WHERE id = ?`, machineID).Scan(&fw)
	return fw, err
}

// JobMachine is what the scheduler needs to know of a job's machine.
type JobMachine struct {
	ID          int64
	Rack        string
	State       appliance.State
	StateReason string
}

// JobMachines returns the machines that have unfinished jobs.
func (s *Store) JobMachines(ctx context.Context) ([]JobMachine, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, rack, state, state_reason FROM machines
		WHERE id IN (SELECT machine_id FROM jobs WHERE status IN ('queued', 'running'))`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []JobMachine
	for rows.Next() {
		var m JobMachine
		var st string
		if err := rows.Scan(&m.ID, &m.Rack, &st, &m.StateReason); err != nil {
			return nil, err
		}
		m.State = appliance.State(st)
		out = append(out, m)
	}
	return out, rows.Err()
}
