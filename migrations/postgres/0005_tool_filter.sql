-- Per-server tool filter: `{"allow": [...], "deny": [...]}` globs over the
-- upstream's tool names; the empty object passes every tool. Applied once;
-- never edit.
ALTER TABLE servers ADD COLUMN tool_filter JSONB NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(tool_filter) = 'object');
