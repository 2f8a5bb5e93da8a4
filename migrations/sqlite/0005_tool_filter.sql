-- Per-server tool filter: `{"allow": [...], "deny": [...]}` globs over the
-- upstream's tool names; the empty object passes every tool. Applied once;
-- never edit.
ALTER TABLE servers ADD COLUMN tool_filter TEXT NOT NULL DEFAULT '{}' CHECK (json_type(tool_filter) = 'object');
