package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
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
	t.MAC = mac
	now := s.now()
	var secret string
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// Expired tokens go as new ones come, so the table stays small.
		if _, err := tx.ExecContext(ctx, `DELETE FROM boot_tokens WHERE expires_at < ?`, ns(now.Add(-24*time.Hour))); err != nil {
			return err
		}
		var err error
		secret, err = issueTx(ctx, tx, now, t)
		return err
	})
	return secret, err
}

// ConsumeToken checks a token against the MAC and purpose it must be bound
// to, and marks it used. A missing, forged, replayed, expired or
// mismatched token is an unauthorized error, and nothing changes. fn, if
// given, runs in the same transaction, so that the token is spent only if
// fn's writes land.
func (s *Store) ConsumeToken(ctx context.Context, secret, mac, purpose string, fn func(tx *sql.Tx, t Token) error) error {
	return s.consume(ctx, secret, mac, []string{purpose}, fn)
}

// consume is ConsumeToken for a token that may have any of purposes.
func (s *Store) consume(ctx context.Context, secret, mac string, purposes []string, fn func(tx *sql.Tx, t Token) error) error {
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
		case !contains(purposes, t.Purpose):
			return appliance.Errorf(appliance.CodeUnauthorized, "token not valid for %s", strings.Join(purposes, " or "))
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func issueTx(ctx context.Context, tx *sql.Tx, now time.Time, t Token) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	_, err := tx.ExecContext(ctx, `INSERT INTO boot_tokens (hash, mac, purpose, ref, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		hashToken(secret), t.MAC, t.Purpose, t.Ref, ns(now), ns(t.Expires))
	return secret, err
}

// Agent is who an agent token belongs to.
type Agent struct {
	MAC       string
	MachineID int64
	Mode      string
}

// VerifyAgent checks a reusable agent token, issued at ingest, and says
// whose it is. It is not spent.
func (s *Store) VerifyAgent(ctx context.Context, secret string) (Agent, error) {
	if secret == "" {
		return Agent{}, appliance.Errorf(appliance.CodeUnauthorized, "missing token")
	}
	var a Agent
	var exp int64
	var purpose string
	err := s.queryRow(ctx, `SELECT mac, purpose, ref, expires_at FROM boot_tokens WHERE hash = ?`, hashToken(secret)).
		Scan(&a.MAC, &purpose, &a.MachineID, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return Agent{}, appliance.Errorf(appliance.CodeUnauthorized, "unknown token")
	}
	if err != nil {
		return Agent{}, err
	}
	if !strings.HasPrefix(purpose, "agent") {
		return Agent{}, appliance.Errorf(appliance.CodeUnauthorized, "not an agent token")
	}
	if !s.now().Before(fromNS(exp)) {
		return Agent{}, appliance.Errorf(appliance.CodeUnauthorized, "token expired")
	}
	a.Mode = strings.TrimPrefix(strings.TrimPrefix(purpose, "agent"), ":")
	return a, nil
}

// PeekToken checks a boot token as ConsumeToken would, without spending it.
func (s *Store) PeekToken(ctx context.Context, secret, mac string, purposes []string) error {
	errPeek := appliance.Errorf(appliance.CodeConflict, "peek")
	err := s.consume(ctx, secret, mac, purposes, func(*sql.Tx, Token) error { return errPeek })
	if err == errPeek {
		return nil
	}
	return err
}
