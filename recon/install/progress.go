package install

import (
	"sync"
	"sync/atomic"
	"time"
)

// progressEvery is how often running phases are reported.
const progressEvery = time.Second

// reporter calls a Progress callback for the running phases every
// progressEvery and once at each phase's end, from one goroutine at a
// time, so the callback needs no locking of its own.
type reporter struct {
	fn     func(Progress)
	mu     sync.Mutex // serialises fn and guards meters
	meters []*meter
	quit   chan struct{}
	wg     sync.WaitGroup
}

// meter counts the bytes of one phase. Its methods are safe from any
// goroutine, and on a nil meter.
type meter struct {
	phase string
	total int64
	start time.Time
	done  atomic.Int64
	ended bool // guarded by reporter.mu
}

func (m *meter) add(n int64) {
	if m != nil {
		m.done.Add(n)
	}
}

func newReporter(fn func(Progress)) *reporter {
	r := &reporter{fn: fn, quit: make(chan struct{})}
	if fn == nil {
		return r
	}
	r.wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-r.quit:
				return
			case <-t.C:
				r.mu.Lock()
				for _, m := range r.meters {
					if !m.ended {
						r.report(m, false)
					}
				}
				r.mu.Unlock()
			}
		}
	})
	return r
}

// phase starts a phase of total bytes (0 if unknown).
func (r *reporter) phase(name string, total int64) *meter {
	m := &meter{phase: name, total: total, start: time.Now()}
	r.mu.Lock()
	r.meters = append(r.meters, m)
	r.mu.Unlock()
	return m
}

// end reports m's last figures and stops reporting it.
func (r *reporter) end(m *meter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.ended {
		return
	}
	m.ended = true
	r.report(m, true)
}

// drop stops reporting m, which did not happen after all.
func (r *reporter) drop(m *meter) {
	r.mu.Lock()
	m.ended = true
	r.mu.Unlock()
}

// finish reports the done phase: n bytes in d in all.
func (r *reporter) finish(n int64, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fn != nil {
		r.fn(Progress{Phase: PhaseDone, Done: n, Total: n, Percent: 100, MBps: mbps(n, d)})
	}
}

// stop ends the ticker; it is safe to call more than once.
func (r *reporter) stop() {
	r.mu.Lock()
	select {
	case <-r.quit:
	default:
		close(r.quit)
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// report calls fn for m; r.mu is held. A final report of a phase whose
// size was unknown takes what was done as the total.
func (r *reporter) report(m *meter, final bool) {
	if r.fn == nil {
		return
	}
	p := Progress{Phase: m.phase, Done: m.done.Load(), Total: m.total}
	if final && p.Total <= 0 {
		p.Total = p.Done
	}
	switch {
	case p.Total > 0:
		p.Percent = min(100, 100*float64(p.Done)/float64(p.Total))
	case final:
		p.Percent = 100
	}
	p.MBps = mbps(p.Done, time.Since(m.start))
	r.fn(p)
}
