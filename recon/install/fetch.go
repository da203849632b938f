package install

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// fetcher reads an image over HTTP as one stream, hashing it. When the
// connection breaks, stalls or ends early, it asks for the rest with a
// Range request and carries on, so the decompressor reading it never
// notices and nothing already received is fetched again.
type fetcher struct {
	ctx     context.Context
	client  *http.Client
	url     string
	size    int64 // expected length; -1 until known
	retries int
	wait    time.Duration
	idle    time.Duration
	log     *slog.Logger
	dl      *meter

	off       int64 // bytes received and hashed
	h         hash.Hash
	fails     int   // consecutive blips without a byte in between
	blip      error // the last blip, to wait for before reconnecting
	etag      string
	validator string // sent as If-Range: a strong ETag or Last-Modified

	body    io.ReadCloser
	cancel  context.CancelFunc // ends the current request
	timer   *time.Timer        // the idle watchdog of the current request
	stalled atomic.Bool
}

// fetchError is a download failure that is final: retrying cannot help,
// or the retries are spent.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

func isFetchError(err error) bool {
	var fe *fetchError
	return errors.As(err, &fe)
}

// blipError is a failure worth retrying: the network, or a busy server.
type blipError struct{ err error }

func (e *blipError) Error() string { return e.err.Error() }
func (e *blipError) Unwrap() error { return e.err }

func newFetcher(ctx context.Context, img Image, o Options, dl *meter) *fetcher {
	size := img.Size
	if size == 0 {
		size = -1
	}
	return &fetcher{
		ctx: ctx, client: o.HTTP, url: img.URL, size: size,
		retries: o.Retries, wait: o.RetryWait, idle: o.IdleTimeout, log: o.Log, dl: dl,
		h: sha256.New(),
	}
}

// sum is the hex SHA-256 of the bytes read so far.
func (f *fetcher) sum() string { return hex.EncodeToString(f.h.Sum(nil)) }

func (f *fetcher) Read(p []byte) (int, error) {
	for {
		if f.size >= 0 && f.off >= f.size {
			f.close()
			return 0, io.EOF
		}
		if err := f.ctx.Err(); err != nil {
			return 0, &fetchError{err}
		}
		if f.body == nil {
			if f.blip != nil {
				if err := f.retry(f.blip); err != nil {
					return 0, err
				}
				f.blip = nil
			}
			err := f.open()
			var blip *blipError
			if errors.As(err, &blip) {
				f.blip = err
				continue
			}
			if err != nil {
				return 0, err
			}
		}
		if f.size >= 0 && int64(len(p)) > f.size-f.off {
			p = p[:f.size-f.off]
		}
		n, err := f.body.Read(p)
		if n > 0 {
			f.timer.Reset(f.idle)
			f.h.Write(p[:n])
			f.off += int64(n)
			f.dl.add(int64(n))
			f.fails = 0
		}
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && f.size < 0:
			// No length known: the server's end is the end.
			f.size = f.off
			f.close()
			return n, io.EOF
		case err == io.EOF && f.off >= f.size:
			f.close()
			return n, io.EOF
		case err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
		stalled := f.stalled.Load()
		f.close()
		if cerr := f.ctx.Err(); cerr != nil {
			return n, &fetchError{cerr}
		}
		if stalled {
			err = fmt.Errorf("no data for %s", f.idle)
		}
		f.blip = err // the next Read resumes, after a pause
		if n > 0 {
			return n, nil
		}
	}
}

// retry waits before the next attempt after err, or gives up.
func (f *fetcher) retry(err error) error {
	f.fails++
	if f.fails > f.retries {
		return &fetchError{fmt.Errorf("GET %s at byte %d: giving up after %d retries: %w", f.url, f.off, f.retries, err)}
	}
	wait := f.wait
	for i := 1; i < f.fails && wait < maxRetryWait; i++ {
		wait *= 2
	}
	wait = min(wait, maxRetryWait)
	f.log.Warn("download failed, resuming", "url", f.url, "offset", f.off, "attempt", f.fails, "wait", wait, "err", err)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
		return &fetchError{f.ctx.Err()}
	case <-t.C:
		return nil
	}
}

// open starts a request for the bytes from f.off on. It returns a
// *blipError for failures worth retrying.
func (f *fetcher) open() error {
	rctx, cancel := context.WithCancel(f.ctx)
	f.stalled.Store(false)
	// The watchdog covers the wait for headers too.
	f.timer = time.AfterFunc(f.idle, func() {
		f.stalled.Store(true)
		cancel()
	})
	f.cancel = cancel
	resp, err := f.do(rctx)
	if err != nil {
		f.close()
		return err
	}
	f.body = resp.Body
	return nil
}

func (f *fetcher) do(ctx context.Context) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, &fetchError{err}
	}
	// Set explicitly, it stops the transport from asking for gzip and
	// silently inflating it: the hash is of the file as stored.
	req.Header.Set("Accept-Encoding", "identity")
	if f.off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", f.off))
		if f.validator != "" {
			// A changed file then comes back whole (200), not spliced.
			req.Header.Set("If-Range", f.validator)
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var cert *tls.CertificateVerificationError
		if errors.As(err, &cert) {
			return nil, &fetchError{err} // no retry fixes a certificate
		}
		if f.stalled.Load() {
			err = fmt.Errorf("no response for %s", f.idle)
		}
		return nil, &blipError{err}
	}
	if err := f.check(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// check accepts resp as the continuation of the stream at f.off.
func (f *fetcher) check(resp *http.Response) error {
	final := func(format string, args ...any) error {
		return &fetchError{fmt.Errorf("GET %s: "+format, append([]any{f.url}, args...)...)}
	}
	switch resp.StatusCode {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return &blipError{fmt.Errorf("GET %s: %s", f.url, resp.Status)}
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return final("server applied Content-Encoding %q; want the file as stored", ce)
	}
	if f.off == 0 {
		if resp.StatusCode != http.StatusOK {
			return final("%s", resp.Status)
		}
		if resp.ContentLength >= 0 {
			if f.size >= 0 && resp.ContentLength != f.size {
				return final("server sends %d bytes, image Size is %d", resp.ContentLength, f.size)
			}
			f.size = resp.ContentLength
		}
		f.etag = resp.Header.Get("ETag")
		f.validator = ""
		switch {
		case f.etag != "" && !strings.HasPrefix(f.etag, "W/"):
			f.validator = f.etag
		case resp.Header.Get("Last-Modified") != "":
			// A weak ETag never matches If-Range; the date can.
			f.validator = resp.Header.Get("Last-Modified")
		}
		return nil
	}
	if resp.StatusCode != http.StatusPartialContent {
		return &fetchError{fmt.Errorf("%w: GET %s with Range from byte %d: server answered %s, not 206 Partial Content (file changed, or no Range support)",
			ErrResume, f.url, f.off, resp.Status)}
	}
	first, last, total, err := parseContentRange(resp.Header.Get("Content-Range"))
	if err != nil {
		return &fetchError{fmt.Errorf("%w: GET %s: %v", ErrResume, f.url, err)}
	}
	if first != f.off || (total >= 0 && last != total-1) || (f.size >= 0 && total >= 0 && total != f.size) {
		return &fetchError{fmt.Errorf("%w: GET %s: asked for bytes %d- of %d, got Content-Range %q",
			ErrResume, f.url, f.off, f.size, resp.Header.Get("Content-Range"))}
	}
	if et := resp.Header.Get("ETag"); f.etag != "" && et != "" && et != f.etag {
		return &fetchError{fmt.Errorf("%w: GET %s: ETag changed from %s to %s", ErrResume, f.url, f.etag, et)}
	}
	if f.size < 0 && total >= 0 {
		f.size = total
	}
	return nil
}

// close ends the current request, if any.
func (f *fetcher) close() {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	if f.body != nil {
		f.body.Close()
		f.body = nil
	}
	if f.cancel != nil {
		f.cancel()
		f.cancel = nil
	}
}

// parseContentRange parses "bytes first-last/total"; total is -1 for "*".
func parseContentRange(s string) (first, last, total int64, err error) {
	bad := func() (int64, int64, int64, error) {
		return 0, 0, 0, fmt.Errorf("bad Content-Range %q", s)
	}
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return bad()
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return bad()
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return bad()
	}
	num := func(s string) (int64, bool) {
		if s == "" || s[0] < '0' || s[0] > '9' { // no sign, no space
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	if first, ok = num(a); !ok {
		return bad()
	}
	if last, ok = num(b); !ok || last < first {
		return bad()
	}
	total = -1
	if tot != "*" {
		if total, ok = num(tot); !ok || last >= total {
			return bad()
		}
	}
	return first, last, total, nil
}
