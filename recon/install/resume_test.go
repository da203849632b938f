package install

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// flaky wraps a handler: request i (from 0) is cut after cuts[i] bytes
// of body, as a dropped connection would. It records each request's
// Range and If-Range, and counts the body bytes sent.
type flaky struct {
	h    http.Handler
	cuts []int64
	// stall, if set, makes a cut a silence until the client gives up
	// instead of a closed connection.
	stall bool

	mu      sync.Mutex
	reqs    int
	ranges  []string
	ifRange []string
	sent    int64
	cutAt   []int64 // body bytes each cut request sent
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	i := f.reqs
	f.reqs++
	f.ranges = append(f.ranges, r.Header.Get("Range"))
	f.ifRange = append(f.ifRange, r.Header.Get("If-Range"))
	f.mu.Unlock()
	limit := int64(-1)
	if i < len(f.cuts) {
		limit = f.cuts[i]
	}
	cw := &cutWriter{ResponseWriter: w, f: f, limit: limit, stall: f.stall, ctx: r.Context()}
	f.h.ServeHTTP(cw, r)
}

type cutWriter struct {
	http.ResponseWriter
	f     *flaky
	limit int64 // -1: no cut
	n     int64
	stall bool
	ctx   context.Context
}

func (c *cutWriter) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

func (c *cutWriter) Write(p []byte) (int, error) {
	cut := c.limit >= 0 && c.n+int64(len(p)) >= c.limit
	if cut {
		p = p[:c.limit-c.n]
	}
	k, err := c.ResponseWriter.Write(p)
	c.n += int64(k)
	c.f.mu.Lock()
	c.f.sent += int64(k)
	if cut {
		c.f.cutAt = append(c.f.cutAt, c.n)
	}
	c.f.mu.Unlock()
	if cut {
		c.ResponseWriter.(http.Flusher).Flush()
		if c.stall {
			<-c.ctx.Done()
		}
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	return k, err
}

func TestInstallResumes(t *testing.T) {
	raw := randomData(testRaw, 20)
	for _, format := range []string{FormatRaw, FormatGzip, FormatZstd} {
		t.Run(format, func(t *testing.T) {
			ti := newTestImage(t, format, raw)
			fl := &flaky{h: serveFile(ti.stored, `"abc"`), cuts: []int64{5<<20 + 123, 7<<20 + 7}}
			ti.start(t, fl)
			disk := tempDisk(t, testDisk)
			var pl progressLog
			res, err := Install(context.Background(), disk, ti.img, Options{RetryWait: time.Millisecond, Progress: pl.add})
			if err != nil {
				t.Fatal(err)
			}
			checkDisk(t, disk, raw)
			if res.BytesWritten != testRaw {
				t.Errorf("wrote %d", res.BytesWritten)
			}
			pl.check(t, PhaseDownload, PhaseWrite, PhaseVerify)

			fl.mu.Lock()
			defer fl.mu.Unlock()
			a, b := fl.cuts[0], fl.cuts[0]+fl.cuts[1]
			want := []string{"", fmt.Sprintf("bytes=%d-", a), fmt.Sprintf("bytes=%d-", b)}
			if strings.Join(fl.ranges, ",") != strings.Join(want, ",") {
				t.Errorf("ranges %q, want %q", fl.ranges, want)
			}
			if fl.ifRange[1] != `"abc"` || fl.ifRange[2] != `"abc"` {
				t.Errorf("If-Range %q, want the ETag", fl.ifRange)
			}
			if fl.sent >= int64(len(ti.stored))*3/2 {
				t.Errorf("sent %d bytes for a %d-byte file", fl.sent, len(ti.stored))
			}
		})
	}
}

func TestInstallResumesAfterStall(t *testing.T) {
	raw := randomData(testRaw, 21)
	ti := newTestImage(t, FormatZstd, raw)
	// No ETag: If-Range falls back to Last-Modified.
	fl := &flaky{h: serveFile(ti.stored, ""), cuts: []int64{3 << 20}, stall: true}
	ti.start(t, fl)
	disk := tempDisk(t, testDisk)
	_, err := Install(context.Background(), disk, ti.img, Options{RetryWait: time.Millisecond, IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkDisk(t, disk, raw)
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if len(fl.ranges) != 2 || fl.ranges[1] != fmt.Sprintf("bytes=%d-", 3<<20) {
		t.Errorf("ranges %q", fl.ranges)
	}
	if fl.ifRange[1] == "" {
		t.Error("no If-Range on resume")
	}
}

func TestInstallRefusesChangedImage(t *testing.T) {
	ti := newTestImage(t, FormatZstd, randomData(testRaw, 22))
	var mu sync.Mutex
	etag := `"v1"`
	fl := &flaky{cuts: []int64{1 << 20}, h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		e := etag
		etag = `"v2"` // replaced on the server after the first request
		mu.Unlock()
		serveFile(ti.stored, e).ServeHTTP(w, r)
	})}
	ti.start(t, fl)
	_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{RetryWait: time.Millisecond})
	if !errors.Is(err, ErrResume) || !strings.Contains(err.Error(), "200") {
		t.Fatalf("err = %v, want refusal to resume", err)
	}
}

func TestInstallNoRangeSupport(t *testing.T) {
	ti := newTestImage(t, FormatRaw, randomData(testRaw, 23))
	fl := &flaky{cuts: []int64{1 << 20}, h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(ti.stored) // ignores Range
	})}
	ti.start(t, fl)
	_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{RetryWait: time.Millisecond})
	if !errors.Is(err, ErrResume) {
		t.Fatalf("err = %v, want refusal to resume", err)
	}
}

func TestInstallWrongContentRange(t *testing.T) {
	ti := newTestImage(t, FormatRaw, randomData(4<<20, 24))
	fl := &flaky{cuts: []int64{1 << 20}, h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") == "" {
			w.Write(ti.stored)
			return
		}
		// A broken proxy: 206, but from the wrong place.
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(ti.stored)-1, len(ti.stored)))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(ti.stored)
	})}
	ti.start(t, fl)
	_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{RetryWait: time.Millisecond})
	if !errors.Is(err, ErrResume) || !strings.Contains(err.Error(), "Content-Range") {
		t.Fatalf("err = %v, want refusal to resume", err)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 5-9/*", 5, 9, -1, true},
		{"bytes 5-9/9", 0, 0, 0, false},
		{"bytes 9-5/100", 0, 0, 0, false},
		{"bytes -5-9/100", 0, 0, 0, false},
		{"bytes +5-9/100", 0, 0, 0, false},
		{"bytes */100", 0, 0, 0, false},
		{"items 0-9/100", 0, 0, 0, false},
		{"bytes 0-9", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	} {
		f, l, tot, err := parseContentRange(c.in)
		if (err == nil) != c.ok || (c.ok && (f != c.first || l != c.last || tot != c.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v", c.in, f, l, tot, err)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	f.Add("bytes 0-99/100")
	f.Add("bytes 5-9/*")
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, err := parseContentRange(s)
		if err != nil {
			return
		}
		if first < 0 || last < first || (total != -1 && last >= total) {
			t.Fatalf("%q gave %d-%d/%d", s, first, last, total)
		}
	})
}

func TestInstallUnknownSize(t *testing.T) {
	raw := randomData(testRaw, 25)
	ti := newTestImage(t, FormatGzip, raw)
	ti.img.Size = 0
	files := serveFile(ti.stored, `"u"`)
	fl := &flaky{cuts: []int64{2 << 20}, h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			files.ServeHTTP(w, r)
			return
		}
		w.Header().Set("ETag", `"u"`)
		for b := ti.stored; len(b) > 0; b = b[min(len(b), 1<<20):] {
			w.Write(b[:min(len(b), 1<<20)])
			w.(http.Flusher).Flush() // chunked: no length
		}
	})}
	ti.start(t, fl)
	disk := tempDisk(t, testDisk)
	var pl progressLog
	if _, err := Install(context.Background(), disk, ti.img, Options{RetryWait: time.Millisecond, Progress: pl.add}); err != nil {
		t.Fatal(err)
	}
	checkDisk(t, disk, raw)
	pl.check(t, PhaseDownload, PhaseWrite, PhaseVerify)
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if len(fl.ranges) != 2 || fl.ranges[1] != fmt.Sprintf("bytes=%d-", 2<<20) {
		t.Errorf("ranges %q", fl.ranges)
	}
}
