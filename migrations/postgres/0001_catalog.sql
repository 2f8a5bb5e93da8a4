-- Catalog schema, PostgreSQL flavour (mirrors migrations/sqlite/0001_catalog.sql).
-- Sort keys use COLLATE "C" so ordering (and keyset pagination) is byte order,
-- the same as SQLite's default, whatever the database's locale.
-- Applied once; never edit: add a new numbered migration instead.

CREATE TABLE categories (
    id          TEXT        NOT NULL PRIMARY KEY,
    name        TEXT        NOT NULL,
    -- lower-cased name (Rust `to_lowercase`): case-insensitive uniqueness and order
    name_key    TEXT        COLLATE "C" NOT NULL,
    icon        TEXT,
    color       TEXT,
    description TEXT        NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    CONSTRAINT categories_name_key_unique UNIQUE (name_key)
);

CREATE TABLE servers (
    id              TEXT        NOT NULL PRIMARY KEY,
    name            TEXT        COLLATE "C" NOT NULL,
    title           TEXT        NOT NULL,
    description     TEXT        NOT NULL DEFAULT '',
    transport       TEXT        NOT NULL
        CONSTRAINT servers_transport_check
        CHECK (transport IN ('stdio', 'sse', 'websocket', 'streamable_http')),
    url             TEXT,
    query_params    JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(query_params) = 'object'),
    -- name -> sealed ciphertext (never plaintext)
    headers         JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    command         TEXT,
    args            JSONB       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(args) = 'array'),
    -- name -> sealed ciphertext (never plaintext)
    env             JSONB       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(env) = 'object'),
    cwd             TEXT,
    requires_oauth2 BOOLEAN     NOT NULL DEFAULT FALSE,
    is_public       BOOLEAN     NOT NULL DEFAULT FALSE,
    owner           TEXT        NOT NULL,
    category_id     TEXT        REFERENCES categories (id) ON DELETE SET NULL,
    enabled         BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT servers_name_unique UNIQUE (name)
);

CREATE INDEX servers_owner_idx ON servers (owner);
CREATE INDEX servers_category_id_idx ON servers (category_id);

CREATE TABLE api_keys (
    id           TEXT        NOT NULL PRIMARY KEY,
    user_id      TEXT        NOT NULL,
    role         TEXT        NOT NULL CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'user')),
    -- hex SHA-256 of the full key text
    hash         TEXT        NOT NULL,
    prefix       TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    CONSTRAINT api_keys_hash_unique UNIQUE (hash)
);

CREATE INDEX api_keys_created_at_idx ON api_keys (created_at);
