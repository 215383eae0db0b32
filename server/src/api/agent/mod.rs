//! The agent API, used by `vitrine run`, `store-artifacts` and `execute` with a project build
//! token. All routes are under `/api/agent/projects/:vcs/:org/:repo/builds`:
//!
//! - `POST /builds` `{branch, revision, build_num?, node_index?}` creates a build, or joins
//!   `build_num` as node `node_index`; answers `{build_num, build_url, node_index}`.
//! - `POST /builds/:num/uploads` `{node_index, files: [{path, pretty_path, size, sha256}]}`
//!   answers one plan per file: `stored` (content already kept, listed now), `put` (one
//!   presigned PUT) or `multipart` (presigned part PUTs).
//! - `POST /builds/:num/uploads/complete` `{uploads: [{upload_id, parts?}]}`: the server checks
//!   size and SHA-256 of what was stored, then lists it; answers one outcome per upload.
//! - `POST /builds/:num/finish` `{status}`.

pub mod builds;
pub mod uploads;
