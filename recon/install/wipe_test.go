package install

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkBytes asserts b[lo:hi] of the disk at path all equal want.
func checkBytes(t *testing.T, disk []byte, lo, hi int64, want byte, what string) {
	t.Helper()
	if i := slices.IndexFunc(disk[lo:hi], func(c byte) bool { return c != want }); i >= 0 {
		t.Errorf("%s: byte %d is %#x, want %#x", what, lo+int64(i), disk[lo+int64(i)], want)
	}
}

func readDisk(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWipeEnds(t *testing.T) {
	const size = 256 << 20
	disk := filledDisk(t, size, 0xab)
	var pl progressLog
	res, err := Wipe(context.Background(), disk, WipeOptions{Progress: pl.add})
	if err != nil {
		t.Fatal(err)
	}
	if res != (WipeResult{Method: MethodZeroEnds, Verified: true}) {
		t.Errorf("result %+v", res)
	}
	b := readDisk(t, disk)
	if len(b) != size {
		t.Fatalf("disk is now %d bytes", len(b))
	}
	checkBytes(t, b, 0, endBytes, 0, "start")
	checkBytes(t, b, endBytes, size-endBytes, 0xab, "middle")
	checkBytes(t, b, size-endBytes, size, 0, "end")
	pl.check(t, PhaseWrite, PhaseVerify)
}

func TestWipeSmallDisk(t *testing.T) {
	const size = 100<<20 + 512 // less than both ends
	disk := filledDisk(t, size, 0x5a)
	if _, err := Wipe(context.Background(), disk, WipeOptions{}); err != nil {
		t.Fatal(err)
	}
	b := readDisk(t, disk)
	checkBytes(t, b, 0, size, 0, "disk")
}

func TestWipeFull(t *testing.T) {
	const size = 200 << 20
	disk := filledDisk(t, size, 0xff)
	var pl progressLog
	res, err := Wipe(context.Background(), disk, WipeOptions{Full: true, Progress: pl.add})
	if err != nil {
		t.Fatal(err)
	}
	if res != (WipeResult{Method: MethodFull, Verified: true}) {
		t.Errorf("result %+v", res)
	}
	b := readDisk(t, disk)
	if len(b) != size {
		t.Fatalf("disk is now %d bytes", len(b))
	}
	checkBytes(t, b, 0, size, 0, "disk")
	pl.check(t, PhaseWrite, PhaseVerify)
}

// mbrDisk puts an MBR with one Linux partition of n bytes at off on a
// disk of size bytes filled with 0xab.
func mbrDisk(t *testing.T, size, off, n int64) string {
	disk := filledDisk(t, size, 0xab)
	mbr := make([]byte, 512)
	e := mbr[446:]
	e[4] = 0x83
	binary.LittleEndian.PutUint32(e[8:], uint32(off/512))
	binary.LittleEndian.PutUint32(e[12:], uint32(n/512))
	mbr[510], mbr[511] = 0x55, 0xaa
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
	return disk
}

func TestWipePartitionEdges(t *testing.T) {
	const size, off, n = 512 << 20, 200 << 20, 100 << 20
	disk := mbrDisk(t, size, off, n)
	if _, err := Wipe(context.Background(), disk, WipeOptions{}); err != nil {
		t.Fatal(err)
	}
	b := readDisk(t, disk)
	checkBytes(t, b, 0, endBytes, 0, "start")
	checkBytes(t, b, endBytes, off, 0xab, "before the partition")
	checkBytes(t, b, off, off+partEdge, 0, "partition start")
	checkBytes(t, b, off+partEdge, off+n-partEdge, 0xab, "inside the partition")
	checkBytes(t, b, off+n-partEdge, off+n, 0, "partition end")
	checkBytes(t, b, off+n, size-endBytes, 0xab, "after the partition")
	checkBytes(t, b, size-endBytes, size, 0, "end")
}

func TestWipeSpans(t *testing.T) {
	const e = endBytes
	for _, c := range []struct {
		size  int64
		extra []span
		want  []span
	}{
		{10, nil, []span{{0, 10}}},
		{2 * e, nil, []span{{0, 2 * e}}},
		{2*e + 1, nil, []span{{0, e}, {e + 1, e}}},
		{1 << 40, nil, []span{{0, e}, {1<<40 - e, e}}},
		// Extras merge with the ends, or not, and are clipped.
		{10 * e, []span{{e - 5, 10}, {3 * e, mib}, {10*e - 1, 5 * mib}, {-5, 10}},
			[]span{{0, e + 5}, {3 * e, mib}, {9 * e, e}}},
		{10 * e, []span{{5 * e, mib}, {4 * e, mib}, {5*e + mib/2, mib}},
			[]span{{0, e}, {4 * e, mib}, {5 * e, mib + mib/2}, {9 * e, e}}},
	} {
		if got := wipeSpans(c.size, c.extra); !slices.Equal(got, c.want) {
			t.Errorf("wipeSpans(%d, %v) = %v, want %v", c.size, c.extra, got, c.want)
		}
	}
}

func TestVerifyZero(t *testing.T) {
	const size = 3 * ioBuf
	p := tempDisk(t, size)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := verifyZero(context.Background(), f, 0, size, nil); err != nil {
		t.Fatalf("zero file: %v", err)
	}
	bad := int64(2*ioBuf + 12345)
	if _, err := f.WriteAt([]byte{7}, bad); err != nil {
		t.Fatal(err)
	}
	err = verifyZero(context.Background(), f, 0, size, nil)
	if !errors.Is(err, ErrNotZero) || !strings.Contains(err.Error(), fmt.Sprint(bad)) {
		t.Fatalf("err = %v, want non-zero byte at %d", err, bad)
	}
	if err := verifyZero(context.Background(), f, 0, bad, nil); err != nil {
		t.Errorf("range before the byte: %v", err)
	}
	// Reading past the end is a failure, not a pass.
	if err := verifyZero(context.Background(), f, size-10, 20, nil); !errors.Is(err, ErrNotZero) {
		t.Errorf("short device: err = %v", err)
	}
}

// dropWriter is a disk that acknowledges writes and keeps nothing.
type dropWriter struct{}

func (dropWriter) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

func TestVerifyCatchesDroppedWrites(t *testing.T) {
	const size = 256 << 20
	disk := filledDisk(t, size, 0x01)
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spans := wipeSpans(size, nil)
	if err := zeroSpans(context.Background(), dropWriter{}, spans, nil); err != nil {
		t.Fatal(err)
	}
	err = verifySpans(context.Background(), f, spans, nil)
	if !errors.Is(err, ErrNotZero) || !strings.Contains(err.Error(), "offset 0 ") {
		t.Fatalf("err = %v, want non-zero byte at offset 0", err)
	}
}

func TestWipeAll(t *testing.T) {
	a := filledDisk(t, 130<<20, 0xab)
	b := filledDisk(t, 10<<20, 0xab)
	missing := filepath.Join(t.TempDir(), "nope")
	res, err := WipeAll(context.Background(), []string{a, missing, b}, WipeOptions{})
	if !errors.Is(err, ErrDevice) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want the missing disk named", err)
	}
	if len(res) != 3 || !res[0].Verified || res[1].Verified || !res[2].Verified {
		t.Errorf("results %+v", res)
	}
	checkBytes(t, readDisk(t, b), 0, 10<<20, 0, "disk after the failed one")
	if _, err := WipeAll(context.Background(), []string{a, b}, WipeOptions{}); err != nil {
		t.Errorf("all good: %v", err)
	}
}

func TestWipeCancel(t *testing.T) {
	disk := filledDisk(t, 130<<20, 0xab)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Wipe(ctx, disk, WipeOptions{Full: true}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := io.ReadFull(f, b); err != nil || b[0] != 0xab {
		t.Errorf("cancelled wipe wrote: %v %x", err, b)
	}
}
