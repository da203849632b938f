-- HQ's store. It keeps to what PostgreSQL-compatible distributed databases
-- (CockroachDB, YugabyteDB) also run: plain tables with primary keys,
-- JSONB, TIMESTAMPTZ, INSERT ... ON CONFLICT, SELECT ... FOR UPDATE and
-- transactions. No sequences, SERIAL, triggers, stored procedures or
-- LISTEN/NOTIFY: IDs and per-site sequence numbers are allocated in
-- transactions by the application.

CREATE TABLE sites (
    id            TEXT        PRIMARY KEY,
    name          TEXT        NOT NULL,
    key_hash      TEXT        NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    acked_seq     BIGINT      NOT NULL DEFAULT 0,
    last_contact  TIMESTAMPTZ,
    backlog       BIGINT      NOT NULL DEFAULT 0,
    lag_ms        BIGINT      NOT NULL DEFAULT 0,
    intent_seq    BIGINT      NOT NULL DEFAULT 0,
    intent_cursor BIGINT      NOT NULL DEFAULT 0
);

-- The sites' facts, one row per synced row: kind is the site table.
CREATE TABLE facts (
    site_id    TEXT        NOT NULL REFERENCES sites (id),
    kind       TEXT        NOT NULL,
    key        TEXT        NOT NULL,
    data       JSONB       NOT NULL,
    seq        BIGINT      NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, kind, key)
);
CREATE INDEX facts_kind ON facts (kind, site_id);

-- HQ's intents, a log per site.
CREATE TABLE intents (
    site_id    TEXT        NOT NULL REFERENCES sites (id),
    seq        BIGINT      NOT NULL,
    kind       TEXT        NOT NULL,
    body       JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by TEXT        NOT NULL,
    PRIMARY KEY (site_id, seq)
);

CREATE TABLE requests (
    id         BIGINT      PRIMARY KEY,
    site_id    TEXT        NOT NULL REFERENCES sites (id),
    intent_seq BIGINT      NOT NULL,
    spec       JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by TEXT        NOT NULL,
    withdrawn  BOOLEAN     NOT NULL DEFAULT false
);

-- Operators' API tokens.
CREATE TABLE tokens (
    hash       TEXT        PRIMARY KEY,
    name       TEXT        NOT NULL,
    role       TEXT        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
