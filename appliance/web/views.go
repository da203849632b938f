package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/recon"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Layout is what the frame of every page shows.
type Layout struct {
	// Site names the appliance (or "HQ").
	Site  string
	Title string
	// Base is the URL prefix of the UI's own links and assets.
	Base string
	// User is the logged-in user; nil on the login page.
	User *appliance.User
	// CSRF goes into every form that posts.
	CSRF string
	// Home is the brand link's path under Base.
	Home string
	// Menu is the top menu; Nav is the Path of its active entry.
	Menu []MenuItem
	Nav  string
	// Refresh, when set, reloads the page every so many seconds in
	// browsers without JavaScript (those with it poll instead).
	Refresh int
	// Flash is a one-line notice above the content.
	Flash string
}

// MenuItem is one entry of the top menu.
type MenuItem struct {
	Label string
	// Path is under Layout.Base.
	Path string
}

// Current is the Path of the menu entry that urlPath lies under, or "".
func (l Layout) Current(urlPath string) string {
	for _, m := range l.Menu {
		if p := l.Base + m.Path; urlPath == p || strings.HasPrefix(urlPath, p+"/") || strings.HasPrefix(urlPath, p+".") {
			return m.Path
		}
	}
	return ""
}

// Views renders pages: each is templates/layout.html and partials.html
// with one page template that defines "content".
type Views struct {
	pages map[string]*template.Template
}

// NewViews parses the embedded templates.
func NewViews() (*Views, error) { return NewViewsWith(nil) }

// NewViewsWith parses the embedded templates and then the pages in extra
// (*.html at its root, each defining "content"), which share the layout
// and partials; a page of extra replaces the embedded page of its name.
func NewViewsWith(extra fs.FS) (*Views, error) {
	base, err := template.New("").Funcs(funcs()).ParseFS(assets, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	v := &Views{pages: map[string]*template.Template{}}
	// shared: the layout and partials are no pages.
	add := func(fsys fs.FS, pattern string, shared bool) error {
		names, err := fs.Glob(fsys, pattern)
		if err != nil {
			return err
		}
		for _, n := range names {
			page := strings.TrimSuffix(path.Base(n), ".html")
			if shared && (page == "layout" || page == "partials") {
				continue
			}
			t, err := template.Must(base.Clone()).ParseFS(fsys, n)
			if err != nil {
				return err
			}
			v.pages[page] = t
		}
		return nil
	}
	if err := add(assets, "templates/*.html", true); err != nil {
		return nil, err
	}
	if extra != nil {
		if err := add(extra, "*.html", false); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Render writes page with the layout l around data. The page is rendered
// into a buffer first, so that a template error never sends half a page
// with a success status.
func (v *Views) Render(w http.ResponseWriter, status int, page string, l Layout, data any) error {
	t, ok := v.pages[page]
	if !ok {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return fmt.Errorf("no page %q", page)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", struct {
		L Layout
		D any
	}{l, data}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := b.WriteTo(w)
	return err
}

// RouteBasics adds what every UI serves besides its pages: the embedded
// assets under Base/static/, and Base/ sending browsers home.
func RouteBasics(mux *http.ServeMux, home string) {
	mux.Handle("GET "+Base+"/static/", http.StripPrefix(Base, Static()))
	mux.HandleFunc("GET "+Base+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, home, http.StatusSeeOther)
	})
}

// Static serves the embedded stylesheet and script under /static/;
// no directory listings.
func Static() http.Handler {
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/static/") || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// MachineTable is a list of machines. HQ sets ShowSite and fills Site in
// each row; an appliance leaves both empty.
type MachineTable struct {
	ShowSite bool
	Rows     []MachineRow
}

// MachineRow is one machine in a MachineTable.
type MachineRow struct {
	Site        string
	Href        string
	ID          int64
	Serial      string
	State       appliance.State
	StateReason string
	Hostname    string
	Rack        string
	Class       string
	LastSeen    time.Time
}

// MachineRows makes table rows of machines, linking each to
// base/machines/{id}.
func MachineRows(ms []appliance.Machine, site, base string) []MachineRow {
	out := make([]MachineRow, 0, len(ms))
	for _, m := range ms {
		out = append(out, MachineRow{Site: site, Href: base + "/machines/" + strconv.FormatInt(m.ID, 10), ID: m.ID,
			Serial: m.Serial, State: m.State, StateReason: m.StateReason, Hostname: m.Hostname, Rack: m.Rack,
			Class: m.Class, LastSeen: m.LastSeen})
	}
	return out
}

// Hardware is the part of a recon report a machine page shows.
type Hardware struct {
	System   string
	BIOS     string
	CPU      string
	Memory   string
	DIMMs    int
	Disks    []recon.Disk
	NICs     []recon.NIC
	BMC      string
	Errors   []string
	Reported bool
}

// HardwareOf reads a machine's stored recon report; an empty or
// unreadable one gives a Hardware that is not Reported.
func HardwareOf(raw json.RawMessage) Hardware {
	var rep recon.Report
	if len(raw) == 0 || json.Unmarshal(raw, &rep) != nil {
		return Hardware{}
	}
	h := Hardware{Reported: true, Disks: rep.Disks, NICs: rep.NICs, Errors: rep.Errors, DIMMs: len(rep.Memory.DIMMs)}
	h.System = strings.TrimSpace(rep.System.Manufacturer + " " + rep.System.Product)
	if rep.System.BIOSVendor != "" || rep.System.BIOSVersion != "" {
		h.BIOS = strings.TrimSpace(rep.System.BIOSVendor + " " + rep.System.BIOSVersion + " " + rep.System.BIOSDate)
	}
	if c := rep.CPU; c.Sockets > 0 || c.Cores > 0 {
		h.CPU = fmt.Sprintf("%d × %s, %d cores, %d threads", c.Sockets, c.Model, c.Cores, c.Threads)
	}
	if rep.Memory.TotalBytes > 0 {
		h.Memory = fmt.Sprintf("%d GiB", rep.Memory.TotalBytes>>30)
	}
	if b := rep.BMC; b != nil {
		h.BMC = strings.TrimSpace(fmt.Sprintf("firmware %s, IPMI %s %s", b.Firmware, b.IPMIVersion, b.MAC))
	}
	return h
}

// JobRow is a job as the job tables and the JSON poll show it.
type JobRow struct {
	ID int64 `json:"id"`
	// Site is the job's site at HQ; empty on an appliance.
	Site string `json:"site,omitempty"`
	// Key names the row to the poll (data-job): the ID, or site:ID at HQ.
	Key         string              `json:"key"`
	Action      appliance.JobAction `json:"action"`
	MachineID   int64               `json:"machine_id"`
	Serial      string              `json:"serial"`
	MachineHref string              `json:"-"`
	Status      appliance.JobStatus `json:"status"`
	// State is one line on where the job stands: phase, wait or error.
	State     string    `json:"state"`
	Running   bool      `json:"running"`
	Percent   float64   `json:"percent"`
	PctText   string    `json:"pct_text"`
	MBpsText  string    `json:"mbps_text"`
	Step      string    `json:"step"`
	Outcome   string    `json:"outcome"`
	Requester string    `json:"requester"`
	Attempts  string    `json:"attempts"`
	Created   time.Time `json:"created_at"`
	Updated   time.Time `json:"updated_at"`
	Ended     time.Time `json:"ended_at"`
	Detail    string    `json:"detail"`
}

// JobTable is a list of jobs, rendered by the job_table partial.
type JobTable struct {
	ShowSite, ShowMachine bool
	Rows                  []JobRow
}

// JobRowOf makes a job's row; machineHref is the page of its machine.
func JobRowOf(j appliance.Job, machineHref string) JobRow {
	r := JobRow{ID: j.ID, Key: strconv.FormatInt(j.ID, 10), Action: j.Action, MachineID: j.MachineID, Status: j.Status,
		Requester: j.Requester, MachineHref: machineHref, Created: j.CreatedAt, Updated: j.UpdatedAt, Ended: j.EndedAt,
		Attempts: fmt.Sprintf("%d of %d", j.Attempts, j.MaxAttempts), Running: j.Status == appliance.JobRunning}
	switch j.Action {
	case appliance.ActionPower:
		r.Detail = j.Params["op"]
	case appliance.ActionInstall:
		r.Detail = j.Params["image"]
	case appliance.ActionRecycle:
		if j.Params["full"] == "true" {
			r.Detail = "full wipe"
		}
	}
	switch j.Status {
	case appliance.JobQueued:
		r.State = "queued"
		if j.Waiting != "" {
			r.State = "waiting: " + j.Waiting
		}
	case appliance.JobRunning:
		r.State = "phase " + j.Phase
	}
	var p recon.JobProgress
	if len(j.Progress) > 0 && json.Unmarshal(j.Progress, &p) == nil {
		r.Percent, r.Step = min(max(p.Percent, 0), 100), p.Phase
		r.PctText, r.MBpsText = pctText(r.Percent), mbpsText(p.MBps)
	} else {
		r.PctText = pctText(0)
	}
	switch {
	case j.Status == appliance.JobFailed || j.Status == appliance.JobCancelled:
		r.Outcome = j.Error
	case j.Status == appliance.JobQueued && j.Error != "":
		r.Outcome = "last attempt: " + j.Error
	case j.Status == appliance.JobSucceeded:
		var res recon.JobResult
		if json.Unmarshal(j.Result, &res) == nil && res.Summary != "" {
			r.Outcome = res.Summary
		} else if len(j.Result) > 0 {
			r.Outcome = jsonText(j.Result)
		}
	}
	return r
}

// StateCount is one state's link in a machine list's counts partial.
type StateCount struct {
	State  appliance.State
	N      int
	Href   string
	Active bool
}

// Choice is a filter form's menu, rendered by the select partial: its
// empty first option means any.
type Choice struct {
	Name, Label, Value string
	Options            []string
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"choice": func(name, label, value string, options []string) Choice {
			return Choice{Name: name, Label: label, Value: value, Options: options}
		},
		"when":  when,
		"ago":   ago,
		"bytes": bytesText,
		"pct":   pctText,
		"mbps":  mbpsText,
		"json":  jsonText,
	}
}

// when formats a time in UTC, the zone a datacenter's logs are in.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago says how long ago t was, coarsely.
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// bytesText writes sizes in powers of 1000, as disk labels do.
func bytesText(n uint64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

func pctText(p float64) string { return fmt.Sprintf("%.0f%%", p) }

func mbpsText(v float64) string {
	if v <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f MB/s", v)
}

// jsonText shows a detail document compactly, for a tooltip.
func jsonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "{}" || string(raw) == "null" {
		return ""
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}
