-- Toolsets: named selections of (server, tool) entries served as one
-- virtual MCP server at `/mcp/t/{name}` (mirrors
-- migrations/postgres/0006_toolsets.sql). `entries` is a JSON array of
-- `{"server", "tool", "expose_as"?, "description"?, "annotations"?}`; the
-- servers are named, not referenced, so deleting one leaves the toolset
-- (the gateway skips what is gone). Applied once; never edit.

CREATE TABLE toolsets (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    owner       TEXT    NOT NULL,
    is_public   INTEGER NOT NULL DEFAULT 0 CHECK (is_public IN (0, 1)),
    exposure    TEXT    NOT NULL DEFAULT 'all'
        CONSTRAINT toolsets_exposure_check CHECK (exposure IN ('all', 'search')),
    resources   INTEGER NOT NULL DEFAULT 0 CHECK (resources IN (0, 1)),
    prompts     INTEGER NOT NULL DEFAULT 0 CHECK (prompts IN (0, 1)),
    entries     TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(entries) = 'array'),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    -- Its index also serves listing every toolset by name (admins).
    CONSTRAINT toolsets_name_unique UNIQUE (name)
);

-- A user's listing: their own toolsets by name (public ones use the
-- name index).
CREATE INDEX toolsets_owner_name_idx ON toolsets (owner, name);
