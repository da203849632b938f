// Command outpostd is the Outpost appliance daemon: DHCP, TFTP and HTTP
// network boot, the inventory, and its API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/outpostdc/outpost/appliance/config"
	"github.com/outpostdc/outpost/initramfs"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	// Images built by mkuimage cannot set -X; they record the version.
	if version == "dev" {
		if v := initramfs.ReleaseField(initramfs.Release, "version"); v != "" {
			version = v
		}
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "outpostd:", err)
		os.Exit(1)
	}
}

// gcPercent trades memory for CPU: the heap is small (tens of MiB) and the
// box has plenty, while every DHCP exchange allocates.
const gcPercent = 400

func run(args []string) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	flags := flag.NewFlagSet("outpostd", flag.ContinueOnError)
	cfgPath := flags.String("config", "", "configuration file (YAML); embedded dev defaults when empty")
	dataDir := flags.String("data", "", "data directory (overrides data_dir)")
	iface := flags.String("interface", "", "provisioning interface; serves on ports 67, 69 and 80 (needs root)")
	imagesDir := flags.String("images", "", "images directory (overrides boot.images_dir)")
	httpListen := flags.String("http", "", "HTTP listen address (overrides http.listen)")
	dhcpListen := flags.String("dhcp", "", "DHCP listen address (overrides dhcp.listen)")
	tftpListen := flags.String("tftp", "", "TFTP listen address (overrides tftp.listen)")
	publicURL := flags.String("public-url", "", "URL machines reach the HTTP service at (overrides http.public_url)")
	logLevel := flags.String("log-level", "", "debug, info, warn or error (overrides log_level)")
	check := flags.Bool("check", false, "validate the configuration and exit")
	pprofAddr := flags.String("pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060), for profiling")
	if err := flags.Parse(args); err != nil {
		return err
	}
	cfg := config.Defaults()
	if *cfgPath != "" {
		b, err := os.ReadFile(*cfgPath)
		if err != nil {
			return err
		}
		if cfg, err = config.Parse(b); err != nil {
			return err
		}
	}
	for _, o := range []struct {
		flag string
		dst  *string
	}{
		{*dataDir, &cfg.DataDir}, {*iface, &cfg.Interface}, {*imagesDir, &cfg.Boot.ImagesDir},
		{*httpListen, &cfg.HTTP.Listen}, {*dhcpListen, &cfg.DHCP.Listen}, {*tftpListen, &cfg.TFTP.Listen},
		{*publicURL, &cfg.HTTP.PublicURL}, {*logLevel, &cfg.LogLevel},
	} {
		if o.flag != "" {
			*o.dst = o.flag
		}
	}
	if err := cfg.Finish(); err != nil {
		return err
	}
	if *check {
		fmt.Println("configuration is valid")
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Config: cfg, Log: log, Version: version, Out: os.Stdout, PprofAddr: *pprofAddr}
	err := m.Run(ctx)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (ports below 1024 and -interface need root)", err)
	}
	return err
}
