-- Accounts that hold: failed sign-ins counted per account and per client address in fixed
-- windows (in the metadata store, so every server sees the same counts), accounts that can be
-- disabled, tokens that say when they were last used, purged objects on their way out.
CREATE TABLE rate_limits (
    key          TEXT   PRIMARY KEY,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL
);
CREATE INDEX rate_limits_by_window ON rate_limits (window_start);

-- Accounts an admin can stop without deleting them, and tokens that say when they were used.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Objects nothing lists any more (after a purge), to be deleted from the store by the
-- sweeper; the row goes once the object is gone.
CREATE TABLE doomed_objects (
    s3_key    TEXT PRIMARY KEY,
    doomed_at BIGINT NOT NULL
);
