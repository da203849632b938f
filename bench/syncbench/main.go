// Command syncbench is the Go side of `bench/run.sh sync`: site → HQ sync
// end to end with the real parts. Site stores are SQLite files
// (appliance/sqlite) whose outbox triggers queue the changes; their
// uplinks (sync/uplink) push over HTTPS on loopback to HQ (sync/hq's
// Server) running in a process of its own, on a throwaway PostgreSQL
// cluster (sync/pgtest). It prints the tables of bench/README.md.
//
//	syncbench [-quick] [-parts drain,lag,sites] [-dir DIR]     run, tables on stdout
//	syncbench hq -dsn DSN -cert F -key F [-cpuprofile F]        HQ on the listener at fd 3 (started by the above)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/outpostdc/outpost/sync/pgtest"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "hq" {
		err = serveHQ(os.Args[2:])
	} else {
		err = run(os.Args[1:], os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncbench:", err)
		os.Exit(1)
	}
}

// config is one run's sizes.
type config struct {
	dir        string
	drainN     int
	lagRate    int
	lagFor     time.Duration
	sites      int
	siteN      int
	batch      int
	poll       time.Duration
	profileDir string
}

// bench is what the parts share: the cluster, where HQ's binary is, the
// output and the progress log.
type bench struct {
	cfg   config
	pg    *pgtest.Cluster
	out   io.Writer
	log   *slog.Logger
	tls   *tlsFiles
	quiet *slog.Logger
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("syncbench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "smoke run: small N, short steps")
	parts := fs.String("parts", "drain,lag,sites", "comma-separated parts: drain, lag, sites")
	var c config
	fs.StringVar(&c.dir, "dir", "", "scratch directory (default: a new one under $TMPDIR, removed at the end)")
	fs.IntVar(&c.drainN, "changes", 0, "drain: backlog size (default 100000, quick 10000)")
	fs.IntVar(&c.lagRate, "lag-rate", 100, "lag: changes per second at the site")
	fs.DurationVar(&c.lagFor, "lag-for", 0, "lag: how long the site writes (default 60s, quick 5s)")
	fs.IntVar(&c.sites, "sites", 0, "sites: simulated sites (default 100, quick 10)")
	fs.IntVar(&c.siteN, "site-changes", 0, "sites: backlog of each (default 2000, quick 500)")
	fs.IntVar(&c.batch, "batch", 0, "uplink BatchChanges (0: the uplink's default)")
	fs.DurationVar(&c.poll, "poll", 250*time.Millisecond, "uplink Poll (hq.poll, default 250ms)")
	fs.StringVar(&c.profileDir, "profile", "", "write CPU profiles of both sides (site-PART.pprof, hq-PART.pprof) to this directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	def := func(v *int, full, small int) {
		if *v <= 0 {
			*v = full
			if *quick {
				*v = small
			}
		}
	}
	def(&c.drainN, 100000, 10000)
	def(&c.sites, 100, 10)
	def(&c.siteN, 2000, 500)
	if c.lagFor <= 0 {
		c.lagFor = 60 * time.Second
		if *quick {
			c.lagFor = 5 * time.Second
		}
	}
	todo := strings.Split(*parts, ",")
	for _, p := range todo {
		if !slices.Contains([]string{"drain", "lag", "sites"}, p) {
			return fmt.Errorf("unknown part %q (drain, lag, sites)", p)
		}
	}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "syncbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.dir = d
	}
	if c.profileDir != "" {
		if err := os.MkdirAll(c.profileDir, 0o755); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b := &bench{cfg: c, out: out, log: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		quiet: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))}
	var err error
	if b.tls, err = newTLS(filepath.Join(c.dir, "tls")); err != nil {
		return err
	}
	b.log.Info("syncbench: starting PostgreSQL")
	if b.pg, err = pgtest.Start(""); err != nil {
		return err
	}
	defer b.pg.Stop()
	for _, p := range todo {
		var err error
		switch p {
		case "drain":
			err = b.drain(ctx)
		case "lag":
			err = b.lag(ctx)
		case "sites":
			err = b.manySites(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		fmt.Fprintln(out)
	}
	return nil
}

// row prints one line of a table: what, our figure, the target and
// whether it is met.
func (b *bench) row(what, value string, target ...string) {
	t, ok := "", ""
	if len(target) == 2 {
		t, ok = target[0], target[1]
	}
	fmt.Fprintf(b.out, "%-46s %14s %12s %5s\n", what, value, t, ok)
}

func (b *bench) say(format string, a ...any) { fmt.Fprintf(b.out, format+"\n", a...) }

func meets(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// profile names a part's CPU profile, or "" when none is wanted.
func (b *bench) profile(side, part string) string {
	if b.cfg.profileDir == "" {
		return ""
	}
	return filepath.Join(b.cfg.profileDir, side+"-"+part+".pprof")
}
