-- Sign-in through OpenID Connect providers. A person is who a provider says they are: the
-- pair (issuer, subject), never an email address; each pair belongs to one user.
CREATE TABLE user_identities (
    issuer          TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    linked_at       INTEGER NOT NULL,
    last_sign_in_at INTEGER,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_by_user ON user_identities (user_id);

-- A sign-in on its way through a provider, under the hash of the random value in the
-- browser's cookie: used once, for ten minutes.
CREATE TABLE sign_in_attempts (
    cookie_hash   TEXT    PRIMARY KEY,
    issuer        TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    nonce         TEXT    NOT NULL,
    pkce_verifier TEXT    NOT NULL,
    next          TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX sign_in_attempts_by_age ON sign_in_attempts (created_at);

-- The project roles a provider's groups give: their members get the role at each sign-in
-- (a grant whose source is 'group:NAME'), and lose it with the group.
CREATE TABLE project_groups (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    group_name TEXT    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('member', 'maintainer')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, group_name)
);

-- An instance admin made by the provider's admin group stops being one with the group; one
-- made by hand stays.
ALTER TABLE users ADD COLUMN admin_by_group INTEGER NOT NULL DEFAULT 0;

-- A session opened through a provider: whose identity, when the provider last vouched for
-- it, and what asks it again. The refresh token is useless without the client's secret,
-- which is in a file of the server's, not in this database.
ALTER TABLE sessions ADD COLUMN issuer TEXT;
ALTER TABLE sessions ADD COLUMN subject TEXT;
ALTER TABLE sessions ADD COLUMN checked_at INTEGER;
ALTER TABLE sessions ADD COLUMN refresh_token TEXT;
ALTER TABLE sessions ADD COLUMN id_token TEXT;
