package install

import (
	"sync"
	"testing"
	"time"
)

func TestReporter(t *testing.T) {
	var pl progressLog
	r := newReporter(pl.add)
	a := r.phase(PhaseDownload, 0) // size unknown
	b := r.phase(PhaseWrite, 1000)
	var wg sync.WaitGroup
	for _, m := range []*meter{a, b} {
		wg.Go(func() {
			for range 100 {
				m.add(10)
				time.Sleep(25 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	r.end(a)
	r.end(b)
	r.end(b) // once only
	r.finish(1000, time.Second)
	r.stop()
	r.stop()
	pl.check(t, PhaseDownload, PhaseWrite)
	ticks := 0
	for _, p := range pl.ps {
		if p.Phase == PhaseWrite {
			ticks++
		}
	}
	// 2.5 s of work: two or three ticks and the end.
	if ticks < 2 || ticks > 4 {
		t.Errorf("%d reports of the write phase over 2.5s", ticks)
	}
	var nilMeter *meter
	nilMeter.add(1) // counting without a reporter is allowed
}
