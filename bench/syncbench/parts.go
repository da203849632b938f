package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/outpostdc/outpost/sync/wire"
)

// drainTarget is issue 6's figure for a backlog drained into PostgreSQL.
const drainTarget = 20000

// runTimeout bounds every wait for a drain.
const runTimeout = 15 * time.Minute

// drain: one site's backlog pushed to HQ, from the uplink's start to
// HQ's acknowledgement of the last change.
func (b *bench) drain(ctx context.Context) error {
	n := b.cfg.drainN
	dsn, keys, err := b.newHQDB(ctx, "drain", []string{"drain1"})
	if err != nil {
		return err
	}
	s, err := b.openSite(ctx, "drain1")
	if err != nil {
		return err
	}
	defer s.st.Close()
	b.log.Info("drain: queueing the backlog", "changes", n)
	t := time.Now()
	if err := s.backlog(ctx, n); err != nil {
		return err
	}
	built := time.Since(t)
	last, err := s.lastSeq(ctx)
	if err != nil {
		return err
	}
	h, before, err := b.begin(ctx, dsn, "drain")
	if err != nil {
		return err
	}
	defer h.stop()
	stopProfile, err := b.siteProfile("drain")
	if err != nil {
		return err
	}
	b.log.Info("drain: pushing", "changes", last)
	t0 := time.Now()
	b.start(s, h.URL, keys["drain1"], last, nil)
	if err := waitDone(ctx, s); err != nil {
		return err
	}
	took := s.watch.doneAt.Sub(t0)
	after, err := b.finish(ctx, dsn, h, stopProfile, s)
	if err != nil {
		return err
	}
	// HQ was stopped for its counters: a fresh one takes the replay.
	h2, err := b.startHQ(dsn, "replay")
	if err != nil {
		return err
	}
	defer h2.stop()
	replay, err := b.replay(ctx, dsn, h2.URL, keys["drain1"], s)
	if err != nil {
		return err
	}
	batches, bytes := s.watch.totals()
	rate := float64(last) / took.Seconds()
	b.say("drain: one site's backlog of %d changes, queued by the outbox triggers (%.1f s to queue), pushed to HQ", last, built.Seconds())
	b.say("")
	b.row("", "ours", "target", "met")
	b.row("changes/s", fmt.Sprintf("%.0f", rate), fmt.Sprintf(">= %d", drainTarget), meets(rate >= drainTarget))
	b.row("drained in, s", fmt.Sprintf("%.2f", took.Seconds()))
	b.row("batches", strconv.Itoa(batches))
	b.row("batch size (BatchChanges) / mean", fmt.Sprintf("%d / %.0f", b.batchSize(), float64(last)/float64(max(batches, 1))))
	b.row("mean change on the wire, bytes", fmt.Sprintf("%.0f", float64(bytes)/float64(last)))
	if err := b.report(ctx, dsn, before, after, int(last)); err != nil {
		return err
	}
	b.row("HQ holds exactly the site's rows", "yes")
	b.row("first batch replayed", replay)
	b.say("")
	b.say("Mix per machine: its row, 2 interfaces, an audit entry, a state change (row + audit entry), 4 DHCP leases.")
	return nil
}

// batchSize is the uplink's batch bound in force.
func (b *bench) batchSize() int {
	if b.cfg.batch > 0 && b.cfg.batch <= wire.MaxChanges {
		return b.cfg.batch
	}
	return wire.MaxChanges
}

// begin reads PostgreSQL's counters, then starts HQ and reads the CPU
// times. The counters are read with HQ stopped, because a busy backend
// may hold its statistics back for up to 10 s; they include HQ's start
// (a handful of transactions).
func (b *bench) begin(ctx context.Context, dsn, part string) (*hqProc, load, error) {
	var c load
	if err := b.counters(ctx, dsn, &c); err != nil {
		return nil, c, err
	}
	h, err := b.startHQ(dsn, part)
	if err != nil {
		return nil, c, err
	}
	l, err := b.sample(h)
	if err != nil {
		h.stop()
		return nil, c, err
	}
	l.commits, l.ins, l.upd, l.del, l.wal = c.commits, c.ins, c.upd, c.del, c.wal
	return h, l, nil
}

// end stops the sites' uplinks once they have recorded HQ's last
// acknowledgement, stops HQ, whose backends report their statistics as
// they exit, and reads PostgreSQL's counters.
// finish samples the counters, stops the profiles, ends the part and
// checks that HQ holds exactly each site's rows.
func (b *bench) finish(ctx context.Context, dsn string, h *hqProc, stopProfile func(), sites ...*site) (load, error) {
	after, err := b.sample(h)
	stopProfile()
	if err != nil {
		return after, err
	}
	if err := b.end(ctx, dsn, h, &after, sites...); err != nil {
		return after, err
	}
	for _, s := range sites {
		if err := verify(ctx, dsn, s); err != nil {
			return after, err
		}
	}
	return after, nil
}

func (b *bench) end(ctx context.Context, dsn string, h *hqProc, l *load, sites ...*site) error {
	for _, s := range sites {
		if err := s.settle(ctx); err != nil {
			return err
		}
	}
	h.stop()
	time.Sleep(statsSettle)
	return b.counters(ctx, dsn, l)
}

// siteProfile profiles this process (the sites) when asked to.
func (b *bench) siteProfile(part string) (func(), error) {
	p := b.profile("site", part)
	if p == "" {
		return func() {}, nil
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func waitDone(ctx context.Context, s *site) error {
	select {
	case <-s.watch.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(runTimeout):
		batches, _ := s.watch.totals()
		return fmt.Errorf("%s: not drained after %v (%d batches)", s.id, runTimeout, batches)
	}
}

// replay sends the site's first batch again: HQ must refuse it as
// replayed and change nothing.
func (b *bench) replay(ctx context.Context, dsn, hqURL, key string, s *site) (string, error) {
	s.watch.mu.Lock()
	body := s.watch.firstReq
	s.watch.mu.Unlock()
	if body == nil {
		return "", errors.New("no first batch kept")
	}
	was, err := digest(ctx, dsn, s.id)
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hqURL+wire.PathPush, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.tls.pool}}}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	is, err := digest(ctx, dsn, s.id)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusConflict || is != was {
		return "", fmt.Errorf("replayed batch: %d %s; HQ before %q, after %q", resp.StatusCode, raw, was, is)
	}
	return "409, no change", nil
}

// lag: the site writes leases at a steady rate while its uplink runs
// with its poll; each lease's lag is from SaveLease's return (committed
// at the site) to the reply of the push that carried it (committed at HQ).
func (b *bench) lag(ctx context.Context) error {
	dsn, keys, err := b.newHQDB(ctx, "lag", []string{"lag1"})
	if err != nil {
		return err
	}
	s, err := b.openSite(ctx, "lag1")
	if err != nil {
		return err
	}
	defer s.st.Close()
	h, before, err := b.begin(ctx, dsn, "lag")
	if err != nil {
		return err
	}
	defer h.stop()
	var mu sync.Mutex
	committed, arrived := map[string]time.Time{}, map[string]time.Time{}
	b.start(s, h.URL, keys["lag1"], 0, func(p wire.Push, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range p.Changes {
			if _, ok := arrived[c.Key]; !ok && c.Tbl == "leases" {
				arrived[c.Key] = at
			}
		}
	})
	time.Sleep(time.Second) // the first exchange, TLS handshake included
	stopProfile, err := b.siteProfile("lag")
	if err != nil {
		return err
	}
	total := int(float64(b.cfg.lagRate) * b.cfg.lagFor.Seconds())
	every := time.Second / time.Duration(b.cfg.lagRate)
	b.log.Info("lag: writing", "rate", b.cfg.lagRate, "for", b.cfg.lagFor)
	t0 := time.Now()
	for i := range total {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * every)))
		l := benchLease(i)
		if err := s.st.SaveLease(ctx, l); err != nil {
			return err
		}
		mu.Lock()
		committed[l.IP.String()] = time.Now()
		mu.Unlock()
	}
	wrote := time.Since(t0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n >= total {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d leases reached HQ", n, total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	after, err := b.finish(ctx, dsn, h, stopProfile, s)
	if err != nil {
		return err
	}
	var lags []time.Duration
	for k, c := range committed {
		lags = append(lags, arrived[k].Sub(c))
	}
	slices.Sort(lags)
	batches, _ := s.watch.totals()
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000) }
	p99 := pctl(lags, 99)
	b.say("lag: a site commits %d lease changes at %d/s (%.1f s) while its uplink runs, poll %v", total, b.cfg.lagRate, wrote.Seconds(), b.cfg.poll)
	b.say("")
	b.row("", "ours", "target", "met")
	b.row("site commit -> HQ commit p50, ms", ms(pctl(lags, 50)))
	b.row("site commit -> HQ commit p99, ms", ms(p99), "< 1000", meets(p99 < time.Second))
	b.row("site commit -> HQ commit max, ms", ms(lags[len(lags)-1]))
	b.row("batches / mean changes per batch", fmt.Sprintf("%d / %.1f", batches, float64(total)/float64(max(batches, 1))))
	if err := b.report(ctx, dsn, before, after, total); err != nil {
		return err
	}
	b.row("HQ holds exactly the site's rows", "yes")
	b.say("")
	b.say("Lag of one change: from SaveLease's return at the site (durable) to the site's receipt of HQ's reply to")
	b.say("the push that carried it (HQ committed before replying). CPU and counters include the idle polls.")
	return nil
}

// pctl is the p-th percentile (nearest rank) of sorted durations.
func pctl(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// manySites: many sites, each with a backlog, push to one HQ at once.
func (b *bench) manySites(ctx context.Context) error {
	ids := make([]string, b.cfg.sites)
	for i := range ids {
		ids[i] = fmt.Sprintf("site%03d", i+1)
	}
	dsn, keys, err := b.newHQDB(ctx, "sites", ids)
	if err != nil {
		return err
	}
	b.log.Info("sites: queueing backlogs", "sites", len(ids), "changes each", b.cfg.siteN)
	sites := make([]*site, len(ids))
	lasts := make([]int64, len(ids))
	defer func() {
		for _, s := range sites {
			if s != nil {
				s.st.Close()
			}
		}
	}()
	if err := parallel(len(ids), 4, func(i int) error {
		s, err := b.openSite(ctx, ids[i])
		if err != nil {
			return err
		}
		sites[i] = s
		if err := s.backlog(ctx, b.cfg.siteN); err != nil {
			return err
		}
		lasts[i], err = s.lastSeq(ctx)
		return err
	}); err != nil {
		return err
	}
	var total int64
	for _, l := range lasts {
		total += l
	}
	h, before, err := b.begin(ctx, dsn, "sites")
	if err != nil {
		return err
	}
	defer h.stop()
	stopProfile, err := b.siteProfile("sites")
	if err != nil {
		return err
	}
	b.log.Info("sites: pushing", "sites", len(sites), "changes", total)
	t0 := time.Now()
	for i, s := range sites {
		b.start(s, h.URL, keys[s.id], lasts[i], nil)
	}
	took := make([]time.Duration, len(sites))
	batches := 0
	for i, s := range sites {
		if err := waitDone(ctx, s); err != nil {
			return err
		}
		took[i] = s.watch.doneAt.Sub(t0)
		n, _ := s.watch.totals()
		batches += n
	}
	after, err := b.finish(ctx, dsn, h, stopProfile, sites...)
	if err != nil {
		return err
	}
	slices.Sort(took)
	all := took[len(took)-1]
	b.say("sites: %d sites, each with a backlog of %d changes, push to one HQ at once (%d changes)", len(sites), lasts[0], total)
	b.say("")
	b.row("", "ours")
	b.row("all drained in, s", fmt.Sprintf("%.2f", all.Seconds()))
	b.row("changes/s, all sites", fmt.Sprintf("%.0f", float64(total)/all.Seconds()))
	b.row("one site drained in p50 / max, s", fmt.Sprintf("%.2f / %.2f", pctl(took, 50).Seconds(), all.Seconds()))
	b.row("batches", strconv.Itoa(batches))
	if err := b.report(ctx, dsn, before, after, int(total)); err != nil {
		return err
	}
	b.row("HQ holds exactly each site's rows", "yes")
	b.say("")
	b.say("Each site: its own SQLite file, uplink and TLS connection, in this process; HQ in its own process; the")
	b.say("counters include the sites' intent polls (every %v) while others still push.", b.cfg.poll)
	return nil
}

// parallel runs fn(0..n-1) on at most workers goroutines; the first
// error wins.
func parallel(n, workers int, fn func(int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
