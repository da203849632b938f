package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

// SessionCookie carries a login session for the web UI.
const SessionCookie = "outpost_session"

// Auth authenticates requests and checks roles.
type Auth struct {
	Store *sqlite.Store
	Log   *slog.Logger
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration
}

type userKey struct{}

// UserOf returns the authenticated user of a request.
func UserOf(r *http.Request) (appliance.User, bool) {
	u, ok := r.Context().Value(userKey{}).(appliance.User)
	return u, ok
}

// peerKey holds the unix socket peer's uid, set by ConnContext.
type peerKey struct{}

// ConnContext records the peer uid of unix socket connections, for
// http.Server.ConnContext: root on the box's own socket is the console.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *syscall.Ucred
	raw.Control(func(fd uintptr) {
		cred, _ = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if cred == nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, int(cred.Uid))
}

// NeedRole is the role a request needs. Reads need a viewer, changes a
// technician; users, images, BMC credentials and site keys need an admin.
func NeedRole(method, path string) appliance.Role {
	read := method == http.MethodGet || method == http.MethodHead
	switch {
	case path == "/api/v1/whoami", path == "/api/v1/logout", strings.HasPrefix(path, "/api/v1/tokens"):
		return appliance.RoleViewer
	case strings.HasPrefix(path, "/api/v1/users"):
		return appliance.RoleAdmin
	case strings.HasPrefix(path, "/api/v1/images") && !read:
		return appliance.RoleAdmin
	case strings.HasPrefix(path, "/api/v1/machines/") && strings.HasSuffix(path, "/bmc") && !read:
		return appliance.RoleAdmin
	case read:
		return appliance.RoleViewer
	}
	return appliance.RoleTechnician
}

// Middleware authenticates every request and checks its role. Boot and
// agent paths are not routed through it.
func (a *Auth) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/login" && r.Method == http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		u, err := a.identify(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="outpost"`)
			Fail(w, a.Log, err)
			return
		}
		if need := NeedRole(r.Method, r.URL.Path); !u.Role.Can(need) {
			Fail(w, nil, appliance.Errorf(appliance.CodeForbidden, "%s is a %s; this needs a %s", u.Name, u.Role, need))
			return
		}
		ctx := context.WithValue(r.Context(), userKey{}, u)
		ctx = context.WithValue(ctx, actorKey{}, u.Name)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (a *Auth) identify(r *http.Request) (appliance.User, error) {
	if uid, ok := r.Context().Value(peerKey{}).(int); ok && uid == 0 {
		return appliance.User{Name: "root@console", Role: appliance.RoleAdmin}, nil
	}
	tok := bearer(r)
	if tok == "" {
		if c, err := r.Cookie(SessionCookie); err == nil {
			tok = c.Value
		}
	}
	if tok == "" {
		return appliance.User{}, appliance.Errorf(appliance.CodeUnauthorized, "authentication required: log in or send a bearer token")
	}
	return a.Store.Authenticate(r.Context(), tok)
}

// Register adds login, logout, whoami, tokens and users routes.
func (a *Auth) Register(mux *http.ServeMux) {
	if a.SessionTTL <= 0 {
		a.SessionTTL = 12 * time.Hour
	}
	mux.HandleFunc("POST /api/v1/login", a.login)
	mux.HandleFunc("POST /api/v1/logout", a.logout)
	mux.HandleFunc("GET /api/v1/whoami", a.whoami)
	mux.HandleFunc("GET /api/v1/tokens", a.listTokens)
	mux.HandleFunc("POST /api/v1/tokens", a.createToken)
	mux.HandleFunc("DELETE /api/v1/tokens/{id}", a.revokeToken)
	mux.HandleFunc("GET /api/v1/users", a.listUsers)
	mux.HandleFunc("POST /api/v1/users", a.createUser)
	mux.HandleFunc("PATCH /api/v1/users/{name}", a.updateUser)
}

func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if !DecodeBody(w, r, &body) {
		return
	}
	tok, u, err := a.Store.Login(r.Context(), body.User, body.Password, a.SessionTTL)
	if err != nil {
		Fail(w, a.Log, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(a.SessionTTL.Seconds())})
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "user": u, "expires_in": int(a.SessionTTL.Seconds())})
}

func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if c, err := r.Cookie(SessionCookie); tok == "" && err == nil {
		tok = c.Value
	}
	if tok != "" {
		a.Store.Logout(r.Context(), tok)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

func (a *Auth) whoami(w http.ResponseWriter, r *http.Request) {
	u, _ := UserOf(r)
	writeJSON(w, http.StatusOK, u)
}

func (a *Auth) listTokens(w http.ResponseWriter, r *http.Request) {
	u, _ := UserOf(r)
	owner := u.Name
	if u.Role == appliance.RoleAdmin && r.URL.Query().Get("all") == "true" {
		owner = ""
	}
	ts, err := a.Store.Tokens(r.Context(), owner)
	if err != nil {
		Fail(w, a.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": nonNil(ts)})
}

func (a *Auth) createToken(w http.ResponseWriter, r *http.Request) {
	u, _ := UserOf(r)
	if u.ID == 0 {
		Fail(w, nil, appliance.Errorf(appliance.CodeInvalid, "the console user has no tokens; log in as a named user"))
		return
	}
	var body struct {
		Name string `json:"name"`
		TTL  string `json:"ttl"`
	}
	if !DecodeBody(w, r, &body) {
		return
	}
	ttl := 90 * 24 * time.Hour
	if body.TTL != "" {
		d, err := time.ParseDuration(body.TTL)
		if err != nil {
			Fail(w, nil, appliance.Errorf(appliance.CodeInvalid, "ttl: %v", err))
			return
		}
		ttl = d
	}
	tok, t, err := a.Store.CreateAPIToken(r.Context(), u, body.Name, ttl)
	if err != nil {
		Fail(w, a.Log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "info": t})
}

func (a *Auth) revokeToken(w http.ResponseWriter, r *http.Request) {
	u, _ := UserOf(r)
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		Fail(w, nil, appliance.Errorf(appliance.CodeInvalid, "bad token id"))
		return
	}
	owner := u.Name
	if u.Role == appliance.RoleAdmin {
		owner = ""
	}
	if err := a.Store.RevokeToken(r.Context(), id, owner); err != nil {
		Fail(w, a.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Auth) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := a.Store.Users(r.Context())
	if err != nil {
		Fail(w, a.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": nonNil(us)})
}

func (a *Auth) createUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name     string         `json:"name"`
		Role     appliance.Role `json:"role"`
		Password string         `json:"password"`
	}
	if !DecodeBody(w, r, &body) {
		return
	}
	u, err := a.Store.CreateUser(r.Context(), body.Name, body.Role, body.Password, Actor(r))
	if err != nil {
		Fail(w, a.Log, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (a *Auth) updateUser(w http.ResponseWriter, r *http.Request) {
	var p sqlite.UserPatch
	if !DecodeBody(w, r, &p) {
		return
	}
	u, err := a.Store.UpdateUser(r.Context(), r.PathValue("name"), p, Actor(r))
	if err != nil {
		Fail(w, a.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}
