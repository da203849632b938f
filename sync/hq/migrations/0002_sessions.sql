-- Web UI sessions: an operator signs in with a token once and gets a
-- session; logging out ends the session, not the token. Stored hashed,
-- like the tokens.
CREATE TABLE sessions (
    hash       TEXT        PRIMARY KEY,
    token_hash TEXT        NOT NULL REFERENCES tokens (hash) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
