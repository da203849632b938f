package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/boot/dhcp"
	"github.com/outpostdc/outpost/sync/uplink"
	"github.com/outpostdc/outpost/sync/wire"
)

// site is one simulated site: its store, and once started its uplink.
type site struct {
	id    string
	st    *sqlite.Store
	watch *pushWatch
	up    *uplink.Uplink
	stop  context.CancelFunc
	ended chan struct{}
}

func (b *bench) openSite(ctx context.Context, id string) (*site, error) {
	st, err := sqlite.Open(ctx, filepath.Join(b.cfg.dir, id+".db"), sqlite.Options{Log: b.quiet})
	if err != nil {
		return nil, err
	}
	if err := st.EnableSync(ctx, id); err != nil {
		st.Close()
		return nil, err
	}
	return &site{id: id, st: st}, nil
}

// lastSeq is the newest change the site has queued.
func (s *site) lastSeq(ctx context.Context) (int64, error) {
	st, err := s.st.Sync(ctx)
	return st.LastSeq, err
}

// changesPerMachine is what backlog queues per machine.
const changesPerMachine = 10

// backlog queues at least n changes in the site's outbox through the
// store, so that its triggers make them: per machine its row, two
// interfaces and an audit entry (registered), a state change (the row
// again and an audit entry), and four DHCP leases. Machines go in through
// the store's Tx helper, 500 to a transaction, with TransitionTx and
// AuditTx; leases through SaveLease from 64 goroutines, as the DHCP
// server writes them (group commit).
func (s *site) backlog(ctx context.Context, n int) error {
	machines := (n + changesPerMachine - 1) / changesPerMachine
	const chunk = 500
	for first := 0; first < machines; first += chunk {
		err := s.st.Tx(ctx, func(tx *sql.Tx, now int64) error {
			for i := first; i < min(first+chunk, machines); i++ {
				r, err := tx.ExecContext(ctx, `INSERT INTO machines (serial, state, hostname, role, rack, location, hw_class, created_at, updated_at)
					VALUES (?, 'ready', ?, 'compute', ?, ?, '2x32c-512g', ?, ?)`,
					fmt.Sprintf("%s-SN%07d", s.id, i), fmt.Sprintf("node-%06d", i), fmt.Sprintf("r%03d", i/40), "hall 1", now, now)
				if err != nil {
					return err
				}
				id, _ := r.LastInsertId()
				for nic := range 2 {
					if _, err := tx.ExecContext(ctx, `INSERT INTO interfaces (mac, machine_id, name, boot, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)`,
						benchMAC(i, nic), id, fmt.Sprintf("eno%d", nic+1), nic == 0, now, now); err != nil {
						return err
					}
				}
				if err := sqlite.AuditTx(ctx, tx, now, id, "bench", "create", "registered"); err != nil {
					return err
				}
				if err := sqlite.TransitionTx(ctx, tx, now, id, appliance.StateAllocated, "bench", "allocated to a tenant"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return s.leases(ctx, 0, machines*4, 64)
}

// leases writes n leases, from lease first on, with SaveLease from
// workers goroutines.
func (s *site) leases(ctx context.Context, first, n, workers int) error {
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := s.st.SaveLease(ctx, benchLease(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
	for i := first; i < first+n && err == nil; i++ {
		select {
		case next <- i:
		case err = <-errs:
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	if err == nil {
		err = <-errs
	}
	return err
}

// benchLease is lease i: an address of its own in 10.0.0.0/8.
func benchLease(i int) dhcp.Lease {
	now := time.Now()
	return dhcp.Lease{IP: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}),
		MAC:      net.HardwareAddr{0x02, 0x1e, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)},
		Hostname: fmt.Sprintf("host-%07d", i), State: dhcp.StateBound, Expires: now.Add(time.Hour), Updated: now}
}

func benchMAC(i, nic int) string {
	return fmt.Sprintf("02:b%d:%02x:%02x:%02x:%02x", nic, byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
}

// start runs the site's uplink against HQ, as outpostd wires it, with a
// transport of its own (a site has its own connection to HQ).
func (b *bench) start(s *site, hqURL, key string, target int64, onBatch func(wire.Push, time.Time)) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: b.tls.pool, MinVersion: tls.VersionTLS12},
		ResponseHeaderTimeout: 30 * time.Second, MaxIdleConnsPerHost: 2}
	s.watch = &pushWatch{next: tr, target: target, onBatch: onBatch, done: make(chan struct{})}
	s.up = &uplink.Uplink{Store: s.st, HQ: hqURL, Key: key, HTTP: &http.Client{Transport: s.watch}, Log: b.quiet,
		BatchChanges: b.cfg.batch, Poll: b.cfg.poll, Apply: &uplink.Applier{Store: s.st, Log: b.quiet}}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop, s.ended = cancel, make(chan struct{})
	go func() {
		defer close(s.ended)
		s.up.Run(ctx)
	}()
}

// settle waits until the site has recorded HQ's last acknowledgement (its
// outbox is empty), then stops its uplink.
func (s *site) settle(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.st.Sync(ctx)
		if err != nil {
			return err
		}
		if st.Backlog == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d changes still in the outbox", s.id, st.Backlog)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.stop()
	<-s.ended
	return nil
}

// pushWatch sits between an uplink and its transport: it counts batches
// and notes when HQ has acknowledged the target sequence number. It
// leaves requests and replies as they are.
type pushWatch struct {
	next    http.RoundTripper
	target  int64
	onBatch func(wire.Push, time.Time)
	done    chan struct{}

	mu       sync.Mutex
	batches  int
	bytes    int64
	firstReq []byte
	doneAt   time.Time
}

func (w *pushWatch) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || r.URL.Path != wire.PathPush {
		return w.next.RoundTrip(r)
	}
	w.mu.Lock()
	keep := w.onBatch != nil || w.firstReq == nil
	w.mu.Unlock()
	var body []byte
	if r.GetBody != nil && keep {
		if rc, err := r.GetBody(); err == nil {
			body, _ = io.ReadAll(rc)
		}
	}
	resp, err := w.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if err != nil {
		return resp, nil
	}
	at := time.Now()
	var reply wire.PushReply
	json.Unmarshal(raw, &reply)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.batches++
	w.bytes += r.ContentLength
	if w.firstReq == nil {
		w.firstReq = body
	}
	if w.onBatch != nil {
		var p wire.Push
		if json.Unmarshal(body, &p) == nil {
			w.onBatch(p, at)
		}
	}
	if w.doneAt.IsZero() && w.target > 0 && reply.Acked >= w.target {
		w.doneAt = at
		close(w.done)
	}
	return resp, nil
}

// totals returns the batches HQ accepted and their bytes.
func (w *pushWatch) totals() (int, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.batches, w.bytes
}
