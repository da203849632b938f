// Package web is the browser UI of outpostd, served under /ui/. Pages are
// rendered on the server with html/template; a stylesheet and a few lines
// of JavaScript (confirm dialogs, live job progress) are embedded, so the
// box never fetches anything from elsewhere. Every page works without
// JavaScript.
//
// Rendering (Views, Layout, MachineTable) is kept apart from the handlers
// (Server) so that outpost-hq can render the same templates with its own
// data, such as a machine table with a site column.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/api"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

// Base is the path under which the UI is mounted.
const Base = "/ui"

// maxForm bounds form bodies; the UI's forms are a few fields.
const maxForm = 64 << 10

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

	// csrfKey signs form tokens; it is per process, so a restart only
	// asks open forms to be reloaded.
	csrfKey []byte
	views   *Views
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
	s.csrfKey = make([]byte, 32)
	if _, err := rand.Read(s.csrfKey); err != nil {
		return nil, err
	}
	v, err := NewViews()
	if err != nil {
		return nil, err
	}
	s.views = v
	return &s, nil
}

// Handler returns the UI's routes, all under /ui/.
func (s *Server) Handler() http.Handler {
	if s.csrfKey == nil || s.views == nil {
		panic("web: Server must be made with New")
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Base+"/static/", http.StripPrefix(Base, Static()))
	mux.HandleFunc("GET "+Base+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Base+"/machines", http.StatusSeeOther)
	})
	mux.HandleFunc("GET "+Base+"/login", s.loginForm)
	mux.HandleFunc("POST "+Base+"/login", s.login)
	mux.HandleFunc("GET "+Base+"/logout", s.auth(s.logoutForm))
	mux.HandleFunc("POST "+Base+"/logout", s.auth(s.logout))
	mux.HandleFunc("GET "+Base+"/machines", s.auth(s.machines))
	mux.HandleFunc("GET "+Base+"/machines/{id}", s.auth(s.machine))
	mux.HandleFunc("POST "+Base+"/machines/{id}/actions", s.auth(s.action))
	mux.HandleFunc("GET "+Base+"/jobs", s.auth(s.jobs))
	mux.HandleFunc("GET "+Base+"/jobs.json", s.auth(s.jobsJSON))
	mux.HandleFunc(Base+"/", s.auth(func(w http.ResponseWriter, r *http.Request, ss *session) {
		s.fail(w, r, ss, appliance.Errorf(appliance.CodeNotFound, "no page at %s", r.URL.Path))
	}))
	return headers(mux)
}

// headers sets what every UI response carries: no caching of pages that
// show live state, and a policy that allows only the box's own assets.
func headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, Base+"/static/") {
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", "no-store")
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin refuses form posts from other sites, login included; the
// SameSite cookie and the CSRF token cover the rest.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // older browsers and non-browser clients send none
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// session is the logged-in user of a request.
type session struct {
	User  appliance.User
	Token string
	CSRF  string
}

// auth wraps a handler that needs a logged-in user. Without one, pages
// redirect to the login form and the JSON endpoint answers 401.
func (s *Server) auth(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, err := s.session(r)
		if err == nil {
			h(w, r, ss)
			return
		}
		if !appliance.IsCode(err, appliance.CodeUnauthorized) {
			s.fail(w, r, nil, err)
			return
		}
		clearCookie(w, r)
		if strings.HasSuffix(r.URL.Path, ".json") {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "log in again"})
			return
		}
		next := r.URL.RequestURI()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			// A form post cannot be replayed after login: go back to
			// the page it came from.
			next = strings.TrimSuffix(r.URL.Path, "/actions")
		}
		http.Redirect(w, r, Base+"/login?next="+url.QueryEscape(next), http.StatusSeeOther)
	}
}

func (s *Server) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(api.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, appliance.Errorf(appliance.CodeUnauthorized, "not logged in")
	}
	u, err := s.Store.Authenticate(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	return &session{User: u, Token: c.Value, CSRF: s.csrfToken(c.Value)}, nil
}

// csrfToken derives a form token from the session, so nothing needs to
// be stored and a token is useless without its session cookie.
func (s *Server) csrfToken(sessionToken string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte("outpost-ui-csrf\x00"))
	m.Write([]byte(sessionToken))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) checkCSRF(r *http.Request, ss *session) bool {
	return hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(ss.CSRF))
}

func setCookie(w http.ResponseWriter, r *http.Request, tok string, ttl time.Duration) {
	// Path / so that the JSON API accepts the same session.
	http.SetCookie(w, &http.Cookie{Name: api.SessionCookie, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int(ttl.Seconds())})
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: api.SessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1})
}

// safeNext keeps post-login redirects on the UI: no other host, no
// scheme-relative URL.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Base+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Base + "/machines"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return Base + "/machines"
	}
	if p := path.Clean(u.Path); !strings.HasPrefix(p, Base+"/") || strings.HasPrefix(p, Base+"/login") || p != u.Path {
		return Base + "/machines"
	}
	return next
}

// parseForm reads a bounded form body.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return appliance.Errorf(appliance.CodeInvalid, "bad form: %v", err)
	}
	return nil
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, err := s.session(r); err == nil {
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
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	f := r.PostForm
	next := safeNext(f.Get("next"))
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
	setCookie(w, r, tok, s.SessionTTL)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logoutForm(w http.ResponseWriter, r *http.Request, ss *session) {
	s.render(w, r, http.StatusOK, "logout", ss, "Log out", nil)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	if err := parseForm(w, r); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	if !s.checkCSRF(r, ss) {
		s.fail(w, r, ss, errCSRF())
		return
	}
	if err := s.Store.Logout(r.Context(), ss.Token); err != nil {
		s.fail(w, r, ss, err)
		return
	}
	clearCookie(w, r)
	http.Redirect(w, r, Base+"/login?bye=1", http.StatusSeeOther)
}

func errCSRF() error {
	return appliance.Errorf(appliance.CodeForbidden,
		"this form has expired or did not come from this page (CSRF check failed); reload the page and try again")
}

// fail renders err as an error page with the status its code maps to.
// Uncoded errors are logged and shown without their text.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	code := appliance.ErrorCode(err)
	msg := err.Error()
	if code == appliance.CodeInternal {
		s.Log.Error("web: internal error", "path", r.URL.Path, "err", err)
		msg = "internal error; the appliance log has the details"
	}
	status := api.Status(code)
	d := errorPage{Status: status, Message: msg}
	if id := r.PathValue("id"); id != "" && strings.HasPrefix(r.URL.Path, Base+"/machines/") && status != http.StatusNotFound {
		d.Back = Base + "/machines/" + id
	}
	s.render(w, r, status, "error", ss, http.StatusText(status), d)
}

// render writes a page with the layout filled from the session.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, ss *session, title string, data any) {
	l := Layout{Site: s.Site, Title: title, Base: Base}
	if ss != nil {
		u := ss.User
		l.User, l.CSRF = &u, ss.CSRF
	}
	switch {
	case strings.HasPrefix(r.URL.Path, Base+"/machines"):
		l.Nav = "machines"
	case strings.HasPrefix(r.URL.Path, Base+"/jobs"):
		l.Nav = "jobs"
	}
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
