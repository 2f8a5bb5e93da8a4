-- Per-server fail-closed: while such a server is FAILED in a session, the
-- session's aggregate /mcp refuses calls. Applied once; never edit.
ALTER TABLE servers ADD COLUMN fail_closed BOOLEAN NOT NULL DEFAULT FALSE;
