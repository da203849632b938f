package host

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Service is a supervised process's state, for the console.
type Service struct {
	Name     string    `json:"name"`
	State    string    `json:"state"` // starting, running, restarting, stopped
	PID      int       `json:"pid,omitempty"`
	Since    time.Time `json:"since"`
	Restarts int       `json:"restarts"`
	// LastExit says how the previous run ended.
	LastExit string `json:"last_exit,omitempty"`
}

// Supervisor runs a command and starts it again whenever it ends, after
// a backoff that doubles while runs keep failing quickly and resets once a
// run has lasted StableAfter.
type Supervisor struct {
	Name string
	// Command makes a fresh command for each run; Supervisor sets its
	// output.
	Command func() *exec.Cmd
	Output  io.Writer
	// Backoff bounds; zero values mean 100ms, 30s and 60s.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// Stop is how long a stopping command has between SIGTERM and SIGKILL.
	Stop time.Duration
	// OnChange, if set, is called with every state change.
	OnChange func(Service)

	mu  sync.Mutex
	svc Service
}

// State returns the service's current state.
func (s *Supervisor) State() Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.svc
}

func (s *Supervisor) set(f func(*Service)) {
	s.mu.Lock()
	f(&s.svc)
	s.svc.Name = s.Name
	s.svc.Since = time.Now()
	v := s.svc
	s.mu.Unlock()
	if s.OnChange != nil {
		s.OnChange(v)
	}
}

func (s *Supervisor) say(format string, args ...any) {
	fmt.Fprintf(s.Output, "outpost: "+format+"\n", args...)
}

// Run supervises until ctx ends, then stops the command: SIGTERM, and
// SIGKILL if it has not exited after Stop.
func (s *Supervisor) Run(ctx context.Context) {
	minB, maxB, stable, stop := s.MinBackoff, s.MaxBackoff, s.StableAfter, s.Stop
	if minB == 0 {
		minB = 100 * time.Millisecond
	}
	if maxB == 0 {
		maxB = 30 * time.Second
	}
	if stable == 0 {
		stable = time.Minute
	}
	if stop == 0 {
		stop = 10 * time.Second
	}
	backoff := minB
	for run := 0; ; run++ {
		s.set(func(v *Service) { v.State, v.PID = "starting", 0 })
		cmd := s.Command()
		cmd.Stdout, cmd.Stderr = s.Output, s.Output
		// Its own process group, so a stop reaches its children too.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		started := time.Now()
		var exit string
		if err := cmd.Start(); err != nil {
			exit = "could not start: " + err.Error()
		} else {
			s.set(func(v *Service) { v.State, v.PID = "running", cmd.Process.Pid })
			s.say("%s started (pid %d)", s.Name, cmd.Process.Pid)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				exit = describeExit(err)
			case <-ctx.Done():
				syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
				select {
				case <-done:
				case <-time.After(stop):
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-done
				}
				s.set(func(v *Service) { v.State, v.PID, v.LastExit = "stopped", 0, "stopped" })
				s.say("%s stopped", s.Name)
				return
			}
		}
		if time.Since(started) >= stable {
			backoff = minB
		}
		s.set(func(v *Service) { v.State, v.PID, v.LastExit, v.Restarts = "restarting", 0, exit, v.Restarts+1 })
		s.say("%s %s; restarting in %s", s.Name, exit, backoff.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			s.set(func(v *Service) { v.State = "stopped" })
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxB)
	}
}

func describeExit(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("was killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return err.Error()
}
