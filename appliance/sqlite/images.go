package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
)

// Image is one OS image in the store, addressed by its SHA-256.
type Image struct {
	SHA256    string    `json:"sha256"`
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	Format    string    `json:"format"` // raw, raw.gz, raw.zst
	Size      int64     `json:"size"`
	RawSHA256 string    `json:"raw_sha256"`
	RawSize   int64     `json:"raw_size"`
	File      string    `json:"file"` // under the images dir
	CreatedAt time.Time `json:"created_at"`
}

const imageCols = `sha256, name, version, format, size, raw_sha256, raw_size, file, created_at`

func scanImage(r scanner) (Image, error) {
	var i Image
	var created int64
	err := r.Scan(&i.SHA256, &i.Name, &i.Version, &i.Format, &i.Size, &i.RawSHA256, &i.RawSize, &i.File, &created)
	i.CreatedAt = fromNS(created)
	return i, err
}

// AddImage records an image whose file is in place.
func (s *Store) AddImage(ctx context.Context, i Image, actor appliance.Actor) (Image, error) {
	i.CreatedAt = s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM images WHERE name = ? AND version = ?`, i.Name, i.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return appliance.Errorf(appliance.CodeConflict, "image %s:%s exists", i.Name, i.Version)
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM images WHERE sha256 = ?`, i.SHA256).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return appliance.Errorf(appliance.CodeConflict, "an image with sha256 %s exists", i.SHA256)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO images (`+imageCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			i.SHA256, i.Name, i.Version, i.Format, i.Size, i.RawSHA256, i.RawSize, i.File, ns(i.CreatedAt)); err != nil {
			return err
		}
		return audit(ctx, tx, ns(i.CreatedAt), 0, actor, "image_added", "", "", i.Name+":"+i.Version,
			map[string]any{"sha256": i.SHA256, "size": i.Size, "format": i.Format})
	})
	return i, err
}

// Images lists the image store.
func (s *Store) Images(ctx context.Context) ([]Image, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+imageCols+` FROM images ORDER BY name, version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Image
	for rows.Next() {
		i, err := scanImage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// ImageByRef finds an image by "name:version" or by SHA-256.
func (s *Store) ImageByRef(ctx context.Context, ref string) (Image, error) {
	q, args := `SELECT `+imageCols+` FROM images WHERE sha256 = ?`, []any{strings.ToLower(ref)}
	if name, version, ok := strings.Cut(ref, ":"); ok {
		q, args = `SELECT `+imageCols+` FROM images WHERE name = ? AND version = ?`, []any{name, version}
	}
	i, err := scanImage(s.r.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return i, notFound("image", ref)
	}
	return i, err
}

// DeleteImage removes an image's record, unless an unfinished job uses it.
// The caller removes the file afterwards.
func (s *Store) DeleteImage(ctx context.Context, sha string, actor appliance.Actor) (Image, error) {
	var img Image
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		img, err = scanImage(tx.QueryRowContext(ctx, `SELECT `+imageCols+` FROM images WHERE sha256 = ?`, sha))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("image", sha)
		}
		if err != nil {
			return err
		}
		var job int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE status IN ('queued', 'running') AND action = 'install'
			AND json_extract(params, '$.image_sha256') = ? LIMIT 1`, sha).Scan(&job)
		if err == nil {
			return appliance.Errorf(appliance.CodeConflict, "image is used by job %d", job)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM images WHERE sha256 = ?`, sha); err != nil {
			return err
		}
		return audit(ctx, tx, ns(s.now()), 0, actor, "image_deleted", "", "", img.Name+":"+img.Version, map[string]any{"sha256": sha})
	})
	return img, err
}
