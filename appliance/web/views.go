package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
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
	// Nav is the active menu entry: "machines" or "jobs".
	Nav string
	// Refresh, when set, reloads the page every so many seconds in
	// browsers without JavaScript (those with it poll instead).
	Refresh int
	// Flash is a one-line notice above the content.
	Flash string
}

// Views renders pages: each is templates/layout.html and partials.html
// with one page template that defines "content".
type Views struct {
	pages map[string]*template.Template
}

// NewViews parses the embedded templates.
func NewViews() (*Views, error) {
	base, err := template.New("").Funcs(funcs()).ParseFS(assets, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	v := &Views{pages: map[string]*template.Template{}}
	for _, n := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if page == "layout" || page == "partials" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(assets, n)
		if err != nil {
			return nil, err
		}
		v.pages[page] = t
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

func funcs() template.FuncMap {
	return template.FuncMap{
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
