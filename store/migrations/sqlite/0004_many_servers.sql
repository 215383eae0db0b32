-- One truth for many servers: build numbers from a counter under the project row's lock,
-- keys shared through the store, and artifacts found by any part of their path.

ALTER TABLE projects ADD COLUMN last_build_num INTEGER NOT NULL DEFAULT 0;
UPDATE projects SET last_build_num = (SELECT COALESCE(MAX(build_num), 0) FROM builds WHERE project_id = projects.id);

CREATE TABLE server_keys (
    name       TEXT    PRIMARY KEY,
    key        BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);

-- A trigram index over artifact paths (case-insensitive), kept in step with `artifacts`.
CREATE VIRTUAL TABLE artifact_paths USING fts5 (
    pretty_path, content = 'artifacts', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO artifact_paths (rowid, pretty_path) SELECT id, pretty_path FROM artifacts;
-- How many paths hold each trigram: a search reads the index only for a needle rarer than
-- the build's own rows.
CREATE VIRTUAL TABLE artifact_path_trigrams USING fts5vocab ('artifact_paths', 'row');
CREATE TRIGGER artifact_paths_insert AFTER INSERT ON artifacts BEGIN
    INSERT INTO artifact_paths (rowid, pretty_path) VALUES (NEW.id, NEW.pretty_path);
END;
CREATE TRIGGER artifact_paths_delete AFTER DELETE ON artifacts BEGIN
    INSERT INTO artifact_paths (artifact_paths, rowid, pretty_path) VALUES ('delete', OLD.id, OLD.pretty_path);
END;
CREATE TRIGGER artifact_paths_update AFTER UPDATE OF pretty_path ON artifacts BEGIN
    INSERT INTO artifact_paths (artifact_paths, rowid, pretty_path) VALUES ('delete', OLD.id, OLD.pretty_path);
    INSERT INTO artifact_paths (rowid, pretty_path) VALUES (NEW.id, NEW.pretty_path);
END;
