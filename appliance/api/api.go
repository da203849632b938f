// Package api is outpostd's JSON API, version 1.
package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

// Server serves /api/v1/.
type Server struct {
	Store *sqlite.Store
	Log   *slog.Logger
	// Site names this appliance in health output.
	Site    string
	Version string
	Started time.Time
	// CheckReservation, if set, vets a reservation (e.g. not inside the
	// dynamic pool) before it is stored.
	CheckReservation func(netip.Addr) error
	// Ops, if set, adds jobs, images, BMC credentials and policies.
	Ops *Ops
	// Auth, if set, requires a user on every route and adds login,
	// tokens and users.
	Auth *Auth
	// HQ is the sync link's address, for GET /sync; empty when the site
	// runs alone.
	HQ string
}

// staleLink is how long without contact makes the HQ link count as down.
const staleLink = 10 * time.Second

// maxBody bounds request bodies.
const maxBody = 1 << 20

// Handler returns the API routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/health", s.health)
	mux.HandleFunc("GET /api/v1/machines", s.listMachines)
	mux.HandleFunc("POST /api/v1/machines", s.createMachine)
	mux.HandleFunc("GET /api/v1/machines/{id}", s.getMachine)
	mux.HandleFunc("PATCH /api/v1/machines/{id}", s.patchMachine)
	mux.HandleFunc("POST /api/v1/machines/{id}/state", s.setState)
	mux.HandleFunc("POST /api/v1/machines/{id}/unfreeze", s.unfreeze)
	mux.HandleFunc("GET /api/v1/machines/{id}/timeline", s.machineTimeline)
	mux.HandleFunc("GET /api/v1/machines/{id}/audit", s.machineAudit)
	mux.HandleFunc("GET /api/v1/macs/{mac}/timeline", s.macTimeline)
	mux.HandleFunc("GET /api/v1/interfaces/{mac}", s.getInterface)
	mux.HandleFunc("PUT /api/v1/interfaces/{mac}/reservation", s.setReservation)
	mux.HandleFunc("GET /api/v1/leases", s.listLeases)
	mux.HandleFunc("GET /api/v1/audit", s.audit)
	mux.HandleFunc("GET /api/v1/sync", s.syncStatus)
	mux.HandleFunc("GET /api/v1/conflicts", s.conflicts)
	mux.HandleFunc("GET /api/v1/requests", s.requests)
	mux.HandleFunc("GET /api/v1/intents", s.intents)
	if s.Ops != nil {
		s.Ops.register(mux, s)
	}
	if s.Auth != nil {
		s.Auth.Register(mux)
		return s.Auth.Middleware(mux)
	}
	return mux
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	status, code := "ok", http.StatusOK
	if err := s.Store.Ping(r.Context()); err != nil {
		status, code = "store unavailable: "+err.Error(), http.StatusServiceUnavailable
	}
	v, _ := s.Store.SchemaVersion(r.Context())
	writeJSON(w, code, map[string]any{"status": status, "site": s.Site, "version": s.Version,
		"schema": v, "uptime_seconds": int(time.Since(s.Started).Seconds())})
}

func (s *Server) listMachines(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := appliance.MachineFilter{
		State: appliance.State(q.Get("state")), Serial: q.Get("serial"), MAC: q.Get("mac"),
		Hostname: q.Get("hostname"), Rack: q.Get("rack"), Role: q.Get("role"), Class: q.Get("class"),
		Query: q.Get("q"),
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit")); err != nil {
		s.fail(w, appliance.Errorf(appliance.CodeInvalid, "limit: %v", err))
		return
	}
	after, err := intParam(q.Get("after"))
	if err != nil {
		s.fail(w, appliance.Errorf(appliance.CodeInvalid, "after: %v", err))
		return
	}
	f.AfterID = int64(after)
	ms, err := s.Store.Machines(r.Context(), f)
	if err != nil {
		s.fail(w, err)
		return
	}
	if ms == nil {
		ms = []appliance.Machine{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"machines": ms})
}

func (s *Server) getMachine(w http.ResponseWriter, r *http.Request) {
	id, ok := s.id(w, r)
	if !ok {
		return
	}
	m, err := s.Store.Machine(r.Context(), id)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) createMachine(w http.ResponseWriter, r *http.Request) {
	var n sqlite.NewMachine
	if !s.decode(w, r, &n) {
		return
	}
	m, err := s.Store.CreateMachine(r.Context(), n, Actor(r), "registered through the API")
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, m)
}

func (s *Server) patchMachine(w http.ResponseWriter, r *http.Request) {
	id, ok := s.id(w, r)
	if !ok {
		return
	}
	var p sqlite.MachinePatch
	if !s.decode(w, r, &p) {
		return
	}
	m, err := s.Store.UpdateMachine(r.Context(), id, p, Actor(r))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) setState(w http.ResponseWriter, r *http.Request) {
	id, ok := s.id(w, r)
	if !ok {
		return
	}
	var body struct {
		State  appliance.State `json:"state"`
		Reason string          `json:"reason"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	m, err := s.Store.Transition(r.Context(), id, body.State, Actor(r), body.Reason)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) unfreeze(w http.ResponseWriter, r *http.Request) {
	id, ok := s.id(w, r)
	if !ok {
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	m, err := s.Store.Unfreeze(r.Context(), id, Actor(r), body.Reason)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) machineTimeline(w http.ResponseWriter, r *http.Request) {
	id, ok := s.id(w, r)
	if !ok {
		return
	}
	n, err := intParam(r.URL.Query().Get("limit"))
	if err != nil {
		s.fail(w, appliance.Errorf(appliance.CodeInvalid, "limit: %v", err))
		return
	}
	s.Store.Flush(r.Context())
	tl, err := s.Store.Timeline(r.Context(), id, n)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"machine_id": id, "timeline": nonNil(tl)})
}

func (s *Server) machineAudit(w http.ResponseWriter, r *http.Request) {
	id, ok := s.id(w, r)
	if !ok {
		return
	}
	a, err := s.Store.Audit(r.Context(), id, 0)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": nonNil(a)})
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r.URL.Query().Get("limit"))
	if err != nil {
		s.fail(w, appliance.Errorf(appliance.CodeInvalid, "limit: %v", err))
		return
	}
	a, err := s.Store.Audit(r.Context(), 0, n)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": nonNil(a)})
}

func (s *Server) macTimeline(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r.URL.Query().Get("limit"))
	if err != nil {
		s.fail(w, appliance.Errorf(appliance.CodeInvalid, "limit: %v", err))
		return
	}
	s.Store.Flush(r.Context())
	evs, err := s.Store.Events(r.Context(), r.PathValue("mac"), n)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"mac": r.PathValue("mac"), "events": nonNil(evs)})
}

func (s *Server) getInterface(w http.ResponseWriter, r *http.Request) {
	m, err := s.Store.MachineByMAC(r.Context(), r.PathValue("mac"))
	if err != nil {
		s.fail(w, err)
		return
	}
	mac, _ := sqlite.NormalizeMAC(r.PathValue("mac"))
	for _, i := range m.Interfaces {
		if i.MAC == mac {
			writeJSON(w, http.StatusOK, i)
			return
		}
	}
	s.fail(w, appliance.Errorf(appliance.CodeNotFound, "interface %s not found", mac))
}

func (s *Server) setReservation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IP string `json:"ip"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	var ip netip.Addr
	if body.IP != "" {
		var err error
		if ip, err = netip.ParseAddr(body.IP); err != nil {
			s.fail(w, appliance.Errorf(appliance.CodeInvalid, "ip: %v", err))
			return
		}
		if s.CheckReservation != nil {
			if err := s.CheckReservation(ip); err != nil {
				s.fail(w, appliance.Errorf(appliance.CodeInvalid, "ip: %v", err))
				return
			}
		}
	}
	if err := s.Store.SetReservation(r.Context(), r.PathValue("mac"), ip, Actor(r)); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listLeases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := intParam(q.Get("limit"))
	if err != nil {
		s.fail(w, appliance.Errorf(appliance.CodeInvalid, "limit: %v", err))
		return
	}
	ls, err := s.Store.ListLeases(r.Context(), sqlite.LeaseFilter{MAC: q.Get("mac"), Active: q.Get("active") == "true", Limit: n})
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"leases": nonNil(ls)})
}

// Actor names the caller for the audit log.
func Actor(r *http.Request) appliance.Actor {
	if u, ok := r.Context().Value(actorKey{}).(string); ok && u != "" {
		return appliance.Actor(u)
	}
	return appliance.Actor("api")
}

type actorKey struct{}

func (s *Server) id(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, appliance.Errorf(appliance.CodeInvalid, "machine id %q is not a positive number", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return DecodeBody(w, r, v)
}

// DecodeBody reads a bounded JSON body into v, refusing unknown fields
// and trailing data; it answers the error itself.
func DecodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			Fail(w, nil, appliance.Errorf(appliance.CodeTooLarge, "request body over %d bytes", maxBody))
		} else {
			Fail(w, nil, appliance.Errorf(appliance.CodeInvalid, "bad JSON body: %v", err))
		}
		return false
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		Fail(w, nil, appliance.Errorf(appliance.CodeInvalid, "bad JSON body: trailing data"))
		return false
	}
	return true
}

// Status maps an error code to an HTTP status.
func Status(c appliance.Code) int {
	switch c {
	case appliance.CodeInvalid:
		return http.StatusBadRequest
	case appliance.CodeNotFound:
		return http.StatusNotFound
	case appliance.CodeConflict:
		return http.StatusConflict
	case appliance.CodeUnauthorized:
		return http.StatusUnauthorized
	case appliance.CodeForbidden:
		return http.StatusForbidden
	case appliance.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	Fail(w, s.Log, err)
}

// Fail writes err as a JSON error with the status its code maps to.
// Uncoded errors are logged and reported without their text.
func Fail(w http.ResponseWriter, log *slog.Logger, err error) {
	code := appliance.ErrorCode(err)
	msg := err.Error()
	if code == appliance.CodeInternal {
		if log != nil {
			log.Error("api: internal error", "err", err)
		}
		msg = "internal error"
	}
	writeJSON(w, Status(code), map[string]any{"error": map[string]string{"code": string(code), "message": msg}})
}

// WriteJSON writes v with a status.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func intParam(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.New("must be a non-negative number")
	}
	return n, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) syncStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.Store.Sync(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	if !st.Enabled {
		s.fail(w, appliance.Errorf(appliance.CodeNotFound, "sync with HQ is not configured (hq.url)"))
		return
	}
	// A link that has not answered for a while is down, even if the
	// attempt in flight has not yet timed out.
	part := st.PartitionedSince
	if part.IsZero() && !st.LastContact.IsZero() && time.Since(st.LastContact) > staleLink {
		part = st.LastContact
	}
	out := map[string]any{"enabled": true, "hq": s.HQ, "site": st.SiteID, "connected": part.IsZero() && !st.LastContact.IsZero(),
		"backlog": st.Backlog, "acked_seq": st.AckedSeq, "last_seq": st.LastSeq, "intent_cursor": st.IntentCursor,
		"last_contact": nil, "partitioned_since": nil, "last_error": st.LastError}
	if !st.LastContact.IsZero() {
		out["last_contact"] = st.LastContact
	}
	if !part.IsZero() {
		out["partitioned_since"] = part
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) conflicts(w http.ResponseWriter, r *http.Request) {
	cs, err := s.Store.Conflicts(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"conflicts": nonNil(cs)})
}

func (s *Server) requests(w http.ResponseWriter, r *http.Request) {
	rs, err := s.Store.Requests(r.Context(), false)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": nonNil(rs)})
}

func (s *Server) intents(w http.ResponseWriter, r *http.Request) {
	is, err := s.Store.Intents(r.Context(), 0)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"intents": nonNil(is)})
}
