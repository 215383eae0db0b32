-- Test results (CircleCI's store_test_results). A project's tests, each known by its suite,
-- class name, name and file, so that a test's history and flakiness follow it across builds.
CREATE TABLE tests (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    suite      TEXT    NOT NULL,
    classname  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    file       TEXT    NOT NULL,
    UNIQUE (project_id, suite, classname, name, file)
);

-- Each build's runs of them, in the reports' order: the result, the run time (seconds), the
-- failure's message and detail (bounded by the reader), the report it came from (as listed)
-- and the files it names as attachments (one per line).
CREATE TABLE test_runs (
    build_id    INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    node_index  INTEGER NOT NULL,
    test_id     INTEGER NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    result      TEXT    NOT NULL CHECK (result IN ('success', 'failure', 'error', 'skipped')),
    run_time    REAL,
    message     TEXT    NOT NULL DEFAULT '',
    detail      TEXT    NOT NULL DEFAULT '',
    source      TEXT    NOT NULL,
    attachments TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (build_id, seq)
);
CREATE INDEX test_runs_by_test ON test_runs (test_id, build_id);

-- The job a build ran (`vitrine execute --job`), CircleCI's `job-name`.
ALTER TABLE builds ADD COLUMN job TEXT NOT NULL DEFAULT 'build';
