package kmod

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Loading real modules would change the test host's kernel; these cover
// the list handling, which fails before any module reaches the kernel.
func TestLoadRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !os.IsNotExist(err) {
		t.Fatalf("no load.order: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "load.order"), []byte("# comment\n\n../../etc/passwd\nmissing.ko\n"), 0o644)
	n, err := Load(dir)
	if n != 0 || err == nil || !strings.Contains(err.Error(), "../../etc/passwd: not a file name") || !strings.Contains(err.Error(), "missing.ko: open") {
		t.Fatalf("got %d, %v", n, err)
	}
}
