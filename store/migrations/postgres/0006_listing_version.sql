-- Counts the changes to a finished build's listing (a purge, the retention): servers key their
-- cached listings by it, so a change reaches every server's cache with the build's row.
ALTER TABLE builds ADD COLUMN listing_version BIGINT NOT NULL DEFAULT 0;
