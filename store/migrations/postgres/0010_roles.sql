-- Roles. An instance admin may do everything; in a project, a member reads and a maintainer
-- also changes its settings. A membership is one grant per source: 'hand' (an admin command
-- or the settings page) or, with sign-in through an identity provider, a group; removing
-- one source's grant leaves the others.
ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE project_members
    ADD COLUMN role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'maintainer')),
    ADD COLUMN source TEXT COLLATE "C" NOT NULL DEFAULT 'hand',
    ADD COLUMN granted_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE project_members DROP CONSTRAINT project_members_pkey;
ALTER TABLE project_members ADD PRIMARY KEY (project_id, user_id, source);
CREATE INDEX project_members_by_user ON project_members (user_id);

-- Personal tokens get a name, a scope ('read', or 'admin': read and change what the user
-- may change) and an end; tokens made before keep reading, without an end.
ALTER TABLE tokens
    ADD COLUMN label TEXT NOT NULL DEFAULT '',
    ADD COLUMN scope TEXT NOT NULL DEFAULT 'read',
    ADD COLUMN expires_at BIGINT;

-- A session's start and browser, so a person can tell their sessions apart.
ALTER TABLE sessions
    ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN agent TEXT NOT NULL DEFAULT '';
