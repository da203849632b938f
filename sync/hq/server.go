package hq

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/api"
	"github.com/outpostdc/outpost/sync/wire"
)

// Server is HQ's HTTP service: the sync endpoints for sites and the
// operators' API.
type Server struct {
	Store *Store
	Log   *slog.Logger
	// OnApplied, if set, is told each applied batch (for metrics).
	OnApplied func(site string, changes int)
}

// Handler returns every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+wire.PathPush, s.push)
	mux.HandleFunc("GET "+wire.PathIntents, s.intents)
	ops := http.NewServeMux()
	ops.HandleFunc("GET /api/v1/health", s.health)
	ops.HandleFunc("GET /api/v1/sites", s.sites)
	ops.HandleFunc("POST /api/v1/sites", s.addSite)
	ops.HandleFunc("GET /api/v1/machines", s.machines)
	ops.HandleFunc("GET /api/v1/requests", s.requests)
	ops.HandleFunc("POST /api/v1/requests", s.createRequest)
	ops.HandleFunc("POST /api/v1/requests/{id}/withdraw", s.withdraw)
	ops.HandleFunc("POST /api/v1/intents", s.addIntent)
	ops.HandleFunc("GET /api/v1/conflicts", s.conflicts)
	ops.HandleFunc("GET /api/v1/facts/{kind}", s.facts)
	mux.Handle("/api/", s.authenticate(ops))
	return mux
}

func bearer(r *http.Request) string {
	t, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return strings.TrimSpace(t)
}

type opKey struct{}

// authenticate requires an operator token with the role the route needs.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" {
			api.Fail(w, s.Log, appliance.Errorf(appliance.CodeUnauthorized, "authentication required: send a bearer token"))
			return
		}
		u, err := s.Store.Authenticate(r.Context(), tok)
		if err != nil {
			api.Fail(w, s.Log, err)
			return
		}
		need := appliance.RoleViewer
		if r.Method != http.MethodGet {
			need = appliance.RoleTechnician
		}
		if strings.HasPrefix(r.URL.Path, "/api/v1/sites") && r.Method != http.MethodGet {
			need = appliance.RoleAdmin
		}
		if !u.Role.Can(need) {
			api.Fail(w, s.Log, appliance.Errorf(appliance.CodeForbidden, "%s is a %s; this needs a %s", u.Name, u.Role, need))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), opKey{}, u.Name)))
	})
}

func operator(r *http.Request) string {
	n, _ := r.Context().Value(opKey{}).(string)
	return n
}

func (s *Server) site(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := s.Store.SiteForKey(r.Context(), bearer(r))
	if err != nil {
		s.Log.Warn("hq: site refused", "from", r.RemoteAddr, "why", err)
		api.Fail(w, s.Log, err)
		return "", false
	}
	return id, true
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	site, ok := s.site(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wire.MaxBatchBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			api.Fail(w, s.Log, appliance.Errorf(appliance.CodeTooLarge, "batch over %d bytes", wire.MaxBatchBytes))
			return
		}
		api.Fail(w, s.Log, appliance.Errorf(appliance.CodeInvalid, "reading batch: %v", err))
		return
	}
	p, err := ParsePush(body)
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	acked, err := s.Store.ApplyPush(r.Context(), site, p)
	if err != nil {
		var pe *PushError
		if errors.As(err, &pe) {
			var e wire.ErrorReply
			e.Error.Code, e.Error.Message = pe.Kind, pe.Msg
			if pe.Kind != "invalid" {
				e.Acked = &pe.Acked
			}
			s.Log.Info("hq: batch refused", "site", site, "kind", pe.Kind, "why", pe.Msg)
			api.WriteJSON(w, api.Status(pe.Code), e)
			return
		}
		api.Fail(w, s.Log, err)
		return
	}
	if s.OnApplied != nil {
		s.OnApplied(site, len(p.Changes))
	}
	api.WriteJSON(w, http.StatusOK, wire.PushReply{Acked: acked})
}

func (s *Server) intents(w http.ResponseWriter, r *http.Request) {
	site, ok := s.site(w, r)
	if !ok {
		return
	}
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if err != nil || after < 0 {
		api.Fail(w, s.Log, appliance.Errorf(appliance.CodeInvalid, "after must be a sequence number"))
		return
	}
	ins, err := s.Store.IntentsAfter(r.Context(), site, after, 500)
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, wire.IntentsReply{Intents: ins})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if err := s.Store.DB.Ping(r.Context()); err != nil {
		api.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable: " + err.Error()})
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) sites(w http.ResponseWriter, r *http.Request) {
	out, err := s.Store.Sites(r.Context())
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"sites": out})
}

func (s *Server) addSite(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if !api.DecodeBody(w, r, &body) {
		return
	}
	key, err := s.Store.AddSite(r.Context(), body.ID, body.Name)
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, map[string]string{"id": body.ID, "key": key})
}

func (s *Server) machines(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	where := map[string]string{}
	for _, k := range []string{"state", "serial", "hw_class", "rack", "role", "hostname"} {
		if v := q.Get(k); v != "" {
			where[k] = v
		}
	}
	fs, err := s.Store.Facts(r.Context(), FactFilter{Kind: "machines", Site: q.Get("site"), Where: where})
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"machines": fs})
}

func (s *Server) facts(w http.ResponseWriter, r *http.Request) {
	kind := r.PathValue("kind")
	ok := false
	for _, t := range wire.Tables() {
		ok = ok || t == kind
	}
	if !ok {
		api.Fail(w, s.Log, appliance.Errorf(appliance.CodeNotFound, "no facts of kind %q", kind))
		return
	}
	fs, err := s.Store.Facts(r.Context(), FactFilter{Kind: kind, Site: r.URL.Query().Get("site")})
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"facts": fs})
}

func (s *Server) conflicts(w http.ResponseWriter, r *http.Request) {
	where := map[string]string{}
	if st := r.URL.Query().Get("status"); st != "" {
		where["status"] = st
	}
	fs, err := s.Store.Facts(r.Context(), FactFilter{Kind: "conflicts", Site: r.URL.Query().Get("site"), Where: where})
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"conflicts": fs})
}

func (s *Server) requests(w http.ResponseWriter, r *http.Request) {
	out, err := s.Store.Requests(r.Context(), r.URL.Query().Get("site"))
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"requests": out})
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Site string `json:"site"`
		appliance.ProvisionSpec
	}
	if !api.DecodeBody(w, r, &body) {
		return
	}
	id, seq, err := s.Store.CreateRequest(r.Context(), body.Site, body.ProvisionSpec, operator(r))
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"id": id, "site": body.Site, "intent_seq": seq})
}

func (s *Server) withdraw(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		api.Fail(w, s.Log, appliance.Errorf(appliance.CodeInvalid, "bad request id"))
		return
	}
	if err := s.Store.WithdrawRequest(r.Context(), id, operator(r)); err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// addIntent sends a job request, a policy or an image to a site.
func (s *Server) addIntent(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Site string          `json:"site"`
		Kind string          `json:"kind"`
		Body json.RawMessage `json:"body"`
	}
	if !api.DecodeBody(w, r, &body) {
		return
	}
	var check error
	switch body.Kind {
	case wire.KindJob:
		var j wire.JobBody
		check = wire.DecodeIntent(body.Body, &j)
		if check == nil && (j.Serial == "" || !appliance.JobAction(j.Action).Valid()) {
			check = appliance.Errorf(appliance.CodeInvalid, "a job needs a serial and an action (install, recycle, power)")
		}
	case wire.KindPolicy:
		check = wire.DecodeIntent(body.Body, &wire.PolicyBody{})
	case wire.KindImage:
		var im wire.ImageBody
		if check = wire.DecodeIntent(body.Body, &im); check == nil {
			check = im.Check()
		}
	default:
		check = appliance.Errorf(appliance.CodeInvalid, "kind must be job, policy or image (requests have their own route)")
	}
	if check != nil {
		api.Fail(w, s.Log, check)
		return
	}
	seq, err := s.Store.AddIntent(r.Context(), body.Site, body.Kind, body.Body, operator(r))
	if err != nil {
		api.Fail(w, s.Log, err)
		return
	}
	api.WriteJSON(w, http.StatusCreated, map[string]any{"site": body.Site, "seq": seq})
}
