// Command outpost-hq is headquarters: it keeps every site's facts in
// PostgreSQL, serves the sync endpoints sites push to and pull intents
// from, and the operators' API and web UI (/ui/) across all sites.
//
//	outpost-hq -dsn DSN [-listen :8443] [-data DIR]      serve
//	outpost-hq -dsn DSN add-site ID NAME                   register a site; prints its key
//	outpost-hq -dsn DSN add-token NAME ROLE                make an operator token
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/api"
	"github.com/outpostdc/outpost/sync/hq"
	"github.com/outpostdc/outpost/sync/hqweb"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "outpost-hq:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	flags := flag.NewFlagSet("outpost-hq", flag.ContinueOnError)
	dsn := flags.String("dsn", os.Getenv("OUTPOST_HQ_DSN"), "PostgreSQL connection string (env OUTPOST_HQ_DSN)")
	listen := flags.String("listen", ":8443", "HTTPS listen address")
	plain := flags.Bool("plain-http", false, "serve plain HTTP instead of HTTPS (labs only)")
	data := flags.String("data", "/var/lib/outpost-hq", "directory for the TLS certificate and the first admin token")
	cert := flags.String("tls-cert", "", "certificate (default DATA/tls/cert.pem, self-signed when missing)")
	key := flags.String("tls-key", "", "key (default DATA/tls/key.pem)")
	logLevel := flags.String("log-level", "info", "debug, info, warn or error")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("-dsn (or OUTPOST_HQ_DSN) is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	store, err := hq.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer store.Close()

	switch flags.Arg(0) {
	case "add-site":
		if flags.NArg() != 3 {
			return errors.New("usage: outpost-hq add-site ID NAME")
		}
		k, err := store.AddSite(ctx, flags.Arg(1), flags.Arg(2))
		if err != nil {
			return err
		}
		fmt.Fprintln(out, k)
		return nil
	case "add-token":
		if flags.NArg() != 3 {
			return errors.New("usage: outpost-hq add-token NAME viewer|technician|admin")
		}
		t, err := store.CreateToken(ctx, flags.Arg(1), appliance.Role(flags.Arg(2)))
		if err != nil {
			return err
		}
		fmt.Fprintln(out, t)
		return nil
	case "", "serve":
	default:
		return fmt.Errorf("unknown command %q", flags.Arg(0))
	}

	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	if n, err := store.CountTokens(ctx); err != nil {
		return err
	} else if n == 0 {
		t, err := store.CreateToken(ctx, "admin", appliance.RoleAdmin)
		if err != nil {
			return err
		}
		f := filepath.Join(*data, "initial-admin-token")
		if err := os.WriteFile(f, []byte(t+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(out, "first start: created an admin token in %s\n", f)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("-listen %s: %w", *listen, err)
	}
	srv := &hq.Server{Store: store, Log: log}
	ui, err := hqweb.New(hqweb.Server{Store: store, Log: log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle(hqweb.Base+"/", ui.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, hqweb.Base+"/", http.StatusSeeOther)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	scheme := "http"
	if !*plain {
		if *cert == "" {
			*cert = filepath.Join(*data, "tls", "cert.pem")
		}
		if *key == "" {
			*key = filepath.Join(*data, "tls", "key.pem")
		}
		host, _ := os.Hostname()
		c, err := api.LoadOrCreateCert(*cert, *key, []string{host, "localhost", "127.0.0.1"})
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	fmt.Fprintf(out, "outpost-hq serving on %s://%s (web UI: /ui/, sync: /sync/v1/, API: /api/v1/)\n", scheme, ln.Addr())
	log.Info("outpost-hq serving", "addr", ln.Addr().String())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		if hs.TLSConfig != nil {
			err = hs.ServeTLS(ln, "", "")
		} else {
			err = hs.Serve(ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	})
	return g.Wait()
}
