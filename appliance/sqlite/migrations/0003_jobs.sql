-- Jobs, the OS image store, paused queues and frozen racks.

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    action          TEXT    NOT NULL,
    machine_id      INTEGER NOT NULL REFERENCES machines(id),
    params          TEXT    NOT NULL DEFAULT '{}',
    requester       TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    phase           TEXT    NOT NULL DEFAULT '',
    phase_deadline  INTEGER NOT NULL DEFAULT 0,
    waiting         TEXT    NOT NULL DEFAULT '',
    progress        TEXT    NOT NULL DEFAULT '{}',
    result          TEXT    NOT NULL DEFAULT '{}',
    error           TEXT    NOT NULL DEFAULT '',
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER NOT NULL DEFAULT 0,
    ended_at        INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX jobs_status ON jobs(status, id);
CREATE INDEX jobs_machine ON jobs(machine_id, id);
CREATE INDEX jobs_action_ended ON jobs(action, ended_at);

-- Images are addressed by the SHA-256 of the stored file.
CREATE TABLE images (
    sha256     TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    format     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    raw_sha256 TEXT    NOT NULL,
    raw_size   INTEGER NOT NULL,
    file       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (name, version)
);

CREATE TABLE paused_queues (
    action TEXT    PRIMARY KEY,
    since  INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    reason TEXT    NOT NULL
);

-- When a technician last resumed a queue: the breaker judges only jobs
-- that ended after that.
CREATE TABLE queue_resumes (
    action TEXT    PRIMARY KEY,
    at     INTEGER NOT NULL
);

CREATE TABLE frozen_racks (
    rack   TEXT    PRIMARY KEY,
    since  INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    reason TEXT    NOT NULL
);

-- The firmware a machine last booted with, for the BMC's EFI boot flag.
ALTER TABLE machines ADD COLUMN firmware TEXT NOT NULL DEFAULT '';
