package recon

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"time"
)

// CollectOptions holds what Collect cannot learn from the file system.
// A nil function skips that collector, which is how tests stay off live
// hardware.
type CollectOptions struct {
	AgentVersion string

	// BMC reads the BMC, normally ReadBMC.
	BMC func(ctx context.Context) (*BMC, error)
	// Enroll, when set, is run after BMC to create the user outpostd
	// asked for; its outcome lands in BMC.Enrolled / EnrollmentError.
	Enroll func(ctx context.Context) error
	// BMCTimeout bounds BMC and Enroll each; 0 means 30 s.
	BMCTimeout time.Duration

	// LLDP listens on one interface, normally ListenLLDP. It runs on
	// every physical NIC with link, all at once.
	LLDP func(ctx context.Context, iface string, timeout time.Duration) (LLDP, error)
	// LLDPTimeout is how long to listen per interface; 0 means 35 s,
	// just over the default 30 s transmit interval.
	LLDPTimeout time.Duration
}

// LiveOptions are the options for a real machine.
func LiveOptions(agentVersion string) CollectOptions {
	return CollectOptions{
		AgentVersion: agentVersion,
		BMC:          ReadBMC,
		LLDP:         ListenLLDP,
	}
}

// Collect builds the report of the machine whose file system is root
// (rooted at "/"; os.DirFS("/") on a live system). bootMAC is the MAC the
// machine booted from. A collector that fails leaves its part empty and
// says why in Report.Errors; Collect itself never fails.
func Collect(ctx context.Context, root fs.FS, bootMAC string, opts CollectOptions) Report {
	r := Report{
		Version: ReportVersion,
		BootMAC: normalMAC(bootMAC),
		Agent:   AgentInfo{Version: clean(opts.AgentVersion)},
	}
	var errs []string
	fail := func(err error) {
		if err != nil {
			errs = append(errs, clean(err.Error()))
		}
	}

	// The slow live collectors run while the files are read.
	var wg sync.WaitGroup
	var bmc *BMC
	var bmcErrs []string
	if opts.BMC != nil {
		wg.Go(func() { bmc, bmcErrs = collectBMC(ctx, opts) })
	}

	r.Agent.Kernel = attr(root, "proc/sys/kernel/osrelease")
	var dimms []DIMM
	var err error
	r.System, dimms, err = ReadSMBIOS(root)
	fail(err)
	r.CPU, err = openParse(root, "proc/cpuinfo", ParseCPUInfo)
	fail(err)
	memTotal, err := openParse(root, "proc/meminfo", ParseMeminfo)
	fail(err)
	r.Memory = Memory{TotalBytes: TotalMemory(dimms, memTotal), DIMMs: dimms}
	r.Disks, err = ReadDisks(root)
	fail(err)
	r.NICs, err = ReadNICs(root, bootMAC)
	fail(err)
	r.PCI, err = ReadPCI(root)
	fail(err)

	var lldpErrs []string
	if opts.LLDP != nil {
		r.LLDP, lldpErrs = collectLLDP(ctx, r.NICs, opts)
	}
	wg.Wait()
	r.BMC = bmc
	r.Errors = append(append(errs, bmcErrs...), lldpErrs...)
	return r
}

// openParse opens name in fsys and parses it with parse.
func openParse[T any](fsys fs.FS, name string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := fsys.Open(name)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	return parse(f)
}

func collectBMC(ctx context.Context, opts CollectOptions) (*BMC, []string) {
	timeout := opts.BMCTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	readCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []string
	b, err := opts.BMC(readCtx)
	if err != nil {
		errs = append(errs, clean(fmt.Sprintf("bmc: %v", err)))
	}
	if b == nil || opts.Enroll == nil {
		return b, errs
	}
	// A slow read must not eat the enrolment's time.
	enrollCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := opts.Enroll(enrollCtx); err != nil {
		b.EnrollmentError = clean(err.Error())
	} else {
		b.Enrolled = true
	}
	return b, errs
}

// collectLLDP listens on every NIC with link at once, so the wait is one
// timeout, not one per port. Results keep the NICs' order.
func collectLLDP(ctx context.Context, nics []NIC, opts CollectOptions) ([]LLDP, []string) {
	timeout := opts.LLDPTimeout
	if timeout <= 0 {
		timeout = 35 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	type result struct {
		l   LLDP
		err error
		ok  bool
	}
	res := make([]result, len(nics))
	var wg sync.WaitGroup
	for i, n := range nics {
		if !n.Link {
			continue
		}
		wg.Go(func() {
			l, err := opts.LLDP(ctx, n.Name, timeout)
			if err == nil && l.Interface == "" {
				l.Interface = n.Name
			}
			res[i] = result{l, err, true}
		})
	}
	wg.Wait()
	var out []LLDP
	var errs []string
	for i, r := range res {
		switch {
		case !r.ok:
		case r.err != nil:
			errs = append(errs, clean(fmt.Sprintf("lldp %s: %v", nics[i].Name, r.err)))
		default:
			out = append(out, r.l)
		}
	}
	return out, errs
}
