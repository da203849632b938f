package hq

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outpostdc/outpost/appliance"
)

// Login trades an operator token for a web UI session, whose secret is
// returned once. The session acts with the token's name and role, and
// ends with it.
func (s *Store) Login(ctx context.Context, token string, ttl time.Duration) (string, appliance.User, error) {
	u, err := s.Authenticate(ctx, token)
	if err != nil {
		return "", u, err
	}
	sess, err := secret("hqs_")
	if err != nil {
		return "", u, err
	}
	// Expired sessions go at each login: no janitor needed.
	if _, err := s.DB.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now()`); err != nil {
		return "", u, err
	}
	_, err = s.DB.Exec(ctx, `INSERT INTO sessions (hash, token_hash, expires_at) VALUES ($1, $2, $3)`,
		hashKey(sess), hashKey(token), time.Now().Add(ttl))
	return sess, u, err
}

// Session finds the operator of a live session.
func (s *Store) Session(ctx context.Context, sess string) (appliance.User, error) {
	var u appliance.User
	var role string
	err := s.DB.QueryRow(ctx, `SELECT t.name, t.role FROM sessions s JOIN tokens t ON t.hash = s.token_hash
		WHERE s.hash = $1 AND s.expires_at > now()`, hashKey(sess)).Scan(&u.Name, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, appliance.Errorf(appliance.CodeUnauthorized, "session expired or ended; log in again")
	}
	u.Role = appliance.Role(role)
	return u, err
}

// Logout ends a session.
func (s *Store) Logout(ctx context.Context, sess string) error {
	_, err := s.DB.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hashKey(sess))
	return err
}
