// Package outpostdtest builds and runs a real outpostd in dev mode on
// loopback, for the tests of the CLI, the TUI and the client. It is meant
// for TestMain, so it returns errors instead of taking a *testing.T.
package outpostdtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ModuleRoot returns the directory of the main module's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command(goBin(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Build compiles outpostd into dir and returns the binary's path.
func Build(dir string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "outpostd")
	cmd := exec.Command(goBin(), "build", "-o", bin, "./cmd/outpostd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building outpostd: %v\n%s", err, out)
	}
	return bin, nil
}

// Daemon is a running outpostd.
type Daemon struct {
	// URL is the plain-HTTP API base, http://127.0.0.1:PORT.
	URL string `json:"url"`
	// Socket is the unix socket; root on it is the admin.
	Socket  string `json:"socket"`
	DataDir string `json:"data_dir"`
	// AdminPassword is the first start's password of user admin.
	AdminPassword string `json:"admin_password"`

	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs bin in dev mode with its data, images and socket under dir,
// on free loopback ports, and waits until it serves.
func Start(bin, dir string) (*Daemon, error) {
	data, images := filepath.Join(dir, "data"), filepath.Join(dir, "images")
	sock := filepath.Join(dir, "outpostd.sock")
	cfg := filepath.Join(dir, "outpostd.yaml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	yaml := fmt.Sprintf("log_level: warn\nhttp: {socket: %s}\n", sock)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return nil, err
	}
	d := &Daemon{Socket: sock, DataDir: data, out: &lockedBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(bin, "-data", data, "-images", images, "-http", "127.0.0.1:0",
		"-dhcp", "127.0.0.1:0", "-tftp", "127.0.0.1:0", "-config", cfg)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.done <- d.cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(d.out.String(), "CLI socket") {
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("outpostd exited: %v\n%s", err, d.out.String())
		case <-deadline:
			d.Stop()
			return nil, fmt.Errorf("outpostd did not start in 30s:\n%s", d.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	m := regexp.MustCompile(`HTTP\s+tcp (127\.0\.0\.1:\d+)`).FindStringSubmatch(d.out.String())
	if m == nil {
		d.Stop()
		return nil, fmt.Errorf("outpostd did not say where HTTP listens:\n%s", d.out.String())
	}
	d.URL = "http://" + m[1]
	pw, err := os.ReadFile(filepath.Join(data, "initial-admin-password"))
	if err != nil {
		d.Stop()
		return nil, err
	}
	d.AdminPassword = strings.TrimSpace(string(pw))
	return d, nil
}

// Export puts where the daemon is in the environment variable key, so
// that TestMain hands it to the tests without a package variable.
func (d *Daemon) Export(key string) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return os.Setenv(key, string(b))
}

// Imported returns the daemon exported under key. It cannot be stopped
// or read from: only TestMain, which started it, can.
func Imported(key string) (*Daemon, error) {
	v := os.Getenv(key)
	if v == "" {
		return nil, fmt.Errorf("%s is not set: outpostd is started by TestMain", key)
	}
	var d Daemon
	if err := json.Unmarshal([]byte(v), &d); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	d.out = &lockedBuffer{}
	return &d, nil
}

// Output is what outpostd printed so far.
func (d *Daemon) Output() string { return d.out.String() }

// Stop ends outpostd with SIGTERM (SIGKILL after 10 s).
func (d *Daemon) Stop() error {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		return err
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		return errors.New("outpostd did not stop on SIGTERM")
	}
}

// BootScript fetches /boot.ipxe for mac as iPXE would, which records a
// boot event in the MAC's timeline.
func (d *Daemon) BootScript(ctx context.Context, mac string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/boot.ipxe?mac="+mac+"&platform=pcbios&buildarch=x86_64", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("boot.ipxe: %s: %s", resp.Status, b)
	}
	return string(b), err
}
