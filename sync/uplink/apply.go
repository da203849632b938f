// Package uplink is a site's side of sync: the uplink that pushes the
// outbox to HQ and pulls HQ's intents, and the rules that apply intents
// without ever overwriting what the site owns.
//
// The conflict rule: the site owns physical facts and its technicians'
// actions. An intent that contradicts them (a job on a machine a
// technician froze, or on a broken or busy one) is not applied and is not
// dropped: it becomes an open conflict holding both sides' values, visible
// at the site and, through the outbox, at HQ. It is applied by itself
// once the local state no longer contradicts it (the machine is
// unfrozen, repaired or idle), or closed when HQ withdraws the intent.
package uplink

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/config"
	"github.com/outpostdc/outpost/appliance/images"
	"github.com/outpostdc/outpost/appliance/policy"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/sync/wire"
)

// Applier applies HQ's intents at the site.
type Applier struct {
	Store  *sqlite.Store
	Images *images.Store
	// SetPolicy installs a policy HQ sent.
	SetPolicy func(policy.Config)
	// Kick wakes the job engine and the provisioning reconciler.
	Kick     func()
	Attempts int
	HTTP     *http.Client
	Log      *slog.Logger
}

// Apply applies one intent, exactly once.
func (a *Applier) Apply(ctx context.Context, in wire.Intent) (sqlite.IntentOutcome, error) {
	si := sqlite.Intent{Seq: in.Seq, Kind: in.Kind, Body: in.Body}
	var pol *policy.Config
	var fetch *wire.ImageBody
	out, err := a.Store.ApplyIntent(ctx, si, func(tx *sql.Tx, now int64) (sqlite.IntentOutcome, error) {
		switch in.Kind {
		case wire.KindProvision:
			var b wire.ProvisionBody
			if err := wire.DecodeIntent(in.Body, &b); err != nil {
				return sqlite.IntentOutcome{}, err
			}
			if err := b.ProvisionSpec.Check(); err != nil {
				return sqlite.IntentOutcome{}, err
			}
			if err := sqlite.InsertRequestTx(ctx, tx, now, b.Request, in.Seq, b.ProvisionSpec); err != nil {
				return sqlite.IntentOutcome{}, err
			}
			return sqlite.IntentOutcome{Status: "applied", Note: fmt.Sprintf("request %d for %d machines", b.Request, b.Count)}, nil
		case wire.KindJob:
			return a.job(ctx, tx, now, in.Seq, in.Body, appliance.Actor("hq:"+in.CreatedBy))
		case wire.KindPolicy:
			var b wire.PolicyBody
			if err := wire.DecodeIntent(in.Body, &b); err != nil {
				return sqlite.IntentOutcome{}, err
			}
			p, err := PolicyFrom(b)
			if err != nil {
				return sqlite.IntentOutcome{}, err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO policy_overrides (id, body, intent_seq, updated_at) VALUES (1, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET body = excluded.body, intent_seq = excluded.intent_seq, updated_at = excluded.updated_at`,
				string(in.Body), in.Seq, now); err != nil {
				return sqlite.IntentOutcome{}, err
			}
			pol = &p
			return sqlite.IntentOutcome{Status: "applied", Note: "job policies replaced"}, nil
		case wire.KindImage:
			var b wire.ImageBody
			if err := wire.DecodeIntent(in.Body, &b); err != nil {
				return sqlite.IntentOutcome{}, err
			}
			if err := b.Check(); err != nil {
				return sqlite.IntentOutcome{}, err
			}
			fetch = &b
			return sqlite.IntentOutcome{Status: "applied", Note: "image " + b.Name + ":" + b.Version + " queued for download"}, nil
		case wire.KindWithdraw:
			var b wire.WithdrawBody
			if err := wire.DecodeIntent(in.Body, &b); err != nil {
				return sqlite.IntentOutcome{}, err
			}
			return a.withdraw(ctx, tx, now, b.Seq)
		}
		return sqlite.IntentOutcome{}, appliance.Errorf(appliance.CodeInvalid, "unknown intent kind %q", in.Kind)
	})
	if err != nil {
		return out, err
	}
	if pol != nil && a.SetPolicy != nil {
		a.SetPolicy(*pol)
	}
	if fetch != nil && out.Status == "applied" {
		// Downloads run outside the intent's transaction; a failed one is
		// logged and HQ can send the image again.
		go a.download(context.WithoutCancel(ctx), *fetch)
	}
	if a.Kick != nil {
		a.Kick()
	}
	return out, nil
}

// job applies a job intent, or parks it as a conflict.
func (a *Applier) job(ctx context.Context, tx *sql.Tx, now, seq int64, body json.RawMessage, actor appliance.Actor) (sqlite.IntentOutcome, error) {
	var b wire.JobBody
	if err := wire.DecodeIntent(body, &b); err != nil {
		return sqlite.IntentOutcome{}, err
	}
	m, err := a.Store.MachineTx(ctx, tx, `m.serial = ?`, b.Serial)
	if err != nil {
		return sqlite.IntentOutcome{}, err
	}
	var busy int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM jobs WHERE machine_id = ? AND status IN ('queued', 'running')`, m.ID).Scan(&busy); err != nil {
		return sqlite.IntentOutcome{}, err
	}
	action := appliance.JobAction(b.Action)
	if why, conflict := appliance.JobIntentConflict(m, action, busy); conflict {
		site, _ := json.Marshal(map[string]any{"state": m.State, "state_reason": m.StateReason, "busy_job": busy})
		c := sqlite.Conflict{IntentSeq: seq, Kind: wire.KindJob, MachineID: m.ID, SiteValue: site, HQValue: body,
			Rule: "site wins: " + why + "; the job waits until the local state allows it, or HQ withdraws it"}
		if err := sqlite.AddConflictTx(ctx, tx, now, c); err != nil {
			return sqlite.IntentOutcome{}, err
		}
		return sqlite.IntentOutcome{Status: "conflict", Note: why}, nil
	}
	id, err := a.createJob(ctx, tx, now, seq, m.ID, action, b.Params, actor)
	if err != nil {
		return sqlite.IntentOutcome{}, err
	}
	return sqlite.IntentOutcome{Status: "applied", Note: fmt.Sprintf("job %d %s on machine %d", id, action, m.ID)}, nil
}

func (a *Applier) createJob(ctx context.Context, tx *sql.Tx, now, seq, machineID int64, action appliance.JobAction, params map[string]string, actor appliance.Actor) (int64, error) {
	p := map[string]string{}
	for k, v := range params {
		if !strings.HasPrefix(k, "_") {
			p[k] = v
		}
	}
	p["intent"] = fmt.Sprint(seq)
	if action == appliance.ActionInstall {
		var sha, name, version string
		ref := p["image"]
		q, args := `SELECT sha256, name, version FROM images WHERE sha256 = ?`, []any{ref}
		if n, v, ok := strings.Cut(ref, ":"); ok {
			q, args = `SELECT sha256, name, version FROM images WHERE name = ? AND version = ?`, []any{n, v}
		}
		if err := tx.QueryRowContext(ctx, q, args...).Scan(&sha, &name, &version); err != nil {
			return 0, appliance.Errorf(appliance.CodeInvalid, "image %q is not in this site's store", ref)
		}
		p["image_sha256"], p["image"] = sha, name+":"+version
	}
	attempts := a.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	return a.Store.CreateJobTx(ctx, tx, now, sqlite.NewJob{Action: action, MachineID: machineID, Params: p, MaxAttempts: attempts}, actor)
}

// withdraw takes back an earlier intent: an open request stops, a job
// not yet started is cancelled, open conflicts for it are closed.
func (a *Applier) withdraw(ctx context.Context, tx *sql.Tx, now, seq int64) (sqlite.IntentOutcome, error) {
	var notes []string
	var reqID int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM provision_requests WHERE intent_seq = ?`, seq).Scan(&reqID)
	if err == nil {
		if err := sqlite.WithdrawRequestTx(ctx, tx, now, reqID); err == nil {
			notes = append(notes, fmt.Sprintf("request %d withdrawn", reqID))
		}
	}
	r, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'cancelled', error = 'withdrawn by HQ', ended_at = ?, updated_at = ?
		WHERE status = 'queued' AND json_extract(params, '$.intent') = ?`, now, now, fmt.Sprint(seq))
	if err != nil {
		return sqlite.IntentOutcome{}, err
	}
	if n, _ := r.RowsAffected(); n > 0 {
		notes = append(notes, fmt.Sprintf("%d queued job cancelled", n))
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM conflicts WHERE intent_seq = ? AND status = 'open'`, seq)
	if err != nil {
		return sqlite.IntentOutcome{}, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		if err := sqlite.ResolveConflictTx(ctx, tx, now, id, "intent withdrawn by HQ"); err != nil {
			return sqlite.IntentOutcome{}, err
		}
		notes = append(notes, fmt.Sprintf("conflict %d closed", id))
	}
	if len(notes) == 0 {
		notes = append(notes, "nothing left to withdraw")
	}
	return sqlite.IntentOutcome{Status: "applied", Note: strings.Join(notes, "; ")}, nil
}

// RetryConflicts applies parked job intents whose machines no longer
// contradict them. It runs at the site, partition or not.
func (a *Applier) RetryConflicts(ctx context.Context) error {
	open, err := a.Store.Conflicts(ctx, "open")
	if err != nil {
		return err
	}
	kicked := false
	for _, c := range open {
		if c.Kind != wire.KindJob {
			continue
		}
		var b wire.JobBody
		if err := json.Unmarshal(c.HQValue, &b); err != nil {
			continue
		}
		err := a.Store.Tx(ctx, func(tx *sql.Tx, now int64) error {
			m, err := a.Store.MachineTx(ctx, tx, `m.id = ?`, c.MachineID)
			if err != nil {
				return err
			}
			var busy int64
			if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM jobs WHERE machine_id = ? AND status IN ('queued', 'running')`, m.ID).Scan(&busy); err != nil {
				return err
			}
			if _, still := appliance.JobIntentConflict(m, appliance.JobAction(b.Action), busy); still {
				return nil
			}
			id, err := a.createJob(ctx, tx, now, c.IntentSeq, m.ID, appliance.JobAction(b.Action), b.Params, "hq:conflict-retry")
			if err != nil {
				return err
			}
			kicked = true
			return sqlite.ResolveConflictTx(ctx, tx, now, c.ID, fmt.Sprintf("applied as job %d once the machine was %s", id, m.State))
		})
		if err != nil {
			a.Log.Warn("sync: retrying a conflict failed", "conflict", c.ID, "err", err)
		}
	}
	if kicked && a.Kick != nil {
		a.Kick()
	}
	return nil
}

func (a *Applier) download(ctx context.Context, b wire.ImageBody) {
	if a.Images == nil {
		return
	}
	if _, err := a.Store.ImageByRef(ctx, b.SHA256); err == nil {
		return
	}
	hc := a.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: time.Hour}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.URL, nil)
	if err != nil {
		a.Log.Error("sync: image URL", "url", b.URL, "err", err)
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		a.Log.Error("sync: image download failed", "url", b.URL, "err", err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		a.Log.Error("sync: image download failed", "url", b.URL, "status", resp.Status)
		return
	}
	img, err := a.Images.Add(ctx, images.Meta{Name: b.Name, Version: b.Version, Format: b.Format, SHA256: b.SHA256}, resp.Body, "hq")
	if err != nil {
		a.Log.Error("sync: image not added", "image", b.Name+":"+b.Version, "err", err)
		return
	}
	a.Log.Info("sync: image added from HQ's catalogue", "image", img.Name+":"+img.Version, "sha256", img.SHA256)
}

// PolicyFrom turns HQ's policy body into job policies.
func PolicyFrom(b wire.PolicyBody) (policy.Config, error) {
	c := config.Config{Jobs: config.Jobs{Policies: config.Policies{MaxSite: b.MaxSite, MaxPerAction: b.MaxPerAction,
		MaxPerRack: b.MaxPerRack, Windows: b.Windows, Breaker: config.Breaker{Window: b.BreakerN, MaxFailed: b.BreakerMax}}}}
	p, err := c.PolicyConfig()
	if err != nil {
		// HQ sent a policy the site cannot use: the intent fails, it is
		// not the site's fault.
		return p, appliance.Errorf(appliance.CodeInvalid, "%v", err)
	}
	return p, nil
}
