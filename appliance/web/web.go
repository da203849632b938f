// Package web is the browser UI of outpostd, served under /ui/. Pages are
// rendered on the server with html/template; a stylesheet and a few lines
// of JavaScript (confirm dialogs, live job progress) are embedded, so the
// box never fetches anything from elsewhere. Every page works without
// JavaScript.
//
// Rendering (Views, Layout, MachineTable, JobTable, Hardware) and the
// session plumbing (Cookie, CSRF, Headers) are kept apart from the
// handlers (Server): outpost-hq's UI renders the same layout and partials
// with its own pages and data, such as a machine table with a site column.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/api"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

// Base is the path under which the UI is mounted.
const Base = "/ui"

// Jobs is the job engine as the UI uses it.
type Jobs interface {
	Submit(ctx context.Context, n sqlite.NewJob, actor appliance.Actor) (appliance.Job, error)
	Cancel(ctx context.Context, id int64, actor appliance.Actor, reason string) (appliance.Job, error)
}

// Server serves the UI. Make it with New.
type Server struct {
	Store *sqlite.Store
	Jobs  Jobs
	Log   *slog.Logger
	// Site names this appliance in every page.
	Site string
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration

	sessions *Sessions
	views    *Views
}

// New returns a UI server configured like cfg, with its own CSRF key and
// parsed templates.
func New(cfg Server) (*Server, error) {
	s := cfg
	if s.Store == nil || s.Jobs == nil {
		return nil, errors.New("web: Store and Jobs are required")
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.SessionTTL <= 0 {
		s.SessionTTL = 12 * time.Hour
	}
	// Path / so that the JSON API accepts the same session.
	ss, err := NewSessions(Cookie{Name: api.SessionCookie, Path: "/"}, "outpost-ui-csrf", s.Store.Authenticate, s.Store.Logout)
	if err != nil {
		return nil, err
	}
	s.sessions = ss
	v, err := NewViews()
	if err != nil {
		return nil, err
	}
	s.views = v
	return &s, nil
}

// Handler returns the UI's routes, all under /ui/.
func (s *Server) Handler() http.Handler {
	if s.sessions == nil || s.views == nil {
		panic("web: Server must be made with New")
	}
	mux := http.NewServeMux()
	RouteBasics(mux, Base+"/machines")
	mux.HandleFunc("GET "+Base+"/login", s.loginForm)
	mux.HandleFunc("POST "+Base+"/login", s.login)
	mux.HandleFunc("GET "+Base+"/logout", s.auth(s.logoutForm))
	mux.HandleFunc("POST "+Base+"/logout", s.auth(s.logout))
	mux.HandleFunc("GET "+Base+"/machines", s.auth(s.machines))
	mux.HandleFunc("GET "+Base+"/machines/{id}", s.auth(s.machine))
	mux.HandleFunc("POST "+Base+"/machines/{id}/actions", s.auth(s.action))
	mux.HandleFunc("GET "+Base+"/jobs", s.auth(s.jobs))
	mux.HandleFunc("GET "+Base+"/jobs.json", s.auth(s.jobsJSON))
	mux.HandleFunc(Base+"/", s.auth(func(w http.ResponseWriter, r *http.Request, ss *Session) {
		s.fail(w, r, ss, appliance.Errorf(appliance.CodeNotFound, "no page at %s", r.URL.Path))
	}))
	return Headers(mux)
}

// auth wraps a handler that needs a logged-in user. Without one, pages
// redirect to the login form and the JSON endpoint answers 401.
func (s *Server) auth(h func(http.ResponseWriter, *http.Request, *Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.sessions.Require(w, r, h, s.fail, strings.TrimSuffix(r.URL.Path, "/actions"))
	}
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	next := SafeNext(r.URL.Query().Get("next"), Base+"/machines")
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
	if err := ParseForm(w, r); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	f := r.PostForm
	next := SafeNext(f.Get("next"), Base+"/machines")
	tok, u, err := s.Store.Login(r.Context(), strings.TrimSpace(f.Get("user")), f.Get("password"), s.SessionTTL)
	if err != nil {
		if !appliance.IsCode(err, appliance.CodeUnauthorized) {
			s.fail(w, r, nil, err)
			return
		}
		s.Log.Warn("web: login refused", "user", f.Get("user"), "from", r.RemoteAddr)
		s.render(w, r, http.StatusUnauthorized, "login", nil, "Log in",
			loginPage{Next: next, User: f.Get("user"), Error: err.Error()})
		return
	}
	s.Log.Info("web: login", "user", u.Name, "role", u.Role, "from", r.RemoteAddr)
	s.sessions.Cookie.Set(w, r, tok, s.SessionTTL)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logoutForm(w http.ResponseWriter, r *http.Request, ss *Session) {
	s.render(w, r, http.StatusOK, "logout", ss, "Log out", nil)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss *Session) {
	if err := s.sessions.Logout(w, r, ss); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	http.Redirect(w, r, Base+"/login?bye=1", http.StatusSeeOther)
}

// fail renders err as an error page with the status its code maps to.
// Uncoded errors are logged and shown without their text.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, ss *Session, err error) {
	d := ErrorOf(s.Log, r, err)
	if id := r.PathValue("id"); id != "" && strings.HasPrefix(r.URL.Path, Base+"/machines/") && d.Status != http.StatusNotFound {
		d.Back, d.BackLabel = Base+"/machines/"+id, "Back to the machine"
	}
	s.render(w, r, d.Status, "error", ss, http.StatusText(d.Status), d)
}

// render writes a page with the layout filled from the session.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, ss *Session, title string, data any) {
	l := Layout{Site: s.Site, Title: title, Base: Base, Home: "/machines",
		Menu: []MenuItem{{Label: "Machines", Path: "/machines"}, {Label: "Jobs", Path: "/jobs"}}}
	if ss != nil {
		u := ss.User
		l.User, l.CSRF = &u, ss.CSRF
	}
	l.Nav = l.Current(r.URL.Path)
	if d, ok := data.(interface{ refresh() int }); ok {
		l.Refresh = d.refresh()
	}
	if d, ok := data.(interface{ flash() string }); ok {
		l.Flash = d.flash()
	}
	if err := s.views.Render(w, status, page, l, data); err != nil {
		s.Log.Error("web: rendering", "page", page, "err", err)
	}
}
