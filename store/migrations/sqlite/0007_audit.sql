-- The audit log: who (a user and the token or session they used, a build token, an admin at
-- the command line) read which private artifact or changed what, when, and from where.
-- Projects are named as they were, so the log outlives them.
CREATE TABLE audit_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    user_id   INTEGER,
    token_id  INTEGER,
    action    TEXT    NOT NULL,
    project   TEXT,
    build_num INTEGER,
    detail    TEXT    NOT NULL DEFAULT '',
    client    TEXT
);
CREATE INDEX audit_by_time ON audit_events (at);
CREATE INDEX audit_by_project ON audit_events (project, at);
