// Package pgtest runs a throwaway PostgreSQL cluster from Debian's
// postgresql package for tests and benchmarks: initdb in a temporary
// directory, a loopback port, stopped and removed afterwards.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a running PostgreSQL.
type Cluster struct {
	Dir  string
	Port int
	// NS, if set, is the network namespace the server runs in.
	NS string
	// dbs numbers NewDB's databases.
	dbs atomic.Int32
}

// Main runs a package's tests with one cluster, started before them and
// stopped after; use hands it to the package, whose tests each make a
// database of their own with NewDB.
func Main(m *testing.M, use func(*Cluster)) {
	c, err := Start("")
	if err != nil {
		fmt.Fprintln(os.Stderr, "postgres:", err)
		os.Exit(1)
	}
	use(c)
	code := m.Run()
	c.Stop()
	os.Exit(code)
}

// NewDB makes a database with a name of its own and returns its DSN.
func (c *Cluster) NewDB(ctx context.Context) (string, error) {
	return c.CreateDB(ctx, fmt.Sprintf("t%d", c.dbs.Add(1)))
}

func bin(name string) (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) == 0 {
		return "", fmt.Errorf("%s not found: install Debian's postgresql (scripts/deps.sh test does)", name)
	}
	return matches[len(matches)-1], nil
}

// asPostgres runs a PostgreSQL tool as the postgres user: the server
// refuses to run as root.
func (c *Cluster) asPostgres(name string, args ...string) *exec.Cmd {
	p, _ := bin(name)
	argv := append([]string{"-u", "postgres", "--", p}, args...)
	if c.NS != "" {
		argv = append([]string{"netns", "exec", c.NS, "runuser"}, argv...)
		return exec.Command("ip", argv...)
	}
	return exec.Command("runuser", argv...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start creates and starts a cluster under a new temporary directory.
// ns, if not empty, runs it inside that network namespace (port 5432).
func Start(ns string) (*Cluster, error) {
	if _, err := bin("initdb"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "outpost-pg")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, NS: ns, Port: 5432}
	if ns == "" {
		if c.Port, err = freePort(); err != nil {
			return nil, err
		}
	}
	// The postgres user must own the directory and reach it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("chown: %v: %s", err, out)
	}
	data := filepath.Join(dir, "data")
	if out, err := c.asPostgres("initdb", "-D", data, "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if err := c.run("start"); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) run(action string) error {
	data := filepath.Join(c.Dir, "data")
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=128MB", c.Port, c.Dir)
	args := []string{"-D", data, "-w", "-t", "60", "-l", filepath.Join(c.Dir, "log"), "-o", opts, action}
	if action == "stop" || action == "restart" {
		args = append([]string{"-m", "fast"}, args...)
	}
	if out, err := c.asPostgres("pg_ctl", args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.Dir, "log"))
		return fmt.Errorf("pg_ctl %s: %v: %s\n%s", action, err, out, tailOf(string(log), 20))
	}
	return nil
}

func tailOf(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// DSN is the connection string for a database.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// CreateDB makes a database and returns its DSN.
func (c *Cluster) CreateDB(ctx context.Context, name string) (string, error) {
	return c.CreateDBVia(ctx, name, nil)
}

// CreateDBVia is CreateDB with a dialer, for a cluster in a namespace.
func (c *Cluster) CreateDBVia(ctx context.Context, name string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (string, error) {
	cfg, err := pgx.ParseConfig(c.DSN("postgres"))
	if err != nil {
		return "", err
	}
	if dial != nil {
		cfg.DialFunc = dial
	}
	var conn *pgx.Conn
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err = pgx.ConnectConfig(ctx, cfg)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return c.DSN(name), nil
}

// Restart stops and starts the server, as a maintenance window would.
func (c *Cluster) Restart() error { return c.run("restart") }

// Stop stops the server and removes its files.
func (c *Cluster) Stop() {
	c.run("stop")
	os.RemoveAll(c.Dir)
}

// WaitReady waits until the server accepts connections.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
