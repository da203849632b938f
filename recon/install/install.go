// Package install writes OS images onto a machine's disks and wipes disks,
// for the jobs outpostd hands the recon agent.
//
// An image is streamed: network → SHA-256 of the file as served →
// decompressor → the device, with large sequential writes, so a disk of
// any size is written with a few MiB of buffers. A dropped connection is
// resumed with a Range request at the byte where it stopped, feeding the
// same decompressor. What was written is proven by reading it back from
// the device, past the page cache.
package install

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// constError lets sentinel errors be constants.
type constError string

func (e constError) Error() string { return string(e) }

// Sentinel errors, for errors.Is.
const (
	ErrBadImage = constError("invalid image")
	ErrTooLarge = constError("image larger than device")
	ErrChecksum = constError("checksum mismatch")
	ErrResume   = constError("cannot resume download")
	ErrNotZero  = constError("wipe verification failed")
	ErrNoDisk   = constError("no suitable disk")
	ErrDevice   = constError("unusable device")
)

// Image formats.
const (
	FormatRaw  = "raw"
	FormatGzip = "raw.gz"
	FormatZstd = "raw.zst"
)

// Progress phases. Install goes download and write (together), verify,
// done; Wipe goes discard (if the device can), write, verify, done.
const (
	PhaseDownload = "download"
	PhaseDiscard  = "discard"
	PhaseWrite    = "write"
	PhaseVerify   = "verify"
	PhaseDone     = "done"
)

const (
	mib = 1 << 20
	// ioBuf is the size of each write and read-back; 4 MiB is where
	// sequential writes to disks and the page cache stop getting faster.
	ioBuf = 4 * mib
	// ioBufs buffers in flight let the network and decompression run
	// ahead of a disk that pauses (write-back throttling, fsync).
	ioBufs = 4
	// gzipBuf makes the inflater read the network in big chunks, not in
	// the 4 KiB bufio default, which would mean a syscall per 4 KiB.
	gzipBuf = 1 * mib
	// zstdConcurrency: the stream decoder pipelines block decoding over
	// this many goroutines; more brings nothing on a 2-core box and
	// costs a window's worth of memory each.
	zstdConcurrency = 2

	defaultRetries     = 10
	defaultRetryWait   = time.Second
	maxRetryWait       = 30 * time.Second
	defaultIdleTimeout = time.Minute
)

// Image is an OS image to install, as outpostd describes it.
type Image struct {
	URL       string // http(s)
	Format    string // "raw", "raw.gz", "raw.zst"
	Size      int64  // size of the file as stored (compressed), for progress and Range; 0 if unknown
	SHA256    string // hex sha256 of the file as served (verified while downloading)
	RawSize   int64  // size after decompression
	RawSHA256 string // hex sha256 of the decompressed bytes: verified by reading back the disk
}

// Progress is one report of a running phase.
type Progress struct {
	Phase   string // download|write|verify|done (and discard, for Wipe)
	Done    int64  // bytes so far in this phase
	Total   int64  // bytes the phase will take; 0 if unknown
	Percent float64
	MBps    float64 // average over the phase so far, MB = 10^6 bytes
}

// Options tune Install. The zero value is usable.
type Options struct {
	// HTTP fetches the image; nil means a plain client. Its Timeout
	// should be 0: it would cut long downloads, and stalls are already
	// caught by IdleTimeout.
	HTTP *http.Client
	// Progress is called at most about every second, plus at the end of
	// each phase, never concurrently.
	Progress func(Progress)
	// Retries is how many times one network blip is retried before
	// giving up (the count restarts once bytes flow again); default 10,
	// negative for none.
	Retries int
	// RetryWait is the first wait before retrying, doubling up to 30s;
	// default 1s.
	RetryWait time.Duration
	// IdleTimeout: a connection that brings no byte for this long counts
	// as a blip and is resumed; default 1 minute.
	IdleTimeout time.Duration
	Log         *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.HTTP == nil {
		o.HTTP = &http.Client{}
	}
	switch {
	case o.Retries == 0:
		o.Retries = defaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.RetryWait <= 0 {
		o.RetryWait = defaultRetryWait
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Result tells what Install did.
type Result struct {
	BytesWritten int64
	Duration     time.Duration // the whole install, verification included
	// SHA256 is the hex SHA-256 of the BytesWritten bytes as read back
	// from the device (equal to Image.RawSHA256 on success).
	SHA256 string
	MBps   float64 // BytesWritten over Duration, MB = 10^6 bytes
}

// validate checks img and returns it with the hashes in lower case.
func (img Image) validate() (Image, error) {
	u, err := url.Parse(img.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return img, fmt.Errorf("%w: URL %q is not http(s)", ErrBadImage, img.URL)
	}
	switch img.Format {
	case FormatRaw, FormatGzip, FormatZstd:
	default:
		return img, fmt.Errorf("%w: format %q, want %s, %s or %s", ErrBadImage, img.Format, FormatRaw, FormatGzip, FormatZstd)
	}
	img.SHA256 = strings.ToLower(strings.TrimSpace(img.SHA256))
	img.RawSHA256 = strings.ToLower(strings.TrimSpace(img.RawSHA256))
	for _, h := range []struct{ name, v string }{{"SHA256", img.SHA256}, {"RawSHA256", img.RawSHA256}} {
		if b, err := hex.DecodeString(h.v); err != nil || len(b) != 32 {
			return img, fmt.Errorf("%w: %s %q is not a hex SHA-256", ErrBadImage, h.name, h.v)
		}
	}
	if img.RawSize <= 0 || img.Size < 0 {
		return img, fmt.Errorf("%w: sizes %d (stored) and %d (raw)", ErrBadImage, img.Size, img.RawSize)
	}
	if img.Format == FormatRaw && img.Size != 0 && img.Size != img.RawSize {
		return img, fmt.Errorf("%w: raw image with Size %d but RawSize %d", ErrBadImage, img.Size, img.RawSize)
	}
	return img, nil
}

// checkFits refuses an image that does not fit a block device. A regular
// file (tests, or an image file on a mounted disk) just grows.
func checkFits(rawSize, devSize int64, block bool) error {
	if block && rawSize > devSize {
		return fmt.Errorf("%w: image is %d bytes, device %d", ErrTooLarge, rawSize, devSize)
	}
	return nil
}

// Install writes img to dev (a block device such as /dev/sda, or a
// regular file) and verifies it. The disk is overwritten as the image
// streams in, so a failed Install leaves it unusable, never half-trusted:
// only a nil error means the disk holds the image.
func Install(ctx context.Context, dev string, img Image, o Options) (Result, error) {
	start := time.Now()
	o = o.withDefaults()
	img, err := img.validate()
	if err != nil {
		return Result{}, err
	}
	f, block, err := openDevice(dev, os.O_WRONLY)
	if err != nil {
		return Result{}, err
	}
	defer f.Close() // after the explicit Close on success: harmless
	devSize, err := deviceSize(f, block)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", dev, err)
	}
	if err := checkFits(img.RawSize, devSize, block); err != nil {
		return Result{}, fmt.Errorf("%s: %w", dev, err)
	}
	o.Log.Info("installing image", "url", img.URL, "format", img.Format, "size", img.Size,
		"raw_size", img.RawSize, "device", dev, "device_size", devSize, "block", block)

	rep := newReporter(o.Progress)
	defer rep.stop()
	dl := rep.phase(PhaseDownload, img.Size)
	wr := rep.phase(PhaseWrite, img.RawSize)

	written, fetchSum, err := stream(ctx, f, img, o, dl, wr)
	if err != nil {
		return Result{}, fmt.Errorf("install %s to %s: %w", img.URL, dev, err)
	}
	if err := f.Sync(); err != nil {
		return Result{}, fmt.Errorf("%s: fsync: %w", dev, err)
	}
	if err := f.Close(); err != nil {
		return Result{}, fmt.Errorf("%s: close: %w", dev, err)
	}
	rep.end(dl)
	// The stored file's hash is checked first: a corrupt download is the
	// likely cause of anything that follows.
	if fetchSum != img.SHA256 {
		return Result{}, fmt.Errorf("%w: %s: downloaded file has sha256 %s, image says %s", ErrChecksum, img.URL, fetchSum, img.SHA256)
	}
	if written != img.RawSize {
		return Result{}, fmt.Errorf("%w: %s decompressed to %d bytes, image says RawSize %d", ErrBadImage, img.URL, written, img.RawSize)
	}
	rep.end(wr)
	o.Log.Info("image written, verifying", "device", dev, "bytes", written, "elapsed", time.Since(start))

	vr := rep.phase(PhaseVerify, img.RawSize)
	sum, err := readBack(ctx, dev, img.RawSize, vr)
	if err != nil {
		return Result{}, err
	}
	if sum != img.RawSHA256 {
		return Result{}, fmt.Errorf("%w: %s: %d bytes read back have sha256 %s, image says %s", ErrChecksum, dev, img.RawSize, sum, img.RawSHA256)
	}
	rep.end(vr)
	res := Result{BytesWritten: written, Duration: time.Since(start), SHA256: sum}
	res.MBps = mbps(written, res.Duration)
	rep.finish(written, res.Duration)
	o.Log.Info("image installed", "device", dev, "bytes", written, "duration", res.Duration, "MBps", res.MBps)
	return res, nil
}

// stream downloads, decompresses and writes the image to w from offset 0.
// It returns the bytes written and the hex SHA-256 of the file as served.
func stream(ctx context.Context, w io.Writer, img Image, o Options, dl, wr *meter) (int64, string, error) {
	// Cancelling dctx unblocks a network read when writing fails.
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fe := newFetcher(dctx, img, o, dl)
	defer fe.close()

	var written int64
	src, closeDec, err := decompressor(img.Format, fe)
	if err == nil {
		err = pump(dctx, src, ioBuf, ioBufs, cancel, func(b []byte) error {
			// The limit also keeps a lying image from writing past the
			// device it was checked against.
			if written+int64(len(b)) > img.RawSize {
				return fmt.Errorf("%w: decompresses to more than RawSize %d bytes", ErrBadImage, img.RawSize)
			}
			n, err := w.Write(b)
			written += int64(n)
			wr.add(int64(n))
			if err != nil {
				return fmt.Errorf("write at %d: %w", written, err)
			}
			return nil
		})
		closeDec() // waits for the decoder's goroutines, which read fe
	}
	var de *decodeError
	if err != nil && !errors.As(err, &de) {
		return written, "", err
	}
	// Bytes after the compressed stream are part of the served file and
	// of its hash. After a decoding error the rest is fetched too: a
	// corrupt download (worth retrying) and a corrupt image (not) look
	// alike to the decoder, and only the hash tells them apart.
	if _, derr := io.Copy(io.Discard, fe); derr != nil {
		return written, "", errors.Join(err, derr)
	}
	if err != nil {
		if sum := fe.sum(); sum != img.SHA256 {
			return written, "", fmt.Errorf("%w: downloaded file has sha256 %s, image says %s (and %w)", ErrChecksum, sum, img.SHA256, err)
		}
		return written, "", fmt.Errorf("%w: the file is as published but does not decode: %w", ErrBadImage, err)
	}
	return written, fe.sum(), nil
}

// decompressor wraps r for format. The returned close releases the
// decoder and must be called before r is read by anyone else.
func decompressor(format string, r io.Reader) (io.Reader, func(), error) {
	switch format {
	case FormatGzip:
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, gzipBuf))
		if err != nil && !isFetchError(err) {
			err = &decodeError{"gzip", err}
		}
		if err != nil {
			return nil, nil, err
		}
		return decoder{zr, "gzip"}, func() { zr.Close() }, nil
	case FormatZstd:
		// Lowmem: the recon image lives in RAM next to the buffers.
		d, err := zstd.NewReader(r, zstd.WithDecoderLowmem(true), zstd.WithDecoderConcurrency(zstdConcurrency))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return decoder{d, "zstd"}, d.Close, nil
	}
	return r, func() {}, nil
}

// decoder marks the decompressor's own errors, which otherwise read like
// disk or network errors ("unexpected EOF").
type decoder struct {
	r      io.Reader
	format string
}

func (d decoder) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF && !isFetchError(err) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		err = &decodeError{d.format, err}
	}
	return n, err
}

type decodeError struct {
	format string
	err    error
}

func (e *decodeError) Error() string { return e.format + ": " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }

// readBack hashes the first n bytes of dev, as read from the device
// rather than the page cache, and re-reads a block device's partitions.
func readBack(ctx context.Context, dev string, n int64, vr *meter) (string, error) {
	f, block, err := openDevice(dev, os.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// The cache holds what was written; a disk that dropped or mangled
	// it would go unnoticed.
	if err := dropCache(f); err != nil {
		return "", fmt.Errorf("%s: dropping cache: %w", dev, err)
	}
	h := sha256.New()
	var got int64
	err = pump(ctx, io.LimitReader(f, n), ioBuf, ioBufs-1, func() {}, func(b []byte) error {
		h.Write(b)
		got += int64(len(b))
		vr.add(int64(len(b)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%s: reading back: %w", dev, err)
	}
	if got != n {
		return "", fmt.Errorf("%w: %s: read back %d bytes, wrote %d", ErrDevice, dev, got, n)
	}
	if block {
		if err := rereadPartitions(f); err != nil {
			return "", fmt.Errorf("%s: re-reading partition table: %w", dev, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func mbps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds() / 1e6
}
