package agent

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/outpostdc/outpost/recon"
	"github.com/outpostdc/outpost/recon/install"
)

// Jobs runs install and recycle jobs on this machine.
type Jobs struct {
	C       *Client
	Console io.Writer
	// Root is the machine's file system (sysfs for the disk list); Dev is
	// where the block devices are, normally "/dev".
	Root fs.FS
	Dev  string
	HTTP *http.Client
}

// Run does one job and reports its result. It returns an error only
// when the result itself could not be reported.
func (j *Jobs) Run(ctx context.Context, job recon.Job, tok string) error {
	fmt.Fprintf(j.Console, "recon: job %d: %s\n", job.ID, job.Action)
	rep := j.reporter(ctx, job.ID, tok)
	var res recon.JobResult
	var err error
	switch job.Action {
	case "install":
		res, err = j.install(ctx, job, rep)
	case "recycle":
		res, err = j.recycle(ctx, job, rep)
	default:
		err = fmt.Errorf("this agent cannot run %q jobs", job.Action)
	}
	if err != nil {
		res = recon.JobResult{OK: false, Error: err.Error()}
		fmt.Fprintf(j.Console, "recon: job %d failed: %v\n", job.ID, err)
	} else {
		fmt.Fprintf(j.Console, "recon: job %d done: %s\n", job.ID, res.Summary)
	}
	return j.C.JobResult(ctx, tok, job.ID, res)
}

// reporter sends progress to outpostd at most once a second and shows it
// on the console; the watchdog in outpostd counts on it.
func (j *Jobs) reporter(ctx context.Context, id int64, tok string) func(install.Progress) {
	var mu sync.Mutex
	var last time.Time
	var lastPhase string
	return func(p install.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Second && p.Phase == lastPhase && p.Percent < 100 {
			return
		}
		last, lastPhase = time.Now(), p.Phase
		fmt.Fprintf(j.Console, "recon: job %d %-8s %5.1f%%  %7.1f MB/s  %d/%d MiB\n", id, p.Phase, p.Percent, p.MBps, p.Done>>20, p.Total>>20)
		// Progress is advisory: a lost report must not stop the work.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c := *j.C
		c.Attempts = 1
		c.OnRetry = nil
		if err := c.JobProgress(pctx, tok, id, recon.JobProgress{Phase: p.Phase, Done: p.Done, Total: p.Total, Percent: p.Percent, MBps: p.MBps}); err != nil {
			fmt.Fprintf(j.Console, "recon: progress report failed: %v\n", err)
		}
	}
}

func (j *Jobs) disks() ([]recon.Disk, error) {
	return recon.ReadDisks(j.Root)
}

func (j *Jobs) install(ctx context.Context, job recon.Job, rep func(install.Progress)) (recon.JobResult, error) {
	p := job.Params
	size, err1 := strconv.ParseInt(p["size"], 10, 64)
	rawSize, err2 := strconv.ParseInt(p["raw_size"], 10, 64)
	if err1 != nil || err2 != nil || p["url"] == "" {
		return recon.JobResult{}, fmt.Errorf("job has no usable image (url %q, size %q, raw_size %q)", p["url"], p["size"], p["raw_size"])
	}
	disks, err := j.disks()
	if err != nil {
		return recon.JobResult{}, fmt.Errorf("listing disks: %w", err)
	}
	disk, err := install.ChooseDisk(disks, install.TargetRule{Serial: p["target_serial"]}, uint64(rawSize))
	if err != nil {
		return recon.JobResult{}, err
	}
	dev := j.Dev + "/" + disk.Name
	fmt.Fprintf(j.Console, "recon: installing %s onto %s (%d MiB, serial %q)\n", p["url"], dev, disk.SizeBytes>>20, disk.Serial)
	img := install.Image{URL: p["url"], Format: p["format"], Size: size, SHA256: p["sha256"], RawSize: rawSize, RawSHA256: p["raw_sha256"]}
	r, err := install.Install(ctx, dev, img, install.Options{HTTP: j.HTTP, Progress: rep})
	if err != nil {
		return recon.JobResult{}, err
	}
	return recon.JobResult{OK: true,
		Summary: fmt.Sprintf("wrote %d MiB to %s in %s (%.1f MB/s), sha256 verified on disk", r.BytesWritten>>20, dev, r.Duration.Round(time.Millisecond), r.MBps),
		Details: map[string]string{"device": dev, "disk_serial": disk.Serial, "sha256": r.SHA256, "mbps": fmt.Sprintf("%.1f", r.MBps)}}, nil
}

func (j *Jobs) recycle(ctx context.Context, job recon.Job, rep func(install.Progress)) (recon.JobResult, error) {
	disks, err := j.disks()
	if err != nil {
		return recon.JobResult{}, fmt.Errorf("listing disks: %w", err)
	}
	var devs []string
	for _, d := range disks {
		if !d.Removable {
			devs = append(devs, j.Dev+"/"+d.Name)
		}
	}
	if len(devs) == 0 {
		return recon.JobResult{}, fmt.Errorf("no disks to wipe")
	}
	full := job.Params["full"] == "true"
	res, err := install.WipeAll(ctx, devs, install.WipeOptions{Full: full, Progress: rep})
	if err != nil {
		return recon.JobResult{}, err
	}
	details := map[string]string{}
	for i, r := range res {
		details[devs[i]] = fmt.Sprintf("%s, verified %v", r.Method, r.Verified)
	}
	return recon.JobResult{OK: true, Summary: fmt.Sprintf("wiped and verified %d disks", len(devs)), Details: details}, nil
}
