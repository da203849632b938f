package hq

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"time"
)

// Queries for the web UI: machines found across sites, counts, and typed
// views of the sites' rows.

// MachineQuery selects machines across sites. Zero fields match all.
type MachineQuery struct {
	Site, State, Class string
	// Search matches part of a serial, hostname or MAC, in any case.
	Search string
	// After is the last machine of the previous page.
	After Ref
	Limit int
}

// Ref names one site row.
type Ref struct {
	Site, Key string
}

// SearchMachines lists machines by site, then ID.
func (s *Store) SearchMachines(ctx context.Context, mq MachineQuery) ([]Fact, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	q := `SELECT site_id, key, data FROM facts m WHERE kind = 'machines'`
	if mq.Site != "" {
		q += ` AND site_id = ` + arg(mq.Site)
	}
	if mq.State != "" {
		q += ` AND data ->> 'state' = ` + arg(mq.State)
	}
	if mq.Class != "" {
		q += ` AND data ->> 'hw_class' = ` + arg(mq.Class)
	}
	if t := strings.TrimSpace(mq.Search); t != "" {
		mac := strings.ToLower(t)
		if hw, err := net.ParseMAC(t); err == nil {
			mac = hw.String() // the site stores MACs as aa:bb:…
		}
		p, pm := arg("%"+likeEscape(strings.ToLower(t))+"%"), arg("%"+likeEscape(mac)+"%")
		q += ` AND (lower(data ->> 'serial') LIKE ` + p + ` OR lower(data ->> 'hostname') LIKE ` + p +
			` OR m.key IN (SELECT i.data ->> 'machine_id' FROM facts i WHERE i.kind = 'interfaces' AND i.site_id = m.site_id
				AND lower(i.key) LIKE ` + pm + `))`
	}
	// Keys are machine IDs: by length, then text, is by number.
	if mq.After.Site != "" {
		q += ` AND (site_id, length(key), key) > (` + arg(mq.After.Site) + `, length(` + arg(mq.After.Key) + `), ` + arg(mq.After.Key) + `)`
	}
	lim := mq.Limit
	if lim <= 0 || lim > 1000 {
		lim = 200
	}
	return s.queryFacts(ctx, q+` ORDER BY site_id, length(key), key LIMIT `+arg(lim), args...)
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// MachineStates counts machines by state, at one site or all ("").
func (s *Store) MachineStates(ctx context.Context, site string) (map[string]int, error) {
	q := `SELECT data ->> 'state', count(*) FROM facts WHERE kind = 'machines'`
	var args []any
	if site != "" {
		q += ` AND site_id = $1`
		args = append(args, site)
	}
	rows, err := s.DB.Query(ctx, q+` GROUP BY 1`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}

// Classes lists the hardware classes machines have, across sites.
func (s *Store) Classes(ctx context.Context) ([]string, error) {
	rows, err := s.DB.Query(ctx, `SELECT DISTINCT data ->> 'hw_class' FROM facts WHERE kind = 'machines'
		AND data ->> 'hw_class' <> '' ORDER BY 1 LIMIT 500`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SiteTotals is what a site holds, as HQ has it.
type SiteTotals struct {
	Machines      int
	OpenConflicts int
}

// Totals counts each site's machines and open conflicts.
func (s *Store) Totals(ctx context.Context) (map[string]SiteTotals, error) {
	rows, err := s.DB.Query(ctx, `SELECT site_id,
		sum(CASE WHEN kind = 'machines' THEN 1 ELSE 0 END),
		sum(CASE WHEN kind = 'conflicts' AND data ->> 'status' = 'open' THEN 1 ELSE 0 END)
		FROM facts WHERE kind IN ('machines', 'conflicts') GROUP BY site_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]SiteTotals{}
	for rows.Next() {
		var site string
		var t SiteTotals
		if err := rows.Scan(&site, &t.Machines, &t.OpenConflicts); err != nil {
			return nil, err
		}
		out[site] = t
	}
	return out, rows.Err()
}

// FactsAt returns the rows of a kind at refs, by ref; missing ones are
// left out.
func (s *Store) FactsAt(ctx context.Context, kind string, refs []Ref) (map[Ref]Fact, error) {
	out := map[Ref]Fact{}
	if len(refs) == 0 {
		return out, nil
	}
	want := map[Ref]bool{}
	var sites, keys []string
	for _, r := range refs {
		want[r] = true
		sites, keys = append(sites, r.Site), append(keys, r.Key)
	}
	// Sites × keys is a superset; the exact pairs are picked below.
	fs, err := s.queryFacts(ctx, `SELECT site_id, key, data FROM facts WHERE kind = $1 AND site_id = ANY($2) AND key = ANY($3)`,
		kind, sites, keys)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		if r := (Ref{f.Site, f.Key}); want[r] {
			out[r] = f
		}
	}
	return out, nil
}

// DecodeRow reads a site row of a kind into v. Sites send rows as their
// SQLite writes them (json_object of the columns): times in Unix
// nanoseconds, JSON documents as strings. v's JSON names are the
// site's column names, as in appliance.Machine, appliance.Job or
// sqlite.Conflict; the few that differ are renamed here.
func DecodeRow(kind string, data json.RawMessage, v any) error {
	var row map[string]json.RawMessage
	if err := json.Unmarshal(data, &row); err != nil {
		return err
	}
	out := make(map[string]json.RawMessage, len(row))
	for col, val := range row {
		switch {
		case col == "ts" || strings.HasSuffix(col, "_at") || strings.HasSuffix(col, "_seen") || strings.HasSuffix(col, "_deadline"):
			var n int64
			if json.Unmarshal(val, &n) != nil || n == 0 {
				continue // null or unset: the zero time
			}
			val, _ = json.Marshal(time.Unix(0, n).UTC())
		case jsonColumn(col):
			var text string
			if json.Unmarshal(val, &text) != nil {
				break // already JSON, or null
			}
			if text == "{}" || !json.Valid([]byte(text)) {
				continue // the site's empty document: none
			}
			val = json.RawMessage(text)
		case col == "boot":
			var n int
			json.Unmarshal(val, &n)
			val = json.RawMessage(strconv.FormatBool(n != 0)) // SQLite's boolean
		}
		if to := renamed(kind, col); to != "" {
			col = to
		}
		out[col] = val
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// jsonColumn reports whether a site column holds a JSON document.
func jsonColumn(col string) bool {
	switch col {
	case "hardware", "params", "progress", "result", "detail", "site_value", "hq_value":
		return true
	}
	return false
}

// renamed is the Go type's JSON name of a column, where it differs.
func renamed(kind, col string) string {
	switch kind + "." + col {
	case "audit_log.ts":
		return "time"
	case "audit_log.from_state":
		return "from"
	case "audit_log.to_state":
		return "to"
	case "leases.expires_at":
		return "expires"
	case "leases.updated_at":
		return "updated"
	case "provision_requests.min_memory":
		return "min_memory_gib"
	}
	return ""
}
