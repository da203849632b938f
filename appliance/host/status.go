package host

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Status is what the console shows about the box.
type Status struct {
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	Site     string `json:"site"`
	// Mode is starting, configured or unconfigured.
	Mode string `json:"mode"`
	// Note explains an unconfigured box and how to configure it.
	Note       string    `json:"note,omitempty"`
	Data       DataState `json:"data"`
	Interfaces []Iface   `json:"interfaces"`
	Services   []Service `json:"services"`
	// Health is outpostd's own answer to /api/v1/health, or why none.
	Health  string    `json:"health"`
	HQ      HQLink    `json:"hq"`
	Updated time.Time `json:"updated"`
}

// DataState is the data partition.
type DataState struct {
	Device  string `json:"device,omitempty"`
	Dir     string `json:"dir,omitempty"`
	Mounted bool   `json:"mounted"`
	Note    string `json:"note"`
}

// HQLink is the state of sync with headquarters.
type HQLink struct {
	Configured       bool      `json:"configured"`
	URL              string    `json:"url,omitempty"`
	Connected        bool      `json:"connected"`
	PartitionedSince time.Time `json:"partitioned_since,omitzero"`
	LastContact      time.Time `json:"last_contact,omitzero"`
	Backlog          int64     `json:"backlog"`
	LastError        string    `json:"last_error,omitempty"`
	// Unknown is set while outpostd cannot be asked.
	Unknown bool `json:"unknown,omitempty"`
}

// Render writes the status block, 78 columns wide, for an 80x24 console.
func (s Status) Render(w io.Writer, now time.Time) {
	title := fmt.Sprintf("── Outpost %s ─ site %s ─ %s ", s.Version, orDash(s.Site), orDash(s.Hostname))
	if n := 78 - len([]rune(title)); n > 0 {
		title += strings.Repeat("─", n)
	}
	fmt.Fprintln(w, title)
	row := func(k, format string, args ...any) { fmt.Fprintf(w, " %-11s %s\n", k, fmt.Sprintf(format, args...)) }
	row("mode", "%s", s.Mode)
	if s.Note != "" {
		for _, l := range strings.Split(s.Note, "\n") {
			row("", "%s", l)
		}
	}
	switch {
	case s.Data.Mounted:
		row("data", "%s on %s", s.Data.Device, s.Data.Dir)
	default:
		row("data", "none: %s", s.Data.Note)
	}
	for _, i := range s.Interfaces {
		addrs := strings.Join(i.Addrs, " ")
		if addrs == "" {
			addrs = "no address"
		}
		row(i.Role, "%s %s %s (%s)", i.Name, i.MAC, addrs, i.Via)
	}
	for _, v := range s.Services {
		line := v.State
		if v.PID != 0 {
			line += fmt.Sprintf(", pid %d, up %s", v.PID, since(now, v.Since))
		}
		row(v.Name, "%s", line)
		if v.Restarts > 0 {
			row("", "%d restart(s); last run %s", v.Restarts, v.LastExit)
		}
	}
	if s.Health != "" {
		row("health", "%s", s.Health)
	}
	row("HQ link", "%s", s.HQ.describe(now))
	fmt.Fprintln(w, " Console: this shell. Tools: outpost, outpost tui, outpost-init status")
}

func (h HQLink) describe(now time.Time) string {
	switch {
	case !h.Configured:
		return "not configured (this site runs alone)"
	case h.Unknown:
		return "unknown (outpostd is not answering)"
	case h.Connected:
		return fmt.Sprintf("connected to %s, last contact %s ago, %d queued", h.URL, since(now, h.LastContact), h.Backlog)
	case !h.PartitionedSince.IsZero():
		s := fmt.Sprintf("PARTITIONED since %s, %d changes queued", h.PartitionedSince.UTC().Format("2006-01-02 15:04:05Z"), h.Backlog)
		if h.LastError != "" {
			s += "; " + h.LastError
		}
		return s
	default:
		return "connecting to " + h.URL
	}
}

// Key changes whenever something a technician should see changes; the
// console prints the block again then, not on every poll.
func (s Status) Key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%v|%s|%t|%t|%t|", s.Mode, s.Site, s.Note, s.Data.Mounted, s.Health, s.HQ.Configured, s.HQ.Connected, s.HQ.Unknown)
	for _, i := range s.Interfaces {
		fmt.Fprintf(&b, "%s=%v|", i.Name, i.Addrs)
	}
	for _, v := range s.Services {
		fmt.Fprintf(&b, "%s=%s/%d|", v.Name, v.State, v.Restarts)
	}
	return b.String()
}

func since(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	default:
		return d.Round(time.Hour).String()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteStatus stores the status for `outpost-init status`, atomically.
func WriteStatus(path string, s Status) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadStatus reads what WriteStatus stored.
func ReadStatus(path string) (Status, error) {
	var s Status
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}
