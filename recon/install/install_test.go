package install

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testRaw  = 32 << 20
	testDisk = 256 << 20
)

// checkDisk asserts the disk starts with want and the rest is as sparse
// (zero) as it was made.
func checkDisk(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != testDisk {
		t.Fatalf("disk is %d bytes, want %d", len(got), testDisk)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Fatal("disk content differs from the image")
	}
	if i := slices.IndexFunc(got[len(want):], func(c byte) bool { return c != 0 }); i >= 0 {
		t.Fatalf("byte %d past the image was written", len(want)+i)
	}
}

func TestInstallFormats(t *testing.T) {
	raw := randomData(testRaw, 1)
	for _, format := range []string{FormatRaw, FormatGzip, FormatZstd} {
		t.Run(format, func(t *testing.T) {
			ti := newTestImage(t, format, raw)
			ti.start(t, serveFile(ti.stored, `"v1"`))
			disk := tempDisk(t, testDisk)
			var pl progressLog
			res, err := Install(context.Background(), disk, ti.img, Options{Progress: pl.add})
			if err != nil {
				t.Fatal(err)
			}
			if res.BytesWritten != testRaw || res.SHA256 != ti.img.RawSHA256 || res.Duration <= 0 || res.MBps <= 0 {
				t.Errorf("result %+v", res)
			}
			checkDisk(t, disk, raw)
			pl.check(t, PhaseDownload, PhaseWrite, PhaseVerify)
		})
	}
}

func TestInstallCompressible(t *testing.T) {
	// Real images are mostly compressible: many decoder blocks per buffer.
	raw := osLikeData(testRaw, 2)
	for _, format := range []string{FormatGzip, FormatZstd} {
		t.Run(format, func(t *testing.T) {
			ti := newTestImage(t, format, raw)
			if len(ti.stored) > len(raw)*3/4 {
				t.Fatalf("test data compresses to %d of %d", len(ti.stored), len(raw))
			}
			ti.start(t, serveFile(ti.stored, ""))
			disk := tempDisk(t, testDisk)
			if _, err := Install(context.Background(), disk, ti.img, Options{}); err != nil {
				t.Fatal(err)
			}
			checkDisk(t, disk, raw)
		})
	}
}

func TestInstallWrongSHA256(t *testing.T) {
	raw := randomData(testRaw, 3)
	for _, format := range []string{FormatRaw, FormatGzip, FormatZstd} {
		t.Run(format, func(t *testing.T) {
			ti := newTestImage(t, format, raw)
			served := bytes.Clone(ti.stored)
			// Corrupted in transit: the decoders' own checks may see it
			// first, but the error must still say the download is bad.
			served[len(served)/2] ^= 1
			ti.start(t, serveFile(served, ""))
			_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{})
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("err = %v, want checksum mismatch", err)
			}
			for _, h := range []string{ti.img.SHA256, hexSHA(served)} {
				if !strings.Contains(err.Error(), h) {
					t.Errorf("error %q does not name %s", err, h)
				}
			}
		})
	}
	t.Run("published hash wrong", func(t *testing.T) {
		ti := newTestImage(t, FormatZstd, raw)
		ti.img.SHA256 = hexSHA(raw)
		ti.start(t, serveFile(ti.stored, ""))
		_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{})
		if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), hexSHA(raw)) || !strings.Contains(err.Error(), hexSHA(ti.stored)) {
			t.Fatalf("err = %v, want checksum mismatch naming both", err)
		}
	})
}

func TestInstallCorruptImage(t *testing.T) {
	// Published corrupt: the hash matches, decoding fails.
	raw := randomData(8<<20, 12)
	for _, c := range []struct {
		format string
		at     func(n int) int
	}{
		{FormatZstd, func(n int) int { return n / 2 }},
		{FormatGzip, func(int) int { return 0 }}, // the header
	} {
		ti := newTestImage(t, c.format, raw)
		ti.stored[c.at(len(ti.stored))] ^= 1
		ti.img.SHA256 = hexSHA(ti.stored)
		ti.start(t, serveFile(ti.stored, ""))
		_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{})
		if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), c.format[4:]) {
			t.Errorf("%s: err = %v, want a bad image", c.format, err)
		}
	}
}

func TestInstallWrongRawSHA256(t *testing.T) {
	raw := randomData(testRaw, 4)
	ti := newTestImage(t, FormatGzip, raw)
	ti.img.RawSHA256 = hexSHA(raw[1:])
	ti.start(t, serveFile(ti.stored, ""))
	_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("err = %v, want checksum mismatch", err)
	}
	for _, h := range []string{ti.img.RawSHA256, hexSHA(raw)} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("error %q does not name %s", err, h)
		}
	}
}

func TestInstallRawSizeMismatch(t *testing.T) {
	raw := randomData(8<<20, 5)
	for _, delta := range []int64{-1, 1} {
		ti := newTestImage(t, FormatZstd, raw)
		ti.img.RawSize += delta
		ti.start(t, serveFile(ti.stored, ""))
		_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{})
		if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), "RawSize") {
			t.Errorf("RawSize off by %d: err = %v", delta, err)
		}
	}
}

func TestInstallTruncatedGzip(t *testing.T) {
	// The served file matches its hash but the gzip stream ends early:
	// the inflater's unexpected EOF must not pass for the end.
	ti := newTestImage(t, FormatGzip, randomData(8<<20, 6))
	ti.stored = ti.stored[:len(ti.stored)-1000]
	ti.img.Size, ti.img.SHA256 = int64(len(ti.stored)), hexSHA(ti.stored)
	ti.start(t, serveFile(ti.stored, ""))
	_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{})
	if err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Fatalf("err = %v, want a gzip error", err)
	}
}

func TestCheckFits(t *testing.T) {
	for _, c := range []struct {
		raw, dev int64
		block    bool
		ok       bool
	}{
		{100, 100, true, true},
		{101, 100, true, false},
		{1 << 40, 500 << 30, true, false},
		{101, 100, false, true}, // a file grows
	} {
		err := checkFits(c.raw, c.dev, c.block)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrTooLarge)) {
			t.Errorf("checkFits(%d, %d, %v) = %v", c.raw, c.dev, c.block, err)
		}
	}
}

func TestInstallValidates(t *testing.T) {
	good := Image{URL: "http://x/i", Format: FormatZstd, Size: 10, SHA256: strings.Repeat("a", 64), RawSize: 20, RawSHA256: strings.Repeat("B", 64)}
	if _, err := good.validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Image){
		"url":      func(i *Image) { i.URL = "ftp://x/i" },
		"nohost":   func(i *Image) { i.URL = "http:///i" },
		"format":   func(i *Image) { i.Format = "qcow2" },
		"sha":      func(i *Image) { i.SHA256 = "abc" },
		"rawsha":   func(i *Image) { i.RawSHA256 = strings.Repeat("g", 64) },
		"rawsize":  func(i *Image) { i.RawSize = 0 },
		"size":     func(i *Image) { i.Size = -1 },
		"rawsizes": func(i *Image) { i.Format = FormatRaw },
	} {
		img := good
		mod(&img)
		_, err := Install(context.Background(), tempDisk(t, 1<<20), img, Options{})
		if !errors.Is(err, ErrBadImage) {
			t.Errorf("%s: err = %v, want invalid image", name, err)
		}
	}
}

func TestInstallNotADevice(t *testing.T) {
	ti := newTestImage(t, FormatRaw, randomData(1<<20, 7))
	ti.img.URL = "http://127.0.0.1:1/image"
	for _, dev := range []string{t.TempDir(), "/nonexistent/disk"} {
		if _, err := Install(context.Background(), dev, ti.img, Options{}); !errors.Is(err, ErrDevice) {
			t.Errorf("%s: err = %v, want unusable device", dev, err)
		}
	}
}

func TestInstallHTTPErrorIsFinal(t *testing.T) {
	ti := newTestImage(t, FormatRaw, randomData(1<<20, 8))
	var n atomic.Int32
	ti.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.NotFound(w, r)
	}))
	_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{RetryWait: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want 404", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1: a 404 is not retried", n.Load())
	}
}

func TestInstallGivesUp(t *testing.T) {
	ti := newTestImage(t, FormatRaw, randomData(1<<20, 9))
	var n atomic.Int32
	ti.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{Retries: 3, RetryWait: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "3 retries") {
		t.Fatalf("err = %v, want giving up on 503", err)
	}
	if n.Load() != 4 {
		t.Errorf("%d requests, want 4", n.Load())
	}
}

func TestInstallServerEncodes(t *testing.T) {
	// A server that gzips on the fly would make the hash of the file
	// meaningless; refuse rather than hash the wrong bytes.
	ti := newTestImage(t, FormatRaw, randomData(1<<20, 10))
	ti.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(ti.stored)
	}))
	_, err := Install(context.Background(), tempDisk(t, testDisk), ti.img, Options{})
	if err == nil || !strings.Contains(err.Error(), "Content-Encoding") {
		t.Fatalf("err = %v", err)
	}
}

func TestInstallCancel(t *testing.T) {
	ti := newTestImage(t, FormatZstd, randomData(testRaw, 11))
	ti.start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(ti.stored[:1<<20])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stall
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Install(ctx, tempDisk(t, testDisk), ti.img, Options{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %s", d)
	}
}
