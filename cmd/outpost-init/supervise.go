package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/outpostdc/outpost/appliance/config"
	"github.com/outpostdc/outpost/appliance/host"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

// box is the supervisor's state.
type box struct {
	console io.Writer
	out     io.Writer // console and, with a data partition, the log file
	poll    time.Duration
	mu      sync.Mutex
	st      host.Status
	printed string
}

// supervise runs the box until SIGTERM: st is what the boot sequence
// found.
func supervise(st host.Status, poll time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	b := &box{console: os.Stdout, out: os.Stdout, poll: poll, st: st}
	if st.Data.Mounted {
		logs := &lumberjack.Logger{Filename: filepath.Join(dataDir, "log", "outpostd.log"), MaxSize: 20, MaxBackups: 5, Compress: true}
		defer logs.Close()
		b.out = io.MultiWriter(os.Stdout, logs)
	}
	b.loop(ctx)
	return nil
}

func (b *box) say(format string, a ...any) { fmt.Fprintf(b.out, "outpost: "+format+"\n", a...) }

func (b *box) update(f func(*host.Status)) {
	b.mu.Lock()
	f(&b.st)
	b.st.Updated = time.Now()
	st := b.st
	show := st.Key() != b.printed
	if show {
		b.printed = st.Key()
	}
	b.mu.Unlock()
	if err := host.WriteStatus(statusFile, st); err != nil {
		fmt.Fprintf(b.console, "outpost: status: %v\n", err)
	}
	if show {
		st.Render(b.console, time.Now())
	}
}

// loop runs the box: unconfigured until a valid configuration appears,
// then configured until it changes.
func (b *box) loop(ctx context.Context) {
	for ctx.Err() == nil {
		cfg, stamp, err := loadConfig()
		if err != nil {
			b.update(func(s *host.Status) {
				s.Mode, s.Services, s.Interfaces, s.Health, s.HQ = "unconfigured", nil, nil, "", host.HQLink{}
				s.Note = unconfiguredNote(err, s.Data.Mounted)
			})
			b.waitChange(ctx, stamp)
			continue
		}
		b.runConfigured(ctx, cfg, stamp)
	}
}

func unconfiguredNote(err error, mounted bool) string {
	n := "serving nothing on the provisioning network: " + err.Error()
	if !mounted {
		n += "\nno data partition: see the data line; a configuration would not survive a reboot"
	}
	return n + "\nto configure: outpost-init configure -h  (writes " + configFile + ")"
}

// configStamp identifies a version of the configuration file.
type configStamp struct {
	mod  time.Time
	size int64
}

func stampOf() configStamp {
	fi, err := os.Stat(configFile)
	if err != nil {
		return configStamp{}
	}
	return configStamp{fi.ModTime(), fi.Size()}
}

func loadConfig() (config.Config, configStamp, error) {
	stamp := stampOf()
	raw, err := os.ReadFile(configFile)
	if errors.Is(err, os.ErrNotExist) {
		return config.Config{}, stamp, fmt.Errorf("no configuration in %s", configFile)
	}
	if err != nil {
		return config.Config{}, stamp, err
	}
	cfg, err := config.Parse(raw)
	if err == nil && !cfg.Host.Provisioning.Set() {
		err = errors.New("config: host.provisioning: needs an interface (the box serves machines on it)")
	}
	if err == nil {
		cfg.Interface, cfg.DataDir = "provisioning", dataDir
		err = cfg.Finish()
	}
	return cfg, stamp, err
}

func (b *box) waitChange(ctx context.Context, stamp configStamp) {
	for b.tick(ctx, stamp, "the configuration changed") {
	}
}

// tick waits one poll; it reports false when ctx ends or the
// configuration has changed, saying why.
func (b *box) tick(ctx context.Context, stamp configStamp, changed string) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(b.poll):
	}
	if stampOf() != stamp {
		b.say("%s", changed)
		return false
	}
	return true
}

// runConfigured brings the interfaces up, starts outpostd under a
// supervisor and keeps the status current until the configuration
// changes or ctx ends.
func (b *box) runConfigured(ctx context.Context, cfg config.Config, stamp configStamp) {
	b.update(func(s *host.Status) {
		s.Mode, s.Site, s.Note, s.Hostname = "configuring", cfg.Site, "", cfg.Host.Hostname
		s.HQ = host.HQLink{Configured: cfg.HQ.URL != "", URL: cfg.HQ.URL, Unknown: cfg.HQ.URL != ""}
	})
	if h := cfg.Host.Hostname; h != "" {
		if err := unix.Sethostname([]byte(h)); err != nil {
			b.say("hostname %s: %v", h, err)
		}
	}
	var ifaces []host.Iface
	for _, l := range []struct {
		role string
		link config.Link
	}{{"management", cfg.Host.Management}, {"provisioning", cfg.Host.Provisioning}} {
		ifc, err := host.ConfigureLink(ctx, l.role, l.link, resolvConf, b.out)
		if err != nil {
			// Without its provisioning interface the box must not serve.
			b.update(func(s *host.Status) {
				s.Mode, s.Note = "unconfigured", fmt.Sprintf("%v\nfix the configuration (outpost-init configure -h), or the cabling", err)
			})
			b.waitChange(ctx, stamp)
			return
		}
		ifaces = append(ifaces, ifc)
	}
	b.update(func(s *host.Status) { s.Interfaces = ifaces })
	if err := b.images(); err != nil {
		b.say("images: %v", err)
	}
	bin, err := exec.LookPath("outpostd")
	if err != nil {
		bin = "/bbin/outpostd"
	}
	sup := &host.Supervisor{Name: "outpostd", Output: b.out,
		Command: func() *exec.Cmd {
			return exec.Command(bin, "-config", configFile, "-data", dataDir, "-images", filepath.Join(dataDir, "images"),
				"-interface", ifaces[1].Name)
		},
		OnChange: func(v host.Service) {
			// For scripts and technicians: kill -9 $(cat /run/outpost/outpostd.pid)
			if v.PID != 0 {
				os.WriteFile(pidFile, []byte(strconv.Itoa(v.PID)+"\n"), 0o644)
			} else {
				os.Remove(pidFile)
			}
			b.update(func(s *host.Status) { s.Services = []host.Service{v} })
		},
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sup.Run(runCtx); close(done) }()
	defer func() { cancel(); <-done }()
	b.update(func(s *host.Status) { s.Mode = "configured" })
	api, _ := client.New(client.Options{Socket: filepath.Join(dataDir, cfg.HTTP.Socket), Timeout: 2 * time.Second})
	for b.tick(ctx, stamp, "the configuration changed: stopping outpostd to apply it") {
		b.refresh(ctx, api, cfg)
		for i, ifc := range ifaces {
			if !ifc.Renew.IsZero() && time.Now().After(ifc.Renew) {
				link := cfg.Host.Management
				if i == 1 {
					link = cfg.Host.Provisioning
				}
				if n, err := host.ConfigureLink(ctx, ifc.Role, link, resolvConf, b.out); err != nil {
					b.say("renewing %s: %v", ifc.Name, err)
					ifaces[i].Renew = time.Now().Add(time.Minute)
				} else {
					ifaces[i] = n
				}
				b.update(func(s *host.Status) { s.Interfaces = append([]host.Iface(nil), ifaces...) })
			}
		}
	}
}

// refresh asks outpostd, over its socket, how it and the HQ link are.
func (b *box) refresh(ctx context.Context, api *client.Client, cfg config.Config) {
	health, herr := api.Health(ctx)
	var sync client.SyncStatus
	var serr error
	if herr == nil && cfg.HQ.URL != "" {
		sync, serr = api.Sync(ctx)
	}
	b.update(func(s *host.Status) {
		s.Health = "ok"
		if herr != nil {
			s.Health = "not answering: " + herr.Error()
		} else if health.Status != "ok" {
			s.Health = health.Status
		}
		hq := host.HQLink{Configured: cfg.HQ.URL != "", URL: cfg.HQ.URL}
		switch {
		case !hq.Configured:
		case herr != nil || serr != nil:
			hq.Unknown = true
		default:
			hq.Connected, hq.Backlog, hq.LastError = sync.Connected, sync.Backlog, sync.LastError
			if sync.PartitionedSince != nil {
				hq.PartitionedSince = *sync.PartitionedSince
			}
			if sync.LastContact != nil {
				hq.LastContact = *sync.LastContact
			}
		}
		s.HQ = hq
	})
}

// images lays out the images directory outpostd serves: the iPXE
// binaries and the recon image come from the initramfs, bind-mounted
// read-only; OS images live on the data partition beside them.
func (b *box) images() error {
	dir := filepath.Join(dataDir, "images")
	for _, sub := range []string{"ipxe", "recon"} {
		src, dst := filepath.Join(shareDir, sub), filepath.Join(dir, sub)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if mounted(dst) {
			continue
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", src, dst, err)
		}
		// A bind mount takes read-only only on a remount.
		if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", dst, err)
		}
	}
	return nil
}

// mounted reports whether dir is a mount point: its device differs from
// its parent's.
func mounted(dir string) bool {
	var a, p unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &p) != nil {
		return false
	}
	return a.Dev != p.Dev
}

func status(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("outpost-init status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *asJSON {
		b, err := os.ReadFile(statusFile)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	st, err := host.ReadStatus(statusFile)
	if err != nil {
		return fmt.Errorf("no status yet (%w): is the supervisor running?", err)
	}
	st.Render(w, time.Now())
	return nil
}
