package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/cmd/internal/client"
)

// printJSON prints v indented, as the API does.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// table prints rows under headers, aligned, in the order given.
// printList writes items as {"key": [...]} with --json, else as a table
// with one row per item.
func printList[T any](a *app, key string, items []T, headers []string, row func(T) []string) error {
	if a.json {
		return printJSON(a.out(), map[string]any{key: items})
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		rows = append(rows, row(it))
	}
	return table(a.out(), headers, rows)
}

func table(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rows {
		for i := range r {
			r[i] = cell(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// cell keeps a value on one table line.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

// fields prints key/value lines, aligned.
func fields(w io.Writer, indent string, kv [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, p := range kv {
		fmt.Fprintf(tw, "%s%s\t%s\n", indent, p[0], strings.TrimRight(cell(p[1]), " "))
	}
	return tw.Flush()
}

// ts prints a time in UTC, RFC 3339; "-" for none.
func ts(t time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// tsAgo prints a time with how long ago it was.
func tsAgo(t, now time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return "never"
	}
	return ts(t) + " (" + ago(now.Sub(t)) + ")"
}

// ago renders a duration coarsely: 5s, 3m, 2h10m, 4d.
func ago(d time.Duration) string {
	d = max(d, 0) // a clock a little ahead is not the future
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		h := int(d.Hours())
		if m := int(d.Minutes()) - 60*h; m > 0 {
			return fmt.Sprintf("%dh%dm ago", h, m)
		}
		return fmt.Sprintf("%dh ago", h)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// bytesIEC renders a size: 512 B, 1.5 GiB.
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// thousands renders 1234 as 1,234.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// params renders job parameters as k=v, sorted, without the internal
// image hash.
func params(p map[string]string) string {
	var out []string
	for k, v := range p {
		if k == "image_sha256" {
			continue
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// bar draws a progress bar of width cells.
func bar(percent float64, width int, fancy bool) string {
	full, empty := "#", "-"
	if fancy {
		full, empty = "█", "░"
	}
	n := int(percent / 100 * float64(width))
	n = max(0, min(width, n))
	return "[" + strings.Repeat(full, n) + strings.Repeat(empty, width-n) + "]"
}

// machineName is "machine 7 (SN123, db-1)".
func machineName(m appliance.Machine) string {
	s := fmt.Sprintf("machine %d (%s", m.ID, m.Serial)
	if m.Hostname != "" {
		s += ", " + m.Hostname
	}
	return s + ")"
}

// jobNote is what a job is waiting for or why it failed.
func jobNote(j appliance.Job) string {
	switch {
	case j.Error != "":
		return j.Error
	case j.Waiting != "":
		return "waiting: " + j.Waiting
	}
	return ""
}

// jobProgress is a job's progress as text: "45% write 112.0 MB/s".
func jobProgress(j appliance.Job) string {
	p, ok := client.ProgressOf(j)
	if !ok {
		return ""
	}
	s := fmt.Sprintf("%.0f%%", p.Percent)
	if p.Phase != "" {
		s += " " + p.Phase
	}
	if p.MBps > 0 {
		s += fmt.Sprintf(" %.1f MB/s", p.MBps)
	}
	return s
}

// flatten renders a JSON document as sorted "a.b.c value" pairs.
func flatten(prefix string, v any, out *[][2]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			*out = append(*out, [2]string{prefix, "{}"})
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, x[k], out)
		}
	case []any:
		b, _ := json.Marshal(x)
		*out = append(*out, [2]string{prefix, string(b)})
	case nil:
		*out = append(*out, [2]string{prefix, "null"})
	default:
		b, _ := json.Marshal(x)
		*out = append(*out, [2]string{prefix, strings.Trim(string(b), `"`)})
	}
}
