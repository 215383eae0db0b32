//! How bytes become artifacts: the agent declares files, gets presigned URLs for the content
//! its project does not keep yet, uploads straight to S3, then confirms. Nothing unverified is
//! ever listed, and nothing verified can change afterwards:
//!
//! - each URL fixes the object's size, SHA-256 and `If-None-Match: *`, so a store that enforces
//!   them (the embedded one does; others are probed at start-up) refuses other bytes and any
//!   replay; the server then verifies with a HEAD;
//! - on a store that does not prove this, the server copies the upload to a key no URL was
//!   issued for and hashes that copy;
//! - a big file may be declared without its SHA-256, so the agent reads it once and hashes it
//!   while sending; the confirmation brings the SHA-256, and the server checks it against
//!   what the store recorded (or against a copy it hashes): still nothing unverified is listed;
//! - content is reused only within its own project: a plan's answer never depends on what
//!   another project holds.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;

use super::builds::{Builds, node_is_open};
use super::content::guess_content_type;
use super::error::{ServiceError, ServiceResult};
use super::principal::Principal;
use super::settings::UploadSettings;
use crate::domain::{BuildNum, MAX_ARTIFACT_SIZE, NodeIndex, PrettyPath, ProjectSlug, Sha256};
use crate::storage::{Storage, StorageError, StoreGuarantees, new_object_key};
use vitrine_store::{Build, BuildId, Db, NewArtifact, ProjectId, Receipt, ToList, Upload, UploadStore, Verified};
use vitrine_wire::agent::{
    CompletedPart, FileToStore, HASH_WHILE_SENDING_FROM, MAX_BATCH, PART_SIZE, UploadDone, UploadOutcome, UploadPlan,
};

/// How many uploads one confirmation verifies at once.
const VERIFY_CONCURRENCY: usize = 32;

fn parse_sha256(hex: &str) -> ServiceResult<Sha256> {
    hex.parse().map_err(|e: crate::domain::InvalidInput| ServiceError::BadRequest(e.0))
}

/// A declared file, checked.
struct Declared {
    artifact: NewArtifact,
    part_sha256: Vec<String>,
}

/// What a project keeps of a batch's content.
struct Kept {
    /// Objects by (SHA-256, size).
    blobs: HashMap<(String, i64), String>,
    /// Sizes of the objects it keeps, for files declared without a SHA-256.
    sizes: HashSet<i64>,
}

/// What needs no transfer: a plan to answer as it is, or content the project keeps.
enum Known {
    Plan(fn(String) -> UploadPlan),
    Kept { sha256: Sha256, key: String },
}

impl Kept {
    /// What a declared file needs, when not a transfer: listed at its path already with this
    /// content (a resumed or repeated step), kept by the project, or to be hashed first (declared
    /// without a SHA-256, and something of its size is here: only its SHA-256 can tell).
    fn plan(&self, listed: &HashMap<String, (String, i64)>, artifact: &NewArtifact) -> Option<Known> {
        let Some(sha256) = &artifact.sha256 else {
            let same_size_listed = listed.get(&artifact.pretty_path).is_some_and(|(_, size)| *size == artifact.size);
            let hash_first = same_size_listed || self.sizes.contains(&artifact.size);
            return hash_first.then_some(Known::Plan(|pretty_path| UploadPlan::HashFirst { pretty_path }));
        };
        let content = (sha256.as_str().to_owned(), artifact.size);
        if listed.get(&artifact.pretty_path) == Some(&content) {
            return Some(Known::Plan(|pretty_path| UploadPlan::Stored { pretty_path }));
        }
        self.blobs.get(&content).map(|key| Known::Kept { sha256: sha256.clone(), key: key.clone() })
    }
}

fn check_file(node: NodeIndex, part_size: u64, hash_from: u64, file: FileToStore) -> ServiceResult<Declared> {
    let pretty = PrettyPath::try_from(file.pretty_path)?;
    let source = vitrine_wire::domain::SourcePath::try_from(file.path)?;
    if file.size > MAX_ARTIFACT_SIZE {
        return Err(ServiceError::BadRequest(format!(
            "{pretty} is {} bytes, over the limit of {MAX_ARTIFACT_SIZE} bytes (3 GiB) per artifact",
            file.size
        )));
    }
    let parts = FileToStore::part_count(file.size, part_size);
    let sha256 = match file.sha256 {
        Some(sha256) => Some(parse_sha256(&sha256)?),
        None if hash_from > 0 && file.size >= hash_from && parts == 1 => None,
        None if hash_from > 0 && parts == 1 => {
            return Err(ServiceError::BadRequest(format!(
                "{pretty}: declare its sha256 (only files of at least {hash_from} bytes may be hashed while sent)"
            )));
        }
        None => {
            return Err(ServiceError::BadRequest(format!(
                "{pretty}: declare its sha256 (with this server's store, every file is declared with it)"
            )));
        }
    };
    if parts > 1 {
        if file.part_sha256.len() as u64 != parts {
            return Err(ServiceError::BadRequest(format!(
                "{pretty}: a file of {} bytes goes up in {parts} parts of {part_size} bytes; \
                 {} part checksums were declared",
                file.size,
                file.part_sha256.len()
            )));
        }
        file.part_sha256.iter().try_for_each(|h| parse_sha256(h).map(drop))?;
    } else if !file.part_sha256.is_empty() {
        return Err(ServiceError::BadRequest(format!(
            "{pretty}: part checksums are only for files over {part_size} bytes, this server's part size"
        )));
    }
    Ok(Declared {
        artifact: NewArtifact {
            node_index: node.0,
            content_type: guess_content_type(pretty.as_str()),
            path: source.into(),
            pretty_path: pretty.into(),
            size: file.size as i64,
            sha256,
        },
        part_sha256: file.part_sha256,
    })
}

/// Plans and confirmations of uploads.
#[derive(Clone)]
pub struct Uploads {
    db: Arc<dyn UploadStore>,
    storage: Storage,
    /// What the S3 store proved it enforces; decides how uploads are verified.
    guarantees: StoreGuarantees,
    settings: Arc<UploadSettings>,
    builds: Builds,
}

impl Uploads {
    pub fn new(
        db: &Db,
        storage: Storage,
        guarantees: StoreGuarantees,
        settings: Arc<UploadSettings>,
        builds: Builds,
    ) -> Uploads {
        Uploads { db: db.upload_store(), storage, guarantees, settings, builds }
    }

    /// Uploads planned but never completed whose URLs expired before `before` (the sweeper
    /// removes their objects, then forgets them).
    pub async fn abandoned(&self, before: i64, limit: i64) -> ServiceResult<Vec<Upload>> {
        Ok(self.db.abandoned_uploads(before, limit).await?)
    }

    /// Receipts of verified uploads whose URLs expired before `before`: (upload id, upload
    /// key, blob key).
    pub async fn expired_receipts(&self, before: i64, limit: i64) -> ServiceResult<Vec<Receipt>> {
        Ok(self.db.expired_receipts(before, limit).await?)
    }

    /// Forgets an upload whose object is gone.
    pub async fn forget(&self, upload_id: &str) -> ServiceResult<()> {
        Ok(self.db.delete_upload(upload_id).await?)
    }

    /// Files larger than this go up in parts; 0: one PUT each.
    pub fn part_size(&self) -> u64 {
        self.settings.part_size.unwrap_or(PART_SIZE)
    }

    /// Files of at least this size may be declared without their SHA-256 and hashed while
    /// they are sent (read once, not twice); 0: never. It takes a store that records the
    /// SHA-256 of any PUT, or verification by copy, which hashes the copy anyway.
    pub fn hash_while_sending_from(&self) -> u64 {
        let g = &self.guarantees;
        if g.sha256_of_every_put || !g.checked_puts { HASH_WHILE_SENDING_FROM } else { 0 }
    }

    /// Plans a batch of declared files: each is already listed here, kept by the project
    /// (listed without a transfer), to be hashed first, or given presigned URLs. Nothing is
    /// listed until its upload is confirmed and verified.
    pub async fn plan_uploads(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        num: BuildNum,
        node: NodeIndex,
        files: Vec<FileToStore>,
    ) -> ServiceResult<Vec<UploadPlan>> {
        let (project, build) = self.builds.agent_build(who, slug, num).await?;
        let declared = self.check_batch(&build, node, files).await?;
        let paths: Vec<&str> = declared.iter().map(|d| d.artifact.pretty_path.as_str()).collect();
        let listed = self.db.listed_contents(build.id, node, &paths).await?;
        self.check_room(&build, &listed, &declared).await?;
        let kept = self.kept_by(project.id, &declared).await?;
        let ttl = self.settings.url_ttl;
        let expires_at = chrono::Utc::now().timestamp() + ttl.as_secs() as i64;
        let mut plans = Vec::with_capacity(declared.len());
        let mut reused = Vec::new();
        let mut uploads = Vec::new();
        for declared in declared {
            let pretty_path = declared.artifact.pretty_path.clone();
            match kept.plan(&listed, &declared.artifact) {
                Some(Known::Plan(plan)) => plans.push(plan(pretty_path)),
                Some(Known::Kept { sha256, key }) => {
                    reused.push(ToList { artifact: declared.artifact, sha256, s3_key: key });
                    plans.push(UploadPlan::Stored { pretty_path });
                }
                None => {
                    let (plan, upload) = self.presign(build.id, declared, expires_at).await?;
                    plans.push(plan);
                    uploads.push(upload);
                }
            }
        }
        self.db.record_plan(build.id, &reused, &uploads).await?;
        Ok(plans)
    }

    /// A batch's files, each checked, before anything is done with any of them.
    async fn check_batch(
        &self,
        build: &Build,
        node: NodeIndex,
        files: Vec<FileToStore>,
    ) -> ServiceResult<Vec<Declared>> {
        self.builds.open_node(build, node).await?;
        if files.len() > MAX_BATCH {
            return Err(ServiceError::BadRequest(format!("At most {MAX_BATCH} files per request")));
        }
        let (part_size, hash_from) = (self.part_size(), self.hash_while_sending_from());
        files.into_iter().map(|f| check_file(node, part_size, hash_from, f)).collect()
    }

    /// Refuses a batch that would take the build past its limit of artifacts (paths listed
    /// already are replaced, not added).
    async fn check_room(
        &self,
        build: &Build,
        listed: &HashMap<String, (String, i64)>,
        declared: &[Declared],
    ) -> ServiceResult<()> {
        let limit = self.settings.max_build_artifacts;
        let mut count = self.db.build_entry_count(build.id).await?;
        for d in declared.iter().filter(|d| !listed.contains_key(&d.artifact.pretty_path)) {
            count += 1;
            if count > limit {
                return Err(ServiceError::BadRequest(format!(
                    "{}: build {} would hold more than {limit} artifacts, the limit per build",
                    d.artifact.pretty_path, build.build_num
                )));
            }
        }
        Ok(())
    }

    /// What the project keeps of a batch's content: by SHA-256 and size, and, for files
    /// declared without a SHA-256, the sizes it keeps.
    async fn kept_by(&self, project_id: ProjectId, declared: &[Declared]) -> ServiceResult<Kept> {
        let contents: Vec<(&str, i64)> =
            declared.iter().filter_map(|d| Some((d.artifact.sha256.as_ref()?.as_str(), d.artifact.size))).collect();
        let blobs = self.db.project_blobs(project_id, &contents).await?;
        let sizes: Vec<i64> =
            declared.iter().filter(|d| d.artifact.sha256.is_none()).map(|d| d.artifact.size).collect();
        let sizes = self.db.project_blob_sizes(project_id, &sizes).await?;
        Ok(Kept { blobs, sizes })
    }

    /// A new object key for a declared file, its presigned URL (or its parts' URLs), and
    /// the upload that waits for its confirmation.
    async fn presign(
        &self,
        build_id: BuildId,
        declared: Declared,
        expires_at: i64,
    ) -> ServiceResult<(UploadPlan, Upload)> {
        let Declared { artifact, part_sha256 } = declared;
        let (ttl, part_size) = (self.settings.url_ttl, self.part_size());
        let pretty_path = artifact.pretty_path.clone();
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let key = new_object_key();
        let size = artifact.size as u64;
        let (plan, multipart_id) = if part_sha256.is_empty() {
            let sha256 = artifact.sha256.as_ref().map(Sha256::as_str);
            let request = self.storage.presign_put(&key, size, sha256, ttl).await?;
            (UploadPlan::Put { pretty_path, upload_id: upload_id.clone(), request }, None)
        } else {
            let mp = self.storage.create_multipart(&key).await?;
            let mut parts = Vec::with_capacity(part_sha256.len());
            for (i, sha256) in part_sha256.iter().enumerate() {
                let offset = i as u64 * part_size;
                let len = part_size.min(size - offset);
                parts.push(self.storage.presign_part(&key, &mp, i as i32 + 1, len, sha256, ttl).await?);
            }
            (UploadPlan::Multipart { pretty_path, upload_id: upload_id.clone(), part_size, parts }, Some(mp))
        };
        let upload = Upload {
            id: upload_id,
            build_id,
            artifact,
            s3_key: key,
            multipart_id,
            part_sha256,
            expires_at,
            verified_at: None,
        };
        Ok((plan, upload))
    }

    pub async fn complete_uploads(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        num: BuildNum,
        done: Vec<UploadDone>,
    ) -> ServiceResult<Vec<UploadOutcome>> {
        let (project, build) = self.builds.agent_build(who, slug, num).await?;
        if done.len() > MAX_BATCH {
            return Err(ServiceError::BadRequest(format!("At most {MAX_BATCH} uploads per request")));
        }
        // One query for the batch's uploads and one for the build's finished nodes.
        let ids: Vec<&str> = done.iter().map(|d| d.upload_id.as_str()).collect();
        let mut known = self.db.uploads(build.id, &ids).await?;
        let finished = self.builds.finished_nodes(build.id).await?;
        let build = &build;
        let finished = &finished;
        let checked = futures::stream::iter(done.into_iter().map(|d| (known.remove(&d.upload_id), d)))
            .map(|(upload, d)| async move {
                let Some(upload) = upload else {
                    let why = "Unknown upload (expired and removed, or from another build)";
                    return Err(UploadOutcome {
                        upload_id: d.upload_id,
                        pretty_path: String::new(),
                        error: Some(why.into()),
                    });
                };
                let fail = |upload: &Upload, e: ServiceError| {
                    let why = match e {
                        ServiceError::Internal(e) => {
                            tracing::error!(error = ?e, upload = %upload.id, "verifying upload");
                            "The server could not verify this upload; see its log".to_owned()
                        }
                        e => e.to_string(),
                    };
                    UploadOutcome {
                        upload_id: upload.id.clone(),
                        pretty_path: upload.artifact.pretty_path.clone(),
                        error: Some(why),
                    }
                };
                if upload.verified_at.is_some() {
                    // Listed by an earlier call whose answer was lost: success again.
                    return Ok((upload, None));
                }
                if let Err(e) = node_is_open(build, NodeIndex(upload.artifact.node_index), finished) {
                    return Err(fail(&upload, e));
                }
                let sha256 = match content_sha256(&upload, d.sha256) {
                    Ok(sha256) => sha256,
                    Err(e) => return Err(fail(&upload, e)),
                };
                match self.verify(&upload, &sha256, &d.parts).await {
                    Ok(s3_key) => Ok((upload, Some((sha256, s3_key)))),
                    Err(e) => Err(fail(&upload, e)),
                }
            })
            .buffer_unordered(VERIFY_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;

        let mut outcomes = Vec::with_capacity(checked.len());
        let mut to_record = Vec::new();
        for result in checked {
            match result {
                Ok((upload, Some((sha256, s3_key)))) => to_record.push(Verified {
                    upload_id: upload.id,
                    build_id: upload.build_id,
                    listed: ToList { artifact: upload.artifact, sha256, s3_key },
                }),
                Ok((upload, None)) => outcomes.push(listed(&upload.id, &upload.artifact)),
                Err(outcome) => outcomes.push(outcome),
            }
        }
        self.db.record_verified(&to_record, project.id).await?;
        metrics::counter!(crate::observe::UPLOADS, "outcome" => "verified").increment(to_record.len() as u64);
        outcomes.extend(to_record.iter().map(|v| listed(&v.upload_id, &v.listed.artifact)));
        Ok(outcomes)
    }

    /// Checks that the store holds `sha256`'s content for an upload; answers the key the
    /// artifact will point at.
    async fn verify(&self, upload: &Upload, sha256: &Sha256, parts: &[CompletedPart]) -> ServiceResult<String> {
        let a = &upload.artifact;
        let multipart = upload.multipart_id.is_some();
        if let Some(mp) = &upload.multipart_id {
            self.assemble(upload, mp, parts).await?;
        }
        let facts = match self.storage.head(&upload.s3_key).await {
            Ok(f) => f,
            Err(StorageError::NotFound) => {
                self.db.delete_upload(&upload.id).await?;
                return Err(ServiceError::BadRequest(format!("{}: nothing was uploaded", a.pretty_path)));
            }
            Err(e) => return Err(e.into()),
        };
        // The store proves the content when it enforces what was signed and reports the
        // object's SHA-256 (for a file hashed while sent, only the report counts).
        let trusted = self.guarantees.checked_puts
            && (!multipart || self.guarantees.whole_multipart_sha256)
            && facts.sha256.is_some();
        if trusted && facts.size == a.size as u64 && facts.sha256.as_deref() == Some(sha256.as_str()) {
            return Ok(upload.s3_key.clone());
        }
        if trusted || facts.size != a.size as u64 {
            return Err(self.refuse(upload, sha256, &upload.s3_key, facts.size, facts.sha256.as_deref()).await);
        }
        // The store does not prove the content: copy it where no URL can reach, hash the copy.
        // The upload object stays until its URL expired, so a replay finds it taken.
        let key = new_object_key();
        self.storage.copy(&upload.s3_key, &key).await?;
        let (size, found) = self.storage.digest(&key).await?;
        if size != a.size as u64 || found != sha256.as_str() {
            let _ = self.storage.delete(&upload.s3_key).await;
            return Err(self.refuse(upload, sha256, &key, size, Some(&found)).await);
        }
        Ok(key)
    }

    /// Completes a multipart upload. A retried confirmation finds it already assembled.
    async fn assemble(&self, upload: &Upload, mp: &str, parts: &[CompletedPart]) -> ServiceResult<()> {
        let a = &upload.artifact;
        let mut numbered: Vec<(i32, String, String)> = Vec::with_capacity(parts.len());
        for p in parts {
            let sha = usize::try_from(p.part_number - 1).ok().and_then(|i| upload.part_sha256.get(i));
            let Some(sha) = sha else {
                return Err(ServiceError::BadRequest(format!(
                    "{}: part {} is not one of its {} parts",
                    a.pretty_path,
                    p.part_number,
                    upload.part_sha256.len()
                )));
            };
            numbered.push((p.part_number, p.etag.clone(), sha.clone()));
        }
        numbered.sort();
        if numbered.len() != upload.part_sha256.len() {
            return Err(ServiceError::BadRequest(format!(
                "{}: {} of its {} parts were confirmed",
                a.pretty_path,
                numbered.len(),
                upload.part_sha256.len()
            )));
        }
        if let Err(e) = self.storage.complete_multipart(&upload.s3_key, mp, &numbered).await {
            // Assembled by an earlier call, it is verified below like any upload.
            if self.storage.head(&upload.s3_key).await.is_err() {
                tracing::warn!(error = %e, upload = %upload.id, "completing multipart upload");
                return Err(ServiceError::BadRequest(format!(
                    "{}: the uploaded parts could not be assembled",
                    a.pretty_path
                )));
            }
        }
        Ok(())
    }

    /// Removes what was stored for a refused upload and says why it was refused.
    async fn refuse(
        &self,
        upload: &Upload,
        declared: &Sha256,
        key: &str,
        size: u64,
        sha256: Option<&str>,
    ) -> ServiceError {
        let a = &upload.artifact;
        metrics::counter!(crate::observe::UPLOADS, "outcome" => "refused").increment(1);
        if let Err(e) = self.storage.delete(key).await {
            return e.into();
        }
        if let Err(e) = self.db.delete_upload(&upload.id).await {
            return e.into();
        }
        // What the store holds stays in the log: echoed to the agent, it would tell whoever sent
        // other bytes the size and hash of what they made the store keep.
        tracing::warn!(
            upload = %upload.id, declared_size = a.size, declared_sha256 = %declared,
            stored_size = size, stored_sha256 = sha256.unwrap_or("not reported"),
            "upload refused: the stored object is not what was declared"
        );
        ServiceError::BadRequest(format!(
            "{}: the stored object is not what was declared ({} bytes, sha256 {}); it was not listed",
            a.pretty_path, a.size, declared
        ))
    }
}

/// The SHA-256 an upload's content must have: the one it was declared with (a confirmation
/// may only repeat it), or, for a file hashed while it was sent, the one its confirmation brings.
fn content_sha256(upload: &Upload, sent: Option<String>) -> ServiceResult<Sha256> {
    let a = &upload.artifact;
    match (&a.sha256, sent) {
        (None, None) => Err(ServiceError::BadRequest(format!(
            "{}: it was declared without its sha256, so the confirmation must bring it",
            a.pretty_path
        ))),
        (Some(declared), None) => Ok(declared.clone()),
        (None, Some(sent)) => parse_sha256(&sent),
        (Some(declared), Some(sent)) if sent == declared.as_str() => Ok(declared.clone()),
        (Some(declared), Some(sent)) => Err(ServiceError::BadRequest(format!(
            "{}: confirmed with sha256 {sent}, but it was declared with {declared}",
            a.pretty_path
        ))),
    }
}

fn listed(upload_id: &str, artifact: &NewArtifact) -> UploadOutcome {
    UploadOutcome { upload_id: upload_id.to_owned(), pretty_path: artifact.pretty_path.clone(), error: None }
}
