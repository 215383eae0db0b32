-- Which agent stored a build (its User-Agent when the build started: `vitrine/0.2.0`), shown on
-- the build page; NULL for builds stored before this was kept.
ALTER TABLE builds ADD COLUMN agent TEXT;
