-- Sync: everything the site owns flows to HQ through an outbox, filled by
-- triggers in the same transaction as the change itself. Nothing is queued
-- until sync is enabled; enabling it queues a snapshot of every row.

CREATE TABLE sync_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    enabled           INTEGER NOT NULL DEFAULT 0,
    site_id           TEXT    NOT NULL DEFAULT '',
    acked_seq         INTEGER NOT NULL DEFAULT 0,
    intent_cursor     INTEGER NOT NULL DEFAULT 0,
    last_contact      INTEGER NOT NULL DEFAULT 0,
    partitioned_since INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT    NOT NULL DEFAULT '',
    -- The first change of a full snapshot resent after HQ lost history;
    -- that batch tells HQ to start over.
    reset_seq         INTEGER NOT NULL DEFAULT 0
);
INSERT INTO sync_state (id) VALUES (1);

CREATE TABLE outbox (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl  TEXT    NOT NULL,
    op   TEXT    NOT NULL, -- upsert or delete
    key  TEXT    NOT NULL,
    row  TEXT    NOT NULL DEFAULT '{}',
    ts   INTEGER NOT NULL
);

-- Intents from HQ, applied exactly once: the cursor moves in the same
-- transaction as the intent's effect.
CREATE TABLE intents (
    seq        INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    status     TEXT    NOT NULL, -- applied, conflict, withdrawn, failed
    note       TEXT    NOT NULL DEFAULT '',
    applied_at INTEGER NOT NULL
);

CREATE TABLE provision_requests (
    id               INTEGER PRIMARY KEY,  -- HQ's request ID
    intent_seq       INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    role             TEXT    NOT NULL,
    hw_class         TEXT    NOT NULL DEFAULT '',
    min_cpus         INTEGER NOT NULL DEFAULT 0,
    min_memory       INTEGER NOT NULL DEFAULT 0,
    hostname_pattern TEXT    NOT NULL,
    image            TEXT    NOT NULL,
    status           TEXT    NOT NULL, -- open, short, complete, withdrawn
    reason           TEXT    NOT NULL DEFAULT '',
    allocated        INTEGER NOT NULL DEFAULT 0,
    installing       INTEGER NOT NULL DEFAULT 0,
    done             INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE provision_members (
    request_id INTEGER NOT NULL REFERENCES provision_requests(id),
    machine_id INTEGER NOT NULL REFERENCES machines(id),
    n          INTEGER NOT NULL, -- the number in the hostname
    job_id     INTEGER NOT NULL DEFAULT 0,
    status     TEXT    NOT NULL, -- installing, done, failed, released
    PRIMARY KEY (request_id, machine_id)
);

CREATE TABLE conflicts (
    id          INTEGER PRIMARY KEY,
    intent_seq  INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    machine_id  INTEGER NOT NULL DEFAULT 0,
    site_value  TEXT    NOT NULL,
    hq_value    TEXT    NOT NULL,
    rule        TEXT    NOT NULL,
    status      TEXT    NOT NULL, -- open, resolved
    resolution  TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conflicts_open ON conflicts(status, intent_seq);

-- HQ's policy changes, layered over the configuration file.
CREATE TABLE policy_overrides (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    body       TEXT    NOT NULL,
    intent_seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TRIGGER machines_outbox_insert AFTER INSERT ON machines
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('machines', 'upsert', NEW.id, json_object('id', NEW.id, 'serial', NEW.serial, 'state', NEW.state, 'frozen_from', NEW.frozen_from, 'state_reason', NEW.state_reason, 'hostname', NEW.hostname, 'role', NEW.role, 'rack', NEW.rack, 'location', NEW.location, 'hw_class', NEW.hw_class, 'uuid', NEW.uuid, 'hardware', NEW.hardware, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at, 'bmc_address', NEW.bmc_address, 'last_seen', NEW.last_seen, 'agent_mode', NEW.agent_mode, 'firmware', NEW.firmware), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER machines_outbox_update AFTER UPDATE ON machines
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('machines', 'upsert', NEW.id, json_object('id', NEW.id, 'serial', NEW.serial, 'state', NEW.state, 'frozen_from', NEW.frozen_from, 'state_reason', NEW.state_reason, 'hostname', NEW.hostname, 'role', NEW.role, 'rack', NEW.rack, 'location', NEW.location, 'hw_class', NEW.hw_class, 'uuid', NEW.uuid, 'hardware', NEW.hardware, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at, 'bmc_address', NEW.bmc_address, 'last_seen', NEW.last_seen, 'agent_mode', NEW.agent_mode, 'firmware', NEW.firmware), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER machines_outbox_delete AFTER DELETE ON machines
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, ts) VALUES ('machines', 'delete', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER interfaces_outbox_insert AFTER INSERT ON interfaces
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('interfaces', 'upsert', NEW.mac, json_object('mac', NEW.mac, 'machine_id', NEW.machine_id, 'name', NEW.name, 'ip', NEW.ip, 'boot', NEW.boot, 'first_seen', NEW.first_seen, 'last_seen', NEW.last_seen), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER interfaces_outbox_update AFTER UPDATE ON interfaces
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('interfaces', 'upsert', NEW.mac, json_object('mac', NEW.mac, 'machine_id', NEW.machine_id, 'name', NEW.name, 'ip', NEW.ip, 'boot', NEW.boot, 'first_seen', NEW.first_seen, 'last_seen', NEW.last_seen), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER interfaces_outbox_delete AFTER DELETE ON interfaces
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, ts) VALUES ('interfaces', 'delete', OLD.mac, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER leases_outbox_insert AFTER INSERT ON leases
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('leases', 'upsert', NEW.ip, json_object('ip', NEW.ip, 'mac', NEW.mac, 'hostname', NEW.hostname, 'state', NEW.state, 'expires_at', NEW.expires_at, 'updated_at', NEW.updated_at), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER leases_outbox_update AFTER UPDATE ON leases
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('leases', 'upsert', NEW.ip, json_object('ip', NEW.ip, 'mac', NEW.mac, 'hostname', NEW.hostname, 'state', NEW.state, 'expires_at', NEW.expires_at, 'updated_at', NEW.updated_at), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER leases_outbox_delete AFTER DELETE ON leases
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, ts) VALUES ('leases', 'delete', OLD.ip, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER jobs_outbox_insert AFTER INSERT ON jobs
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('jobs', 'upsert', NEW.id, json_object('id', NEW.id, 'action', NEW.action, 'machine_id', NEW.machine_id, 'params', NEW.params, 'requester', NEW.requester, 'status', NEW.status, 'attempts', NEW.attempts, 'max_attempts', NEW.max_attempts, 'phase', NEW.phase, 'phase_deadline', NEW.phase_deadline, 'waiting', NEW.waiting, 'progress', NEW.progress, 'result', NEW.result, 'error', NEW.error, 'next_attempt_at', NEW.next_attempt_at, 'created_at', NEW.created_at, 'started_at', NEW.started_at, 'ended_at', NEW.ended_at, 'updated_at', NEW.updated_at), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER jobs_outbox_update AFTER UPDATE ON jobs
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('jobs', 'upsert', NEW.id, json_object('id', NEW.id, 'action', NEW.action, 'machine_id', NEW.machine_id, 'params', NEW.params, 'requester', NEW.requester, 'status', NEW.status, 'attempts', NEW.attempts, 'max_attempts', NEW.max_attempts, 'phase', NEW.phase, 'phase_deadline', NEW.phase_deadline, 'waiting', NEW.waiting, 'progress', NEW.progress, 'result', NEW.result, 'error', NEW.error, 'next_attempt_at', NEW.next_attempt_at, 'created_at', NEW.created_at, 'started_at', NEW.started_at, 'ended_at', NEW.ended_at, 'updated_at', NEW.updated_at), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER jobs_outbox_delete AFTER DELETE ON jobs
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, ts) VALUES ('jobs', 'delete', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER audit_log_outbox_insert AFTER INSERT ON audit_log
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('audit_log', 'upsert', NEW.id, json_object('id', NEW.id, 'ts', NEW.ts, 'machine_id', NEW.machine_id, 'actor', NEW.actor, 'action', NEW.action, 'from_state', NEW.from_state, 'to_state', NEW.to_state, 'reason', NEW.reason, 'detail', NEW.detail), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER audit_log_outbox_update AFTER UPDATE ON audit_log
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('audit_log', 'upsert', NEW.id, json_object('id', NEW.id, 'ts', NEW.ts, 'machine_id', NEW.machine_id, 'actor', NEW.actor, 'action', NEW.action, 'from_state', NEW.from_state, 'to_state', NEW.to_state, 'reason', NEW.reason, 'detail', NEW.detail), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER audit_log_outbox_delete AFTER DELETE ON audit_log
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, ts) VALUES ('audit_log', 'delete', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER provision_requests_outbox_insert AFTER INSERT ON provision_requests
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('provision_requests', 'upsert', NEW.id, json_object('id', NEW.id, 'intent_seq', NEW.intent_seq, 'count', NEW.count, 'role', NEW.role, 'hw_class', NEW.hw_class, 'min_cpus', NEW.min_cpus, 'min_memory', NEW.min_memory, 'hostname_pattern', NEW.hostname_pattern, 'image', NEW.image, 'status', NEW.status, 'reason', NEW.reason, 'allocated', NEW.allocated, 'installing', NEW.installing, 'done', NEW.done, 'failed', NEW.failed, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER provision_requests_outbox_update AFTER UPDATE ON provision_requests
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('provision_requests', 'upsert', NEW.id, json_object('id', NEW.id, 'intent_seq', NEW.intent_seq, 'count', NEW.count, 'role', NEW.role, 'hw_class', NEW.hw_class, 'min_cpus', NEW.min_cpus, 'min_memory', NEW.min_memory, 'hostname_pattern', NEW.hostname_pattern, 'image', NEW.image, 'status', NEW.status, 'reason', NEW.reason, 'allocated', NEW.allocated, 'installing', NEW.installing, 'done', NEW.done, 'failed', NEW.failed, 'created_at', NEW.created_at, 'updated_at', NEW.updated_at), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER provision_requests_outbox_delete AFTER DELETE ON provision_requests
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, ts) VALUES ('provision_requests', 'delete', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER conflicts_outbox_insert AFTER INSERT ON conflicts
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('conflicts', 'upsert', NEW.id, json_object('id', NEW.id, 'intent_seq', NEW.intent_seq, 'kind', NEW.kind, 'machine_id', NEW.machine_id, 'site_value', NEW.site_value, 'hq_value', NEW.hq_value, 'rule', NEW.rule, 'status', NEW.status, 'resolution', NEW.resolution, 'created_at', NEW.created_at, 'resolved_at', NEW.resolved_at), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER conflicts_outbox_update AFTER UPDATE ON conflicts
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, row, ts) VALUES ('conflicts', 'upsert', NEW.id, json_object('id', NEW.id, 'intent_seq', NEW.intent_seq, 'kind', NEW.kind, 'machine_id', NEW.machine_id, 'site_value', NEW.site_value, 'hq_value', NEW.hq_value, 'rule', NEW.rule, 'status', NEW.status, 'resolution', NEW.resolution, 'created_at', NEW.created_at, 'resolved_at', NEW.resolved_at), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;

CREATE TRIGGER conflicts_outbox_delete AFTER DELETE ON conflicts
WHEN (SELECT enabled FROM sync_state WHERE id = 1) = 1
BEGIN
    INSERT INTO outbox (tbl, op, key, ts) VALUES ('conflicts', 'delete', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) * 1000000);
END;
