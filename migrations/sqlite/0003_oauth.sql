-- Per-user upstream OAuth. Applied once; never edit.
-- How Manifold identifies itself to a server's authorization server:
-- {"client_id": …, "client_secret": <sealed>, "scopes": […]}; `{}` = register dynamically.
ALTER TABLE servers ADD COLUMN oauth_client TEXT NOT NULL DEFAULT '{}' CHECK (json_type(oauth_client) = 'object');

-- One user's tokens for one server: the client registration and the token
-- response, sealed as one value (never plaintext).
CREATE TABLE oauth_credentials (
    user_id    TEXT NOT NULL,
    server_id  TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    sealed     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, server_id)
);

CREATE INDEX oauth_credentials_server_idx ON oauth_credentials (server_id);
