package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/outpostdc/outpost/appliance"
)

// ProvisionRequest is an HQ request as the site works it.
type ProvisionRequest struct {
	ID        int64 `json:"id"`
	IntentSeq int64 `json:"intent_seq"`
	appliance.ProvisionSpec
	Status     string    `json:"status"` // open, short, complete, withdrawn
	Reason     string    `json:"reason,omitempty"`
	Allocated  int       `json:"allocated"`
	Installing int       `json:"installing"`
	Done       int       `json:"done"`
	Failed     int       `json:"failed"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Member is one machine working for a request.
type Member struct {
	RequestID int64  `json:"request_id"`
	MachineID int64  `json:"machine_id"`
	N         int    `json:"n"`
	JobID     int64  `json:"job_id"`
	Status    string `json:"status"` // installing, done, failed
}

// InsertRequestTx records a request from HQ, in the intent's transaction.
func InsertRequestTx(ctx context.Context, tx *sql.Tx, now int64, id, intentSeq int64, p appliance.ProvisionSpec) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM provision_requests WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return appliance.Errorf(appliance.CodeConflict, "request %d exists", id)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO provision_requests (id, intent_seq, count, role, hw_class, min_cpus, min_memory,
		hostname_pattern, image, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)`,
		id, intentSeq, p.Count, p.Role, p.Class, p.MinCores, p.MinMemoryGiB, p.HostnamePattern, p.Image, now, now)
	return err
}

const requestCols = `id, intent_seq, count, role, hw_class, min_cpus, min_memory, hostname_pattern, image, status, reason,
	allocated, installing, done, failed, created_at, updated_at`

func scanRequest(r scanner) (ProvisionRequest, error) {
	var p ProvisionRequest
	var c, u int64
	err := r.Scan(&p.ID, &p.IntentSeq, &p.Count, &p.Role, &p.Class, &p.MinCores, &p.MinMemoryGiB, &p.HostnamePattern, &p.Image,
		&p.Status, &p.Reason, &p.Allocated, &p.Installing, &p.Done, &p.Failed, &c, &u)
	p.CreatedAt, p.UpdatedAt = fromNS(c), fromNS(u)
	return p, err
}

// Requests lists provisioning requests; open lists only unfinished ones.
func (s *Store) Requests(ctx context.Context, open bool) ([]ProvisionRequest, error) {
	q := `SELECT ` + requestCols + ` FROM provision_requests`
	if open {
		q += ` WHERE status IN ('open', 'short')`
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ProvisionRequest
	for rows.Next() {
		p, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// RequestTx reads a request inside a transaction.
func RequestTx(ctx context.Context, tx *sql.Tx, id int64) (ProvisionRequest, error) {
	p, err := scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestCols+` FROM provision_requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, notFound("request", id)
	}
	return p, err
}

// Members lists a request's machines.
func (s *Store) Members(ctx context.Context, requestID int64) ([]Member, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT request_id, machine_id, n, job_id, status FROM provision_members
		WHERE request_id = ? ORDER BY n`, requestID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.RequestID, &m.MachineID, &m.N, &m.JobID, &m.Status); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Allocate gives a ready machine to a request in one transaction: the
// machine becomes allocated with its role and host name, joins the
// request, and gets its install job.
func (s *Store) Allocate(ctx context.Context, req ProvisionRequest, machineID int64, n int, hostname string, img Image, attempts int) (int64, error) {
	var jobID int64
	actor := appliance.Actor(fmt.Sprintf("hq-request:%d", req.ID))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := ns(s.now())
		if err := transition(ctx, tx, now, machineID, appliance.StateAllocated, actor,
			fmt.Sprintf("allocated to HQ request %d as %s", req.ID, hostname)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE machines SET hostname = ?, role = ?, updated_at = ? WHERE id = ?`,
			hostname, req.Role, now, machineID); err != nil {
			return err
		}
		var err error
		jobID, err = s.CreateJobTx(ctx, tx, now, NewJob{Action: appliance.ActionInstall, MachineID: machineID, MaxAttempts: attempts,
			Params: map[string]string{"image": img.Name + ":" + img.Version, "image_sha256": img.SHA256, "request": fmt.Sprint(req.ID)}}, actor)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO provision_members (request_id, machine_id, n, job_id, status) VALUES (?, ?, ?, ?, 'installing')`,
			req.ID, machineID, n, jobID)
		return err
	})
	return jobID, err
}

// SetMember changes a member's status.
func (s *Store) SetMember(ctx context.Context, requestID, machineID int64, status string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE provision_members SET status = ? WHERE request_id = ? AND machine_id = ?`, status, requestID, machineID)
		return err
	})
}

// SetRequest writes a request's progress, only when it changed, so that
// the outbox carries real changes only.
func (s *Store) SetRequest(ctx context.Context, p ProvisionRequest) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE provision_requests SET status = ?, reason = ?, allocated = ?, installing = ?, done = ?,
			failed = ?, updated_at = ? WHERE id = ? AND (status, reason, allocated, installing, done, failed) IS NOT (?, ?, ?, ?, ?, ?)`,
			p.Status, p.Reason, p.Allocated, p.Installing, p.Done, p.Failed, ns(s.now()), p.ID,
			p.Status, p.Reason, p.Allocated, p.Installing, p.Done, p.Failed)
		return err
	})
}

// WithdrawRequestTx stops a request: no more machines are picked; those
// already working keep their jobs.
func WithdrawRequestTx(ctx context.Context, tx *sql.Tx, now, id int64) error {
	r, err := tx.ExecContext(ctx, `UPDATE provision_requests SET status = 'withdrawn', reason = 'withdrawn by HQ', updated_at = ?
		WHERE id = ? AND status IN ('open', 'short')`, now, id)
	if err != nil {
		return err
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return appliance.Errorf(appliance.CodeConflict, "request %d is not open", id)
	}
	return nil
}
