package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/outpostdc/outpost/appliance/api"
	"github.com/outpostdc/outpost/sync/hq"
)

// tlsFiles is HQ's self-signed certificate and the pool sites trust it by.
type tlsFiles struct {
	cert, key string
	pool      *x509.CertPool
}

func newTLS(dir string) (*tlsFiles, error) {
	t := &tlsFiles{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := api.LoadOrCreateCert(t.cert, t.key, []string{"localhost", "127.0.0.1"}); err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(t.cert)
	if err != nil {
		return nil, err
	}
	t.pool = x509.NewCertPool()
	if !t.pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + t.cert)
	}
	return t, nil
}

// hqProc is HQ running in a child process, so that its CPU time can be
// read from /proc apart from the sites'.
type hqProc struct {
	cmd     *exec.Cmd
	URL     string
	done    chan error
	stopped sync.Once
}

// startHQ runs `syncbench hq` on a loopback listener it hands over as
// fd 3, and waits until HQ has opened its database.
func (b *bench) startHQ(dsn, part string) (*hqProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"hq", "-dsn", dsn, "-cert", b.tls.cert, "-key", b.tls.key}
	if p := b.profile("hq", part); p != "" {
		args = append(args, "-cpuprofile", p)
	}
	cmd := exec.Command(self, args...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &hqProc{cmd: cmd, URL: "https://" + ln.Addr().String(), done: make(chan error, 1)}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if !ok && sc.Text() == "ready" {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		h.done <- cmd.Wait()
	}()
	select {
	case ok := <-ready:
		if !ok {
			return nil, fmt.Errorf("HQ exited: %v", <-h.done)
		}
	case <-time.After(60 * time.Second):
		h.stop()
		return nil, errors.New("HQ did not start within 60 s")
	}
	return h, nil
}

// stop ends HQ with SIGTERM (which writes its profile), SIGKILL if slow.
func (h *hqProc) stop() {
	h.stopped.Do(func() {
		h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(20 * time.Second):
			h.cmd.Process.Kill()
			<-h.done
		}
	})
}

// cpu is HQ's user + system CPU so far.
func (h *hqProc) cpu() (time.Duration, error) {
	u, s, _, _, err := procCPU(h.cmd.Process.Pid)
	return u + s, err
}

// procCPU reads a process's utime, stime, cutime and cstime.
func procCPU(pid int) (utime, stime, cutime, cstime time.Duration, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, 0, err
	}
	// The command name may hold spaces; the fields after it do not.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 15 {
		return 0, 0, 0, 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	var t [4]time.Duration
	for i := range t {
		n, err := strconv.ParseInt(f[11+i], 10, 64)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		t[i] = time.Duration(n) * time.Second / clockTicks
	}
	return t[0], t[1], t[2], t[3], nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go runs on.
const clockTicks = 100

// serveHQ is the child: HQ's sync and API service over HTTPS, as
// cmd/outpost-hq serves it, without the web UI.
func serveHQ(args []string) error {
	fs := flag.NewFlagSet("hq", flag.ContinueOnError)
	dsn := fs.String("dsn", "", "PostgreSQL DSN")
	cert := fs.String("cert", "", "TLS certificate")
	key := fs.String("key", "", "TLS key")
	prof := fs.String("cpuprofile", "", "write a CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	store, err := hq.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	c, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		return err
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		return err
	}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	hs := &http.Server{Handler: (&hq.Server{Store: store, Log: log}).Handler(), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12},
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	fmt.Println("ready")
	if err := hs.ServeTLS(ln, "", ""); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
