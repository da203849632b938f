package tftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/outpostdc/outpost/boot"
)

func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"undionly.kpxe", "undionly.kpxe", true},
		{"/undionly.kpxe", "undionly.kpxe", true},
		{"//efi//ipxe.efi", "efi/ipxe.efi", true},
		{"efi/./ipxe.efi", "efi/ipxe.efi", true},
		{"../etc/passwd", "", false},
		{"/../../etc/passwd", "", false},
		{"efi/../../x", "", false},
		{"efi/..", "", false},
		{`..\windows`, "", false},
		{"a\x00b", "", false},
		{"", "", false},
		{"/", "", false},
		{strings.Repeat("a", 256), "", false},
	} {
		got, err := CleanName(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"undionly.kpxe", "/ipxe.efi", "../x", "a/../../b", "a\\b", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := CleanName(s)
		if err != nil {
			return
		}
		if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "..") && containsDotDotSeg(p) {
			t.Fatalf("CleanName(%q) = %q escapes the root", s, p)
		}
		if !filepath.IsLocal(p) {
			t.Fatalf("CleanName(%q) = %q is not local", s, p)
		}
	})
}

func containsDotDotSeg(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if s == ".." {
			return true
		}
	}
	return false
}

type events struct {
	mu sync.Mutex
	ev []boot.Event
}

func (e *events) Record(x boot.Event) { e.mu.Lock(); e.ev = append(e.ev, x); e.mu.Unlock() }
func (e *events) summaries() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s []string
	for _, x := range e.ev {
		s = append(s, x.Summary)
	}
	return strings.Join(s, "\n")
}

func serve(t testing.TB) (addr string, dir string, ev *events) {
	t.Helper()
	dir = t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ev = &events{}
	s := &Server{Root: root.FS(), Log: slog.New(slog.DiscardHandler), Recorder: ev, Timeout: time.Second, Retries: 2}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not stop")
		}
	})
	return conn.LocalAddr().String(), dir, ev
}

func TestServer(t *testing.T) {
	addr, dir, ev := serve(t)
	data := make([]byte, 300_000)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "undionly.kpxe"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(filepath.Dir(dir), "secret"), []byte("no"), 0o644)

	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(time.Second)
	c.SetBlockSize(1428)
	c.RequestTSize(true)
	wt, err := c.Receive("/undionly.kpxe", "octet")
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := wt.(tftp.IncomingTransfer).Size(); !ok || n != int64(len(data)) {
		t.Fatalf("tsize %d %v, want %d", n, ok, len(data))
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatal("content differs")
	}

	for _, name := range []string{"../secret", "/../secret", "missing.efi"} {
		if _, err := c.Receive(name, "octet"); err == nil {
			t.Fatalf("%s was served", name)
		}
	}
	rf, err := c.Send("upload.bin", "octet")
	if err == nil {
		_, err = rf.ReadFrom(strings.NewReader("data"))
	}
	if err == nil {
		t.Fatal("write accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "upload.bin")); err == nil {
		t.Fatal("upload.bin was written")
	}
	time.Sleep(100 * time.Millisecond)
	got := ev.summaries()
	for _, want := range []string{"RRQ undionly.kpxe sent 300000 bytes", `RRQ "../secret" refused`, "RRQ missing.efi not found"} {
		if !strings.Contains(got, want) {
			t.Errorf("timeline lacks %q:\n%s", want, got)
		}
	}
}

// TestAbortAfterOACK sends what EDK2 sends: an RRQ with tsize, then error
// 8 once the OACK arrives. The server must take it quietly and serve the
// next request.
func TestAbortAfterOACK(t *testing.T) {
	addr, dir, ev := serve(t)
	os.WriteFile(filepath.Join(dir, "ipxe.efi"), bytes.Repeat([]byte("x"), 5000), 0o644)
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv, _ := net.ResolveUDPAddr("udp4", addr)
	rrq := append([]byte{0, 1}, []byte("ipxe.efi\x00octet\x00tsize\x000\x00blksize\x001468\x00")...)
	conn.WriteTo(rrq, srv)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, from, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if buf[1] != 6 || !bytes.Contains(buf[:n], []byte("tsize\x005000\x00")) {
		t.Fatalf("want OACK with tsize 5000, got %q", buf[:n])
	}
	conn.WriteTo(append([]byte{0, 5, 0, 8}, []byte("abort\x00")...), from)
	time.Sleep(200 * time.Millisecond)
	if !strings.Contains(ev.summaries(), "size probe") {
		t.Fatalf("abort not recorded as a size probe:\n%s", ev.summaries())
	}
	c, _ := tftp.NewClient(addr)
	wt, err := c.Receive("ipxe.efi", "octet")
	if err != nil {
		t.Fatal(err)
	}
	n64, err := wt.WriteTo(io.Discard)
	if err != nil || n64 != 5000 {
		t.Fatalf("second download: %d, %v", n64, err)
	}
}

// FuzzRequest sends arbitrary datagrams to a live server, then checks that
// it still serves a file: no request may crash or wedge it.
func FuzzRequest(f *testing.F) {
	f.Add([]byte("\x00\x01undionly.kpxe\x00octet\x00"))
	f.Add([]byte("\x00\x01undionly.kpxe\x00octet\x00blksize\x001468\x00tsize\x000\x00"))
	f.Add([]byte("\x00\x01../../etc/passwd\x00octet\x00"))
	f.Add([]byte("\x00\x02upload\x00octet\x00"))
	f.Add([]byte("\x00\x01a\x00netascii\x00blksize\x00abc\x00"))
	f.Add([]byte("\x00\x05\x00\x08x\x00"))
	f.Add([]byte("\x00"))
	addr, dir, _ := serve(f)
	os.WriteFile(filepath.Join(dir, "a"), []byte("hello"), 0o644)
	srv, _ := net.ResolveUDPAddr("udp4", addr)
	f.Fuzz(func(t *testing.T, b []byte) {
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		// Held open until the check is done, so that the client cannot be
		// given the same port and read the server's answer to b.
		defer conn.Close()
		conn.WriteTo(b, srv)
		c, _ := tftp.NewClient(addr)
		c.SetTimeout(5 * time.Second)
		wt, err := c.Receive("a", "octet")
		if err != nil {
			t.Fatalf("server stopped serving after %q: %v", b, err)
		}
		var buf bytes.Buffer
		if _, err := wt.WriteTo(&buf); err != nil || buf.String() != "hello" {
			t.Fatalf("after %q: %q, %v", b, buf.String(), err)
		}
	})
}
