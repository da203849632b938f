// Package httpboot serves iPXE scripts and boot files over HTTP.
package httpboot

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpostdc/outpost/boot"
	"github.com/outpostdc/outpost/boot/ipxe"
)

// Metrics counts HTTP boot traffic.
type Metrics struct {
	Bytes    *prometheus.CounterVec // by route
	Requests *prometheus.CounterVec // by route and status class
}

// NewMetrics registers the counters with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outpost_http_boot_bytes_total", Help: "Bytes sent by the HTTP boot service.",
		}, []string{"route"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outpost_http_boot_requests_total", Help: "HTTP boot requests by route and status.",
		}, []string{"route", "code"}),
	}
	reg.MustRegister(m.Bytes, m.Requests)
	return m
}

// Server is the HTTP side of network boot.
type Server struct {
	Booter   boot.Booter
	Recorder boot.Recorder // may be nil
	Log      *slog.Logger
	M        *Metrics // may be nil
	Now      func() time.Time
	// Base is the URL machines reach this service at, e.g. "http://10.0.0.1".
	Base string
	// TFTPRoot holds the iPXE binaries, also offered over HTTP for UEFI
	// HTTP boot. ImagesRoot holds kernels, initrds and OS images.
	TFTPRoot, ImagesRoot *os.Root
	render               *ipxe.Renderer
	scripts              cache[scriptKey, []byte]
	notes                cache[noteKey, note]
	// Shared header values, never modified: two allocations fewer per
	// script.
	textPlain, noStore []string
}

// maxCached bounds each cache; past it a cache starts over.
const maxCached = 1024

// cache is a map that starts over when full.
type cache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]V
}

func (c *cache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *cache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = make(map[K]V)
	}
	c.m[k] = v
}

// scriptKey is all a script without a secret depends on: a local or halt
// answer. A linux answer holds a one-time token and is rendered every
// time.
type scriptKey struct {
	action  boot.Action
	message string
	efi     bool
}

// noteKey is all a script request's timeline entry depends on.
type noteKey struct {
	action                       boot.Action
	reason, kernel, serial, uuid string
	fw                           boot.Firmware
}

// note is a timeline entry's text; its detail map is shared by every
// event made from it and must not be changed.
type note struct {
	summary string
	detail  map[string]any
}

// Handler returns the routes: /boot.ipxe, /tftp/ and /images/.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	s.render = ipxe.New()
	s.textPlain, s.noStore = []string{"text/plain; charset=utf-8"}, []string{"no-store"}
	mux := http.NewServeMux()
	script := s.instrument("script", http.HandlerFunc(s.script))
	mux.Handle("GET /boot.ipxe", script)
	if s.TFTPRoot != nil {
		mux.Handle("GET /tftp/{file...}", s.instrument("tftp", s.files(s.TFTPRoot, "file")))
	}
	if s.ImagesRoot != nil {
		mux.Handle("GET /images/{file...}", s.instrument("images", s.files(s.ImagesRoot, "file")))
	}
	// Scripts are most requests: they skip the mux's pattern matching.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boot.ipxe" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			script.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Query limits.
const (
	maxQuery  = 2048
	maxField  = 128
	maxSerial = 128
)

// isUUID matches the 8-4-4-4-12 hex form iPXE prints.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

// ParseQuery reads iPXE's report of itself from a /boot.ipxe query. A query
// without mac is the first stage and yields ok=false with no error. It
// takes the query apart in place, as url.ParseQuery would but without a
// map: this runs for every boot request.
func ParseQuery(raw string) (c boot.Client, ok bool, err error) {
	if len(raw) > maxQuery {
		return c, false, errors.New("query too long")
	}
	var q struct{ mac, uuid, serial, platform, buildarch string }
	var seen keySet
	var invalid error // the first bad field; a malformed query wins over it
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if strings.Contains(pair, ";") {
			return c, false, errors.New("bad query: invalid semicolon separator in query")
		}
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k, err = url.QueryUnescape(k); err == nil {
			v, err = url.QueryUnescape(v)
		}
		if err != nil {
			return c, false, fmt.Errorf("bad query: %w", err)
		}
		switch {
		case invalid != nil:
		case !seen.add(k):
			invalid = fmt.Errorf("%s given more than once", k)
		case len(v) > maxField && k != "serial":
			invalid = fmt.Errorf("%s too long", k)
		}
		switch k {
		case "mac":
			q.mac = v
		case "uuid":
			q.uuid = v
		case "serial":
			q.serial = v
		case "platform":
			q.platform = v
		case "buildarch":
			q.buildarch = v
		}
	}
	if invalid != nil {
		return c, false, invalid
	}
	mac := q.mac
	if mac == "" {
		return c, false, nil
	}
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return c, false, fmt.Errorf("bad mac %q", mac)
	}
	c.MAC = hw
	if u := q.uuid; u != "" {
		if !isUUID(u) {
			return c, false, fmt.Errorf("bad uuid %q", u)
		}
		c.UUID = strings.ToLower(u)
	}
	serial := q.serial
	if len(serial) > maxSerial {
		return c, false, errors.New("serial too long")
	}
	for _, r := range serial {
		if r < 0x20 || r > 0x7e {
			return c, false, errors.New("serial holds a non-printable character")
		}
	}
	c.Serial = strings.TrimSpace(serial)
	c.Platform = q.platform
	c.Firmware.IPXE = true
	switch c.Platform {
	case "pcbios", "":
		c.Firmware.Arch = boot.ArchBIOS
	case "efi":
		c.Firmware.Arch = boot.ArchEFIx64
	default:
		return c, false, fmt.Errorf("bad platform %q", c.Platform)
	}
	switch arch := q.buildarch; arch {
	case "", "x86_64", "i386":
	case "arm64":
		if c.Platform != "efi" {
			return c, false, errors.New("arm64 is only booted with efi")
		}
		c.Firmware.Arch = boot.ArchEFIARM64
	default:
		return c, false, fmt.Errorf("bad buildarch %q", arch)
	}
	return c, true, nil
}

// keySet finds repeated query keys: a scan for the few keys iPXE sends,
// a map past them, so that a hostile query stays linear.
type keySet struct {
	few  [8]string
	n    int
	many map[string]bool
}

// add reports whether k is new.
func (ks *keySet) add(k string) bool {
	if ks.many != nil {
		if ks.many[k] {
			return false
		}
		ks.many[k] = true
		return true
	}
	for _, x := range ks.few[:ks.n] {
		if x == k {
			return false
		}
	}
	if ks.n < len(ks.few) {
		ks.few[ks.n] = k
		ks.n++
		return true
	}
	ks.many = make(map[string]bool, 2*len(ks.few))
	for _, x := range ks.few {
		ks.many[x] = true
	}
	ks.many[k] = true
	return true
}

func (s *Server) script(w http.ResponseWriter, r *http.Request) {
	c, ok, err := ParseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := w.Header()
	h["Content-Type"], h["Cache-Control"] = s.textPlain, s.noStore
	if !ok {
		b, err := s.render.Chain(s.Base)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Write(b)
		return
	}
	c.IP = remoteAddr(r)
	d, err := s.Booter.Boot(r.Context(), c)
	if err != nil {
		s.Log.Error("httpboot: no decision", "mac", c.MAC, "err", err)
		http.Error(w, "no boot decision: internal error", http.StatusInternalServerError)
		return
	}
	b, err := s.renderCached(d, c.Firmware.EFI())
	if err != nil {
		s.Log.Error("httpboot: script not rendered", "mac", c.MAC, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	k := noteKey{action: d.Action, reason: d.Reason, kernel: d.Kernel, serial: c.Serial, uuid: c.UUID, fw: c.Firmware}
	n, hit := s.notes.get(k)
	if !hit {
		n = note{summary: "script: " + string(d.Action) + " (" + d.Reason + ")", detail: map[string]any{
			"action": string(d.Action), "reason": d.Reason, "firmware": c.Firmware.String(),
			"serial": c.Serial, "uuid": c.UUID, "kernel": d.Kernel,
		}}
		s.notes.put(k, n)
	}
	s.event(c.MAC, c.IP, n.summary, n.detail)
	w.Write(b)
}

// renderCached renders d, reusing the bytes of answers without a secret.
func (s *Server) renderCached(d boot.Decision, efi bool) ([]byte, error) {
	if d.Action != boot.ActionLocal && d.Action != boot.ActionHalt {
		return s.render.Render(d, efi)
	}
	k := scriptKey{action: d.Action, message: d.Message, efi: efi}
	if b, ok := s.scripts.get(k); ok {
		return b, nil
	}
	b, err := s.render.Render(d, efi)
	if err == nil {
		s.scripts.put(k, b)
	}
	return b, err
}

// files serves a tree with Range, ETag and sendfile: http.ServeContent on
// an *os.File.
func (s *Server) files(root *os.Root, param string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue(param)
		f, err := root.Open(name)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("ETag", `"`+strconv.FormatInt(st.Size(), 36)+"-"+strconv.FormatInt(st.ModTime().UnixNano(), 36)+`"`)
		cw := &countingWriter{ResponseWriter: w}
		http.ServeContent(cw, r, st.Name(), st.ModTime(), f)
		if r.Header.Get("Range") == "" || cw.n > 0 {
			s.event(nil, remoteAddr(r), "GET "+r.URL.Path+" "+strconv.FormatInt(cw.n, 10)+" bytes",
				map[string]any{"path": r.URL.Path, "bytes": cw.n, "range": r.Header.Get("Range"), "status": cw.status()})
		}
	})
}

func (s *Server) event(mac net.HardwareAddr, ip netip.Addr, summary string, d map[string]any) {
	if s.Recorder != nil {
		s.Recorder.Record(boot.Event{Time: s.Now(), Kind: boot.EventHTTP, MAC: mac, IP: ip, Summary: summary, Detail: d})
	}
}

func (s *Server) instrument(route string, h http.Handler) http.Handler {
	if s.M == nil {
		return h
	}
	// Resolved once: a label lookup hashes the values on every call.
	sent, ok := s.M.Bytes.WithLabelValues(route), s.M.Requests.WithLabelValues(route, "200")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		sent.Add(float64(cw.n))
		if code := cw.status(); code == http.StatusOK {
			ok.Inc()
		} else {
			s.M.Requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		}
	})
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// countingWriter counts body bytes. It forwards ReadFrom so that
// ServeContent still reaches sendfile.
type countingWriter struct {
	http.ResponseWriter
	n    int64
	code int
}

func (c *countingWriter) WriteHeader(code int) {
	if c.code == 0 {
		c.code = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if c.code == 0 {
		c.code = http.StatusOK
	}
	n, err := io.Copy(c.ResponseWriter, r)
	c.n += n
	return n, err
}

func (c *countingWriter) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
