package hq

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpostdc/outpost/appliance"
)

// Site is one site's sync status as HQ sees it.
type Site struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	CreatedAt    time.Time  `json:"created_at"`
	AckedSeq     int64      `json:"acked_seq"`
	LastContact  *time.Time `json:"last_contact"`
	Backlog      int64      `json:"backlog"`
	LagMS        int64      `json:"lag_ms"`
	IntentSeq    int64      `json:"intent_seq"`
	IntentCursor int64      `json:"intent_cursor"`
	// PendingIntents is how many intents the site has not fetched.
	PendingIntents int64 `json:"pending_intents"`
}

// Sites lists the sites with their sync status.
func (s *Store) Sites(ctx context.Context) ([]Site, error) {
	rows, err := s.DB.Query(ctx, `SELECT id, name, created_at, acked_seq, last_contact, backlog, lag_ms, intent_seq, intent_cursor
		FROM sites ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Site{}
	for rows.Next() {
		var x Site
		if err := rows.Scan(&x.ID, &x.Name, &x.CreatedAt, &x.AckedSeq, &x.LastContact, &x.Backlog, &x.LagMS, &x.IntentSeq, &x.IntentCursor); err != nil {
			return nil, err
		}
		x.PendingIntents = x.IntentSeq - x.IntentCursor
		out = append(out, x)
	}
	return out, rows.Err()
}

// Fact is a site row as HQ holds it.
type Fact struct {
	Site string          `json:"site"`
	Key  string          `json:"key"`
	Data json.RawMessage `json:"data"`
}

// FactFilter selects facts of one kind.
type FactFilter struct {
	Kind string
	Site string
	// Key selects one row (with Site).
	Key   string
	Where map[string]string // JSON field = value
	// AnyOf: the JSON field is one of the values.
	AnyOf map[string][]string
	// NewestBy, a JSON field holding Unix nanoseconds, lists the newest
	// first; otherwise the order is by site and key.
	NewestBy string
	Limit    int
}

// Facts lists facts; machines across all sites are Facts{Kind: "machines"}.
func (s *Store) Facts(ctx context.Context, f FactFilter) ([]Fact, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	q := `SELECT site_id, key, data FROM facts WHERE kind = ` + arg(f.Kind)
	if f.Site != "" {
		q += ` AND site_id = ` + arg(f.Site)
	}
	if f.Key != "" {
		q += ` AND key = ` + arg(f.Key)
	}
	for k, v := range f.Where {
		q += ` AND data ->> ` + arg(k) + ` = ` + arg(v)
	}
	for k, vs := range f.AnyOf {
		q += ` AND data ->> ` + arg(k) + ` = ANY(` + arg(vs) + `)`
	}
	if f.NewestBy != "" {
		q += ` ORDER BY (data ->> ` + arg(f.NewestBy) + `)::BIGINT DESC, site_id, key`
	} else {
		q += ` ORDER BY site_id, key`
	}
	lim := f.Limit
	if lim <= 0 || lim > 100000 {
		lim = 10000
	}
	return s.queryFacts(ctx, q+` LIMIT `+arg(lim), args...)
}

func (s *Store) queryFacts(ctx context.Context, q string, args ...any) ([]Fact, error) {
	rows, err := s.DB.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Fact{}
	for rows.Next() {
		var x Fact
		if err := rows.Scan(&x.Site, &x.Key, &x.Data); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// Request is a provisioning request with its site's progress report.
type Request struct {
	ID        int64           `json:"id"`
	Site      string          `json:"site"`
	IntentSeq int64           `json:"intent_seq"`
	Spec      json.RawMessage `json:"spec"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
	Withdrawn bool            `json:"withdrawn"`
	// Progress is the site's last report; empty until the site has
	// received the request and synced back.
	Progress json.RawMessage `json:"progress,omitempty"`
}

// Requests lists provisioning requests with their progress.
func (s *Store) Requests(ctx context.Context, site string) ([]Request, error) {
	q := `SELECT r.id, r.site_id, r.intent_seq, r.spec, r.created_at, r.created_by, r.withdrawn, f.data
		FROM requests r LEFT JOIN facts f ON f.site_id = r.site_id AND f.kind = 'provision_requests' AND f.key = r.id::TEXT`
	var args []any
	if site != "" {
		q += ` WHERE r.site_id = $1`
		args = append(args, site)
	}
	rows, err := s.DB.Query(ctx, q+` ORDER BY r.created_at, r.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Request{}
	for rows.Next() {
		var x Request
		var prog []byte
		if err := rows.Scan(&x.ID, &x.Site, &x.IntentSeq, &x.Spec, &x.CreatedAt, &x.CreatedBy, &x.Withdrawn, &prog); err != nil {
			return nil, err
		}
		if prog != nil {
			x.Progress = prog
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// CreateToken makes an operator token and returns its secret once.
func (s *Store) CreateToken(ctx context.Context, name string, role appliance.Role) (string, error) {
	if !role.Valid() {
		return "", appliance.Errorf(appliance.CodeInvalid, "role must be viewer, technician or admin")
	}
	tok, err := secret("hq_")
	if err != nil {
		return "", err
	}
	_, err = s.DB.Exec(ctx, `INSERT INTO tokens (hash, name, role) VALUES ($1, $2, $3)`, hashKey(tok), name, string(role))
	return tok, err
}

// CountTokens says whether any operator token exists.
func (s *Store) CountTokens(ctx context.Context) (int, error) {
	var n int
	err := s.DB.QueryRow(ctx, `SELECT count(*) FROM tokens`).Scan(&n)
	return n, err
}

// Authenticate finds an operator token.
func (s *Store) Authenticate(ctx context.Context, tok string) (appliance.User, error) {
	var u appliance.User
	var role string
	err := s.DB.QueryRow(ctx, `SELECT name, role FROM tokens WHERE hash = $1`, hashKey(tok)).Scan(&u.Name, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, appliance.Errorf(appliance.CodeUnauthorized, "invalid token")
	}
	u.Role = appliance.Role(role)
	return u, err
}
