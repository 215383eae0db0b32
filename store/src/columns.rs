//! What the queries of every feature share, written once for SQLite and PostgreSQL: the
//! columns a row reads, the batch size of multi-row statements, the clock and LIKE patterns.
//! SQL in the features' macros is the part both stores speak: `$1` parameters, `ON CONFLICT`,
//! `RETURNING`, `CAST(... AS BIGINT)`, no store-only functions. What the stores do differently
//! comes in as macro arguments (`for_update`) or as methods of their own (`extra`).

/// The columns a `BuildRow` reads: `concat!("SELECT ", build_columns!(), " FROM builds ...")`.
macro_rules! build_columns {
    () => {
        "id, project_id, build_num, branch, revision, status, parallelism, start_time, stop_time, pinned_at, artifacts_expired_at, listing_version, agent"
    };
}

pub(super) use build_columns;

/// The columns an `ArtifactRow` reads, from `artifacts a`: `concat!("SELECT ", artifact_columns!(), ...)`.
macro_rules! artifact_columns {
    () => {
        "a.id, a.node_index, a.path, a.pretty_path, a.size, a.sha256, a.content_type, a.s3_key"
    };
}

pub(super) use artifact_columns;

pub(super) const UPLOAD_COLUMNS: &str =
    "SELECT id, build_id, node_index, path, pretty_path, size, sha256, content_type, s3_key,
        multipart_id, part_sha256, expires_at, verified_at FROM uploads";

/// Rows per multi-row statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bound
/// parameters.
pub(super) const ROWS_PER_STATEMENT: usize = 200;

pub(super) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A LIKE pattern that matches `needle` anywhere, its `%`, `_` and `\` taken literally
/// (with `ESCAPE '\'`).
pub(super) fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
