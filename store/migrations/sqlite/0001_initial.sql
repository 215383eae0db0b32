-- Vitrine metadata. Times are unix seconds (UTC); sizes are bytes.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE projects (
    id         INTEGER PRIMARY KEY,
    vcs_type   TEXT    NOT NULL,
    org        TEXT    NOT NULL,
    repo       TEXT    NOT NULL,
    public     INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (vcs_type, org, repo)
);

CREATE TABLE project_members (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, user_id)
);

-- Personal API tokens (user_id set) and project build tokens (project_id set).
-- Only a SHA-256 of the token is kept: tokens are 160 random bits, so a fast hash suffices.
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    user_id    INTEGER REFERENCES users (id) ON DELETE CASCADE,
    project_id INTEGER REFERENCES projects (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    CHECK ((user_id IS NULL) <> (project_id IS NULL))
);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT    NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);

CREATE TABLE builds (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    build_num   INTEGER NOT NULL,
    branch      TEXT    NOT NULL,
    revision    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    parallelism INTEGER NOT NULL DEFAULT 1,
    start_time  INTEGER NOT NULL,
    stop_time   INTEGER,
    UNIQUE (project_id, build_num)
);
CREATE INDEX builds_by_branch ON builds (project_id, branch, build_num);

-- Verified objects: what is stored under `s3_key` was read back and hashed by the server.
-- An object is reused for the same content by its own project at once, and by any project
-- once the URL it was uploaded through has expired (nothing can overwrite it after that).
CREATE TABLE blobs (
    s3_key     TEXT    PRIMARY KEY,
    sha256     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE INDEX blobs_by_sha256 ON blobs (sha256);

-- Listed artifacts; a row exists only once its blob is verified.
CREATE TABLE artifacts (
    id           INTEGER PRIMARY KEY,
    build_id     INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    node_index   INTEGER NOT NULL,
    path         TEXT    NOT NULL,
    pretty_path  TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    s3_key       TEXT    NOT NULL REFERENCES blobs (s3_key),
    created_at   INTEGER NOT NULL,
    UNIQUE (build_id, node_index, pretty_path)
);

-- Uploads granted to an agent but not yet confirmed; never listed.
CREATE TABLE uploads (
    id           TEXT    PRIMARY KEY,
    build_id     INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    node_index   INTEGER NOT NULL,
    path         TEXT    NOT NULL,
    pretty_path  TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    s3_key       TEXT    NOT NULL,
    multipart_id TEXT,
    created_at   INTEGER NOT NULL
);
