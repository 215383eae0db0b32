-- Uploads that can be trusted: builds declare their nodes and close, stored objects count
-- their references, uploads remember when they expire and when they were verified.

-- `parallelism` is now the number of nodes a build declared; a build is closed once that
-- many nodes finished (its status then leaves `running`).
CREATE TABLE build_nodes (
    build_id    INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    node_index  INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (build_id, node_index)
);
CREATE INDEX builds_running ON builds (status, start_time);

-- A build's own token, handed to the processes of a running build: it adds artifacts to that
-- build only, and stops working when the build closes.
ALTER TABLE tokens ADD COLUMN build_id INTEGER REFERENCES builds (id) ON DELETE CASCADE;

-- How many listed artifacts point at each object, so retention and purges delete only
-- objects nothing lists.
ALTER TABLE blobs ADD COLUMN refs INTEGER NOT NULL DEFAULT 0;
UPDATE blobs SET refs = (SELECT COUNT(*) FROM artifacts a WHERE a.s3_key = blobs.s3_key);
CREATE TRIGGER artifacts_ref_insert AFTER INSERT ON artifacts BEGIN
    UPDATE blobs SET refs = refs + 1 WHERE s3_key = NEW.s3_key;
END;
CREATE TRIGGER artifacts_ref_update AFTER UPDATE OF s3_key ON artifacts WHEN OLD.s3_key <> NEW.s3_key BEGIN
    UPDATE blobs SET refs = refs + 1 WHERE s3_key = NEW.s3_key;
    UPDATE blobs SET refs = refs - 1 WHERE s3_key = OLD.s3_key;
END;
CREATE TRIGGER artifacts_ref_delete AFTER DELETE ON artifacts BEGIN
    UPDATE blobs SET refs = refs - 1 WHERE s3_key = OLD.s3_key;
END;
CREATE INDEX blobs_by_project_sha256 ON blobs (project_id, sha256);

-- Uploads: the per-part SHA-256s the part URLs were signed with (hex, comma-separated),
-- when the URLs expire (the sweeper removes what was never completed after that), and when
-- the server verified and listed the upload (a retried confirmation then succeeds again).
ALTER TABLE uploads ADD COLUMN part_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE uploads ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN verified_at INTEGER;
-- Where the verified bytes are kept: the upload's own key, or (on a store that does not prove
-- content) a copy; the upload object then goes once its URL expired.
ALTER TABLE uploads ADD COLUMN blob_key TEXT;
UPDATE uploads SET expires_at = created_at + 3600;
CREATE INDEX uploads_by_build ON uploads (build_id, verified_at);
CREATE INDEX uploads_by_expiry ON uploads (expires_at);
