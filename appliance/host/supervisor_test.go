package host

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func waitFor(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A command that keeps failing is started again with a doubling backoff.
func TestSupervisorBackoff(t *testing.T) {
	var out lockedBuf
	var mu sync.Mutex
	var starts []time.Time
	s := &Supervisor{Name: "flaky", Output: &out, MinBackoff: 40 * time.Millisecond, MaxBackoff: 160 * time.Millisecond,
		Command: func() *exec.Cmd {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			return exec.Command("sh", "-c", "echo flaky-ran; exit 3")
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitFor(t, 10*time.Second, "six starts", func() bool { mu.Lock(); defer mu.Unlock(); return len(starts) >= 6 })
	// Read before cancelling: a stop records its own LastExit.
	st := s.State()
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	// Gaps: ≥40, ≥80, ≥160, ≥160 (capped), ≥160 ms.
	want := []time.Duration{40, 80, 160, 160, 160}
	for i, w := range want {
		if gap := starts[i+1].Sub(starts[i]); gap < w*time.Millisecond || gap > w*time.Millisecond+2*time.Second {
			t.Errorf("gap %d: %s, want about %dms", i, gap, w)
		}
	}
	if st.Restarts < 5 || st.LastExit != "exited with status 3" {
		t.Errorf("state %+v", st)
	}
	if !strings.Contains(out.String(), "flaky-ran") || !strings.Contains(out.String(), "flaky exited with status 3; restarting in 40ms") {
		t.Errorf("output:\n%s", out.String())
	}
}

// Killing the supervised process gets it started again at once, and
// stopping the supervisor stops the process with SIGTERM.
func TestSupervisorRestartsKilledAndStops(t *testing.T) {
	var out lockedBuf
	dir := t.TempDir()
	marker, ready := filepath.Join(dir, "term"), filepath.Join(dir, "ready")
	// The child notes SIGTERM, so the test can see a clean stop, and says
	// when its trap is set: a SIGTERM before that kills sh outright.
	script := `trap 'echo term > ` + marker + `; exit 0' TERM; echo $$ >> ` + ready + `; while :; do sleep 0.05; done`
	trapped := func(pid int) bool {
		b, _ := os.ReadFile(ready)
		return slices.Contains(strings.Fields(string(b)), strconv.Itoa(pid))
	}
	s := &Supervisor{Name: "daemon", Output: &out, Command: func() *exec.Cmd { return exec.Command("sh", "-c", script) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitFor(t, 5*time.Second, "running", func() bool { return s.State().State == "running" })
	pid := s.State().PID
	killed := time.Now()
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, 5*time.Second, "restarted", func() bool { st := s.State(); return st.State == "running" && st.PID != pid })
	if d := time.Since(killed); d > 2*time.Second {
		t.Errorf("restart took %s", d)
	}
	if st := s.State(); st.Restarts != 1 || st.LastExit != "was killed by signal 9 (killed)" {
		t.Errorf("state after kill: %+v", st)
	}
	newPID := s.State().PID
	waitFor(t, 5*time.Second, "the new child's trap", func() bool { return trapped(newPID) })
	cancel()
	<-done
	if b, err := os.ReadFile(marker); err != nil || strings.TrimSpace(string(b)) != "term" {
		t.Errorf("the child did not get SIGTERM: %v", err)
	}
	if err := syscall.Kill(newPID, 0); err == nil {
		t.Errorf("pid %s still alive after stop", strconv.Itoa(newPID))
	}
	if st := s.State(); st.State != "stopped" {
		t.Errorf("state %+v", st)
	}
}
