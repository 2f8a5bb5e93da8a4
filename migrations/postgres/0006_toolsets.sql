-- Toolsets: named selections of (server, tool) entries served as one
-- virtual MCP server at `/mcp/t/{name}` (mirrors
-- migrations/sqlite/0006_toolsets.sql). `entries` is a JSON array of
-- `{"server", "tool", "expose_as"?, "description"?, "annotations"?}`; the
-- servers are named, not referenced, so deleting one leaves the toolset
-- (the gateway skips what is gone). Applied once; never edit.

CREATE TABLE toolsets (
    id          TEXT        NOT NULL PRIMARY KEY,
    name        TEXT        COLLATE "C" NOT NULL,
    title       TEXT        NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    owner       TEXT        NOT NULL,
    is_public   BOOLEAN     NOT NULL DEFAULT FALSE,
    exposure    TEXT        NOT NULL DEFAULT 'all'
        CONSTRAINT toolsets_exposure_check CHECK (exposure IN ('all', 'search')),
    resources   BOOLEAN     NOT NULL DEFAULT FALSE,
    prompts     BOOLEAN     NOT NULL DEFAULT FALSE,
    entries     JSONB       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(entries) = 'array'),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    -- Its index also serves listing every toolset by name (admins).
    CONSTRAINT toolsets_name_unique UNIQUE (name)
);

-- A user's listing: their own toolsets by name (public ones use the
-- name index).
CREATE INDEX toolsets_owner_name_idx ON toolsets (owner, name);
