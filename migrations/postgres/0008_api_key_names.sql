-- API keys made over the API: an optional label the owner chose (1-64
-- printable characters; NULL for keys made before, or without one), and an
-- index for one user's keys newest first (the `/api/v1/keys` list and the
-- per-user bound on active keys). Applied once; never edit.
ALTER TABLE api_keys ADD COLUMN name TEXT;
CREATE INDEX api_keys_user_created_idx ON api_keys (user_id, created_at);
