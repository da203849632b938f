package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/outpostdc/outpost/cmd/internal/client/outpostdtest"
)

// TestGolden runs a fixed script of commands, in order, against the
// seeded outpostd over its socket and compares each one's output and exit
// code with testdata/NAME.golden (UPDATE_GOLDEN=1 rewrites them).
func TestGolden(t *testing.T) {
	d := daemon(t, envGolden)
	script := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"help", []string{"--help"}, ""},
		{"machines-list", []string{"machines", "list"}, ""},
		{"machines-list-state", []string{"machines", "list", "--state", "deployed"}, ""},
		{"machines-list-rack-role", []string{"machines", "list", "--rack", "r1", "--role", "web"}, ""},
		{"machines-list-search", []string{"machines", "list", "--search", "spare"}, ""},
		{"machines-search", []string{"machines", "search", "db"}, ""},
		{"machines-show-id", []string{"machines", "show", "5"}, ""},
		{"machines-show-serial", []string{"machines", "show", "SN0004"}, ""},
		{"machines-show-mac", []string{"machines", "show", "52:54:00:00:00:01"}, ""},
		{"machines-show-json", []string{"machines", "show", "SN0002", "--json"}, ""},
		{"machines-timeline", []string{"machines", "timeline", "SN0001"}, ""},
		{"machines-timeline-broken", []string{"machines", "timeline", "5"}, ""},
		{"jobs-list", []string{"jobs", "list"}, ""},
		{"jobs-list-json", []string{"jobs", "list", "--status", "failed", "--json"}, ""},
		{"jobs-show", []string{"jobs", "show", "1"}, ""},
		{"jobs-watch-failed", []string{"jobs", "watch", "1"}, ""},
		{"jobs-watch-none", []string{"jobs", "watch"}, ""},
		{"policies", []string{"policies"}, ""},
		{"policies-json", []string{"policies", "--json"}, ""},
		{"images-list", []string{"images", "list"}, ""},
		{"leases", []string{"leases", "--active"}, ""},
		{"sync-status", []string{"sync", "status"}, ""},
		{"whoami", []string{"whoami"}, ""},
		{"users-list", []string{"users", "list"}, ""},
		{"freeze", []string{"freeze", "SN0002", "--reason", "bios update", "--yes"}, ""},
		{"freeze-again", []string{"freeze", "2", "--reason", "twice", "--yes"}, ""},
		{"machines-list-frozen", []string{"machines", "list", "--state", "frozen"}, ""},
		{"unfreeze", []string{"unfreeze", "52:54:00:00:00:02", "--reason", "bios done", "--yes"}, ""},
		{"unfreeze-not-frozen", []string{"unfreeze", "2", "--yes"}, ""},
		{"freeze-refused-no-tty", []string{"freeze", "3", "--reason", "no tty"}, ""},
		{"recycle-queue-paused", []string{"recycle", "1", "--yes", "--attempts", "1"}, ""},
		{"queues-resume", []string{"queues", "resume", "recycle", "--reason", "window open"}, ""},
		{"queues-pause-bad", []string{"queues", "pause", "dance", "--reason", "x"}, ""},
		{"racks-unfreeze", []string{"racks", "unfreeze", "r3"}, ""},
		{"policies-after", []string{"policies"}, ""},
		{"install-no-image", []string{"install", "1", "--image", "nope:1", "--yes"}, ""},
		{"install-bad-image-flag", []string{"install", "1", "--image", "nope", "--yes"}, ""},
		{"power-bad-op", []string{"power", "1", "dance", "--yes"}, ""},
		{"power-unknown-machine", []string{"power", "SN9999", "cycle", "--yes"}, ""},
		{"machines-show-missing", []string{"machines", "show", "99"}, ""},
		{"jobs-show-missing", []string{"jobs", "show", "99"}, ""},
		{"unknown-command", []string{"machines", "dance"}, ""},
		{"missing-flag", []string{"freeze", "1"}, ""},
		{"audit-timeline-after", []string{"machines", "timeline", "2", "--limit", "3"}, ""},
	}
	for _, s := range script {
		r := runCLI(t, d, runOpts{stdin: s.stdin}, s.args...)
		got := "$ outpost " + strings.Join(s.args, " ") + "\n" + r.stdout
		if r.stderr != "" {
			got += "--- stderr\n" + r.stderr
		}
		got += "--- exit " + strconv.Itoa(r.code) + "\n"
		compareGolden(t, s.name, normalize(got, d))
	}
}

// normalize replaces what changes from run to run: times, durations, the
// socket path and the URL.
func normalize(s string, d *outpostdtest.Daemon) string {
	s = strings.ReplaceAll(s, d.Socket, "<SOCKET>")
	s = strings.ReplaceAll(s, d.URL, "<URL>")
	for _, r := range []struct{ re, to string }{
		// As wide as the times in tables, so that columns stay aligned.
		{`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`, "2000-01-01T00:00:00Z"},
		{`\b\d+(h\d+m|[smhd]) ago\b`, "<AGO>"},
		{`(?m)^(Uptime\s+)\S+$`, "${1}<UPTIME>"},
		{`"uptime_seconds": \d+`, `"uptime_seconds": <N>`},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.to)
	}
	return s
}

func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v (run with UPDATE_GOLDEN=1 to create it)", name, err)
	}
	if string(want) != got {
		t.Errorf("%s: output differs from %s\n--- want\n%s\n--- got\n%s", name, path, want, got)
	}
}
