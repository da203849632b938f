package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/bmc"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/recon"
)

// Agent serves the recon agent's side of the API. Machines authenticate
// with boot and agent tokens, never with user credentials.
type Agent struct {
	Store    *sqlite.Store
	Log      *slog.Logger
	Policy   appliance.BootPolicy
	AgentTTL time.Duration
	// PollSeconds is how often a waiting agent checks in.
	PollSeconds int
	// Enroll, when set, has recon create this BMC user (with a fresh
	// password per boot) and keeps the credentials in Creds.
	Enroll *EnrollConfig
	Creds  *bmc.CredStore
	// Jobs, if set, hands out jobs and takes their progress and results.
	Jobs AgentJobs
	Now  func() time.Time

	mu      sync.Mutex
	pending map[string]pendingCreds // by boot-token hash
}

// AgentJobs is the job engine as agents see it.
type AgentJobs interface {
	Claim(ctx context.Context, a sqlite.Agent) (*recon.Job, error)
	Progress(ctx context.Context, a sqlite.Agent, jobID int64, p recon.JobProgress) error
	Result(ctx context.Context, a sqlite.Agent, jobID int64, r recon.JobResult) error
}

// EnrollConfig is the BMC user to create.
type EnrollConfig struct {
	User   string
	UserID uint8
}

type pendingCreds struct {
	e       recon.Enrollment
	expires time.Time
}

// Register adds the agent routes to mux.
func (a *Agent) Register(mux *http.ServeMux) {
	if a.Now == nil {
		a.Now = time.Now
	}
	mux.HandleFunc("POST "+recon.PathReport, a.report)
	mux.HandleFunc("GET "+recon.PathNext, a.next)
	mux.HandleFunc("GET "+recon.PathEnrollment, a.enrollment)
	mux.HandleFunc("POST "+recon.PathJobProgress, a.jobProgress)
	mux.HandleFunc("POST "+recon.PathJobResult, a.jobResult)
}

// agentJobCall authenticates an agent's job call and decodes its body.
func (a *Agent) agentJobCall(w http.ResponseWriter, r *http.Request, v any) (sqlite.Agent, int64, bool) {
	ag, err := a.Store.VerifyAgent(r.Context(), bearer(r))
	if err != nil {
		Fail(w, a.Log, err)
		return ag, 0, false
	}
	if a.Jobs == nil {
		Fail(w, a.Log, appliance.Errorf(appliance.CodeNotFound, "no job engine"))
		return ag, 0, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		Fail(w, a.Log, appliance.Errorf(appliance.CodeInvalid, "bad job id"))
		return ag, 0, false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	if err := dec.Decode(v); err != nil {
		Fail(w, a.Log, appliance.Errorf(appliance.CodeInvalid, "bad JSON: %v", err))
		return ag, 0, false
	}
	a.Store.Heartbeat(r.Context(), ag.MachineID)
	return ag, id, true
}

func (a *Agent) jobProgress(w http.ResponseWriter, r *http.Request) {
	var p recon.JobProgress
	ag, id, ok := a.agentJobCall(w, r, &p)
	if !ok {
		return
	}
	if err := a.Jobs.Progress(r.Context(), ag, id, p); err != nil {
		Fail(w, a.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Agent) jobResult(w http.ResponseWriter, r *http.Request) {
	var res recon.JobResult
	ag, id, ok := a.agentJobCall(w, r, &res)
	if !ok {
		return
	}
	if err := a.Jobs.Result(r.Context(), ag, id, res); err != nil {
		Fail(w, a.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func tokenKey(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return string(h[:])
}

func (a *Agent) report(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, appliance.MaxReportBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			// A report that large is malformed, not merely big.
			Fail(w, a.Log, appliance.Errorf(appliance.CodeInvalid, "report over %d bytes", appliance.MaxReportBytes))
			return
		}
		Fail(w, a.Log, appliance.Errorf(appliance.CodeInvalid, "reading report: %v", err))
		return
	}
	var rep recon.Report
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		Fail(w, a.Log, appliance.Errorf(appliance.CodeInvalid, "bad report JSON: %v", err))
		return
	}
	tok := bearer(r)
	var res sqlite.IngestResult
	if ag, aerr := a.Store.VerifyAgent(r.Context(), tok); aerr == nil {
		// A later report in the same boot, with the agent token.
		res, err = a.Store.Reingest(r.Context(), ag, rep)
	} else {
		res, err = a.Store.Ingest(r.Context(), tok, rep, a.AgentTTL)
	}
	if err != nil {
		if appliance.IsCode(err, appliance.CodeUnauthorized) {
			a.Log.Warn("agent: report refused", "mac", rep.BootMAC, "from", r.RemoteAddr, "why", err)
		}
		Fail(w, a.Log, err)
		return
	}
	a.storeCreds(tok, res.Machine, rep)
	a.Log.Info("agent: machine ingested", "machine", res.Machine.ID, "serial", res.Machine.Serial,
		"class", res.Machine.Class, "state", res.Machine.State, "created", res.Created, "changes", len(res.Changes))
	WriteJSON(w, http.StatusOK, recon.ReportReply{MachineID: res.Machine.ID, Serial: res.Machine.Serial,
		State: string(res.Machine.State), Class: res.Machine.Class, AgentToken: res.AgentToken, Changes: res.Changes})
}

// storeCreds keeps the BMC credentials recon set, once the report says
// the enrolment worked.
func (a *Agent) storeCreds(tok string, m appliance.Machine, rep recon.Report) {
	a.mu.Lock()
	p, ok := a.pending[tokenKey(tok)]
	delete(a.pending, tokenKey(tok))
	a.mu.Unlock()
	if !ok || a.Creds == nil || rep.BMC == nil {
		return
	}
	if !rep.BMC.Enrolled || rep.BMC.IP == "" {
		a.Log.Warn("agent: BMC enrolment did not complete", "machine", m.ID, "error", rep.BMC.EnrollmentError)
		return
	}
	c := bmc.Creds{Host: rep.BMC.IP, User: p.e.User, Password: p.e.Password}
	if err := a.Creds.Put(m.ID, c); err != nil {
		a.Log.Error("agent: BMC credentials not stored", "machine", m.ID, "err", err)
		return
	}
	a.Log.Info("agent: BMC enrolled", "machine", m.ID, "bmc", c)
}

func (a *Agent) enrollment(w http.ResponseWriter, r *http.Request) {
	mac := r.URL.Query().Get("mac")
	tok := bearer(r)
	if err := a.Store.PeekToken(r.Context(), tok, mac, sqlite.ReportPurposes()); err != nil {
		Fail(w, a.Log, err)
		return
	}
	if a.Enroll == nil || a.Creds == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		Fail(w, a.Log, err)
		return
	}
	// IPMI 2.0 passwords are at most 20 bytes.
	e := recon.Enrollment{User: a.Enroll.User, UserID: a.Enroll.UserID, Password: base64.RawURLEncoding.EncodeToString(b[:])[:20]}
	a.mu.Lock()
	if a.pending == nil {
		a.pending = map[string]pendingCreds{}
	}
	now := a.Now()
	for k, p := range a.pending {
		if now.After(p.expires) {
			delete(a.pending, k)
		}
	}
	a.pending[tokenKey(tok)] = pendingCreds{e: e, expires: now.Add(time.Hour)}
	a.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, e)
}

func (a *Agent) next(w http.ResponseWriter, r *http.Request) {
	ag, err := a.Store.VerifyAgent(r.Context(), bearer(r))
	if err != nil {
		Fail(w, a.Log, err)
		return
	}
	if err := a.Store.Heartbeat(r.Context(), ag.MachineID); err != nil {
		Fail(w, a.Log, err)
		return
	}
	m, err := a.Store.Machine(r.Context(), ag.MachineID)
	if err != nil {
		Fail(w, a.Log, err)
		return
	}
	if a.Jobs != nil {
		job, err := a.Jobs.Claim(r.Context(), ag)
		if err != nil {
			Fail(w, a.Log, err)
			return
		}
		if job != nil {
			WriteJSON(w, http.StatusOK, recon.Next{Action: string(appliance.AgentJob), Reason: "job " + job.Action, Job: job})
			return
		}
	}
	act, why := appliance.NextAgentAction(m, appliance.BootMode(ag.Mode), a.Policy)
	WriteJSON(w, http.StatusOK, recon.Next{Action: string(act), Reason: why, PollSeconds: a.PollSeconds})
}
