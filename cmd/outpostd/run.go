package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/api"
	"github.com/outpostdc/outpost/appliance/bmc"
	"github.com/outpostdc/outpost/appliance/config"
	"github.com/outpostdc/outpost/appliance/images"
	"github.com/outpostdc/outpost/appliance/jobs"
	"github.com/outpostdc/outpost/appliance/netboot"
	"github.com/outpostdc/outpost/appliance/provision"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/appliance/web"
	"github.com/outpostdc/outpost/boot/dhcp"
	"github.com/outpostdc/outpost/boot/httpboot"
	"github.com/outpostdc/outpost/boot/ra"
	"github.com/outpostdc/outpost/boot/tftp"
	"github.com/outpostdc/outpost/sync/uplink"
	"github.com/outpostdc/outpost/sync/wire"
)

// Main is outpostd with its configuration resolved.
type Main struct {
	Config  config.Config
	Log     *slog.Logger
	Version string
	// Out receives the human-readable "where everything listens" lines.
	Out io.Writer
	// PprofAddr, if set, serves the Go profiler there.
	PprofAddr string
}

// Run serves until ctx is done, then stops every service and closes the
// store.
func (m *Main) Run(ctx context.Context) error {
	cfg := m.Config
	log := m.Log
	// Prime the kernel's random pool: insomniacslk/dhcp draws transaction
	// IDs with a non-blocking spin that stalls while the pool is empty.
	if _, err := rand.Read(make([]byte, 32)); err != nil {
		return fmt.Errorf("crypto/rand: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}

	serverIP, prefix, err := interfaceAddr(cfg.Interface)
	if err != nil {
		return err
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	defer httpLn.Close()
	publicURL := cfg.HTTP.PublicURL
	if publicURL == "" {
		publicURL = derivePublicURL(serverIP, httpLn.Addr().(*net.TCPAddr).Port)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	dropped := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "outpost_boot_events_dropped_total", Help: "Boot events dropped because the write queue was full.",
	})
	reg.MustRegister(dropped)

	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "outpost.db"), sqlite.Options{
		Log: log, OnEventDrop: dropped.Inc,
	})
	if err != nil {
		return err
	}
	defer store.Close()
	reg.MustRegister(newStateCollector(store, log))

	imagesDir := cfg.Boot.ImagesDir
	if err := os.MkdirAll(imagesDir, 0o755); err != nil {
		return fmt.Errorf("boot.images_dir: %w", err)
	}
	imagesRoot, err := os.OpenRoot(imagesDir)
	if err != nil {
		return fmt.Errorf("boot.images_dir: %w", err)
	}
	defer imagesRoot.Close()
	tftpDir := cfg.TFTP.Root
	if !filepath.IsAbs(tftpDir) {
		tftpDir = filepath.Join(imagesDir, tftpDir)
	}
	if err := os.MkdirAll(tftpDir, 0o755); err != nil {
		return fmt.Errorf("tftp.root: %w", err)
	}
	tftpRoot, err := os.OpenRoot(tftpDir)
	if err != nil {
		return fmt.Errorf("tftp.root: %w", err)
	}
	defer tftpRoot.Close()

	booter := &netboot.Service{Store: store, Log: log, Cfg: netboot.Config{
		Base: publicURL, Kernel: cfg.Boot.Kernel, Initrds: cfg.Boot.Initrds, Cmdline: cfg.Boot.Cmdline,
		TokenTTL: cfg.Boot.TokenTTL, Policy: cfg.Policy(),
	}}

	g, gctx := errgroup.WithContext(ctx)
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }

	var dcfg dhcp.Config
	if cfg.DHCP.Enabled {
		if dcfg, err = cfg.DHCPConfig(serverIP, prefix, publicURL); err != nil {
			return err
		}
		h := dhcp.NewHandler(dcfg, dhcp.Deps{Booter: booter, Leases: store, Recorder: store, Log: log})
		leases, err := store.LoadLeases(ctx)
		if err != nil {
			return fmt.Errorf("loading leases: %w", err)
		}
		h.Restore(leases)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "outpost_dhcp_leases_in_use", Help: "Bound, unexpired DHCP leases.",
		}, func() float64 { return float64(h.LeasesInUse()) }))
		dm := dhcp.NewMetrics(reg)
		conn, err := listenDHCP(cfg.Interface, cfg.DHCP.Listen)
		if err != nil {
			return fmt.Errorf("dhcp.listen %s: %w", cfg.DHCP.Listen, err)
		}
		srv := &dhcp.Server{Handle: h.Handle, Sweep: h.FlushOffers, Log: log, M: dm}
		g.Go(func() error { return srv.Serve(gctx, conn) })
		mode := "DHCP"
		if dcfg.Proxy {
			mode = "ProxyDHCP"
			bs, err := listenDHCP(cfg.Interface, portOf(cfg.DHCP.Listen, 4011))
			if err != nil {
				return fmt.Errorf("PXE boot server port: %w", err)
			}
			bsrv := &dhcp.Server{Log: log, M: dm, ReplyToPeer: true,
				Handle: func(_ context.Context, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, dhcp.Result) {
					return h.HandleBootServer(req)
				}}
			g.Go(func() error { return bsrv.Serve(gctx, bs) })
			add("  pxe boot server  udp %s", bs.LocalAddr())
		}
		add("  %-16s udp %s  server id %s, %d leases restored", mode, conn.LocalAddr(), dcfg.ServerID, len(leases))
		for _, s := range dcfg.Subnets {
			add("                   subnet %s pool %s-%s", s.Prefix, s.PoolStart, s.PoolEnd)
		}
	}
	if cfg.TFTP.Enabled {
		conn, err := net.ListenPacket("udp4", cfg.TFTP.Listen)
		if err != nil {
			return fmt.Errorf("tftp.listen %s: %w", cfg.TFTP.Listen, err)
		}
		ts := &tftp.Server{Root: tftpRoot.FS(), Log: log, Recorder: store, M: tftp.NewMetrics(reg),
			Anticipate: cfg.TFTP.Anticipate}
		g.Go(func() error { return ts.Serve(gctx, conn) })
		add("  %-16s udp %s  serving %s", "TFTP", conn.LocalAddr(), tftpDir)
	}
	if cfg.DHCP.RouterAdvertisements && cfg.Interface != "" {
		g.Go(func() error { return (&ra.Sender{Interface: cfg.Interface, Log: log}).Run(gctx) })
		add("  %-16s on %s (router lifetime 0)", "IPv6 RA", cfg.Interface)
	}

	hb := &httpboot.Server{Booter: booter, Recorder: store, Log: log, M: httpboot.NewMetrics(reg),
		Base: publicURL, TFTPRoot: tftpRoot, ImagesRoot: imagesRoot}
	apiSrv := &api.Server{Store: store, Log: log, Site: cfg.Site, Version: m.Version, Started: time.Now(),
		CheckReservation: reservationCheck(dcfg)}
	credPath := cfg.BMC.Credentials
	if !filepath.IsAbs(credPath) {
		credPath = filepath.Join(cfg.DataDir, credPath)
	}
	creds, err := bmc.NewCredStore(credPath)
	if err != nil {
		return fmt.Errorf("bmc.credentials: %w", err)
	}
	pol, err := cfg.PolicyConfig()
	if err != nil {
		return err
	}
	engine := &jobs.Engine{Store: store, Log: log,
		BMC: &jobs.BMCDialer{Creds: creds, Dialer: bmc.NewDialer(bmc.Options{Attempts: cfg.BMC.Attempts,
			Timeout: cfg.BMC.Timeout, LenientEFIReadback: cfg.BMC.LenientEFIReadback, Logger: log})},
		Cfg: jobs.Config{Attempts: cfg.Jobs.Attempts, RetryBase: cfg.Jobs.RetryBase, BootTimeout: cfg.Jobs.BootTimeout,
			AgentTimeout: cfg.Jobs.AgentTimeout, WorkIdle: cfg.Jobs.WorkIdle, FastTrack: cfg.Jobs.FastTrack,
			PowerTimeout: cfg.Jobs.PowerTimeout, AgentFresh: 3 * cfg.Agent.Poll, Workers: cfg.Jobs.Workers,
			ImageBase: publicURL + "/images", Policy: pol}}
	g.Go(func() error { return engine.Run(gctx) })
	imgStore := &images.Store{DB: store, Dir: imagesDir, Log: log}
	prov := &provision.Reconciler{Store: store, Wake: engine.Wake, Log: log, Attempts: cfg.Jobs.Attempts}
	g.Go(func() error { return prov.Run(gctx) })
	if err := loadPolicyOverride(ctx, store, engine); err != nil {
		return err
	}
	if cfg.HQ.URL != "" {
		up, err := newUplink(ctx, cfg, store, imgStore, engine, prov, log)
		if err != nil {
			return err
		}
		g.Go(func() error { return up.Run(gctx) })
		add("  %-16s %s as site %q", "HQ sync", cfg.HQ.URL, cfg.HQ.SiteID)
	}
	apiSrv.Ops = &api.Ops{Store: store, Jobs: engine, Creds: creds, Policies: cfg.Jobs.Policies, Images: imgStore}
	apiSrv.HQ = cfg.HQ.URL
	agent := &api.Agent{Store: store, Log: log, Policy: cfg.Policy(), AgentTTL: cfg.Agent.TokenTTL,
		PollSeconds: int(cfg.Agent.Poll.Seconds()), Creds: creds, Jobs: engine}
	if cfg.BMC.Enroll {
		agent.Enroll = &api.EnrollConfig{User: cfg.BMC.User, UserID: uint8(cfg.BMC.UserID)}
	}
	auth := &api.Auth{Store: store, Log: log}
	apiSrv.Auth = auth
	if err := bootstrapAdmin(ctx, store, cfg.DataDir, m.Out); err != nil {
		return err
	}
	mux := http.NewServeMux()
	agent.Register(mux)
	mux.Handle("/api/", apiSrv.Handler())
	ui, err := web.New(web.Server{Store: store, Jobs: engine, Log: log, Site: cfg.Site})
	if err != nil {
		return err
	}
	mux.Handle("/ui/", ui.Handler())
	mux.Handle("/metrics", auth.Middleware(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	mux.Handle("/", hb.Handler())
	serve := func(ln net.Listener, tlsCfg *tls.Config) {
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg,
			ConnContext: api.ConnContext, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		g.Go(func() error {
			var err error
			if tlsCfg != nil {
				err = hs.ServeTLS(ln, "", "")
			} else {
				err = hs.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return hs.Shutdown(sctx)
		})
	}
	serve(httpLn, nil)
	sockPath := underData(cfg.DataDir, cfg.HTTP.Socket)
	os.Remove(sockPath)
	sockLn, err := net.Listen("unix", sockPath)
	if err != nil {
		return fmt.Errorf("http.socket %s: %w", sockPath, err)
	}
	// Only root reaches the socket: being on it makes one an admin.
	if err := os.Chmod(sockPath, 0o600); err != nil {
		return err
	}
	serve(sockLn, nil)
	add("  %-16s unix %s (root is admin)", "CLI socket", sockPath)
	if cfg.HTTP.TLSListen != "" {
		cert, err := api.LoadOrCreateCert(underData(cfg.DataDir, cfg.HTTP.TLSCert), underData(cfg.DataDir, cfg.HTTP.TLSKey),
			[]string{serverIP.String(), "localhost", "127.0.0.1"})
		if err != nil {
			return fmt.Errorf("http.tls_cert: %w", err)
		}
		tln, err := net.Listen("tcp", cfg.HTTP.TLSListen)
		if err != nil {
			return fmt.Errorf("http.tls_listen %s: %w", cfg.HTTP.TLSListen, err)
		}
		serve(tln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		add("  %-16s tcp %s  API and web UI over TLS", "HTTPS", tln.Addr())
	}
	g.Go(func() error { return pruneEvents(gctx, store, log) })
	if m.PprofAddr != "" {
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		ps := &http.Server{Addr: m.PprofAddr, Handler: pm, ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := ps.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("pprof: %w", err)
			}
			return nil
		})
		g.Go(func() error { <-gctx.Done(); return ps.Close() })
		add("  %-16s http://%s/debug/pprof/", "pprof", m.PprofAddr)
	}

	fmt.Fprintf(m.Out, "outpostd %s, site %q, data in %s\n", m.Version, cfg.Site, cfg.DataDir)
	fmt.Fprintf(m.Out, "  %-16s tcp %s  boot script %s/boot.ipxe\n", "HTTP", httpLn.Addr(), publicURL)
	fmt.Fprintf(m.Out, "  %-16s %s/api/v1/health, %s/metrics\n", "API", publicURL, publicURL)
	for _, l := range lines {
		fmt.Fprintln(m.Out, l)
	}
	fmt.Fprintln(m.Out, "outpostd ready")
	log.Info("outpostd ready", "site", cfg.Site, "http", httpLn.Addr().String(), "public_url", publicURL)
	err = g.Wait()
	log.Info("outpostd stopped", "err", err)
	return err
}

func underData(dataDir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dataDir, p)
}

// bootstrapAdmin makes the first admin on a fresh box, with a random
// password shown once and left in a root-only file for the installer.
func bootstrapAdmin(ctx context.Context, store *sqlite.Store, dataDir string, out io.Writer) error {
	n, err := store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	pw := base64.RawURLEncoding.EncodeToString(b[:])
	if _, err := store.CreateUser(ctx, "admin", appliance.RoleAdmin, pw, appliance.ActorSystem); err != nil {
		return err
	}
	file := filepath.Join(dataDir, "initial-admin-password")
	if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "first start: created user admin; its password is in %s (change it: outpost users passwd admin)\n", file)
	return nil
}

// interfaceAddr returns the provisioning interface's first IPv4 address
// and network; in dev mode (no interface) it is loopback.
func interfaceAddr(name string) (netip.Addr, netip.Prefix, error) {
	if name == "" {
		return netip.MustParseAddr("127.0.0.1"), netip.MustParsePrefix("127.0.0.0/8"), nil
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, netip.Prefix{}, fmt.Errorf("interface %q: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, netip.Prefix{}, fmt.Errorf("interface %q: %w", name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok {
				ones, _ := n.Mask.Size()
				return ip, netip.PrefixFrom(ip, ones).Masked(), nil
			}
		}
	}
	return netip.Addr{}, netip.Prefix{}, fmt.Errorf("interface %q has no IPv4 address", name)
}

func derivePublicURL(ip netip.Addr, port int) string {
	if port == 80 {
		return "http://" + ip.String()
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(port))
}

// listenDHCP binds to the interface when one is named, so that broadcasts
// are received and replies leave through it.
func listenDHCP(iface, addr string) (net.PacketConn, error) {
	var c *net.UDPConn
	if iface == "" {
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return nil, err
		}
		c = pc.(*net.UDPConn)
	} else {
		ua, err := net.ResolveUDPAddr("udp4", addr)
		if err != nil {
			return nil, err
		}
		if c, err = server4.NewIPv4UDPConn(iface, ua); err != nil {
			return nil, err
		}
	}
	// A burst of booting machines, or a moment without the CPU, must queue
	// in the socket rather than be dropped by the kernel.
	if err := setReadBuffer(c, dhcpReadBuffer); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// dhcpReadBuffer holds a few thousand requests: the kernel charges each
// datagram its whole buffer, not just its bytes.
const dhcpReadBuffer = 4 << 20

// setReadBuffer sizes c's receive buffer past net.core.rmem_max when it
// may (root), and up to it otherwise.
func setReadBuffer(c *net.UDPConn, n int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
	}); err != nil {
		return err
	}
	if serr == nil {
		return nil
	}
	return c.SetReadBuffer(n)
}

func portOf(addr string, port int) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// reservationCheck keeps reservations out of the dynamic pools, so that
// the allocator never has to ask whether a pool address is reserved.
func reservationCheck(c dhcp.Config) func(netip.Addr) error {
	return func(ip netip.Addr) error {
		for _, s := range c.Subnets {
			if s.InPool(ip) {
				return fmt.Errorf("%s is inside the dynamic pool %s-%s; reserve addresses outside it", ip, s.PoolStart, s.PoolEnd)
			}
		}
		return nil
	}
}

func pruneEvents(ctx context.Context, store *sqlite.Store, log *slog.Logger) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := store.PruneEvents(ctx, time.Now().Add(-90*24*time.Hour)); err != nil {
				log.Warn("pruning boot events failed", "err", err)
			} else if n > 0 {
				log.Info("pruned old boot events", "count", n)
			}
		}
	}
}

// stateCollector reports machines per state at scrape time.
type stateCollector struct {
	store *sqlite.Store
	log   *slog.Logger
	desc  *prometheus.Desc
}

func newStateCollector(s *sqlite.Store, log *slog.Logger) *stateCollector {
	return &stateCollector{store: s, log: log, desc: prometheus.NewDesc("outpost_machines",
		"Machines in the inventory, by state.", []string{"state"}, nil)}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountByState(ctx)
	if err != nil {
		c.log.Warn("metrics: counting machines failed", "err", err)
		return
	}
	for _, s := range appliance.States() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

// newUplink sets up sync with HQ: the site key, TLS trust, the outbox and
// the intent applier.
func newUplink(ctx context.Context, cfg config.Config, store *sqlite.Store, imgs *images.Store, engine *jobs.Engine,
	prov *provision.Reconciler, log *slog.Logger) (*uplink.Uplink, error) {
	keyPath := underData(cfg.DataDir, cfg.HQ.KeyFile)
	st, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("hq.key_file: %w (put the key HQ gave for site %q there, mode 0600)", err, cfg.HQ.SiteID)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("hq.key_file %s is readable by others (mode %v): chmod 600 it", keyPath, st.Mode().Perm())
	}
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.HQ.Insecure}
	if cfg.HQ.CAFile != "" {
		pem, err := os.ReadFile(cfg.HQ.CAFile)
		if err != nil {
			return nil, fmt.Errorf("hq.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("hq.ca_file: no certificate in %s", cfg.HQ.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if err := store.EnableSync(ctx, cfg.HQ.SiteID); err != nil {
		return nil, err
	}
	// Short connect and header timeouts notice a cut WAN quickly; the
	// uplink bounds whole exchanges itself.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ResponseHeaderTimeout: 30 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 2}}
	return &uplink.Uplink{Store: store, HQ: strings.TrimRight(cfg.HQ.URL, "/"), Key: strings.TrimSpace(string(raw)), HTTP: hc, Log: log,
		BatchChanges: cfg.HQ.Batch, Poll: cfg.HQ.Poll,
		Apply: &uplink.Applier{Store: store, Images: imgs, SetPolicy: engine.SetPolicy, Attempts: cfg.Jobs.Attempts, HTTP: hc, Log: log,
			Kick: func() { engine.Wake(); prov.Kick() }}}, nil
}

// loadPolicyOverride puts the last policy HQ sent in force at start.
func loadPolicyOverride(ctx context.Context, store *sqlite.Store, engine *jobs.Engine) error {
	body, ok, err := store.PolicyOverride(ctx)
	if err != nil || !ok {
		return err
	}
	var b wire.PolicyBody
	if err := json.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("stored HQ policy: %w", err)
	}
	p, err := uplink.PolicyFrom(b)
	if err != nil {
		return fmt.Errorf("stored HQ policy: %w", err)
	}
	engine.SetPolicy(p)
	return nil
}
