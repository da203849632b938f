package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// randomData is n reproducible random bytes.
func randomData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

// osLikeData looks like a disk image to a compressor: zeroed blocks,
// incompressible ones (binaries, compressed files) and text.
func osLikeData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	words := []string{"kernel ", "systemd ", "lib ", "usr/", "share ", "=", "\n", "0x", "config ", "#include ", "return ", "{}", "ELF "}
	const blk = 64 << 10
	for off := 0; off < n; off += blk {
		end := min(off+blk, n)
		switch k := r.IntN(10); {
		case k < 4: // zeros: already there
		case k < 7:
			for i := off; i < end; i += 8 {
				v := r.Uint64()
				for j := i; j < min(i+8, end); j++ {
					b[j] = byte(v)
					v >>= 8
				}
			}
		default:
			for i := off; i < end; {
				i += copy(b[i:end], words[r.IntN(len(words))])
			}
		}
	}
	return b
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// compress stores raw in format.
func compress(t testing.TB, format string, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch format {
	case FormatRaw:
		return raw
	case FormatGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	case FormatZstd:
		w, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(raw); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("format %q", format)
	}
	return buf.Bytes()
}

// testImage is an image file and the Image describing it.
type testImage struct {
	raw, stored []byte
	img         Image
}

func newTestImage(t testing.TB, format string, raw []byte) testImage {
	stored := compress(t, format, raw)
	return testImage{raw: raw, stored: stored, img: Image{
		Format: format, Size: int64(len(stored)), SHA256: hexSHA(stored),
		RawSize: int64(len(raw)), RawSHA256: hexSHA(raw),
	}}
}

// serveFile serves content like a file server: Range, If-Range, ETag.
func serveFile(content []byte, etag string) http.Handler {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		http.ServeContent(w, r, "image", mod, bytes.NewReader(content))
	})
}

// start runs h and points ti's image at it.
func (ti *testImage) start(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ti.img.URL = srv.URL + "/image"
	return srv
}

// tempDisk is a sparse regular file standing in for a disk.
func tempDisk(t testing.TB, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// filledDisk is a disk of size bytes, every one of them fill.
func filledDisk(t testing.TB, size int64, fill byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{fill}, 4<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), size-off)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// progressLog records Progress calls, which may come from any goroutine.
type progressLog struct {
	mu sync.Mutex
	ps []Progress
}

func (l *progressLog) add(p Progress) {
	l.mu.Lock()
	l.ps = append(l.ps, p)
	l.mu.Unlock()
}

// check asserts Done never goes down within a phase, every phase in
// phases ends at 100%, and the last call is done at 100%.
func (l *progressLog) check(t *testing.T, phases ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	last := map[string]Progress{}
	for _, p := range l.ps {
		if prev, ok := last[p.Phase]; ok && p.Done < prev.Done {
			t.Errorf("phase %s went back from %d to %d", p.Phase, prev.Done, p.Done)
		}
		if p.Percent < 0 || p.Percent > 100 || p.MBps < 0 {
			t.Errorf("bad progress %+v", p)
		}
		last[p.Phase] = p
	}
	for _, ph := range phases {
		if p, ok := last[ph]; !ok || p.Percent != 100 || p.Done != p.Total {
			t.Errorf("phase %s ended at %+v, want 100%%", ph, p)
		}
	}
	if len(l.ps) == 0 {
		t.Fatal("no progress reported")
	}
	if end := l.ps[len(l.ps)-1]; end.Phase != PhaseDone || end.Percent != 100 {
		t.Errorf("last progress %+v, want done at 100%%", end)
	}
}
