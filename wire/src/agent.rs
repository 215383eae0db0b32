//! The agent API, used by `vitrine run`, `store-artifacts` and `execute` with a build token.
//! Every route is under `/api/agent/projects/:vcs/:org/:repo/builds`, and every request
//! carries [`PROTOCOL_HEADER`]: a server refuses an agent whose protocol it does not speak.
//!
//! - `POST /builds` [`StartRequest`] → [`Started`]: creates a build of `node_total` nodes, or
//!   joins `build_num` as node `node_index`.
//! - `POST /builds/:num/uploads` [`PlanRequest`] → [`PlanResponse`]: the part size the server
//!   wants and the size from which files may be hashed while they are sent (ask with no files
//!   first), and one [`UploadPlan`] per file: `stored` (this project already keeps the
//!   content; listed now), `put` (one presigned PUT), `multipart` (one presigned PUT per part)
//!   or `hash_first` (a file declared without its SHA-256 that the project may keep already:
//!   declare it again with its SHA-256). The signed requests fix the size, the SHA-256 (when
//!   declared) and `If-None-Match: *`, so the store refuses other bytes and any overwrite.
//! - `POST /builds/:num/uploads/complete` [`CompleteRequest`] → [`CompleteResponse`]: the
//!   server checks what the store holds (size and SHA-256, declared with the plan or, for a
//!   file hashed while it was sent, with the confirmation) and only then lists it. Completing
//!   an upload that was already listed succeeds again (retries are safe).
//! - `POST /builds/:num/finish` [`FinishRequest`] → [`Finished`]: this node is done. When all
//!   `node_total` nodes are, the build is closed: no new artifacts, nodes or status changes.
//!   Finishing a node again with the same status succeeds again.
//!
//! Errors are `{"message": "..."}` ([`ErrorBody`]) with a 4xx or 5xx status.

use serde::{Deserialize, Serialize};

use crate::domain::{BuildNum, BuildStatus};

/// The agent protocol this code speaks. Bump it when a request or answer changes shape.
pub const PROTOCOL_VERSION: u32 = 3;
/// The oldest agent protocol a server still serves: build machines may be upgraded after the
/// server. Raise it only when a server can no longer answer that protocol's requests.
pub const OLDEST_PROTOCOL_VERSION: u32 = 3;
/// The request header that carries [`PROTOCOL_VERSION`].
pub const PROTOCOL_HEADER: &str = "vitrine-agent-protocol";
/// The part size a server uses with stores that keep big objects best in parts (S3 services).
/// The embedded store takes any file up to the artifact limit in one PUT (part size 0).
pub const PART_SIZE: u64 = 64 * 1024 * 1024;
/// The smallest part S3 takes (but for the last one): files up to this size never go in parts.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Files from this size on may be declared without their SHA-256 and hashed while they are
/// sent, so that they are read once, when the server allows it ([`PlanResponse`]).
pub const HASH_WHILE_SENDING_FROM: u64 = 16 * 1024 * 1024;
/// Files per plan or complete request.
pub const MAX_BATCH: usize = 1000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartRequest {
    pub branch: Option<String>,
    pub revision: Option<String>,
    /// Join this build instead of creating one.
    pub build_num: Option<BuildNum>,
    pub node_index: Option<i64>,
    /// How many nodes the build has (CircleCI's parallelism); 1 when absent.
    pub node_total: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Started {
    pub build_num: i64,
    pub build_url: String,
    pub node_index: i64,
    pub node_total: i64,
    /// A token for the build's own processes: adds artifacts to this build only, while it runs.
    pub build_token: String,
}

/// A file an agent wants listed, described before any byte is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileToStore {
    /// Where the file was on the build machine.
    pub path: String,
    pub pretty_path: String,
    pub size: u64,
    /// Hex SHA-256 of the content; `None` for a file of at least the server's
    /// `hash_while_sending_from` that goes up in one PUT: its SHA-256 comes with the confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Hex SHA-256 of each part, for files larger than the server's part size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_sha256: Vec<String>,
}

impl FileToStore {
    /// How many parts a file of `size` bytes goes up in with `part_size` (1: a single PUT;
    /// `part_size` 0 means no parts).
    pub fn part_count(size: u64, part_size: u64) -> u64 {
        if part_size > 0 && size > part_size { size.div_ceil(part_size) } else { 1 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanRequest {
    pub node_index: i64,
    pub files: Vec<FileToStore>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanResponse {
    /// Files larger than this go up in parts of this size, each with its own SHA-256; 0: every
    /// file goes up in one PUT.
    pub part_size: u64,
    /// Files of at least this size that go up in one PUT may be declared without their SHA-256
    /// and hashed while they are sent; 0: every file is declared with its SHA-256.
    #[serde(default)]
    pub hash_while_sending_from: u64,
    pub uploads: Vec<UploadPlan>,
}

/// A request the agent sends as is: URL plus the headers that were signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedRequest {
    pub url: String,
    /// `[name, value]` pairs.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Vec<String>>))]
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum UploadPlan {
    /// The content is already stored: the artifact is listed, nothing to send.
    Stored { pretty_path: String },
    /// The file was declared without its SHA-256, and the project may already keep it (or this
    /// node listed the path with that size): declare it again with its SHA-256.
    HashFirst { pretty_path: String },
    /// Send the whole file with one PUT.
    Put { pretty_path: String, upload_id: String, request: SignedRequest },
    /// Send the file in parts of `part_size` bytes (the last may be shorter), one PUT each.
    Multipart { pretty_path: String, upload_id: String, part_size: u64, parts: Vec<SignedRequest> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompletedPart {
    pub part_number: i32,
    pub etag: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadDone {
    pub upload_id: String,
    /// Hex SHA-256 of what was sent, for a file declared without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default)]
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompleteRequest {
    pub uploads: Vec<UploadDone>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompleteResponse {
    pub results: Vec<UploadOutcome>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadOutcome {
    pub upload_id: String,
    pub pretty_path: String,
    /// `None` when listed; otherwise why not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FinishRequest {
    #[serde(default)]
    pub node_index: i64,
    pub status: BuildStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finished {
    pub build_num: i64,
    /// The build's status: `running` until every node finished, then how it ended.
    pub status: BuildStatus,
    /// Every node finished: the build takes no more artifacts.
    pub closed: bool,
    pub build_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_tagged_by_action() {
        let plan = UploadPlan::Stored { pretty_path: "a.txt".into() };
        assert_eq!(
            serde_json::to_value(&plan).unwrap(),
            serde_json::json!({"action": "stored", "pretty_path": "a.txt"})
        );
    }

    #[test]
    fn part_counts_round_up() {
        assert_eq!(FileToStore::part_count(0, PART_SIZE), 1);
        assert_eq!(FileToStore::part_count(PART_SIZE, PART_SIZE), 1);
        assert_eq!(FileToStore::part_count(PART_SIZE + 1, PART_SIZE), 2);
        assert_eq!(FileToStore::part_count(3 * PART_SIZE, PART_SIZE), 3);
        assert_eq!(FileToStore::part_count(3 * PART_SIZE, 0), 1);
    }
}
