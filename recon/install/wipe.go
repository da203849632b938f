package install

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/outpostdc/outpost/recon"
)

// Wipe methods.
const (
	MethodDiscard  = "discard"
	MethodZeroEnds = "zero-ends"
	MethodFull     = "full"
)

const (
	// endBytes at each end of a disk are zeroed: every partition table
	// (MBR and primary GPT at the start, backup GPT in the last 33
	// sectors) and the metadata of most volume managers and RAID.
	endBytes = 64 * mib
	// partEdge at each end of every partition found is zeroed too:
	// filesystem, LVM, md (1.0 is at the end) and ZFS signatures, which
	// would come back to life if the same layout were recreated.
	partEdge = 1 * mib
	// offloadChunk bounds one discard or zero-out ioctl, so ctx is
	// checked and progress reported between them.
	offloadChunk = 1 << 30
)

// WipeOptions tune Wipe.
type WipeOptions struct {
	Full     bool // overwrite every byte with zeros, and verify every byte
	Progress func(Progress)
	Log      *slog.Logger
}

// WipeResult tells how a disk was wiped.
type WipeResult struct {
	Method   string // "discard", "zero-ends", "full"
	Verified bool   // the zeroed ranges were read back as zeros
}

// span is a byte range of a device.
type span struct{ off, n int64 }

// Wipe makes dev look blank.
//
// Without Full: a device that can discard gets a discard of its whole
// range, which on SSDs and NVMe makes the old data unreadable at once.
// Discarded blocks do not read back as zeros on every device, so the
// first and last 64 MiB are then written with zeros anyway (on other
// devices that is all that happens): that kills every partition table,
// and the start and end of every partition found is zeroed too. With
// Full, every byte is overwritten (offloaded to the device where it can
// write zeros itself) and read back.
//
// What was zeroed is then read back from the device, past the page
// cache, and must be all zeros; the error names the first byte that is
// not. Finally the kernel re-reads the (now empty) partition table.
func Wipe(ctx context.Context, dev string, o WipeOptions) (WipeResult, error) {
	start := time.Now()
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, block, err := openDevice(dev, os.O_RDWR)
	if err != nil {
		return WipeResult{}, err
	}
	defer f.Close()
	size, err := deviceSize(f, block)
	if err != nil {
		return WipeResult{}, fmt.Errorf("%s: %w", dev, err)
	}
	if size <= 0 {
		return WipeResult{}, fmt.Errorf("%w: %s is empty", ErrDevice, dev)
	}
	rep := newReporter(o.Progress)
	defer rep.stop()

	res := WipeResult{Method: MethodZeroEnds}
	var spans []span
	if o.Full {
		res.Method = MethodFull
		spans = []span{{0, size}}
		wr := rep.phase(PhaseWrite, size)
		offloaded := false
		if block {
			offloaded, err = offload(ctx, f, zeroOut, size, wr)
			if err != nil {
				return res, fmt.Errorf("%s: zeroing: %w", dev, err)
			}
		}
		if !offloaded {
			if err := zeroSpans(ctx, f, spans, wr); err != nil {
				return res, fmt.Errorf("%s: %w", dev, err)
			}
		}
		rep.end(wr)
	} else {
		// Read before anything is destroyed.
		spans = wipeSpans(size, partitionSpans(f, size, dev, log))
		if block {
			dc := rep.phase(PhaseDiscard, size)
			ok, err := offload(ctx, f, discard, size, dc)
			if err != nil {
				return res, fmt.Errorf("%s: discard: %w", dev, err)
			}
			if ok {
				res.Method = MethodDiscard
				rep.end(dc)
			} else {
				rep.drop(dc)
			}
		}
		wr := rep.phase(PhaseWrite, spansBytes(spans))
		if err := zeroSpans(ctx, f, spans, wr); err != nil {
			return res, fmt.Errorf("%s: %w", dev, err)
		}
		rep.end(wr)
	}
	if err := f.Sync(); err != nil {
		return res, fmt.Errorf("%s: fsync: %w", dev, err)
	}
	if err := dropCache(f); err != nil {
		return res, fmt.Errorf("%s: dropping cache: %w", dev, err)
	}
	vr := rep.phase(PhaseVerify, spansBytes(spans))
	if err := verifySpans(ctx, f, spans, vr); err != nil {
		return res, fmt.Errorf("%s: %w", dev, err)
	}
	res.Verified = true
	rep.end(vr)
	if block {
		if err := rereadPartitions(f); err != nil {
			return res, fmt.Errorf("%s: re-reading partition table: %w", dev, err)
		}
	}
	if err := f.Close(); err != nil {
		return res, fmt.Errorf("%s: close: %w", dev, err)
	}
	rep.finish(spansBytes(spans), time.Since(start))
	log.Info("disk wiped", "device", dev, "size", size, "method", res.Method, "verified_bytes", spansBytes(spans))
	return res, nil
}

// WipeAll wipes each disk in turn. A failure does not stop the others
// from being wiped (a half-wiped fleet is worse than a reported one);
// the results are in the order of disks, and the error joins every
// failure. Cancelling ctx stops at once.
func WipeAll(ctx context.Context, disks []string, o WipeOptions) ([]WipeResult, error) {
	res := make([]WipeResult, len(disks))
	var errs []error
	for i, d := range disks {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		r, err := Wipe(ctx, d, o)
		res[i] = r
		if err != nil {
			errs = append(errs, fmt.Errorf("wipe %s: %w", d, err))
		}
	}
	return res, errors.Join(errs...)
}

// wipeSpans is what a quick wipe zeroes on a device of size bytes: both
// ends (the whole device if that is less than both ends) plus extra,
// clipped to the device, sorted and merged.
func wipeSpans(size int64, extra []span) []span {
	var s []span
	if size <= 2*endBytes {
		s = append(s, span{0, size})
	} else {
		s = append(s, span{0, endBytes}, span{size - endBytes, endBytes})
	}
	for _, e := range extra {
		lo, hi := max(e.off, 0), min(e.off+e.n, size)
		if lo < hi {
			s = append(s, span{lo, hi - lo})
		}
	}
	slices.SortFunc(s, func(a, b span) int { return cmp.Compare(a.off, b.off) })
	merged := s[:1]
	for _, x := range s[1:] {
		last := &merged[len(merged)-1]
		if x.off <= last.off+last.n {
			last.n = max(last.n, x.off+x.n-last.off)
			continue
		}
		merged = append(merged, x)
	}
	return merged
}

// partitionSpans are the first and last partEdge of each partition in
// the table on r. An unreadable table costs only those extras.
func partitionSpans(r io.ReaderAt, size int64, dev string, log *slog.Logger) []span {
	_, parts, err := recon.ReadPartitionTable(r, size)
	if err != nil {
		log.Warn("reading partition table before wipe", "device", dev, "err", err)
	}
	var s []span
	for _, p := range parts {
		off, n := int64(p.StartByte), int64(p.SizeBytes)
		if off < 0 || n <= 0 {
			continue
		}
		s = append(s, span{off, min(n, partEdge)})
		if n > partEdge {
			s = append(s, span{off + n - partEdge, partEdge})
		}
	}
	return s
}

func spansBytes(s []span) int64 {
	var n int64
	for _, x := range s {
		n += x.n
	}
	return n
}

// offload runs op (discard or zero-out) over [0, size) in chunks. It
// returns false if the device does not support op, which only the first
// chunk may say.
func offload(ctx context.Context, f *os.File, op func(*os.File, int64, int64) error, size int64, m *meter) (bool, error) {
	for off := int64(0); off < size; off += offloadChunk {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		n := min(offloadChunk, size-off)
		err := op(f, off, n)
		if errors.Is(err, errUnsupported) && off == 0 {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("at %d: %w", off, err)
		}
		m.add(n)
	}
	return true, nil
}

// zeroSpans writes zeros over spans.
func zeroSpans(ctx context.Context, w io.WriterAt, spans []span, m *meter) error {
	zero := make([]byte, ioBuf)
	for _, s := range spans {
		for off := s.off; off < s.off+s.n; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(int64(len(zero)), s.off+s.n-off)
			if _, err := w.WriteAt(zero[:n], off); err != nil {
				return fmt.Errorf("writing zeros at %d: %w", off, err)
			}
			off += n
			m.add(n)
		}
	}
	return nil
}

// verifySpans checks that spans read back as zeros.
func verifySpans(ctx context.Context, r io.ReaderAt, spans []span, m *meter) error {
	for _, s := range spans {
		if err := verifyZero(ctx, r, s.off, s.n, m); err != nil {
			return err
		}
	}
	return nil
}

// verifyZero checks that the n bytes of r at off are all zeros, and names
// the first that is not.
func verifyZero(ctx context.Context, r io.ReaderAt, off, n int64, m *meter) error {
	buf := make([]byte, ioBuf)
	zero := make([]byte, ioBuf)
	for end := off + n; off < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		b := buf[:min(int64(len(buf)), end-off)]
		k, err := r.ReadAt(b, off)
		if k < len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("%w: reading back at %d: %w", ErrNotZero, off+int64(k), err)
		}
		if !bytes.Equal(b, zero[:len(b)]) {
			i := slices.IndexFunc(b, func(c byte) bool { return c != 0 })
			return fmt.Errorf("%w: byte at offset %d is %#02x, not zero", ErrNotZero, off+int64(i), b[i])
		}
		off += int64(len(b))
		m.add(int64(len(b)))
	}
	return nil
}
