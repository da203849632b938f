package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/outpostdc/outpost/appliance"
)

// CreateUser adds a user with a password.
func (s *Store) CreateUser(ctx context.Context, name string, role appliance.Role, password string, actor appliance.Actor) (appliance.User, error) {
	if err := appliance.ValidUserName(name); err != nil {
		return appliance.User{}, err
	}
	if !role.Valid() {
		return appliance.User{}, appliance.Errorf(appliance.CodeInvalid, "role %q: must be viewer, technician or admin", role)
	}
	if err := appliance.ValidPassword(password); err != nil {
		return appliance.User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return appliance.User{}, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return appliance.Errorf(appliance.CodeConflict, "user %q exists", name)
		}
		now := ns(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)`,
			name, string(role), string(hash), now); err != nil {
			return err
		}
		return audit(ctx, tx, now, 0, actor, "user_created", "", "", name+" as "+string(role), nil)
	})
	if err != nil {
		return appliance.User{}, err
	}
	return s.User(ctx, name)
}

// CountUsers says how many users exist, to bootstrap the first admin.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, err
}

// User looks a user up by name.
func (s *Store) User(ctx context.Context, name string) (appliance.User, error) {
	var u appliance.User
	var created int64
	var role string
	err := s.r.QueryRowContext(ctx, `SELECT id, name, role, disabled, created_at FROM users WHERE name = ?`, name).
		Scan(&u.ID, &u.Name, &role, &u.Disabled, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return u, notFound("user", name)
	}
	u.Role, u.CreatedAt = appliance.Role(role), fromNS(created)
	return u, err
}

// Users lists users.
func (s *Store) Users(ctx context.Context) ([]appliance.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, role, disabled, created_at FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appliance.User
	for rows.Next() {
		var u appliance.User
		var created int64
		var role string
		if err := rows.Scan(&u.ID, &u.Name, &role, &u.Disabled, &created); err != nil {
			return nil, err
		}
		u.Role, u.CreatedAt = appliance.Role(role), fromNS(created)
		out = append(out, u)
	}
	return out, rows.Err()
}

// UserPatch changes a user; nil fields stay.
type UserPatch struct {
	Role     *appliance.Role `json:"role"`
	Password *string         `json:"password"`
	Disabled *bool           `json:"disabled"`
}

// UpdateUser applies p. Disabling a user or changing its password ends its
// sessions; API tokens of a disabled user stop working.
func (s *Store) UpdateUser(ctx context.Context, name string, p UserPatch, actor appliance.Actor) (appliance.User, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&id); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("user", name)
			}
			return err
		}
		now := ns(s.now())
		if p.Role != nil {
			if !p.Role.Valid() {
				return appliance.Errorf(appliance.CodeInvalid, "role %q: must be viewer, technician or admin", *p.Role)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, string(*p.Role), id); err != nil {
				return err
			}
		}
		if p.Password != nil {
			if err := appliance.ValidPassword(*p.Password); err != nil {
				return err
			}
			hash, err := bcrypt.GenerateFromPassword([]byte(*p.Password), bcrypt.DefaultCost)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, string(hash), id); err != nil {
				return err
			}
		}
		if p.Disabled != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE id = ?`, *p.Disabled, id); err != nil {
				return err
			}
		}
		if p.Password != nil || p.Disabled != nil && *p.Disabled {
			if _, err := tx.ExecContext(ctx, `DELETE FROM user_tokens WHERE user_id = ? AND kind = 'session'`, id); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now, 0, actor, "user_updated", "", "", name, nil)
	})
	if err != nil {
		return appliance.User{}, err
	}
	return s.User(ctx, name)
}

// Login checks a password and opens a session. Every failure says the
// same thing, so that names cannot be probed.
func (s *Store) Login(ctx context.Context, name, password string, ttl time.Duration) (string, appliance.User, error) {
	var u appliance.User
	var hash, role string
	err := s.r.QueryRowContext(ctx, `SELECT id, name, role, disabled, password_hash FROM users WHERE name = ?`, name).
		Scan(&u.ID, &u.Name, &role, &u.Disabled, &hash)
	bad := appliance.Errorf(appliance.CodeUnauthorized, "wrong user name or password")
	if err != nil {
		// Spend about the time a real check takes.
		bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if errors.Is(err, sql.ErrNoRows) {
			return "", u, bad
		}
		return "", u, err
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || u.Disabled {
		return "", u, bad
	}
	u.Role = appliance.Role(role)
	tok, _, err := s.issueUserToken(ctx, u.ID, "login", "session", ttl)
	return tok, u, err
}

// UserToken is an API token's public description.
type UserToken struct {
	ID        int64     `json:"id"`
	User      string    `json:"user"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	LastUsed  time.Time `json:"last_used,omitempty"`
}

// CreateAPIToken issues an API token for a user. The secret is returned
// once; only its hash is kept.
func (s *Store) CreateAPIToken(ctx context.Context, user appliance.User, name string, ttl time.Duration) (string, UserToken, error) {
	if name == "" || len(name) > 64 {
		return "", UserToken{}, appliance.Errorf(appliance.CodeInvalid, "token name must be 1 to 64 characters")
	}
	if ttl <= 0 || ttl > 5*365*24*time.Hour {
		return "", UserToken{}, appliance.Errorf(appliance.CodeInvalid, "token lifetime must be up to 5 years")
	}
	tok, id, err := s.issueUserToken(ctx, user.ID, name, "api", ttl)
	if err != nil {
		return "", UserToken{}, err
	}
	return tok, UserToken{ID: id, User: user.Name, Name: name, Kind: "api", CreatedAt: s.now(), ExpiresAt: s.now().Add(ttl)}, nil
}

func (s *Store) issueUserToken(ctx context.Context, userID int64, name, kind string, ttl time.Duration) (string, int64, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", 0, err
	}
	secret := "op_" + base64.RawURLEncoding.EncodeToString(b[:])
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_tokens WHERE expires_at < ?`, ns(now)); err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO user_tokens (user_id, name, kind, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
			userID, name, kind, hashToken(secret), ns(now), ns(now.Add(ttl)))
		if err != nil {
			return err
		}
		id, _ = r.LastInsertId()
		return nil
	})
	return secret, id, err
}

// Authenticate finds the user a token belongs to.
func (s *Store) Authenticate(ctx context.Context, secret string) (appliance.User, error) {
	var u appliance.User
	var role string
	var exp int64
	err := s.queryRow(ctx, `SELECT u.id, u.name, u.role, u.disabled, t.expires_at FROM user_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.hash = ?`, hashToken(secret)).Scan(&u.ID, &u.Name, &role, &u.Disabled, &exp)
	bad := appliance.Errorf(appliance.CodeUnauthorized, "invalid or expired token")
	if errors.Is(err, sql.ErrNoRows) {
		return u, bad
	}
	if err != nil {
		return u, err
	}
	if u.Disabled || !s.now().Before(fromNS(exp)) {
		return u, bad
	}
	u.Role = appliance.Role(role)
	return u, nil
}

// Logout ends a session or revokes a token by its secret.
func (s *Store) Logout(ctx context.Context, secret string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM user_tokens WHERE hash = ?`, hashToken(secret))
		return err
	})
}

// Tokens lists a user's API tokens (all users' for name "").
func (s *Store) Tokens(ctx context.Context, name string) ([]UserToken, error) {
	q := `SELECT t.id, u.name, t.name, t.kind, t.created_at, t.expires_at, t.last_used FROM user_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.kind = 'api'`
	var args []any
	if name != "" {
		q += ` AND u.name = ?`
		args = append(args, name)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY t.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []UserToken
	for rows.Next() {
		var t UserToken
		var c, e, l int64
		if err := rows.Scan(&t.ID, &t.User, &t.Name, &t.Kind, &c, &e, &l); err != nil {
			return nil, err
		}
		t.CreatedAt, t.ExpiresAt, t.LastUsed = fromNS(c), fromNS(e), fromNS(l)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken deletes an API token by ID; owner "" may revoke any.
func (s *Store) RevokeToken(ctx context.Context, id int64, owner string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		q := `DELETE FROM user_tokens WHERE id = ?`
		args := []any{id}
		if owner != "" {
			q += ` AND user_id = (SELECT id FROM users WHERE name = ?)`
			args = append(args, owner)
		}
		r, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return notFound("token", id)
		}
		return nil
	})
}
