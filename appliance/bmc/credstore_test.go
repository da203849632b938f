package bmc

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func newStore(t *testing.T) (*CredStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bmc-creds.json")
	s, err := NewCredStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestCredStoreRoundTrip(t *testing.T) {
	s, path := newStore(t)
	if _, err := s.Get(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on empty store = %v; want ErrNotFound", err)
	}
	a := Creds{Host: "10.0.0.5", Port: 623, User: "admin", Password: leakPassword}
	b := Creds{Host: "bmc-7.lab", User: "root", Password: "calvin"}
	if err := s.Put(1, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(-7, b); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(1); err != nil || got != a {
		t.Fatalf("Get(1) = %v, %v", got, err)
	}

	// A fresh store on the same file sees the same data.
	s2, err := NewCredStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Get(-7); err != nil || got != b {
		t.Fatalf("Get(-7) via new store = %v, %v", got, err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("file mode %#o; want 0600", perm)
	}
	// The file holds the password (it is the store) in its own format.
	raw, _ := os.ReadFile(path)
	var f credFile
	if err := json.Unmarshal(raw, &f); err != nil || f.Version != 1 || f.Machines[1].Password != leakPassword {
		t.Fatalf("file format: %v %+v", err, f)
	}

	if err := s.Delete(1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if err := s.Delete(1); err != nil {
		t.Fatalf("Delete of missing = %v", err)
	}
	if err := s.Put(2, Creds{User: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Put without host = %v", err)
	}
	if strings.Contains(s.String(), leakPassword) {
		t.Fatal("store String leaks")
	}
}

func TestCredStoreRefusesReadableFile(t *testing.T) {
	s, path := newStore(t)
	if err := s.Put(1, Creds{Host: "h", User: "u", Password: leakPassword}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(1)
		if !errors.Is(err, ErrInsecureFile) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %#o: Get = %v; want ErrInsecureFile saying chmod 600", mode, err)
		}
		if _, err := NewCredStore(path); !errors.Is(err, ErrInsecureFile) {
			t.Errorf("mode %#o: NewCredStore = %v", mode, err)
		}
		if err := s.Put(2, Creds{Host: "h"}); !errors.Is(err, ErrInsecureFile) {
			t.Errorf("mode %#o: Put = %v; must not rewrite an unvetted file", mode, err)
		}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(1); err != nil {
		t.Fatalf("after chmod 600: %v", err)
	}
}

func TestCredStoreRefusesForeignOwner(t *testing.T) {
	s, _ := newStore(t)
	if err := s.Put(1, Creds{Host: "h"}); err != nil {
		t.Fatal(err)
	}
	s.uid = os.Getuid() + 4242 // as if another user owned the file
	_, err := s.Get(1)
	if !errors.Is(err, ErrInsecureFile) || !strings.Contains(err.Error(), "not the current user") {
		t.Fatalf("Get = %v; want owner refusal", err)
	}
}

func TestCredStoreRefusesSymlink(t *testing.T) {
	s, path := newStore(t)
	if err := s.Put(1, Creds{Host: "h"}); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(filepath.Dir(path), "link.json")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCredStore(link); err == nil {
		t.Fatal("store opened through a symlink")
	}
}

func TestCredStoreAtomicReplace(t *testing.T) {
	s, path := newStore(t)
	if err := s.Put(1, Creds{Host: "old", User: "u", Password: "p1"}); err != nil {
		t.Fatal(err)
	}
	// A reader holding the old file keeps a complete old version.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldFi, _ := old.Stat()

	if err := s.Put(1, Creds{Host: "new", User: "u", Password: "p2"}); err != nil {
		t.Fatal(err)
	}
	newFi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if oldFi.Sys().(*syscall.Stat_t).Ino == newFi.Sys().(*syscall.Stat_t).Ino {
		t.Fatal("file rewritten in place; want a new inode via rename")
	}
	var f credFile
	if err := json.NewDecoder(old).Decode(&f); err != nil || f.Machines[1].Host != "old" {
		t.Fatalf("old file content: %v %+v", err, f)
	}
	if got, _ := s.Get(1); got.Host != "new" {
		t.Fatalf("Get = %v", got)
	}
	if newFi.Mode().Perm() != 0o600 {
		t.Fatalf("new file mode %#o", newFi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("temp files left behind: %v", names)
	}
}

// A failed write (here: the rename) leaves no temp file behind.
func TestCredStoreFailedWriteCleansUp(t *testing.T) {
	s, path := newStore(t)
	if err := s.Put(1, Creds{Host: "keep"}); err != nil {
		t.Fatal(err)
	}
	// Rename onto a directory fails, after the temp file was written.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(path, "x")
	if err := os.WriteFile(sub, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.save(&credFile{Version: 1, Machines: map[int64]credRecord{1: {Host: "new"}}}); err == nil {
		t.Fatal("save over a non-empty directory succeeded")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temp file %s left behind", e.Name())
		}
	}
}

func TestCredStoreCorruptFile(t *testing.T) {
	_, path := newStore(t)
	if err := os.WriteFile(path, []byte(`{"version":1,"machines":{"1":{"password":"`+leakPassword+`"`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewCredStore(path)
	if err == nil || strings.Contains(err.Error(), leakPassword) {
		t.Fatalf("corrupt file: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"version":9,"machines":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCredStore(path); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Fatalf("future version: %v", err)
	}
}
