-- Retention: a project's own (NULL: the server's default), builds a member pinned (kept past
-- it), and builds whose artifacts expired (the build stays, with a note).
ALTER TABLE projects ADD COLUMN retention_secs BIGINT;
ALTER TABLE builds ADD COLUMN pinned_at BIGINT;
ALTER TABLE builds ADD COLUMN pinned_by BIGINT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE builds ADD COLUMN artifacts_expired_at BIGINT;
-- The sweeper looks for the oldest builds that still have artifacts and are not pinned.
CREATE INDEX builds_keeping_artifacts ON builds (start_time) WHERE artifacts_expired_at IS NULL AND pinned_at IS NULL;
