package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/api"
)

// What both UIs (outpostd's and outpost-hq's) share about sessions and
// forms: the cookie, CSRF tokens, the answer to a request without a
// session, and the headers every response carries.

// maxForm bounds form bodies; the UIs' forms are a few fields.
const maxForm = 64 << 10

// Cookie is a UI's session cookie.
type Cookie struct {
	Name string
	Path string
}

// Set stores a session token: HttpOnly, SameSite=Strict, and Secure when
// the request came over TLS.
func (c Cookie) Set(w http.ResponseWriter, r *http.Request, tok string, ttl time.Duration) {
	c.write(w, r, tok, int(ttl.Seconds()))
}

// Clear removes the cookie from the browser.
func (c Cookie) Clear(w http.ResponseWriter, r *http.Request) { c.write(w, r, "", -1) }

func (c Cookie) write(w http.ResponseWriter, r *http.Request, tok string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: c.Name, Value: tok, Path: c.Path, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: maxAge})
}

// Value is the request's session token, or "".
func (c Cookie) Value(r *http.Request) string {
	ck, err := r.Cookie(c.Name)
	if err != nil {
		return ""
	}
	return ck.Value
}

// csrf makes and checks form tokens. A token is derived from the session,
// so nothing is stored and a token is useless without its cookie. The key
// is per process: a restart only asks open forms to be reloaded.
type csrf struct {
	key   []byte
	label string
}

// newCSRF returns a csrf with a fresh key; label keeps two UIs' tokens
// apart.
func newCSRF(label string) (*csrf, error) {
	c := &csrf{key: make([]byte, 32), label: label}
	if _, err := rand.Read(c.key); err != nil {
		return nil, err
	}
	return c, nil
}

// Token is the form token of a session.
func (c *csrf) Token(session string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(c.label + "\x00"))
	m.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Check reports whether a parsed form carries the session's token.
func (c *csrf) Check(r *http.Request, session string) bool {
	return hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(c.Token(session)))
}

// Session is the signed-in user of a request.
type Session struct {
	User  appliance.User
	Token string
	// CSRF goes into every form that posts.
	CSRF string
}

// Sessions is a UI's logins: its cookie, its CSRF key, and the store's
// lookup and end of a session. Make it with NewSessions.
type Sessions struct {
	Cookie Cookie
	csrf   *csrf
	lookup func(ctx context.Context, tok string) (appliance.User, error)
	end    func(ctx context.Context, tok string) error
}

// NewSessions returns a UI's sessions; label keeps two UIs' CSRF tokens
// apart.
func NewSessions(c Cookie, label string, lookup func(ctx context.Context, tok string) (appliance.User, error),
	end func(ctx context.Context, tok string) error) (*Sessions, error) {
	k, err := newCSRF(label)
	if err != nil {
		return nil, err
	}
	return &Sessions{Cookie: c, csrf: k, lookup: lookup, end: end}, nil
}

// Of is the request's session; without a valid one the error is
// CodeUnauthorized.
func (s *Sessions) Of(r *http.Request) (*Session, error) {
	tok := s.Cookie.Value(r)
	if tok == "" {
		return nil, appliance.Errorf(appliance.CodeUnauthorized, "not logged in")
	}
	u, err := s.lookup(r.Context(), tok)
	if err != nil {
		return nil, err
	}
	return &Session{User: u, Token: tok, CSRF: s.csrf.Token(tok)}, nil
}

// Require runs h with the request's session. Without one the request gets
// NotLoggedIn, with postBack; other errors go to fail.
func (s *Sessions) Require(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request, *Session),
	fail func(http.ResponseWriter, *http.Request, *Session, error), postBack string) {
	ss, err := s.Of(r)
	switch {
	case err == nil:
		h(w, r, ss)
	case appliance.IsCode(err, appliance.CodeUnauthorized):
		NotLoggedIn(w, r, s.Cookie, postBack)
	default:
		fail(w, r, nil, err)
	}
}

// Posted parses a posted form and checks its CSRF token.
func (s *Sessions) Posted(w http.ResponseWriter, r *http.Request, ss *Session) error {
	if err := ParseForm(w, r); err != nil {
		return err
	}
	if !s.csrf.Check(r, ss.Token) {
		return errCSRF()
	}
	return nil
}

// Logout ends the session of a posted logout form and clears its cookie.
func (s *Sessions) Logout(w http.ResponseWriter, r *http.Request, ss *Session) error {
	if err := s.Posted(w, r, ss); err != nil {
		return err
	}
	if err := s.end(r.Context(), ss.Token); err != nil {
		return err
	}
	s.Cookie.Clear(w, r)
	return nil
}

// errCSRF is the refusal of a form without a valid token.
func errCSRF() error {
	return appliance.Errorf(appliance.CodeForbidden,
		"this form has expired or did not come from this page (CSRF check failed); reload the page and try again")
}

// NotLoggedIn answers a request without a valid session: JSON endpoints
// get 401, pages a redirect to the login form that comes back to them. A
// form post cannot be replayed after login, so it comes back to postBack,
// the page the form was on.
func NotLoggedIn(w http.ResponseWriter, r *http.Request, c Cookie, postBack string) {
	c.Clear(w, r)
	if strings.HasSuffix(r.URL.Path, ".json") {
		WriteJSON(w, http.StatusUnauthorized, map[string]any{"error": "log in again"})
		return
	}
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		next = postBack
	}
	http.Redirect(w, r, Base+"/login?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// SafeNext keeps post-login redirects on the UI: no other host, no
// scheme-relative URL; anything else goes to home.
func SafeNext(next, home string) string {
	if !strings.HasPrefix(next, Base+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return home
	}
	if p := path.Clean(u.Path); !strings.HasPrefix(p, Base+"/") || strings.HasPrefix(p, Base+"/login") || p != u.Path {
		return home
	}
	return next
}

// ParseForm reads a bounded form body.
func ParseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return appliance.Errorf(appliance.CodeInvalid, "bad form: %v", err)
	}
	return nil
}

// Headers sets what every UI response carries: no caching of pages that
// show live state, and a policy that allows only the UI's own assets.
// Posts from other origins are refused, login included; the SameSite
// cookie and the CSRF token cover the rest.
func Headers(next http.Handler) http.Handler {
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

func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // older browsers and non-browser clients send none
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// ErrorPage is what the error page shows.
type ErrorPage struct {
	Status  int
	Message string
	// Back, when set, links to BackLabel.
	Back, BackLabel string
}

// ErrorOf makes the error page of err with the status its code maps to.
// Uncoded errors are logged and shown without their text.
func ErrorOf(log *slog.Logger, r *http.Request, err error) ErrorPage {
	code := appliance.ErrorCode(err)
	msg := err.Error()
	if code == appliance.CodeInternal {
		log.Error("web: internal error", "path", r.URL.Path, "err", err)
		msg = "internal error; the server log has the details"
	}
	return ErrorPage{Status: api.Status(code), Message: msg}
}

// WriteJSON writes v with a status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
