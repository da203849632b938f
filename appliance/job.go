package appliance

import (
	"encoding/json"
	"time"
)

// JobStatus is where a job stands.
type JobStatus string

// Job statuses.
const (
	JobQueued    JobStatus = "queued"
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
	JobCancelled JobStatus = "cancelled"
)

// Done reports whether the status is final.
func (s JobStatus) Done() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCancelled
}

// JobAction is what a job does.
type JobAction string

// Job actions.
const (
	ActionInstall JobAction = "install"
	ActionRecycle JobAction = "recycle"
	ActionPower   JobAction = "power"
)

// Valid reports whether a is a known action.
func (a JobAction) Valid() bool {
	return a == ActionInstall || a == ActionRecycle || a == ActionPower
}

// Job phases. Install and recycle share the boot-to-agent part.
const (
	PhasePrepare = "prepare" // machine enters installing / recycling
	PhaseBoot    = "boot"    // next boot PXE (read back), power cycle
	PhaseAgent   = "agent"   // waiting for the recon agent to take the job
	PhaseWork    = "work"    // the agent is writing or wiping
	PhasePower   = "power"   // a power job's BMC command
)

// Job is one unit of work on one machine.
type Job struct {
	ID        int64             `json:"id"`
	Action    JobAction         `json:"action"`
	MachineID int64             `json:"machine_id"`
	Params    map[string]string `json:"params,omitempty"`
	Requester string            `json:"requester"`
	Status    JobStatus         `json:"status"`
	Attempts  int               `json:"attempts"`
	// MaxAttempts bounds retries of a failing job.
	MaxAttempts int    `json:"max_attempts"`
	Phase       string `json:"phase,omitempty"`
	// PhaseDeadline is the phase's watchdog.
	PhaseDeadline time.Time `json:"phase_deadline,omitempty"`
	// Waiting says why a queued job has not started.
	Waiting string `json:"waiting,omitempty"`
	// Progress is the agent's last report: percent and MB/s.
	Progress      json.RawMessage `json:"progress,omitempty"`
	Result        json.RawMessage `json:"result,omitempty"`
	Error         string          `json:"error,omitempty"`
	NextAttemptAt time.Time       `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	StartedAt     time.Time       `json:"started_at,omitempty"`
	EndedAt       time.Time       `json:"ended_at,omitempty"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// CheckJobStatus says whether a job may move from one status to another.
//
//	queued  -> running | cancelled | failed (refused by policy)
//	running -> succeeded | failed | cancelled | queued (retry after a failed attempt)
func CheckJobStatus(from, to JobStatus) error {
	ok := false
	switch from {
	case JobQueued:
		ok = to == JobRunning || to == JobCancelled || to == JobFailed
	case JobRunning:
		ok = to == JobSucceeded || to == JobFailed || to == JobCancelled || to == JobQueued
	}
	if !ok {
		if from.Done() {
			return Errorf(CodeConflict, "job is already %s", from)
		}
		return Errorf(CodeConflict, "a %s job cannot become %s", from, to)
	}
	return nil
}

// JobMachineState is the state a job's machine must enter when the job
// starts (empty: no change).
func JobMachineState(a JobAction) State {
	switch a {
	case ActionInstall:
		return StateInstalling
	case ActionRecycle:
		return StateRecycling
	}
	return ""
}

// Backoff is the wait before attempt n+1 after n failed attempts:
// base doubling, capped at an hour.
func Backoff(base time.Duration, failed int) time.Duration {
	d := base
	for i := 1; i < failed && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}
