package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/outpostdc/outpost/appliance"
)

// Token is a one-time credential handed to one boot of one MAC.
type Token struct {
	MAC     string
	Purpose string
	Ref     int64 // a job ID, for job tokens
	Expires time.Time
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// IssueToken creates a token for mac and returns its secret. Only a hash
// is stored.
func (s *Store) IssueToken(ctx context.Context, t Token) (string, error) {
	mac, err := NormalizeMAC(t.MAC)
	if err != nil {
		return "", err
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.now()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// Expired tokens go as new ones come, so the table stays small.
		if _, err := tx.ExecContext(ctx, `DELETE FROM boot_tokens WHERE expires_at < ?`, ns(now.Add(-24*time.Hour))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO boot_tokens (hash, mac, purpose, ref, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			hashToken(secret), mac, t.Purpose, t.Ref, ns(now), ns(t.Expires))
		return err
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// ConsumeToken checks a token against the MAC and purpose it must be bound
// to, and marks it used. A missing, forged, replayed, expired or
// mismatched token is an unauthorized error, and nothing changes. fn, if
// given, runs in the same transaction, so that the token is spent only if
// fn's writes land.
func (s *Store) ConsumeToken(ctx context.Context, secret, mac, purpose string, fn func(tx *sql.Tx, t Token) error) error {
	if secret == "" {
		return appliance.Errorf(appliance.CodeUnauthorized, "missing token")
	}
	m, err := NormalizeMAC(mac)
	if err != nil {
		return appliance.Errorf(appliance.CodeUnauthorized, "token not valid for MAC %q", mac)
	}
	now := s.now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		var t Token
		var exp int64
		var used sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT mac, purpose, ref, expires_at, used_at FROM boot_tokens WHERE hash = ?`,
			hashToken(secret)).Scan(&t.MAC, &t.Purpose, &t.Ref, &exp, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return appliance.Errorf(appliance.CodeUnauthorized, "unknown token")
		}
		if err != nil {
			return err
		}
		t.Expires = fromNS(exp)
		switch {
		case used.Valid:
			return appliance.Errorf(appliance.CodeUnauthorized, "token already used")
		case !now.Before(t.Expires):
			return appliance.Errorf(appliance.CodeUnauthorized, "token expired")
		case t.MAC != m:
			return appliance.Errorf(appliance.CodeUnauthorized, "token not issued to %s", m)
		case t.Purpose != purpose:
			return appliance.Errorf(appliance.CodeUnauthorized, "token not valid for %s", purpose)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE boot_tokens SET used_at = ? WHERE hash = ?`, ns(now), hashToken(secret)); err != nil {
			return err
		}
		if fn != nil {
			return fn(tx, t)
		}
		return nil
	})
}
