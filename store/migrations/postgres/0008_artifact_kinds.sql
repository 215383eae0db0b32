-- The build page picks a build's images (the gallery) and HTML pages (top links) in listing
-- order: each kind has a partial index, so a build of 100,000 files with a few images costs
-- the few, not a walk through the build. The queries state these conditions word for word.
CREATE INDEX artifacts_images ON artifacts (build_id, node_index, pretty_path) WHERE content_type LIKE 'image/%';
CREATE INDEX artifacts_pages ON artifacts (build_id, node_index, pretty_path) WHERE content_type LIKE 'text/html%';
