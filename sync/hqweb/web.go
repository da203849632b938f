// Package hqweb is outpost-hq's browser UI, under /ui/: each site's sync
// status, machines across sites with their timelines, jobs with live
// progress, provisioning requests and conflicts. It reads what sites
// synced from the HQ store, and renders appliance/web's layout, partials,
// stylesheet and script with pages of its own, so both UIs look and
// behave alike and nothing is fetched from elsewhere.
//
// Operators sign in with their operator token; the session acts with the
// token's name and role: viewers read, technicians also create and
// withdraw requests, as in the API.
package hqweb

import (
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/web"
	"github.com/outpostdc/outpost/sync/hq"
)

//go:embed templates/*.html
var templates embed.FS

// Base is where the UI is mounted: appliance/web's base, whose assets it
// serves.
const Base = web.Base

// home is where a login lands by default.
const home = Base + "/sites"

// Server serves the UI. Make it with New.
type Server struct {
	Store *hq.Store
	Log   *slog.Logger
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration
	// Partitioned is how long without contact makes a site count as
	// cut off; an idle site's uplink polls several times a second.
	Partitioned time.Duration

	sessions *web.Sessions
	views    *web.Views
	// perPage bounds the machine list; a "next" link pages on.
	perPage int
}

// New returns a UI server configured like cfg, with its own CSRF key and
// parsed templates.
func New(cfg Server) (*Server, error) {
	s := cfg
	if s.Store == nil {
		return nil, errors.New("hqweb: Store is required")
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.SessionTTL <= 0 {
		s.SessionTTL = 12 * time.Hour
	}
	if s.Partitioned <= 0 {
		s.Partitioned = time.Minute
	}
	ss, err := web.NewSessions(web.Cookie{Name: "outpost_hq_session", Path: Base}, "outpost-hq-ui-csrf", s.Store.Session, s.Store.Logout)
	if err != nil {
		return nil, err
	}
	pages, err := fs.Sub(templates, "templates")
	if err != nil {
		return nil, err
	}
	v, err := web.NewViewsWith(pages)
	if err != nil {
		return nil, err
	}
	s.sessions, s.views, s.perPage = ss, v, machinesPerPage
	return &s, nil
}

// Handler returns the UI's routes, all under /ui/.
func (s *Server) Handler() http.Handler {
	if s.sessions == nil || s.views == nil {
		panic("hqweb: Server must be made with New")
	}
	mux := http.NewServeMux()
	web.RouteBasics(mux, home)
	mux.HandleFunc("GET "+Base+"/login", s.loginForm)
	mux.HandleFunc("POST "+Base+"/login", s.login)
	mux.HandleFunc("POST "+Base+"/logout", s.auth(s.logout))
	mux.HandleFunc("GET "+Base+"/sites", s.auth(s.sites))
	mux.HandleFunc("GET "+Base+"/machines", s.auth(s.machines))
	mux.HandleFunc("GET "+Base+"/sites/{site}/machines/{id}", s.auth(s.machine))
	mux.HandleFunc("GET "+Base+"/jobs", s.auth(s.jobs))
	mux.HandleFunc("GET "+Base+"/jobs.json", s.auth(s.jobsJSON))
	mux.HandleFunc("GET "+Base+"/requests", s.auth(s.requests))
	mux.HandleFunc("POST "+Base+"/requests", s.auth(s.createRequest))
	mux.HandleFunc("POST "+Base+"/requests/{id}/withdraw", s.auth(s.withdraw))
	mux.HandleFunc("GET "+Base+"/conflicts", s.auth(s.conflicts))
	mux.HandleFunc(Base+"/", s.auth(func(w http.ResponseWriter, r *http.Request, ss *web.Session) {
		s.fail(w, r, ss, appliance.Errorf(appliance.CodeNotFound, "no page at %s", r.URL.Path))
	}))
	return web.Headers(mux)
}

// auth wraps a handler that needs a signed-in operator. Every form but
// logout's is on the requests page, where a post without a session goes
// back to after login.
func (s *Server) auth(h func(http.ResponseWriter, *http.Request, *web.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.sessions.Require(w, r, h, s.fail, Base+"/requests")
	}
}

type loginPage struct {
	Next, Error, Note string
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	next := web.SafeNext(r.URL.Query().Get("next"), home)
	if _, err := s.sessions.Of(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	d := loginPage{Next: next}
	if r.URL.Query().Get("bye") != "" {
		d.Note = "You are logged out."
	}
	s.render(w, r, http.StatusOK, "login", nil, "Log in", d)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := web.ParseForm(w, r); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	next := web.SafeNext(r.PostForm.Get("next"), home)
	tok, u, err := s.Store.Login(r.Context(), strings.TrimSpace(r.PostForm.Get("token")), s.SessionTTL)
	if err != nil {
		if !appliance.IsCode(err, appliance.CodeUnauthorized) {
			s.fail(w, r, nil, err)
			return
		}
		// The form is shown again empty: a token is never echoed.
		s.Log.Warn("hq web: login refused", "from", r.RemoteAddr)
		s.render(w, r, http.StatusUnauthorized, "login", nil, "Log in",
			loginPage{Next: next, Error: "That token is not valid: paste an operator token (outpost-hq add-token)."})
		return
	}
	s.Log.Info("hq web: login", "operator", u.Name, "role", u.Role, "from", r.RemoteAddr)
	s.sessions.Cookie.Set(w, r, tok, s.SessionTTL)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss *web.Session) {
	if err := s.sessions.Logout(w, r, ss); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	http.Redirect(w, r, Base+"/login?bye=1", http.StatusSeeOther)
}

// fail renders err as an error page with the status its code maps to.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, ss *web.Session, err error) {
	d := web.ErrorOf(s.Log, r, err)
	if strings.HasPrefix(r.URL.Path, Base+"/requests") && d.Status != http.StatusNotFound {
		d.Back, d.BackLabel = Base+"/requests", "Back to requests"
	}
	s.render(w, r, d.Status, "error", ss, http.StatusText(d.Status), d)
}

// live is page data that may ask for a reload without JavaScript.
type live interface{ refresh() int }

// flashed is page data with a one-line notice.
type flashed interface{ flash() string }

// render writes a page in the shared layout.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, ss *web.Session, title string, data any) {
	l := web.Layout{Site: "HQ", Title: title, Base: Base, Home: "/sites", Menu: []web.MenuItem{
		{Label: "Sites", Path: "/sites"}, {Label: "Machines", Path: "/machines"}, {Label: "Jobs", Path: "/jobs"},
		{Label: "Requests", Path: "/requests"}, {Label: "Conflicts", Path: "/conflicts"}}}
	if ss != nil {
		u := ss.User
		l.User, l.CSRF = &u, ss.CSRF
	}
	l.Nav = l.Current(r.URL.Path)
	if page == "machine" {
		l.Nav = "/machines" // under /sites/{site}/machines/
	}
	if d, ok := data.(live); ok {
		l.Refresh = d.refresh()
	}
	if d, ok := data.(flashed); ok {
		l.Flash = d.flash()
	}
	if err := s.views.Render(w, status, page, l, data); err != nil {
		s.Log.Error("hq web: rendering", "page", page, "err", err)
	}
}
