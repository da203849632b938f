package api

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/bmc"
	"github.com/outpostdc/outpost/appliance/images"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

// Jobs is the job engine as the API sees it.
type Jobs interface {
	Submit(ctx context.Context, n sqlite.NewJob, actor appliance.Actor) (appliance.Job, error)
	Cancel(ctx context.Context, id int64, actor appliance.Actor, reason string) (appliance.Job, error)
	Wake()
}

// Ops are the operations routes: jobs, images, BMC credentials, queues
// and racks.
type Ops struct {
	Store  *sqlite.Store
	Jobs   Jobs
	Images *images.Store
	Creds  *bmc.CredStore
	// Policies describes the policy configuration, for GET /policies.
	Policies any
	s        *Server
}

func (o *Ops) register(mux *http.ServeMux, s *Server) {
	o.s = s
	mux.HandleFunc("POST /api/v1/jobs", o.createJob)
	mux.HandleFunc("GET /api/v1/jobs", o.listJobs)
	mux.HandleFunc("GET /api/v1/jobs/{id}", o.getJob)
	mux.HandleFunc("POST /api/v1/jobs/{id}/cancel", o.cancelJob)
	mux.HandleFunc("GET /api/v1/images", o.listImages)
	mux.HandleFunc("POST /api/v1/images", o.uploadImage)
	mux.HandleFunc("POST /api/v1/images/register", o.registerImage)
	mux.HandleFunc("DELETE /api/v1/images/{sha}", o.deleteImage)
	mux.HandleFunc("PUT /api/v1/machines/{id}/bmc", o.setBMC)
	mux.HandleFunc("GET /api/v1/machines/{id}/bmc", o.getBMC)
	mux.HandleFunc("GET /api/v1/policies", o.policies)
	mux.HandleFunc("POST /api/v1/queues/{action}/pause", o.pauseQueue)
	mux.HandleFunc("POST /api/v1/queues/{action}/resume", o.resumeQueue)
	mux.HandleFunc("PUT /api/v1/racks/{rack}/freeze", o.freezeRack)
	mux.HandleFunc("DELETE /api/v1/racks/{rack}/freeze", o.unfreezeRack)
}

func (o *Ops) createJob(w http.ResponseWriter, r *http.Request) {
	var n sqlite.NewJob
	if !o.s.decode(w, r, &n) {
		return
	}
	j, err := o.Jobs.Submit(r.Context(), n, Actor(r))
	if err != nil {
		o.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

func (o *Ops) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := sqlite.JobFilter{Action: appliance.JobAction(q.Get("action"))}
	if st := q.Get("status"); st != "" {
		for _, x := range strings.Split(st, ",") {
			f.Statuses = append(f.Statuses, appliance.JobStatus(x))
		}
	}
	var err error
	var n int
	for _, p := range []struct {
		key string
		dst *int64
	}{{"machine_id", &f.MachineID}, {"after", &f.AfterID}} {
		if n, err = intParam(q.Get(p.key)); err != nil {
			o.s.fail(w, appliance.Errorf(appliance.CodeInvalid, "%s: %v", p.key, err))
			return
		}
		*p.dst = int64(n)
	}
	if f.Limit, err = intParam(q.Get("limit")); err != nil {
		o.s.fail(w, appliance.Errorf(appliance.CodeInvalid, "limit: %v", err))
		return
	}
	js, err := o.Store.Jobs(r.Context(), f)
	if err != nil {
		o.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": nonNil(js)})
}

func (o *Ops) jobID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		o.s.fail(w, appliance.Errorf(appliance.CodeInvalid, "job id %q is not a positive number", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (o *Ops) getJob(w http.ResponseWriter, r *http.Request) {
	id, ok := o.jobID(w, r)
	if !ok {
		return
	}
	j, err := o.Store.Job(r.Context(), id)
	if err != nil {
		o.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (o *Ops) cancelJob(w http.ResponseWriter, r *http.Request) {
	id, ok := o.jobID(w, r)
	if !ok {
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if !o.s.decode(w, r, &body) {
		return
	}
	j, err := o.Jobs.Cancel(r.Context(), id, Actor(r), body.Reason)
	if err != nil {
		o.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (o *Ops) listImages(w http.ResponseWriter, r *http.Request) {
	is, err := o.Store.Images(r.Context())
	if err != nil {
		o.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"images": nonNil(is)})
}

// uploadImage takes the image as the request body; the metadata comes in
// the query: ?name=&version=&format=&sha256=.
func (o *Ops) uploadImage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	m := images.Meta{Name: q.Get("name"), Version: q.Get("version"), Format: q.Get("format"), SHA256: q.Get("sha256")}
	img, err := o.Images.Add(r.Context(), m, r.Body, Actor(r))
	if err != nil {
		o.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, img)
}

func (o *Ops) registerImage(w http.ResponseWriter, r *http.Request) {
	var body struct {
		images.Meta
		Path string `json:"path"`
	}
	if !o.s.decode(w, r, &body) {
		return
	}
	img, err := o.Images.AddPath(r.Context(), body.Meta, body.Path, Actor(r))
	if err != nil {
		o.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, img)
}

func (o *Ops) deleteImage(w http.ResponseWriter, r *http.Request) {
	if err := o.Images.Delete(r.Context(), r.PathValue("sha"), Actor(r)); err != nil {
		o.s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setBMC stores credentials for a machine's BMC. They are write-only:
// no API ever returns the password.
func (o *Ops) setBMC(w http.ResponseWriter, r *http.Request) {
	id, ok := o.s.id(w, r)
	if !ok {
		return
	}
	var body struct {
		Host     string `json:"host"`
		Port     int    `json:"port"`
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if !o.s.decode(w, r, &body) {
		return
	}
	if body.Host == "" || body.User == "" || body.Password == "" || body.Port < 0 || body.Port > 65535 {
		o.s.fail(w, appliance.Errorf(appliance.CodeInvalid, "host, user and password are required; port 0-65535"))
		return
	}
	if net.ParseIP(body.Host) == nil && strings.ContainsAny(body.Host, ":/ []") {
		o.s.fail(w, appliance.Errorf(appliance.CodeInvalid, "host %q: give a name or an address, and the port on its own", body.Host))
		return
	}
	if _, err := o.Store.Machine(r.Context(), id); err != nil {
		o.s.fail(w, err)
		return
	}
	c := bmc.Creds{Host: body.Host, Port: body.Port, User: body.User, Password: body.Password}
	if err := o.Creds.Put(id, c); err != nil {
		o.s.fail(w, err)
		return
	}
	if err := o.Store.RecordAudit(r.Context(), id, Actor(r), "bmc_credentials", "BMC credentials set for "+c.String()); err != nil {
		o.s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *Ops) getBMC(w http.ResponseWriter, r *http.Request) {
	id, ok := o.s.id(w, r)
	if !ok {
		return
	}
	c, err := o.Creds.Get(id)
	if err != nil {
		o.s.fail(w, appliance.Errorf(appliance.CodeNotFound, "no BMC credentials for machine %d", id))
		return
	}
	writeJSON(w, http.StatusOK, c) // Creds marshal without the password
}

func (o *Ops) policies(w http.ResponseWriter, r *http.Request) {
	paused, err := o.Store.PausedQueues(r.Context())
	if err != nil {
		o.s.fail(w, err)
		return
	}
	racks, err := o.Store.FrozenRacks(r.Context())
	if err != nil {
		o.s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"config": o.Policies, "paused_queues": nonNil(paused), "frozen_racks": nonNil(racks)})
}

func (o *Ops) queueAction(w http.ResponseWriter, r *http.Request) (appliance.JobAction, string, bool) {
	a := appliance.JobAction(r.PathValue("action"))
	if !a.Valid() {
		o.s.fail(w, appliance.Errorf(appliance.CodeInvalid, "unknown queue %q", a))
		return "", "", false
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if !o.s.decode(w, r, &body) {
		return "", "", false
	}
	if strings.TrimSpace(body.Reason) == "" {
		o.s.fail(w, appliance.Errorf(appliance.CodeInvalid, "a reason is required"))
		return "", "", false
	}
	return a, body.Reason, true
}

func (o *Ops) pauseQueue(w http.ResponseWriter, r *http.Request) {
	a, why, ok := o.queueAction(w, r)
	if !ok {
		return
	}
	if err := o.Store.PauseQueue(r.Context(), a, Actor(r), why); err != nil {
		o.s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *Ops) resumeQueue(w http.ResponseWriter, r *http.Request) {
	a, why, ok := o.queueAction(w, r)
	if !ok {
		return
	}
	if err := o.Store.ResumeQueue(r.Context(), a, Actor(r), why); err != nil {
		o.s.fail(w, err)
		return
	}
	o.Jobs.Wake()
	w.WriteHeader(http.StatusNoContent)
}

func (o *Ops) freezeRack(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if !o.s.decode(w, r, &body) {
		return
	}
	if err := o.Store.FreezeRack(r.Context(), r.PathValue("rack"), Actor(r), body.Reason); err != nil {
		o.s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *Ops) unfreezeRack(w http.ResponseWriter, r *http.Request) {
	if err := o.Store.UnfreezeRack(r.Context(), r.PathValue("rack"), Actor(r)); err != nil {
		o.s.fail(w, err)
		return
	}
	o.Jobs.Wake()
	w.WriteHeader(http.StatusNoContent)
}
