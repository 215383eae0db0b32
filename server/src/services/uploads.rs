//! How bytes become artifacts: the agent declares files, gets presigned URLs for the ones
//! whose content is not stored yet, uploads straight to S3, then confirms. The server reads
//! what was stored back, checks its size and SHA-256, and only then lists it. Nothing
//! unverified is ever listed.
//!
//! Identical content is stored once. A verified object is shared with other projects only
//! after its upload URL has expired: until then its uploader could still overwrite it.

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::artifacts::guess_content_type;
use super::{Principal, ServiceError, ServiceResult, Vitrine};
use crate::db::{DbError, NewArtifact, Upload};
use crate::domain::{BuildNum, MAX_ARTIFACT_SIZE, NodeIndex, PrettyPath, ProjectSlug};
use crate::storage::{SignedRequest, new_object_key};

/// Files per upload request.
pub const MAX_BATCH: usize = 1000;
/// Files larger than this go up in parts of this size.
pub const PART_SIZE: u64 = 64 * 1024 * 1024;
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileToStore {
    /// Where the file was on the build machine.
    pub path: String,
    pub pretty_path: String,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum UploadPlan {
    /// The content is already stored: the artifact is listed, nothing to send.
    Stored { pretty_path: String },
    /// Send the whole file with one PUT.
    Put { pretty_path: String, upload_id: String, request: SignedRequest },
    /// Send the file in parts of `part_size` bytes (the last may be shorter), one PUT each.
    Multipart { pretty_path: String, upload_id: String, part_size: u64, parts: Vec<SignedRequest> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletedPart {
    pub part_number: i32,
    pub etag: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadDone {
    pub upload_id: String,
    #[serde(default)]
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadOutcome {
    pub upload_id: String,
    pub pretty_path: String,
    /// `None` when listed; otherwise why not.
    pub error: Option<String>,
}

fn check_sha256(hex: &str) -> ServiceResult<()> {
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!("Invalid sha256 `{hex}`: expected 64 lowercase hex digits")))
    }
}

impl Vitrine {
    pub async fn plan_uploads(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        num: BuildNum,
        node: NodeIndex,
        files: Vec<FileToStore>,
    ) -> ServiceResult<Vec<UploadPlan>> {
        let (project, build) = self.agent_build(who, slug, num).await?;
        if files.len() > MAX_BATCH {
            return Err(ServiceError::BadRequest(format!("At most {MAX_BATCH} files per request")));
        }
        let reusable_before = chrono::Utc::now().timestamp() - UPLOAD_URL_TTL.as_secs() as i64;
        // Validate the whole batch before acting on any of it.
        let mut checked = Vec::with_capacity(files.len());
        for file in files {
            let pretty = PrettyPath::try_from(file.pretty_path.clone())?;
            check_sha256(&file.sha256)?;
            if file.size > MAX_ARTIFACT_SIZE {
                return Err(ServiceError::BadRequest(format!(
                    "{} is {} bytes, over the 3 GiB limit per artifact",
                    file.path, file.size
                )));
            }
            checked.push(NewArtifact {
                node_index: node.0,
                content_type: guess_content_type(pretty.as_str()),
                path: file.path,
                pretty_path: pretty.into(),
                size: file.size as i64,
                sha256: file.sha256,
            });
        }
        self.db.raise_parallelism(build.id, node.0 + 1).await?;

        let mut plans = Vec::with_capacity(checked.len());
        for artifact in checked {
            match self.db.reusable_blob(&artifact.sha256, artifact.size, project.id, reusable_before).await {
                Ok(blob) => {
                    self.db.upsert_artifact(build.id, &artifact, &blob.s3_key).await?;
                    plans.push(UploadPlan::Stored { pretty_path: artifact.pretty_path });
                    continue;
                }
                Err(DbError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
            let upload_id = uuid::Uuid::new_v4().simple().to_string();
            let key = new_object_key();
            let size = artifact.size as u64;
            let (plan, multipart_id) = if size > PART_SIZE {
                let mp = self.storage.create_multipart(&key).await?;
                let count = size.div_ceil(PART_SIZE) as i32;
                let mut parts = Vec::with_capacity(count as usize);
                for n in 1..=count {
                    parts.push(self.storage.presign_part(&key, &mp, n, UPLOAD_URL_TTL).await?);
                }
                let plan = UploadPlan::Multipart {
                    pretty_path: artifact.pretty_path.clone(),
                    upload_id: upload_id.clone(),
                    part_size: PART_SIZE,
                    parts,
                };
                (plan, Some(mp))
            } else {
                let request = self.storage.presign_put(&key, UPLOAD_URL_TTL).await?;
                let plan = UploadPlan::Put {
                    pretty_path: artifact.pretty_path.clone(),
                    upload_id: upload_id.clone(),
                    request,
                };
                (plan, None)
            };
            self.db
                .insert_upload(&Upload { id: upload_id, build_id: build.id, artifact, s3_key: key, multipart_id })
                .await?;
            plans.push(plan);
        }
        Ok(plans)
    }

    pub async fn complete_uploads(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        num: BuildNum,
        done: Vec<UploadDone>,
    ) -> ServiceResult<Vec<UploadOutcome>> {
        let (project, build) = self.agent_build(who, slug, num).await?;
        let project_id = project.id;
        if done.len() > MAX_BATCH {
            return Err(ServiceError::BadRequest(format!("At most {MAX_BATCH} uploads per request")));
        }
        let outcomes = futures::stream::iter(done)
            .map(|d| async move {
                let upload = match self.db.upload(build.id, &d.upload_id).await {
                    Ok(u) => u,
                    Err(DbError::NotFound) => {
                        return UploadOutcome {
                            upload_id: d.upload_id,
                            pretty_path: String::new(),
                            error: Some("Unknown upload (already confirmed, or from another build)".into()),
                        };
                    }
                    Err(e) => {
                        tracing::error!(error = ?e, "loading upload");
                        return UploadOutcome {
                            upload_id: d.upload_id,
                            pretty_path: String::new(),
                            error: Some("internal error".into()),
                        };
                    }
                };
                let error = match self.verify_and_list(&upload, project_id, &d.parts).await {
                    Ok(()) => None,
                    Err(ServiceError::Internal(e)) => {
                        tracing::error!(error = ?e, upload = %upload.id, "verifying upload");
                        Some("The server could not verify this upload; see its log".into())
                    }
                    Err(e) => Some(e.to_string()),
                };
                UploadOutcome { upload_id: upload.id, pretty_path: upload.artifact.pretty_path, error }
            })
            .buffer_unordered(16)
            .collect::<Vec<_>>()
            .await;
        Ok(outcomes)
    }

    async fn verify_and_list(&self, upload: &Upload, project_id: i64, parts: &[CompletedPart]) -> ServiceResult<()> {
        let a = &upload.artifact;
        if let Some(mp) = &upload.multipart_id {
            let mut parts: Vec<(i32, String)> = parts.iter().map(|p| (p.part_number, p.etag.clone())).collect();
            parts.sort();
            if let Err(e) = self.storage.complete_multipart(&upload.s3_key, mp, &parts).await {
                tracing::warn!(error = %e, "completing multipart upload");
                self.storage.abort_multipart(&upload.s3_key, mp).await;
                self.db.delete_upload(&upload.id).await?;
                return Err(ServiceError::BadRequest(format!(
                    "{}: the uploaded parts could not be assembled",
                    a.pretty_path
                )));
            }
        }
        let (size, sha256) = match self.storage.digest(&upload.s3_key).await {
            Ok(d) => d,
            Err(crate::storage::StorageError::NotFound) => {
                self.db.delete_upload(&upload.id).await?;
                return Err(ServiceError::BadRequest(format!("{}: nothing was uploaded", a.pretty_path)));
            }
            Err(e) => return Err(e.into()),
        };
        if size != a.size as u64 || sha256 != a.sha256 {
            self.storage.delete(&upload.s3_key).await?;
            self.db.delete_upload(&upload.id).await?;
            return Err(ServiceError::BadRequest(format!(
                "{}: stored bytes do not match (declared {} bytes, sha256 {}; stored {size} bytes, sha256 {sha256})",
                a.pretty_path, a.size, a.sha256
            )));
        }
        self.db.record_verified(upload, project_id).await?;
        Ok(())
    }
}
