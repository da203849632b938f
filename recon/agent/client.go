package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/outpostdc/outpost/recon"
)

// Client talks to outpostd, retrying what the network breaks.
type Client struct {
	Base string
	HTTP *http.Client
	// Retry is the backoff between attempts: Base doubling to Max.
	RetryBase, RetryMax time.Duration
	// Attempts bounds tries per call; 0 retries until ctx ends.
	Attempts int
	// OnRetry is told about each failed attempt, for the console.
	OnRetry func(what string, attempt int, err error, wait time.Duration)
}

// StatusError is a refusal from outpostd: retrying will not help.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return fmt.Sprintf("outpostd answered %d: %s", e.Code, e.Msg) }

// Unauthorized reports whether the token was refused.
func (e *StatusError) Unauthorized() bool { return e.Code == http.StatusUnauthorized }

func (c *Client) do(ctx context.Context, method, path, token string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	base, maxWait := c.RetryBase, c.RetryMax
	if base <= 0 {
		base = time.Second
	}
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	wait := base
	for attempt := 1; ; attempt++ {
		err := c.once(ctx, method, path, token, payload, out)
		if err == nil {
			return nil
		}
		if se, ok := err.(*StatusError); ok && se.Code < 500 {
			return err
		}
		if c.Attempts > 0 && attempt >= c.Attempts {
			return fmt.Errorf("%s %s: giving up after %d attempts: %w", method, path, attempt, err)
		}
		// Jitter keeps a rack of machines that lost the network at once
		// from coming back in lockstep.
		d := wait/2 + rand.N(wait/2+1)
		if c.OnRetry != nil {
			c.OnRetry(method+" "+path, attempt, err, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		wait = min(wait*2, maxWait)
	}
}

func (c *Client) once(ctx context.Context, method, path, token string, payload []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		msg := string(b)
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		return &StatusError{Code: resp.StatusCode, Msg: msg}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Report sends the hardware report with a boot or agent token.
func (c *Client) Report(ctx context.Context, token string, r recon.Report) (recon.ReportReply, error) {
	var out recon.ReportReply
	err := c.do(ctx, http.MethodPost, recon.PathReport, token, r, &out)
	return out, err
}

// Enrollment asks for BMC credentials; nil means none are wanted.
func (c *Client) Enrollment(ctx context.Context, token, mac string) (*recon.Enrollment, error) {
	var out recon.Enrollment
	if err := c.do(ctx, http.MethodGet, recon.PathEnrollment+"?mac="+mac, token, nil, &out); err != nil {
		return nil, err
	}
	if out.User == "" {
		return nil, nil
	}
	return &out, nil
}

// Next asks what to do now, and is the agent's heartbeat.
func (c *Client) Next(ctx context.Context, agentToken string) (recon.Next, error) {
	var out recon.Next
	err := c.do(ctx, http.MethodGet, recon.PathNext, agentToken, nil, &out)
	return out, err
}

func jobPath(tmpl string, id int64) string {
	return strings.Replace(tmpl, "{id}", strconv.FormatInt(id, 10), 1)
}

// JobProgress reports progress on a job.
func (c *Client) JobProgress(ctx context.Context, agentToken string, id int64, p recon.JobProgress) error {
	return c.do(ctx, http.MethodPost, jobPath(recon.PathJobProgress, id), agentToken, p, nil)
}

// JobResult reports how a job ended.
func (c *Client) JobResult(ctx context.Context, agentToken string, id int64, r recon.JobResult) error {
	return c.do(ctx, http.MethodPost, jobPath(recon.PathJobResult, id), agentToken, r, nil)
}
