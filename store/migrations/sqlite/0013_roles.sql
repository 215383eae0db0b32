-- Roles. An instance admin may do everything; in a project, a member reads and a maintainer
-- also changes its settings. A membership is one grant per source: 'hand' (an admin command
-- or the settings page) or, with sign-in through an identity provider, a group; removing
-- one source's grant leaves the others.
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;

CREATE TABLE project_grants (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'maintainer')),
    source     TEXT    NOT NULL DEFAULT 'hand',
    granted_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, user_id, source)
);
INSERT INTO project_grants (project_id, user_id, role, source, granted_at)
    SELECT project_id, user_id, 'member', 'hand', 0 FROM project_members;
DROP TABLE project_members;
ALTER TABLE project_grants RENAME TO project_members;
CREATE INDEX project_members_by_user ON project_members (user_id);

-- Personal tokens get a name, a scope ('read', or 'admin': read and change what the user
-- may change) and an end; tokens made before keep reading, without an end.
ALTER TABLE tokens ADD COLUMN label TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'read';
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;

-- A session's start and browser, so a person can tell their sessions apart.
ALTER TABLE sessions ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN agent TEXT NOT NULL DEFAULT '';
