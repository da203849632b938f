// Package tftp serves boot binaries read-only over TFTP, on pin/tftp.
package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/outpostdc/outpost/boot"
)

// Metrics counts transfers.
type Metrics struct {
	Bytes    prometheus.Counter
	Requests *prometheus.CounterVec // by result
}

// NewMetrics registers the TFTP counters with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "outpost_tftp_bytes_total", Help: "Bytes sent over TFTP.",
		}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "outpost_tftp_requests_total", Help: "TFTP requests by result.",
		}, []string{"result"}),
	}
	reg.MustRegister(m.Bytes, m.Requests)
	return m
}

// MaxNameLen bounds a requested file name.
const MaxNameLen = 255

type nameError string

func (e nameError) Error() string { return string(e) }

// errBadName is returned for names outside the served tree.
const errBadName = nameError("bad file name")

// CleanName turns a requested file name into a path inside the served
// tree, or fails. Leading slashes are dropped (clients often send
// "/undionly.kpxe"); anything that climbs out, holds NUL or backslashes,
// or is too long is refused.
func CleanName(name string) (string, error) {
	if name == "" || len(name) > MaxNameLen {
		return "", errBadName
	}
	if strings.ContainsAny(name, "\x00\\") {
		return "", errBadName
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == ".." {
			return "", errBadName
		}
	}
	p := path.Clean("/" + name)[1:]
	if p == "" || !fs.ValidPath(p) {
		return "", errBadName
	}
	return p, nil
}

// Server serves files from Root.
type Server struct {
	Root     fs.FS
	Log      *slog.Logger
	Recorder boot.Recorder // may be nil
	M        *Metrics      // may be nil
	Now      func() time.Time
	// Timeout per packet, and retries, as pin/tftp uses them.
	Timeout time.Duration
	Retries int
	// Anticipate is pin/tftp's non-standard send-ahead window; 0 is off.
	Anticipate uint
}

// Serve serves TFTP on conn until ctx is done.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	if s.Now == nil {
		s.Now = time.Now
	}
	srv := tftp.NewServer(s.read, s.write)
	if s.Timeout > 0 {
		srv.SetTimeout(s.Timeout)
	}
	if s.Retries > 0 {
		srv.SetRetries(s.Retries)
	}
	srv.SetBlockSizeNegotiation(true)
	srv.SetAnticipate(s.Anticipate)
	srv.SetHook(hook{s})
	stop := context.AfterFunc(ctx, srv.Shutdown)
	defer stop()
	err := srv.Serve(conn)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Server) write(name string, _ io.WriterTo) error {
	s.count("refused_write")
	s.Log.Warn("tftp: write refused", "file", name)
	return errors.New("access violation: this server is read-only")
}

func (s *Server) read(name string, rf io.ReaderFrom) error {
	ip := remoteIP(rf)
	clean, err := CleanName(name)
	if err != nil {
		s.count("refused")
		s.Log.Warn("tftp: refused", "file", name, "from", ip, "err", err)
		s.event(ip, "RRQ "+quote(name)+" refused: "+err.Error(), map[string]any{"file": name, "error": err.Error()})
		return fmt.Errorf("access violation: %s", err)
	}
	f, err := s.Root.Open(clean)
	if err != nil {
		s.count("not_found")
		s.event(ip, "RRQ "+clean+" not found", map[string]any{"file": clean, "error": "not found"})
		return errors.New("file not found")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		s.count("not_found")
		return errors.New("file not found")
	}
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ot.SetSize(st.Size())
	}
	n, err := rf.ReadFrom(f)
	if s.M != nil {
		s.M.Bytes.Add(float64(n))
	}
	if err != nil {
		// EDK2 asks for tsize, then aborts with error 8 once it has the
		// OACK; the real download follows. That is not a failure.
		if strings.Contains(err.Error(), "code=8") {
			s.count("tsize_probe")
			s.event(ip, "RRQ "+clean+" size probe (client ended after OACK)", map[string]any{"file": clean, "size": st.Size()})
			return nil
		}
		s.count("failed")
		s.Log.Warn("tftp: transfer failed", "file", clean, "from", ip, "sent", n, "err", err)
		s.event(ip, "RRQ "+clean+" failed after "+fmt.Sprint(n)+" bytes", map[string]any{"file": clean, "bytes": n, "error": err.Error()})
		return nil
	}
	s.count("ok")
	s.event(ip, "RRQ "+clean+" sent "+fmt.Sprint(n)+" bytes", map[string]any{"file": clean, "bytes": n})
	return nil
}

func (s *Server) count(result string) {
	if s.M != nil {
		s.M.Requests.WithLabelValues(result).Inc()
	}
}

func (s *Server) event(ip netip.Addr, summary string, d map[string]any) {
	if s.Recorder == nil {
		return
	}
	s.Recorder.Record(boot.Event{Time: s.Now(), Kind: boot.EventTFTP, IP: ip, Summary: summary, Detail: d})
}

func remoteIP(rf io.ReaderFrom) netip.Addr {
	if ot, ok := rf.(tftp.OutgoingTransfer); ok {
		ra := ot.RemoteAddr()
		if a, ok := netip.AddrFromSlice(ra.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// hook counts packets pin/tftp rejects before any handler runs; failed
// transfers are logged by read, with more context.
type hook struct{ s *Server }

func (hook) OnSuccess(tftp.TransferStats) {}
func (h hook) OnFailure(st tftp.TransferStats, err error) {
	if st.Filename == "" {
		h.s.count("malformed")
		h.s.Log.Debug("tftp: bad packet", "err", err)
	}
}
