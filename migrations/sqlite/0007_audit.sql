-- The audit trail: one row per tool call, read, prompt, completion, task
-- call, connect, disconnect, OAuth authorization or catalog change (mirrors
-- migrations/postgres/0007_audit.sql). `seq` orders rows as written and
-- pages them (AUTOINCREMENT: never reused, even after retention deletes
-- the newest rows); `at` is when the request arrived. Written in batches by
-- one writer per process; rows past `audit.retention_days` are deleted by
-- `at`. Applied once; never edit.

CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL,
    at             TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    role           TEXT    NOT NULL,
    credential     TEXT    NOT NULL,
    key_id         TEXT,
    session        TEXT    NOT NULL,
    mcp_session_id TEXT,
    surface        TEXT    NOT NULL,
    server         TEXT,
    target         TEXT,
    duration_ms    REAL    NOT NULL,
    outcome        TEXT    NOT NULL,
    request_bytes  INTEGER NOT NULL,
    response_bytes INTEGER NOT NULL,
    client_name    TEXT,
    arguments      TEXT    CHECK (arguments IS NULL OR json_valid(arguments)),
    detail         TEXT
);

-- A user's events, newest first (every non-admin read filters by user).
CREATE INDEX audit_events_user_seq_idx ON audit_events (user_id, seq);
-- One server's events, newest first.
CREATE INDEX audit_events_server_seq_idx ON audit_events (server, seq);
-- Retention and time windows.
CREATE INDEX audit_events_at_idx ON audit_events (at);
