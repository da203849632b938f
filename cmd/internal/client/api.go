package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
)

// The domain types (Machine, Job, TimelineEntry, Lease, User) come from
// package appliance, which does no I/O. The store's own types are copied
// here so that the CLI does not link the SQLite driver.

// Health is GET /health.
type Health struct {
	Status        string `json:"status"`
	Site          string `json:"site"`
	Version       string `json:"version"`
	Schema        int    `json:"schema"`
	UptimeSeconds int    `json:"uptime_seconds"`
}

// Image is one OS image in the store.
type Image struct {
	SHA256    string    `json:"sha256"`
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Format    string    `json:"format"`
	Size      int64     `json:"size"`
	RawSHA256 string    `json:"raw_sha256"`
	RawSize   int64     `json:"raw_size"`
	File      string    `json:"file"`
	CreatedAt time.Time `json:"created_at"`
}

// Ref is the image's name:version.
func (i Image) Ref() string { return i.Name + ":" + i.Version }

// PausedQueue is one paused job queue.
type PausedQueue struct {
	Action string    `json:"action"`
	Since  time.Time `json:"since"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
}

// FrozenRack is a rack no job may touch.
type FrozenRack struct {
	Rack   string    `json:"rack"`
	Since  time.Time `json:"since"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
}

// Policies is GET /policies. Config is the policy configuration as the
// daemon reports it.
type Policies struct {
	Config       json.RawMessage `json:"config"`
	PausedQueues []PausedQueue   `json:"paused_queues"`
	FrozenRacks  []FrozenRack    `json:"frozen_racks"`
}

// Token is an API token's public description.
type Token struct {
	ID        int64     `json:"id"`
	User      string    `json:"user"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	LastUsed  time.Time `json:"last_used,omitempty"`
}

// NewToken is POST /tokens's answer; Token is shown once.
type NewToken struct {
	Token string `json:"token"`
	Info  Token  `json:"info"`
}

// LoginResult is POST /login's answer.
type LoginResult struct {
	Token     string         `json:"token"`
	User      appliance.User `json:"user"`
	ExpiresIn int            `json:"expires_in"`
}

// JobProgress is a running job's last progress report.
type JobProgress struct {
	Phase   string  `json:"phase"`
	Done    int64   `json:"done"`
	Total   int64   `json:"total"`
	Percent float64 `json:"percent"`
	MBps    float64 `json:"mbps"`
}

// ProgressOf decodes a job's progress; ok is false when it has none.
func ProgressOf(j appliance.Job) (p JobProgress, ok bool) {
	if len(j.Progress) == 0 {
		return p, false
	}
	return p, json.Unmarshal(j.Progress, &p) == nil
}

// SyncStatus is GET /sync: the link to headquarters.
type SyncStatus struct {
	Enabled          bool       `json:"enabled"`
	Connected        bool       `json:"connected"`
	PartitionedSince *time.Time `json:"partitioned_since"`
	Backlog          int64      `json:"backlog"`
	LastContact      *time.Time `json:"last_contact"`
	HQ               string     `json:"hq"`
	Site             string     `json:"site,omitempty"`
	LastError        string     `json:"last_error"`
	// NotConfigured is set when the daemon answers 404: no sync.
	NotConfigured bool `json:"-"`
	// Raw is the daemon's answer as sent, with fields not listed here.
	Raw json.RawMessage `json:"-"`
}

// MachineFilter selects machines; empty fields match all.
type MachineFilter struct {
	State, Rack, Role, Hostname, Serial, MAC, Class string
	// Query matches serial, hostname, rack or MAC by substring.
	Query string
	Limit int
	After int64
}

func (f MachineFilter) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"state": f.State, "rack": f.Rack, "role": f.Role, "hostname": f.Hostname,
		"serial": f.Serial, "mac": f.MAC, "class": f.Class, "q": f.Query} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.After > 0 {
		q.Set("after", strconv.FormatInt(f.After, 10))
	}
	return q
}

// NewMachine registers a machine by hand.
type NewMachine struct {
	Serial   string   `json:"serial"`
	Hostname string   `json:"hostname,omitempty"`
	Role     string   `json:"role,omitempty"`
	Rack     string   `json:"rack,omitempty"`
	Location string   `json:"location,omitempty"`
	MACs     []string `json:"macs,omitempty"`
	State    string   `json:"state,omitempty"`
}

// JobFilter selects jobs.
type JobFilter struct {
	Statuses  []string
	Action    string
	MachineID int64
	Limit     int
	After     int64
}

// NewJob asks for a job: Params hold image (name:version), op
// (on|off|cycle|reset|status) or full (true|false).
type NewJob struct {
	Action      string            `json:"action"`
	MachineID   int64             `json:"machine_id"`
	Params      map[string]string `json:"params,omitempty"`
	MaxAttempts int               `json:"max_attempts,omitempty"`
}

// LeaseFilter selects leases.
type LeaseFilter struct {
	MAC    string
	Active bool
	Limit  int
}

// UserPatch changes a user; nil fields stay.
type UserPatch struct {
	Role     *string `json:"role,omitempty"`
	Password *string `json:"password,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// ImageMeta describes an upload.
type ImageMeta struct {
	Name, Version string
	// Format is raw, raw.gz or raw.zst.
	Format string
	// SHA256, if set, must match the uploaded bytes.
	SHA256 string
}

type reason struct {
	Reason string `json:"reason"`
}

func pathID(prefix string, id int64, suffix string) string {
	return prefix + strconv.FormatInt(id, 10) + suffix
}

// Health checks the daemon.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	return h, c.get(ctx, "/api/v1/health", nil, &h)
}

// Login opens a session; the client then uses its token.
func (c *Client) Login(ctx context.Context, user, password string) (LoginResult, error) {
	var r LoginResult
	err := c.send(ctx, http.MethodPost, "/api/v1/login", map[string]string{"user": user, "password": password}, &r)
	if err == nil {
		c.SetToken(r.Token)
	}
	return r, err
}

// Logout ends the client's session (or revokes its token).
func (c *Client) Logout(ctx context.Context) error {
	return c.send(ctx, http.MethodPost, "/api/v1/logout", nil, nil)
}

// WhoAmI returns the caller.
func (c *Client) WhoAmI(ctx context.Context) (appliance.User, error) {
	var u appliance.User
	return u, c.get(ctx, "/api/v1/whoami", nil, &u)
}

// CreateToken issues an API token; ttl is a Go duration ("2160h"), empty
// for the daemon's default.
func (c *Client) CreateToken(ctx context.Context, name, ttl string) (NewToken, error) {
	var t NewToken
	return t, c.send(ctx, http.MethodPost, "/api/v1/tokens", map[string]string{"name": name, "ttl": ttl}, &t)
}

// Tokens lists the caller's API tokens, or every user's (admins, all).
func (c *Client) Tokens(ctx context.Context, all bool) ([]Token, error) {
	var r struct {
		Tokens []Token `json:"tokens"`
	}
	q := url.Values{}
	if all {
		q.Set("all", "true")
	}
	return r.Tokens, c.get(ctx, "/api/v1/tokens", q, &r)
}

// RevokeToken deletes an API token.
func (c *Client) RevokeToken(ctx context.Context, id int64) error {
	return c.send(ctx, http.MethodDelete, pathID("/api/v1/tokens/", id, ""), nil, nil)
}

// Users lists users.
func (c *Client) Users(ctx context.Context) ([]appliance.User, error) {
	var r struct {
		Users []appliance.User `json:"users"`
	}
	return r.Users, c.get(ctx, "/api/v1/users", nil, &r)
}

// CreateUser adds a user.
func (c *Client) CreateUser(ctx context.Context, name, role, password string) (appliance.User, error) {
	var u appliance.User
	return u, c.send(ctx, http.MethodPost, "/api/v1/users", map[string]string{"name": name, "role": role, "password": password}, &u)
}

// UpdateUser changes a user's role, password or disabled flag.
func (c *Client) UpdateUser(ctx context.Context, name string, p UserPatch) (appliance.User, error) {
	var u appliance.User
	return u, c.send(ctx, http.MethodPatch, "/api/v1/users/"+url.PathEscape(name), p, &u)
}

// Machines lists one page of machines (the daemon's default page is 1000).
func (c *Client) Machines(ctx context.Context, f MachineFilter) ([]appliance.Machine, error) {
	var r struct {
		Machines []appliance.Machine `json:"machines"`
	}
	return r.Machines, c.get(ctx, "/api/v1/machines", f.values(), &r)
}

// AllMachines lists every machine matching f, page by page.
func (c *Client) AllMachines(ctx context.Context, f MachineFilter) ([]appliance.Machine, error) {
	const page = 1000
	f.Limit = page
	out := []appliance.Machine{}
	for {
		ms, err := c.Machines(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
		if len(ms) < page {
			return out, nil
		}
		f.After = ms[len(ms)-1].ID
	}
}

// Machine returns one machine with its interfaces and hardware.
func (c *Client) Machine(ctx context.Context, id int64) (appliance.Machine, error) {
	var m appliance.Machine
	return m, c.get(ctx, pathID("/api/v1/machines/", id, ""), nil, &m)
}

// CreateMachine registers a machine.
func (c *Client) CreateMachine(ctx context.Context, n NewMachine) (appliance.Machine, error) {
	var m appliance.Machine
	return m, c.send(ctx, http.MethodPost, "/api/v1/machines", n, &m)
}

// SetState moves a machine to a state (frozen freezes it).
func (c *Client) SetState(ctx context.Context, id int64, state, why string) (appliance.Machine, error) {
	var m appliance.Machine
	body := map[string]string{"state": state, "reason": why}
	return m, c.send(ctx, http.MethodPost, pathID("/api/v1/machines/", id, "/state"), body, &m)
}

// Freeze freezes a machine.
func (c *Client) Freeze(ctx context.Context, id int64, why string) (appliance.Machine, error) {
	return c.SetState(ctx, id, string(appliance.StateFrozen), why)
}

// Unfreeze returns a frozen machine to the state it was frozen from.
func (c *Client) Unfreeze(ctx context.Context, id int64, why string) (appliance.Machine, error) {
	var m appliance.Machine
	return m, c.send(ctx, http.MethodPost, pathID("/api/v1/machines/", id, "/unfreeze"), reason{why}, &m)
}

// Timeline merges a machine's boot events and audit log, oldest first;
// limit 0 is the daemon's default.
func (c *Client) Timeline(ctx context.Context, id int64, limit int) ([]appliance.TimelineEntry, error) {
	var r struct {
		Timeline []appliance.TimelineEntry `json:"timeline"`
	}
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return r.Timeline, c.get(ctx, pathID("/api/v1/machines/", id, "/timeline"), q, &r)
}

// MACTimeline returns one MAC's boot events, oldest first.
func (c *Client) MACTimeline(ctx context.Context, mac string, limit int) ([]appliance.BootEvent, error) {
	var r struct {
		Events []appliance.BootEvent `json:"events"`
	}
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return r.Events, c.get(ctx, "/api/v1/macs/"+url.PathEscape(mac)+"/timeline", q, &r)
}

// Jobs lists jobs, oldest first.
func (c *Client) Jobs(ctx context.Context, f JobFilter) ([]appliance.Job, error) {
	q := url.Values{}
	if len(f.Statuses) > 0 {
		q.Set("status", strings.Join(f.Statuses, ","))
	}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	if f.MachineID > 0 {
		q.Set("machine_id", strconv.FormatInt(f.MachineID, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.After > 0 {
		q.Set("after", strconv.FormatInt(f.After, 10))
	}
	var r struct {
		Jobs []appliance.Job `json:"jobs"`
	}
	return r.Jobs, c.get(ctx, "/api/v1/jobs", q, &r)
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, id int64) (appliance.Job, error) {
	var j appliance.Job
	return j, c.get(ctx, pathID("/api/v1/jobs/", id, ""), nil, &j)
}

// SubmitJob queues a job.
func (c *Client) SubmitJob(ctx context.Context, n NewJob) (appliance.Job, error) {
	var j appliance.Job
	return j, c.send(ctx, http.MethodPost, "/api/v1/jobs", n, &j)
}

// CancelJob cancels a job.
func (c *Client) CancelJob(ctx context.Context, id int64, why string) (appliance.Job, error) {
	var j appliance.Job
	return j, c.send(ctx, http.MethodPost, pathID("/api/v1/jobs/", id, "/cancel"), reason{why}, &j)
}

// Images lists the image store.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	var r struct {
		Images []Image `json:"images"`
	}
	return r.Images, c.get(ctx, "/api/v1/images", nil, &r)
}

// UploadImage sends an image; size is body's length, or -1 if unknown.
// It has no timeout but ctx's: images are large.
func (c *Client) UploadImage(ctx context.Context, m ImageMeta, body io.Reader, size int64) (Image, error) {
	q := url.Values{"name": {m.Name}, "version": {m.Version}, "format": {m.Format}}
	if m.SHA256 != "" {
		q.Set("sha256", m.SHA256)
	}
	var img Image
	err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/images", query: q, raw: body, size: size, long: true}, &img)
	return img, err
}

// DeleteImage removes an image by its SHA-256.
func (c *Client) DeleteImage(ctx context.Context, sha string) error {
	return c.send(ctx, http.MethodDelete, "/api/v1/images/"+url.PathEscape(sha), nil, nil)
}

// Leases lists DHCP leases, newest first.
func (c *Client) Leases(ctx context.Context, f LeaseFilter) ([]appliance.Lease, error) {
	q := url.Values{}
	if f.MAC != "" {
		q.Set("mac", f.MAC)
	}
	if f.Active {
		q.Set("active", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var r struct {
		Leases []appliance.Lease `json:"leases"`
	}
	return r.Leases, c.get(ctx, "/api/v1/leases", q, &r)
}

// Policies returns the policy configuration, paused queues and frozen
// racks.
func (c *Client) Policies(ctx context.Context) (Policies, error) {
	var p Policies
	return p, c.get(ctx, "/api/v1/policies", nil, &p)
}

// PauseQueue stops jobs of an action from starting.
func (c *Client) PauseQueue(ctx context.Context, action, why string) error {
	return c.send(ctx, http.MethodPost, "/api/v1/queues/"+url.PathEscape(action)+"/pause", reason{why}, nil)
}

// ResumeQueue lets a paused queue run again.
func (c *Client) ResumeQueue(ctx context.Context, action, why string) error {
	return c.send(ctx, http.MethodPost, "/api/v1/queues/"+url.PathEscape(action)+"/resume", reason{why}, nil)
}

// FreezeRack refuses jobs on every machine of a rack.
func (c *Client) FreezeRack(ctx context.Context, rack, why string) error {
	return c.send(ctx, http.MethodPut, "/api/v1/racks/"+url.PathEscape(rack)+"/freeze", reason{why}, nil)
}

// UnfreezeRack lifts a rack freeze.
func (c *Client) UnfreezeRack(ctx context.Context, rack string) error {
	return c.send(ctx, http.MethodDelete, "/api/v1/racks/"+url.PathEscape(rack)+"/freeze", nil, nil)
}

// Sync returns the state of the link to headquarters. A daemon without
// the sync route answers 404: that is NotConfigured, not an error.
func (c *Client) Sync(ctx context.Context) (SyncStatus, error) {
	var raw json.RawMessage
	err := c.get(ctx, "/api/v1/sync", nil, &raw)
	if IsNotFound(err) {
		return SyncStatus{NotConfigured: true}, nil
	}
	if err != nil {
		return SyncStatus{}, err
	}
	var s SyncStatus
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("outpostd answered GET /api/v1/sync with bad JSON: %w", err)
	}
	s.Raw = raw
	return s, nil
}
