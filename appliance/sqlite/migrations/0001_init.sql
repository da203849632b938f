-- Times are Unix nanoseconds (UTC). MACs are lower-case, colon-separated.

CREATE TABLE machines (
    id           INTEGER PRIMARY KEY,
    serial       TEXT    NOT NULL UNIQUE,
    state        TEXT    NOT NULL,
    frozen_from  TEXT    NOT NULL DEFAULT '',
    state_reason TEXT    NOT NULL DEFAULT '',
    hostname     TEXT    NOT NULL DEFAULT '',
    role         TEXT    NOT NULL DEFAULT '',
    rack         TEXT    NOT NULL DEFAULT '',
    location     TEXT    NOT NULL DEFAULT '',
    hw_class     TEXT    NOT NULL DEFAULT '',
    uuid         TEXT    NOT NULL DEFAULT '',
    hardware     TEXT    NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX machines_state ON machines(state);
CREATE INDEX machines_hostname ON machines(hostname);
CREATE INDEX machines_rack ON machines(rack);

CREATE TABLE interfaces (
    mac        TEXT    PRIMARY KEY,
    machine_id INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL DEFAULT '',
    ip         TEXT    UNIQUE,
    boot       INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);
CREATE INDEX interfaces_machine ON interfaces(machine_id);

CREATE TABLE leases (
    ip         TEXT    PRIMARY KEY,
    mac        TEXT    NOT NULL,
    hostname   TEXT    NOT NULL DEFAULT '',
    state      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX leases_mac ON leases(mac);

CREATE TABLE boot_events (
    id      INTEGER PRIMARY KEY,
    ts      INTEGER NOT NULL,
    mac     TEXT    NOT NULL,
    ip      TEXT    NOT NULL DEFAULT '',
    kind    TEXT    NOT NULL,
    summary TEXT    NOT NULL,
    detail  TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX boot_events_mac ON boot_events(mac, id);
CREATE INDEX boot_events_ts ON boot_events(ts);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    ts         INTEGER NOT NULL,
    machine_id INTEGER REFERENCES machines(id) ON DELETE SET NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    from_state TEXT    NOT NULL DEFAULT '',
    to_state   TEXT    NOT NULL DEFAULT '',
    reason     TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_machine ON audit_log(machine_id, id);

-- Boot tokens are stored hashed: a leaked database does not leak tokens.
CREATE TABLE boot_tokens (
    hash       TEXT    PRIMARY KEY,
    mac        TEXT    NOT NULL,
    purpose    TEXT    NOT NULL,
    ref        INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX boot_tokens_expires ON boot_tokens(expires_at);
