package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/sync/wire"
)

// Uplink pushes the outbox to HQ and pulls intents, for as long as it
// runs. A dead link only delays sync: nothing at the site waits on it.
type Uplink struct {
	Store *sqlite.Store
	Apply *Applier
	// HQ is HQ's base URL; Key is this site's key.
	HQ   string
	Key  string
	HTTP *http.Client
	Log  *slog.Logger
	// BatchChanges and BatchBytes bound one push.
	BatchChanges, BatchBytes int
	// Poll is how often an idle link looks for new changes and intents.
	Poll time.Duration
	// MaxBackoff caps the wait between failed attempts.
	MaxBackoff time.Duration
}

// Run syncs until ctx ends.
func (u *Uplink) Run(ctx context.Context) error {
	if u.BatchChanges <= 0 || u.BatchChanges > wire.MaxChanges {
		u.BatchChanges = wire.MaxChanges
	}
	if u.BatchBytes <= 0 || u.BatchBytes > wire.MaxBatchBytes/2 {
		u.BatchBytes = wire.MaxBatchBytes / 2
	}
	if u.Poll <= 0 {
		u.Poll = 250 * time.Millisecond
	}
	if u.MaxBackoff <= 0 {
		u.MaxBackoff = 30 * time.Second
	}
	wait := time.Duration(0)
	for {
		// Conflicts are local: they are retried whatever the link does.
		if u.Apply != nil {
			if err := u.Apply.RetryConflicts(ctx); err != nil && ctx.Err() == nil {
				u.Log.Warn("sync: conflicts", "err", err)
			}
		}
		err := u.Cycle(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			u.Store.LinkDown(ctx, err.Error())
			// Backoff with full jitter, so that many sites do not come
			// back in lockstep when HQ returns.
			if wait == 0 {
				wait = time.Second
			} else {
				wait = min(wait*2, u.MaxBackoff)
			}
			d := time.Duration(rand.Int64N(int64(wait))) + 100*time.Millisecond
			u.Log.Warn("sync: HQ unreachable; will retry", "err", err, "in", d.Round(time.Millisecond))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(d):
			}
			continue
		}
		wait = 0
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(u.Poll):
		}
	}
}

// Cycle pushes everything queued, then pulls and applies intents.
func (u *Uplink) Cycle(ctx context.Context) error {
	if err := u.pushAll(ctx); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if err := u.pull(ctx); err != nil {
		return fmt.Errorf("intents: %w", err)
	}
	return u.Store.LinkUp(ctx)
}

// batch is one push, read from the outbox and encoded.
type batch struct {
	from, last int64
	body       []byte
}

// batch reads the changes after seq into a push; nil when there are none.
func (u *Uplink) batch(ctx context.Context, after int64) (*batch, error) {
	st, err := u.Store.Sync(ctx)
	if err != nil {
		return nil, err
	}
	changes, err := u.Store.Outbox(ctx, after, u.BatchChanges, u.BatchBytes)
	if err != nil || len(changes) == 0 {
		return nil, err
	}
	last := changes[len(changes)-1].Seq
	p := wire.Push{From: changes[0].Seq, Backlog: max(st.LastSeq-last, 0), SentAt: time.Now(),
		Reset: st.ResetSeq != 0 && changes[0].Seq == st.ResetSeq}
	p.Changes = make([]wire.Change, len(changes))
	for i, c := range changes {
		p.Changes[i] = wire.Change{Seq: c.Seq, Tbl: c.Tbl, Op: c.Op, Key: c.Key, Row: c.Row, TS: c.TS}
	}
	body, err := json.Marshal(p)
	return &batch{from: p.From, last: last, body: body}, err
}

// pushDepth is how many batches are in flight at once: HQ decodes and
// checks one while PostgreSQL applies the one before, and the site reads
// the next meanwhile. HQ applies them in order (a batch that overtakes
// its predecessor waits for it there).
const pushDepth = 2

// flight is a batch sent and its reply to come.
type flight struct {
	b     *batch
	reply chan pushReply
	// ahead: sent while an earlier batch was unacknowledged, so a refusal
	// may only mean HQ looked at it before that one was applied.
	ahead bool
}

type pushReply struct {
	acked int64
	err   error
}

// pushAll pushes everything queued, up to pushDepth batches at a time,
// and records each acknowledgement as it comes.
func (u *Uplink) pushAll(ctx context.Context) error {
	st, err := u.Store.Sync(ctx)
	if err != nil {
		return err
	}
	acked, next := st.AckedSeq, st.AckedSeq // next: where the next batch starts after
	var q []flight
	// settle waits for every reply still due, so that no push outlives
	// this call; their answers no longer matter.
	settle := func() {
		for _, f := range q {
			<-f.reply
		}
		q = nil
	}
	defer settle()
	for {
		for len(q) < pushDepth {
			b, err := u.batch(ctx, next)
			if err != nil {
				return err
			}
			if b == nil {
				break
			}
			f := flight{b: b, reply: make(chan pushReply, 1), ahead: len(q) > 0}
			go func() {
				a, err := u.push(ctx, f.b)
				f.reply <- pushReply{a, err}
			}()
			q = append(q, f)
			next = b.last
		}
		if len(q) == 0 {
			return nil
		}
		f := q[0]
		q = q[1:]
		r := <-f.reply
		if r.err != nil {
			return r.err
		}
		switch {
		case r.acked == f.b.last:
			acked = r.acked
			if err := u.Store.Acked(ctx, acked); err != nil {
				return err
			}
		case f.ahead && r.acked < f.b.last:
			// HQ looked at it before the batch ahead of it was applied:
			// send again from what HQ holds, one batch first.
			settle()
			if r.acked >= acked && r.acked <= f.b.last {
				acked = r.acked
				if err := u.Store.Acked(ctx, acked); err != nil {
					return err
				}
			}
			next = acked
		case r.acked < f.b.from-1 || r.acked > f.b.last:
			// HQ's history and ours disagree: it lost what it had
			// acknowledged (restored from a backup), or it holds more
			// than this site ever sent (a rebuilt box reusing the site's
			// key). The site resends its whole state, marked as a reset.
			settle()
			u.Log.Error("sync: HQ's history does not match; resending a full snapshot", "hq_acked", r.acked, "site_acked", acked, "sent_to", f.b.last)
			if err := u.Store.Resnapshot(ctx); err != nil {
				return err
			}
			if st, err = u.Store.Sync(ctx); err != nil {
				return err
			}
			acked, next = st.AckedSeq, st.AckedSeq
		default:
			// HQ holds part of the batch: resume after what it holds.
			settle()
			acked, next = r.acked, r.acked
			if err := u.Store.Acked(ctx, acked); err != nil {
				return err
			}
		}
	}
}

// push sends one batch and returns HQ's acknowledged sequence number. A
// batch HQ already holds (its acknowledgement was lost) or one after a
// gap is answered with where HQ stands, which is all the site needs.
func (u *Uplink) push(ctx context.Context, b *batch) (int64, error) {
	var reply wire.PushReply
	status, raw, err := u.do(ctx, http.MethodPost, wire.PathPush, b.body, &reply)
	if err != nil {
		return 0, err
	}
	switch status {
	case http.StatusOK:
		return reply.Acked, nil
	case http.StatusConflict:
		var e wire.ErrorReply
		if json.Unmarshal(raw, &e) == nil && e.Acked != nil {
			return *e.Acked, nil
		}
	}
	return 0, fmt.Errorf("HQ refused batch %d-%d: %d %s", b.from, b.last, status, bytes.TrimSpace(raw))
}

func (u *Uplink) pull(ctx context.Context) error {
	for {
		st, err := u.Store.Sync(ctx)
		if err != nil {
			return err
		}
		var reply wire.IntentsReply
		status, raw, err := u.do(ctx, http.MethodGet, wire.PathIntents+"?after="+strconv.FormatInt(st.IntentCursor, 10), nil, &reply)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("%d %s", status, bytes.TrimSpace(raw))
		}
		if len(reply.Intents) == 0 {
			return nil
		}
		for _, in := range reply.Intents {
			out, err := u.Apply.Apply(ctx, in)
			if err != nil {
				return fmt.Errorf("applying intent %d: %w", in.Seq, err)
			}
			if out.Status != "duplicate" {
				u.Log.Info("sync: intent", "seq", in.Seq, "kind", in.Kind, "status", out.Status, "note", out.Note)
			}
		}
	}
}

func (u *Uplink) do(ctx context.Context, method, path string, body []byte, out any) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.HQ+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+u.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := u.HTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return 0, nil, errors.New("HQ sent malformed JSON")
		}
	}
	return resp.StatusCode, raw, nil
}
