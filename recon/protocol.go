package recon

// The agent protocol: what the recon agent and outpostd exchange over
// HTTP, besides the Report itself. All paths are under /api/v1/recon/.
// Boot tokens (one-time, from the kernel command line) authorise the
// first report and the BMC enrolment; the agent token returned by the
// report authorises everything after it.

// Protocol paths.
const (
	PathReport     = "/api/v1/recon/report"
	PathNext       = "/api/v1/recon/next"
	PathEnrollment = "/api/v1/recon/bmc-enrollment"
)

// ReportReply answers a report.
type ReportReply struct {
	MachineID  int64    `json:"machine_id"`
	Serial     string   `json:"serial"`
	State      string   `json:"state"`
	Class      string   `json:"hw_class"`
	AgentToken string   `json:"agent_token"`
	Changes    []string `json:"changes,omitempty"`
}

// Next tells the agent what to do now.
type Next struct {
	// Action is wait, poweroff, reboot or job.
	Action string `json:"action"`
	Reason string `json:"reason"`
	// PollSeconds is how long to wait before asking again.
	PollSeconds int  `json:"poll_seconds,omitempty"`
	Job         *Job `json:"job,omitempty"`
}

// Job is work handed to an agent.
type Job struct {
	ID     int64             `json:"id"`
	Action string            `json:"action"`
	Params map[string]string `json:"params,omitempty"`
}

// Enrollment is the BMC user outpostd wants recon to create, for this
// boot only. It is never stored by recon.
type Enrollment struct {
	User     string `json:"user"`
	UserID   uint8  `json:"user_id"`
	Password string `json:"password"`
}

// Job progress and result paths; {id} is the job ID.
const (
	PathJobProgress = "/api/v1/recon/jobs/{id}/progress"
	PathJobResult   = "/api/v1/recon/jobs/{id}/result"
)

// JobProgress is an agent's report on a running job.
type JobProgress struct {
	Phase   string  `json:"phase"` // download, write, verify, wipe
	Done    int64   `json:"done"`
	Total   int64   `json:"total"`
	Percent float64 `json:"percent"`
	MBps    float64 `json:"mbps"`
}

// JobResult ends the agent's part of a job.
type JobResult struct {
	OK      bool              `json:"ok"`
	Summary string            `json:"summary,omitempty"`
	Error   string            `json:"error,omitempty"`
	Details map[string]string `json:"details,omitempty"`
}
