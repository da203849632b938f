package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/outpostdc/outpost/cmd/internal/lab"
)

const jobsConfig = `
dhcp:
  router_advertisements: true
  subnets:
    - {prefix: 10.72.0.0/24, pool: 10.72.0.100-10.72.0.199, router: 10.72.0.1}
boot:
  cmdline: console=ttyS0,115200 panic=-1
bmc:
  lenient_efi_readback: true   # ipmi_sim keeps only the boot device
agent:
  poll: 2s
jobs:
  attempts: 2
  retry_base: 3s
  boot_timeout: 2m
  agent_timeout: 3m
  work_idle: 25s
`

// call runs an API request from inside the server's namespace.
func (s *site) call(t testing.TB, method, path string, body any, out any) int {
	t.Helper()
	args := []string{"-sS", "-o", "/dev/stdout", "-w", "\n%{http_code}", "-X", method}
	if s.token != "" {
		args = append(args, "-H", "Authorization: Bearer "+s.token)
	}
	if body != nil {
		b, _ := json.Marshal(body)
		args = append(args, "-H", "Content-Type: application/json", "--data-binary", string(b))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, err := s.net.Cmd(ctx, "curl", append(args, "http://"+s.net.Addr.Addr().String()+path)...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	i := bytes.LastIndexByte(raw, '\n')
	var code int
	fmt.Sscan(string(raw[i+1:]), &code)
	if out != nil && len(bytes.TrimSpace(raw[:i])) > 0 {
		if err := json.Unmarshal(raw[:i], out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, raw)
		}
	}
	return code
}

type jobResp struct {
	ID       int64           `json:"id"`
	Status   string          `json:"status"`
	Phase    string          `json:"phase"`
	Attempts int             `json:"attempts"`
	Error    string          `json:"error"`
	Progress json.RawMessage `json:"progress"`
}

func (s *site) job(t testing.TB, id int64) jobResp {
	t.Helper()
	var j jobResp
	s.api(t, "/api/v1/jobs/"+itoa(id), &j)
	return j
}

func (s *site) waitJob(t testing.TB, id int64, timeout time.Duration, what string, cond func(jobResp) bool) jobResp {
	t.Helper()
	var j jobResp
	lab.WaitFor(t, timeout, fmt.Sprintf("job %d %s", id, what), func() bool {
		j = s.job(t, id)
		return cond(j)
	})
	return j
}

func (s *site) submit(t testing.TB, body map[string]any) int64 {
	t.Helper()
	var j jobResp
	if code := s.call(t, "POST", "/api/v1/jobs", body, &j); code != 201 {
		t.Fatalf("job not created: %d", code)
	}
	return j.ID
}

// testImage is 64 MiB of random data, zstd-compressed.
func testImage(t *testing.T) (zst []byte, rawSum string) {
	t.Helper()
	raw := make([]byte, 64<<20)
	rand.Read(raw)
	sum := sha256.Sum256(raw)
	var z bytes.Buffer
	zw, _ := zstd.NewWriter(&z, zstd.WithEncoderLevel(zstd.SpeedFastest))
	zw.Write(raw)
	zw.Close()
	return z.Bytes(), hex.EncodeToString(sum[:])
}

func fileRange(t *testing.T, path string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

type jobsLab struct {
	s    *site
	bmc  *lab.BMC
	disk string
	mid  int64
	mac  string
}

// newJobsLab registers a deployed machine whose BMC is ipmi_sim powering
// a QEMU VM, as a technician would for a server already in the room.
func newJobsLab(t *testing.T, cidr, bmcAddr, mac, serial string) *jobsLab {
	s := newSite(t, cidr, strings.ReplaceAll(jobsConfig, "10.72.0.", strings.TrimSuffix(cidr, "1/24")))
	disk := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.Truncate(createFile(t, disk), 512<<20); err != nil {
		t.Fatal(err)
	}
	// Something to wipe at the end of the disk.
	f, _ := os.OpenFile(disk, os.O_WRONLY, 0)
	f.WriteAt(bytes.Repeat([]byte{0xa5}, 64<<20), 448<<20)
	f.Close()
	vm := &lab.VM{Name: "jobs", Firmware: lab.BIOS, MACs: []string{mac}, Taps: []string{s.net.AddTap(t)}, NS: s.net.NS,
		MemMB: 1024, CPUs: 1, Serial: serial, Disks: []string{disk}}
	b := lab.StartBMC(t, s.net, bmcAddr, vm)
	var m machineResp
	if code := s.call(t, "POST", "/api/v1/machines", map[string]any{"serial": serial, "macs": []string{mac},
		"rack": "r1", "state": "deployed"}, &m); code != 201 {
		t.Fatalf("register: %d", code)
	}
	if code := s.call(t, "PUT", "/api/v1/machines/"+itoa(m.ID)+"/bmc", map[string]any{"host": bmcAddr, "user": b.User, "password": b.Password}, nil); code != 204 {
		t.Fatalf("BMC credentials: %d", code)
	}
	return &jobsLab{s: s, bmc: b, disk: disk, mid: m.ID, mac: mac}
}

// upload sends an image through the API, as `outpost images upload` does.
func (l *jobsLab) upload(t *testing.T, name string, body []byte) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "img.zst")
	os.WriteFile(tmp, body, 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := l.s.net.Cmd(ctx, "curl", "-sS", "--fail-with-body", "-H", "Authorization: Bearer "+l.s.token, "--data-binary", "@"+tmp,
		"http://"+l.s.net.Addr.Addr().String()+"/api/v1/images?name="+name+"&version=1&format=raw.zst").CombinedOutput()
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, out)
	}
}

func (l *jobsLab) state(t *testing.T) string {
	var m machineResp
	l.s.api(t, "/api/v1/machines/"+itoa(l.mid), &m)
	return m.State
}

// TestJobsEndToEnd drives a QEMU VM through its BMC (ipmi_sim over IPMI
// LAN): install a 64 MiB zstd image, with an outpostd restart in the
// middle; check the disk from the host; power-cycle into the local disk;
// then recycle and check the wipe.
func TestJobsEndToEnd(t *testing.T) {
	l := newJobsLab(t, "10.72.0.1/24", "10.72.0.2", "52:54:00:72:00:01", "OUT-JOBS-0001")
	s := l.s
	img, rawSum := testImage(t)
	l.upload(t, "testos", img)

	// The machine is deployed and running an (empty) disk.
	on := s.submit(t, map[string]any{"action": "power", "machine_id": l.mid, "params": map[string]string{"op": "on"}})
	s.waitJob(t, on, time.Minute, "powered on", func(j jobResp) bool { return j.Status == "succeeded" })
	lab.WaitFor(t, 2*time.Minute, "the deployed machine's script sends it to disk", func() bool {
		return strings.Contains(s.macTimeline(t, l.mac), "script: local (deployed")
	})

	start := time.Now()
	install := s.submit(t, map[string]any{"action": "install", "machine_id": l.mid, "params": map[string]string{"image": "testos:1"}})
	s.waitJob(t, install, 3*time.Minute, "writing", func(j jobResp) bool { return j.Phase == "work" })
	// outpostd goes away mid-job; the agent's reports wait for it.
	s.restart(t, false)
	j := s.waitJob(t, install, 5*time.Minute, "finished", func(j jobResp) bool { return j.Status != "running" && j.Status != "queued" })
	if j.Status != "succeeded" {
		t.Fatalf("install: %+v", j)
	}
	t.Logf("install: %.1fs from job creation to succeeded; progress %s", time.Since(start).Seconds(), j.Progress)
	if st := l.state(t); st != "deployed" {
		t.Fatalf("machine is %s after the install", st)
	}
	sum := sha256.Sum256(fileRange(t, l.disk, 0, 64<<20))
	if hex.EncodeToString(sum[:]) != rawSum {
		t.Fatalf("disk holds %x, image is %s", sum, rawSum)
	}
	var audit struct {
		Audit []struct{ Action, Reason string } `json:"audit"`
	}
	s.api(t, "/api/v1/machines/"+itoa(l.mid)+"/audit", &audit)
	var au []string
	for _, a := range audit.Audit {
		au = append(au, a.Action+": "+a.Reason)
	}
	for _, want := range []string{"power-cycled", "took the job", "resumed after an outpostd restart", "installed testos:1"} {
		if !strings.Contains(strings.Join(au, "\n"), want) {
			t.Errorf("audit lacks %q:\n%s", want, strings.Join(au, "\n"))
		}
	}

	// A second power cycle boots the local disk: no netboot loop.
	before := strings.Count(s.macTimeline(t, l.mac), "script: local (deployed")
	cyc := s.submit(t, map[string]any{"action": "power", "machine_id": l.mid, "params": map[string]string{"op": "cycle"}})
	s.waitJob(t, cyc, time.Minute, "cycled", func(j jobResp) bool { return j.Status == "succeeded" })
	lab.WaitFor(t, 2*time.Minute, "the power-cycled machine is sent to its disk", func() bool {
		return strings.Count(s.macTimeline(t, l.mac), "script: local (deployed") > before
	})
	time.Sleep(5 * time.Second)
	tl := s.macTimeline(t, l.mac)
	if n := strings.Count(tl, "outpost.mode=install") + strings.Count(tl[strings.LastIndex(tl, "script: local (deployed"):], "script: linux"); n > 0 {
		t.Fatalf("netboot loop after the install:\n%s", tl)
	}

	recycle := s.submit(t, map[string]any{"action": "recycle", "machine_id": l.mid})
	j = s.waitJob(t, recycle, 5*time.Minute, "finished", func(j jobResp) bool { return j.Status != "running" && j.Status != "queued" })
	if j.Status != "succeeded" || l.state(t) != "ready" {
		t.Fatalf("recycle: %+v, machine %s", j, l.state(t))
	}
	if !allZero(fileRange(t, l.disk, 0, 64<<20)) || !allZero(fileRange(t, l.disk, 448<<20, 64<<20)) {
		t.Fatal("the first and last 64 MiB are not zero after the recycle")
	}
}

// TestJobsVMKilledMidInstall: the machine dies while writing, every time.
// Each attempt times out on the watchdog, is retried, and the machine
// ends broken with the reason.
func TestJobsVMKilledMidInstall(t *testing.T) {
	l := newJobsLab(t, "10.73.0.1/24", "10.73.0.2", "52:54:00:73:00:01", "OUT-JOBS-0002")
	s := l.s
	img, _ := testImage(t)
	l.upload(t, "testos", img)
	id := s.submit(t, map[string]any{"action": "install", "machine_id": l.mid, "params": map[string]string{"image": "testos:1"}})
	for attempt := 1; attempt <= 2; attempt++ {
		s.waitJob(t, id, 4*time.Minute, fmt.Sprintf("attempt %d writing", attempt), func(j jobResp) bool {
			return j.Phase == "work" && j.Attempts == attempt
		})
		l.bmc.KillVM()
		t.Logf("attempt %d: killed the VM mid-write", attempt)
	}
	j := s.waitJob(t, id, 3*time.Minute, "failed", func(j jobResp) bool { return j.Status == "failed" })
	var m machineResp
	var raw map[string]any
	s.api(t, "/api/v1/machines/"+itoa(l.mid), &m)
	s.api(t, "/api/v1/machines/"+itoa(l.mid), &raw)
	if m.State != "broken" || !strings.Contains(fmt.Sprint(raw["state_reason"]), "watchdog") || j.Attempts != 2 {
		t.Fatalf("machine %s (%v), job %+v", m.State, raw["state_reason"], j)
	}
}
