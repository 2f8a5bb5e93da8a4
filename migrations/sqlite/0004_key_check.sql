-- The secrets key check: a constant sealed with the key that seals this
-- catalog's secrets (never the key itself). A process whose key does not open
-- it refuses to start, instead of failing on every stored secret. One row,
-- written the first time a key is used and replaced by `manifold secrets
-- rotate`. Applied once; never edit.
CREATE TABLE secrets_key_check (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    sealed     TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
