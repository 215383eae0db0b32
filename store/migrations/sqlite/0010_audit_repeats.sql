-- The same read repeated within the audit writer's window (one client fetching one artifact
-- again and again) is one row that says how many times it happened.
ALTER TABLE audit_events ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
