// Package wire is the site ⇄ HQ sync protocol: what a site pushes (its
// facts, from the outbox) and what it pulls (HQ's intents). Both
// directions are logs numbered per site, so nothing applies twice.
package wire

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/images"
)

// Paths, under the HQ URL. Sites authenticate with their key as a bearer
// token; the key, not the body, says which site is speaking.
const (
	PathPush    = "/sync/v1/push"
	PathIntents = "/sync/v1/intents"
)

// Batch limits: HQ refuses larger batches, sites never send them.
const (
	MaxChanges    = 2000
	MaxBatchBytes = 8 << 20
)

// Push carries consecutive changes from a site's outbox.
type Push struct {
	// From is the first change's sequence number.
	From    int64    `json:"from"`
	Changes []Change `json:"changes"`
	// Backlog is how many changes the site still holds after this batch.
	Backlog int64     `json:"backlog"`
	SentAt  time.Time `json:"sent_at"`
	// Reset starts a full snapshot: HQ drops what it holds for the site
	// and takes this batch as the start of its history.
	Reset bool `json:"reset,omitempty"`
}

// Change is one row's new state, or its deletion.
type Change struct {
	Seq int64           `json:"seq"`
	Tbl string          `json:"tbl"`
	Op  string          `json:"op"` // upsert or delete
	Key string          `json:"key"`
	Row json.RawMessage `json:"row,omitempty"`
	// TS is when the change happened at the site (Unix ns).
	TS int64 `json:"ts,omitempty"`
}

// PushReply says up to which sequence number HQ holds everything.
type PushReply struct {
	Acked int64 `json:"acked"`
}

// ErrorReply is every refusal: what was wrong, and, for batches, what HQ
// holds, so the site can resume from there.
type ErrorReply struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Acked *int64 `json:"acked,omitempty"`
}

// Tables is what sites may push.
func Tables() []string {
	return []string{"machines", "interfaces", "leases", "jobs", "audit_log", "provision_requests", "conflicts"}
}

// IntentsReply lists intents after a cursor.
type IntentsReply struct {
	Intents []Intent `json:"intents"`
}

// Intent is an order from HQ to one site.
type Intent struct {
	Seq       int64           `json:"seq"`
	Kind      string          `json:"kind"`
	Body      json.RawMessage `json:"body"`
	CreatedAt time.Time       `json:"created_at"`
	CreatedBy string          `json:"created_by"`
}

// Intent kinds.
const (
	KindProvision = "provision"
	KindJob       = "job"
	KindImage     = "image"
	KindPolicy    = "policy"
	KindWithdraw  = "withdraw"
)

// ProvisionBody asks the site for N machines.
type ProvisionBody struct {
	Request int64 `json:"request"`
	appliance.ProvisionSpec
}

// JobBody asks for a job on a machine, named by serial.
type JobBody struct {
	Serial string            `json:"serial"`
	Action string            `json:"action"`
	Params map[string]string `json:"params,omitempty"`
}

// ImageBody adds an image to the site's catalogue, fetched from URL.
type ImageBody struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Format  string `json:"format"`
	SHA256  string `json:"sha256"`
	URL     string `json:"url"`
}

// Check refuses an image that could never be fetched and stored, so that
// the intent fails when it is made or applied, with a reason, not later
// in a log.
func (b ImageBody) Check() error {
	if err := (images.Meta{Name: b.Name, Version: b.Version, Format: b.Format, SHA256: b.SHA256}).Check(); err != nil {
		return err
	}
	if len(b.SHA256) != 64 || strings.Trim(strings.ToLower(b.SHA256), "0123456789abcdef") != "" {
		return appliance.Errorf(appliance.CodeInvalid, "sha256 %q: want 64 hex digits", b.SHA256)
	}
	u, err := url.Parse(b.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return appliance.Errorf(appliance.CodeInvalid, "url %q: want an absolute http or https URL", b.URL)
	}
	return nil
}

// PolicyBody replaces the site's job policies.
type PolicyBody struct {
	MaxSite      int               `json:"max_site"`
	MaxPerAction map[string]int    `json:"max_per_action,omitempty"`
	MaxPerRack   int               `json:"max_per_rack"`
	Windows      map[string]string `json:"windows,omitempty"`
	BreakerN     int               `json:"breaker_window"`
	BreakerMax   float64           `json:"breaker_max_failed"`
}

// WithdrawBody takes back an earlier intent.
type WithdrawBody struct {
	Seq int64 `json:"seq"`
}
