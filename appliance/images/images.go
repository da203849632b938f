// Package images is the OS image store: files named by their SHA-256
// under the images directory, described in the inventory with the hash of
// their decompressed content, which installs verify on disk.
package images

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/sqlite"
)

// Store keeps image files under Dir/os and their records in DB.
type Store struct {
	DB  *sqlite.Store
	Dir string // the images dir served under /images/
	Log *slog.Logger
	// MaxSize bounds an upload.
	MaxSize int64
}

// Formats lists the accepted formats.
func Formats() []string { return []string{"raw", "raw.gz", "raw.zst"} }

func validName(s string) bool {
	ok, _ := regexp.MatchString(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`, s)
	return ok
}

// Meta is what registering an image takes besides its bytes.
type Meta struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Format  string `json:"format"`
	// SHA256, if given, must match what arrives.
	SHA256 string `json:"sha256"`
}

// Check validates the name, version and format.
func (m Meta) Check() error {
	if !validName(m.Name) {
		return appliance.Errorf(appliance.CodeInvalid, "name %q: use letters, digits and ._+- (up to 128)", m.Name)
	}
	if !validName(m.Version) {
		return appliance.Errorf(appliance.CodeInvalid, "version %q: use letters, digits and ._+- (up to 128)", m.Version)
	}
	for _, f := range Formats() {
		if m.Format == f {
			return nil
		}
	}
	return appliance.Errorf(appliance.CodeInvalid, "format %q: must be one of %v", m.Format, Formats())
}

// Add stores an image read from r (an upload). Nothing is kept if the
// content does not match its format or declared hash.
func (s *Store) Add(ctx context.Context, m Meta, r io.Reader, actor appliance.Actor) (sqlite.Image, error) {
	if err := m.Check(); err != nil {
		return sqlite.Image{}, err
	}
	dir := filepath.Join(s.Dir, "os")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return sqlite.Image{}, err
	}
	tmp, err := os.CreateTemp(dir, ".incoming-*")
	if err != nil {
		return sqlite.Image{}, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	limit := s.MaxSize
	if limit <= 0 {
		limit = 1 << 40
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, limit+1))
	if err != nil {
		return sqlite.Image{}, fmt.Errorf("receiving image: %w", err)
	}
	if n > limit {
		return sqlite.Image{}, appliance.Errorf(appliance.CodeTooLarge, "image over %d bytes", limit)
	}
	if n == 0 {
		return sqlite.Image{}, appliance.Errorf(appliance.CodeInvalid, "image is empty")
	}
	if err := tmp.Sync(); err != nil {
		return sqlite.Image{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if m.SHA256 != "" && !strings.EqualFold(m.SHA256, sum) {
		return sqlite.Image{}, appliance.Errorf(appliance.CodeInvalid, "sha256 is %s, not the declared %s", sum, m.SHA256)
	}
	rawSum, rawSize, err := rawDigest(tmp, m.Format)
	if err != nil {
		return sqlite.Image{}, appliance.Errorf(appliance.CodeInvalid, "image is not valid %s: %v", m.Format, err)
	}
	file := "os/" + sum + "." + m.Format
	img := sqlite.Image{SHA256: sum, Name: m.Name, Version: m.Version, Format: m.Format, Size: n,
		RawSHA256: rawSum, RawSize: rawSize, File: file}
	if err := os.Rename(tmp.Name(), filepath.Join(s.Dir, file)); err != nil {
		return sqlite.Image{}, err
	}
	out, err := s.DB.AddImage(ctx, img, actor)
	if err != nil {
		os.Remove(filepath.Join(s.Dir, file))
		return sqlite.Image{}, err
	}
	s.Log.Info("images: added", "name", m.Name, "version", m.Version, "sha256", sum, "size", n, "raw_size", rawSize)
	return out, nil
}

// AddPath registers an image from a file on the appliance, copying it in.
func (s *Store) AddPath(ctx context.Context, m Meta, path string, actor appliance.Actor) (sqlite.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return sqlite.Image{}, appliance.Errorf(appliance.CodeInvalid, "path: %v", err)
	}
	defer f.Close()
	return s.Add(ctx, m, f, actor)
}

// Delete removes an image no unfinished job uses.
func (s *Store) Delete(ctx context.Context, sha string, actor appliance.Actor) error {
	img, err := s.DB.DeleteImage(ctx, sha, actor)
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.Dir, img.File)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.Log.Warn("images: file not removed", "file", img.File, "err", err)
	}
	return nil
}

// rawDigest hashes the decompressed content of f.
func rawDigest(f *os.File, format string) (string, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, err
	}
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	switch format {
	case "raw.gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return "", 0, err
		}
		defer zr.Close()
		r = zr
	case "raw.zst":
		zr, err := zstd.NewReader(r)
		if err != nil {
			return "", 0, err
		}
		defer zr.Close()
		r = zr
	}
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
