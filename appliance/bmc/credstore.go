package bmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// credFileVersion is the on-disk format version.
const credFileVersion = 1

// maxCredFileSize bounds what Load reads; the file is a few KiB at most.
const maxCredFileSize = 16 << 20

// credFile is the on-disk format. It is separate from Creds because Creds
// marshals without its password (for API safety).
type credFile struct {
	Version  int                  `json:"version"`
	Machines map[int64]credRecord `json:"machines"`
}

type credRecord struct {
	Host     string `json:"host"`
	Port     int    `json:"port,omitempty"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// CredStore keeps BMC credentials per machine ID in one JSON file, mode 0600.
// Every call re-reads the file, so permission checks apply to each access.
// Writes are atomic (temp file, fsync, rename, fsync dir). Concurrent use
// within a process is safe; use one process per file.
type CredStore struct {
	path string
	uid  int // expected owner; a field so tests need not chown

	mu sync.Mutex
}

// NewCredStore returns a store backed by path. The file need not exist yet;
// if it does, it must pass the same checks as every later read.
func NewCredStore(path string) (*CredStore, error) {
	s := &CredStore{path: path, uid: os.Getuid()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// String names the file; the store holds no secrets in memory.
func (s *CredStore) String() string { return "bmc.CredStore(" + s.path + ")" }

// Get returns the credentials of machine id, or ErrNotFound.
func (s *CredStore) Get(id int64) (Creds, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return Creds{}, err
	}
	r, ok := f.Machines[id]
	if !ok {
		return Creds{}, fmt.Errorf("%w %d", ErrNotFound, id)
	}
	return Creds{Host: r.Host, Port: r.Port, User: r.User, Password: r.Password}, nil
}

// Put stores (or replaces) the credentials of machine id.
func (s *CredStore) Put(id int64, c Creds) error {
	if c.Host == "" {
		return fmt.Errorf("%w: credentials for machine %d have no host", ErrInvalid, id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return err
	}
	f.Machines[id] = credRecord{Host: c.Host, Port: c.Port, User: c.User, Password: c.Password}
	return s.save(f)
}

// Delete removes machine id; deleting a missing entry is not an error.
func (s *CredStore) Delete(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := f.Machines[id]; !ok {
		return nil
	}
	delete(f.Machines, id)
	return s.save(f)
}

// load reads the file, refusing one that others could read or that another
// user owns. A missing file is an empty store.
func (s *CredStore) load() (*credFile, error) {
	empty := &credFile{Version: credFileVersion, Machines: map[int64]credRecord{}}
	// O_NOFOLLOW: a symlink could point the store at a file we did not vet.
	fh, err := os.OpenFile(s.path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bmc: open credentials file: %w", err)
	}
	defer fh.Close()
	// Stat the open descriptor, not the path, so the checked file is the read one.
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("bmc: stat credentials file: %w", err)
	}
	if err := checkPrivate(s.path, fi, s.uid); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxCredFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("bmc: read credentials file: %w", err)
	}
	if len(data) > maxCredFileSize {
		return nil, fmt.Errorf("bmc: credentials file %s is larger than %d bytes", s.path, maxCredFileSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return empty, nil
	}
	var f credFile
	if err := json.Unmarshal(data, &f); err != nil {
		// json errors quote offsets, not content, so no secret leaks here.
		return nil, fmt.Errorf("bmc: parse credentials file %s: %w", s.path, err)
	}
	if f.Version != credFileVersion {
		return nil, fmt.Errorf("bmc: credentials file %s has version %d, want %d", s.path, f.Version, credFileVersion)
	}
	if f.Machines == nil {
		f.Machines = map[int64]credRecord{}
	}
	return &f, nil
}

func checkPrivate(path string, fi fs.FileInfo, uid int) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrInsecureFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o, readable or writable by group/others; run: chmod 600 %s",
			ErrInsecureFile, path, perm, path)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%w: cannot determine owner of %s", ErrInsecureFile, path)
	}
	if int(st.Uid) != uid {
		return fmt.Errorf("%w: %s is owned by uid %d, not the current user (uid %d); chown it and chmod 600 %s",
			ErrInsecureFile, path, st.Uid, uid, path)
	}
	return nil
}

// save writes f atomically: a crash leaves either the old or the new file,
// never a torn one, and the new file is never visible with a wider mode.
func (s *CredStore) save(f *credFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("bmc: encode credentials: %w", err)
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("bmc: create temp credentials file: %w", err)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	// CreateTemp already uses 0600; Chmod makes it explicit and umask-proof.
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("bmc: chmod temp credentials file: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("bmc: write temp credentials file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("bmc: fsync temp credentials file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bmc: close temp credentials file: %w", err)
	}
	if err := os.Rename(tmpName, s.path); err != nil {
		return fmt.Errorf("bmc: replace credentials file: %w", err)
	}
	committed = true
	// The rename is durable only once the directory entry is on disk.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("bmc: open credentials dir for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("bmc: fsync credentials dir: %w", err)
	}
	return nil
}
