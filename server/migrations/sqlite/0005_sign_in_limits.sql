-- Failed sign-ins counted per account and per client address in fixed windows, in the
-- metadata store so that every server sees the same counts.
CREATE TABLE rate_limits (
    key          TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
);
CREATE INDEX rate_limits_by_window ON rate_limits (window_start);
