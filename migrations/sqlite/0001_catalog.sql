-- Catalog schema, SQLite flavour (mirrors migrations/postgres/0001_catalog.sql).
-- Timestamps are RFC 3339 text in UTC, JSON is text, booleans are 0/1.
-- Applied once; never edit: add a new numbered migration instead.

CREATE TABLE categories (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    -- lower-cased name (Rust `to_lowercase`): case-insensitive uniqueness and order
    name_key    TEXT    NOT NULL,
    icon        TEXT,
    color       TEXT,
    description TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    CONSTRAINT categories_name_key_unique UNIQUE (name_key)
);

CREATE TABLE servers (
    id              TEXT    NOT NULL PRIMARY KEY,
    name            TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    transport       TEXT    NOT NULL
        CONSTRAINT servers_transport_check
        CHECK (transport IN ('stdio', 'sse', 'websocket', 'streamable_http')),
    url             TEXT,
    query_params    TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(query_params) = 'object'),
    -- name -> sealed ciphertext (never plaintext)
    headers         TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(headers) = 'object'),
    command         TEXT,
    args            TEXT    NOT NULL DEFAULT '[]' CHECK (json_type(args) = 'array'),
    -- name -> sealed ciphertext (never plaintext)
    env             TEXT    NOT NULL DEFAULT '{}' CHECK (json_type(env) = 'object'),
    cwd             TEXT,
    requires_oauth2 INTEGER NOT NULL DEFAULT 0 CHECK (requires_oauth2 IN (0, 1)),
    is_public       INTEGER NOT NULL DEFAULT 0 CHECK (is_public IN (0, 1)),
    owner           TEXT    NOT NULL,
    category_id     TEXT    REFERENCES categories (id) ON DELETE SET NULL,
    enabled         INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    CONSTRAINT servers_name_unique UNIQUE (name)
);

CREATE INDEX servers_owner_idx ON servers (owner);
CREATE INDEX servers_category_id_idx ON servers (category_id);

CREATE TABLE api_keys (
    id           TEXT NOT NULL PRIMARY KEY,
    user_id      TEXT NOT NULL,
    role         TEXT NOT NULL CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'user')),
    -- hex SHA-256 of the full key text
    hash         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT,
    CONSTRAINT api_keys_hash_unique UNIQUE (hash)
);

CREATE INDEX api_keys_created_at_idx ON api_keys (created_at);
