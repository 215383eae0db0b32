//! Reading artifacts: listings and the signed URL behind the artifact route.

pub mod zip;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;

use super::accounts::Accounts;
use super::archives::{ArchiveMember, Archives};
use super::audit::{AuditAction, AuditLog};
use super::builds::Builds;
use super::capabilities::{ArtifactsOrigin, CAPABILITY_TTL, Grant, Holder, Scope};
use super::content::{content_disposition, is_active_content};
use super::error::{ServiceError, ServiceResult};
use super::folders::{FolderPage, FolderPageAt, Folders};
use super::listings::ListingCache;
use super::lookups::{ArtifactAt, Lookups, NodeCounts};
use super::principal::Principal;
use super::projects::Projects;
use super::untrusted::HeavyWork;
use crate::domain::{BuildRef, NodeIndex, PrettyPath, ProjectSlug};
use crate::storage::Storage;
use vitrine_store::{Artifact, ArtifactKind, ArtifactStore, Build, BuildId, Db, DbError, Project};

/// How long a signed download URL stays valid.
pub const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(300);
/// How long a browser may reuse the artifact route's redirect: well within the signed URL's
/// [`DOWNLOAD_URL_TTL`] and a capability's [`CAPABILITY_TTL`], so a kept redirect never leads
/// to an expired link.
pub const REDIRECT_MAX_AGE: Duration = Duration::from_secs(60);
const _: () = assert!(REDIRECT_MAX_AGE.as_secs() * 2 <= DOWNLOAD_URL_TTL.as_secs());
const _: () = assert!(REDIRECT_MAX_AGE.as_secs() * 2 <= CAPABILITY_TTL.as_secs());
// A signed URL reused from the lookups, then kept by a browser, is still valid when followed.
const _: () = assert!(REDIRECT_MAX_AGE.as_secs() + super::lookups::FRESH_FOR.as_secs() < DOWNLOAD_URL_TTL.as_secs());

/// Who follows an artifact link, which decides where it leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A browser opening the link as a page: reports and SVG open on the artifacts origin,
    /// sandboxed, with their relative links working.
    Browser,
    /// A script or an API client (curl, a CircleCI client, an `<img>` on the build page):
    /// a signed URL of the bytes for every type; pages come as attachments, so a browser
    /// that lands there anyway downloads them instead of running them on the store's origin.
    Download,
}

/// Who follows an artifact link and from where (for the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follower {
    pub reader: Reader,
    pub client: Option<std::net::IpAddr>,
}

/// Where an artifact is: its project, its build (a number or `latest`), its container and
/// its path, as a route or a page names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactRef {
    pub slug: ProjectSlug,
    pub build: BuildRef,
    pub node: NodeIndex,
    pub path: PrettyPath,
}

fn encode_page_token(node: i64, path: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{node}/{path}"))
}

fn decode_page_token(token: &str) -> Option<(i64, String)> {
    use base64::Engine;
    // A node, a `/` and a path, in base64: a third longer than the longest path.
    if token.len() > 2 * crate::domain::MAX_PATH_LEN {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (node, path) = text.split_once('/')?;
    Some((node.parse().ok()?, path.to_owned()))
}

/// A v2 listing's `page-token`: the last `(node, path)` a page held. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken(i64, String);

impl std::str::FromStr for PageToken {
    type Err = ServiceError;

    fn from_str(token: &str) -> ServiceResult<PageToken> {
        let (node, path) =
            decode_page_token(token).ok_or_else(|| ServiceError::BadRequest("Invalid page-token".into()))?;
        Ok(PageToken(node, path))
    }
}

/// An artifact that can be read: stored as an object of its own, or a file in an archive
/// artifact.
pub enum Readable {
    /// Shared with the lookups, which keep finished builds' artifacts.
    Stored(Arc<Artifact>),
    Member(Box<ArchiveMember>),
}

impl Readable {
    /// What its content is kept under in caches: its object's key (with the member's name in
    /// an archive). Stored bytes never change, so neither does what is made of them.
    pub fn content_key(&self) -> String {
        match self {
            Readable::Stored(a) => a.s3_key.clone(),
            Readable::Member(m) => m.content_key(),
        }
    }

    /// As the build's listings show it.
    pub fn artifact(&self) -> Artifact {
        match self {
            Readable::Stored(a) => Artifact::clone(a),
            Readable::Member(m) => m.as_artifact(),
        }
    }
}

/// Rows one query of a streamed listing reads.
pub const LISTING_PAGE: i64 = 1000;

/// Reading a build's artifacts: listings, folders, one artifact, its link, the artifacts
/// origin's grants, folder zips (`zip.rs`).
#[derive(Clone)]
pub struct Artifacts {
    db: Arc<dyn ArtifactStore>,
    storage: Storage,
    lookups: Lookups,
    accounts: Accounts,
    projects: Projects,
    builds: Builds,
    audit: AuditLog,
    /// The second origin that serves HTML reports and other browsable artifacts.
    capabilities: ArtifactsOrigin,
    /// Playwright's trace viewer is installed.
    trace_viewer: bool,
    archives: Archives,
    /// Pages of finished builds' folders, as the Artifacts tab shows them.
    folders: Folders,
    /// Listings of finished builds, compressed, with their ETags.
    listings: ListingCache,
    heavy: HeavyWork,
}

/// What [`Artifacts`] is made of.
pub struct ArtifactParts<'a> {
    pub db: &'a Db,
    pub storage: Storage,
    pub lookups: Lookups,
    pub accounts: Accounts,
    pub projects: Projects,
    pub builds: Builds,
    pub audit: AuditLog,
    pub capabilities: ArtifactsOrigin,
    pub trace_viewer: bool,
    pub archives: Archives,
    pub heavy: HeavyWork,
}

impl Artifacts {
    pub fn new(parts: ArtifactParts<'_>) -> Artifacts {
        let ArtifactParts {
            db,
            storage,
            lookups,
            accounts,
            projects,
            builds,
            audit,
            capabilities,
            trace_viewer,
            archives,
            heavy,
        } = parts;
        Artifacts {
            db: db.artifact_store(),
            storage,
            lookups,
            accounts,
            projects,
            builds,
            audit,
            capabilities,
            trace_viewer,
            archives,
            folders: Folders::new(db),
            listings: ListingCache::default(),
            heavy,
        }
    }

    /// Finished builds' listings, compressed (the v1.1 and v2 handlers render them).
    pub fn listings(&self) -> &ListingCache {
        &self.listings
    }

    /// Every artifact of a build in listing order, read a page at a time: a listing of
    /// 100,000 artifacts holds one page of rows at a time, never the whole build.
    pub fn artifact_pages(
        &self,
        build_id: BuildId,
    ) -> impl futures::Stream<Item = ServiceResult<Vec<Artifact>>> + Send + 'static {
        let db = self.db.clone();
        futures::stream::try_unfold(Some((-1_i64, String::new())), move |after| {
            let db = db.clone();
            async move {
                let Some((node, path)) = after else { return Ok(None) };
                let page = db.artifacts_page(build_id, Some((node, path.as_str())), LISTING_PAGE).await?;
                let next = match page.last() {
                    Some(last) if page.len() as i64 == LISTING_PAGE => {
                        Some((last.node_index, last.pretty_path.clone()))
                    }
                    _ => None,
                };
                Ok(if page.is_empty() { None } else { Some((page, next)) })
            }
        })
    }

    /// A folder of a container, or of an archive artifact in it (`reports/site.zip/css/`).
    pub async fn browse_any(&self, build: &Build, at: &FolderPageAt) -> ServiceResult<FolderPage> {
        if !at.folder.is_top()
            && let Some(page) = self.archives.browse_archive(build.id, at).await?
        {
            return Ok(page);
        }
        self.folders.browse(build, at).await
    }

    pub async fn list_artifacts(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        build: &BuildRef,
    ) -> ServiceResult<(Project, Build, Vec<Artifact>)> {
        let (project, build) = self.builds.find_build(who, slug, build).await?;
        let artifacts = self.db.artifacts(build.id).await?;
        Ok((project, build, artifacts))
    }

    /// One page of a build's artifacts after the one `after` names, with the token of the
    /// next page when more remain.
    pub async fn artifacts_page(
        &self,
        build: &Build,
        after: Option<&PageToken>,
        limit: i64,
    ) -> ServiceResult<(Vec<Artifact>, Option<String>)> {
        let after = after.map(|PageToken(n, p)| (*n, p.as_str()));
        let mut page = self.db.artifacts_page(build.id, after, limit + 1).await?;
        let next = if page.len() as i64 > limit {
            page.truncate(limit as usize);
            page.last().map(|a| encode_page_token(a.node_index, &a.pretty_path))
        } else {
            None
        };
        Ok((page, next))
    }

    /// What a build's page shows first: its HTML pages (at most `pages`), then its first
    /// artifacts in listing order (at most `first`).
    pub async fn first_of(
        &self,
        build: &Build,
        pages: i64,
        first: i64,
    ) -> ServiceResult<(Vec<Artifact>, Vec<Artifact>)> {
        let pages = self.db.artifacts_of_kind(build.id, vitrine_store::ArtifactKind::Page, None, pages).await?;
        let first = self.db.artifacts_page(build.id, None, first).await?;
        Ok((pages, first))
    }

    /// The artifact stored at a container's path (none in archives).
    pub async fn stored_at(&self, build_id: BuildId, node: NodeIndex, path: &str) -> ServiceResult<Option<Artifact>> {
        match self.db.artifact(build_id, node, path).await {
            Ok(a) => Ok(Some(a)),
            Err(DbError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A build's artifacts of a kind in listing order, `limit` after `after` (a node and a
    /// path).
    pub async fn of_kind(
        &self,
        build: &Build,
        kind: ArtifactKind,
        after: Option<(i64, &str)>,
        limit: i64,
    ) -> ServiceResult<Vec<Artifact>> {
        Ok(self.db.artifacts_of_kind(build.id, kind, after, limit).await?)
    }

    /// A build's artifacts whose path contains `filter`, at most `limit`.
    pub async fn search(&self, build: &Build, filter: &str, limit: i64) -> ServiceResult<Vec<Artifact>> {
        Ok(self.db.search_artifacts(build.id, filter, limit).await?)
    }

    /// How many artifacts each container of a build holds, by node index (a finished
    /// build's kept a while: counting walks the build's whole index).
    pub async fn artifact_counts(&self, build: &Build) -> ServiceResult<NodeCounts> {
        let key = (build.id, build.listing_version);
        if let Some(known) = self.lookups.counts.get(&key) {
            return Ok(known);
        }
        let counts: NodeCounts = self.db.artifact_counts(build.id).await?.into();
        if build.status.is_finished() {
            self.lookups.counts.keep(key, counts.clone());
        }
        Ok(counts)
    }

    /// An artifact the caller may read; a private project's read goes to the audit log.
    pub async fn read_artifact(
        &self,
        who: &Principal,
        at: &ArtifactRef,
        client: Option<std::net::IpAddr>,
    ) -> ServiceResult<(Project, Build, Readable)> {
        let ArtifactRef { slug, build, node, path } = at;
        let node = *node;
        let (project, build) = self.builds.find_build(who, slug, build).await?;
        let found = match self.lookups.artifacts.get(&ArtifactAt(build.id, node.0, path.as_str())) {
            Some(known) => Ok(known),
            None => self.db.artifact(build.id, node, path.as_str()).await.map(Arc::new).inspect(|a| {
                // A running build's artifacts are read each time: a path may be stored again.
                if build.status.is_finished() {
                    self.lookups.artifacts.keep((build.id, node.0, path.as_str().to_owned()), a.clone());
                }
            }),
        };
        let artifact = match found {
            Ok(a) => Readable::Stored(a),
            Err(DbError::NotFound) => match self.archives.archive_member(build.id, node, path.as_str()).await? {
                Some(member) => Readable::Member(Box::new(member)),
                None => {
                    return Err(ServiceError::NotFound(format!(
                        "Artifact `{path}` not found in container {node} of build {}",
                        build.build_num
                    )));
                }
            },
            Err(e) => return Err(e.into()),
        };
        self.audit_read(who, &project, &build, format!("{node}/{path}"), client);
        Ok((project, build, artifact))
    }

    /// A read of a private project's artifacts goes to the audit log (public reads do not).
    pub(crate) fn audit_read(
        &self,
        who: &Principal,
        project: &Project,
        build: &Build,
        detail: String,
        client: Option<std::net::IpAddr>,
    ) {
        if !project.public {
            self.audit.record(vitrine_store::AuditEvent {
                project: Some(project.short_slug()),
                build_num: Some(build.build_num),
                detail,
                client: client.map(|c| c.to_string()),
                ..super::audit::event_by(who, AuditAction::ArtifactRead)
            });
        }
    }

    /// A link on the artifacts origin to `path` of a build's container, under a fresh
    /// capability for `scope` that lasts [`CAPABILITY_TTL`].
    fn capability_url(
        &self,
        who: &Principal,
        build: &Build,
        node: NodeIndex,
        scope: Scope,
        path: &str,
    ) -> ServiceResult<String> {
        let holder = Holder::of(who).ok_or_else(ServiceError::project_not_found)?;
        let expires_at = chrono::Utc::now().timestamp() + CAPABILITY_TTL.as_secs() as i64;
        let grant = Grant { build_id: build.id, node_index: node.0, scope, expires_at, holder };
        Ok(self.capabilities.url(&grant, path))
    }

    /// Whether a capability's holder may still read its build: asked again at each use,
    /// through an answer a few seconds old at most.
    async fn holder_may_read(&self, holder: Holder, build_id: BuildId) -> ServiceResult<bool> {
        if let Some(known) = self.lookups.grants.get(&(holder, build_id)) {
            return Ok(known);
        }
        let Some(project_id) = self.builds.project_of(build_id).await? else { return Ok(false) };
        let project = self.projects.by_id(project_id).await?;
        let who = match holder {
            Holder::Anyone => Some(Principal::Anonymous),
            Holder::User(id) => self.accounts.enabled_user(id).await?,
            Holder::Token(token_id) => self.accounts.token_holder(token_id).await?,
        };
        // This answer is kept for the lookups' time: membership is asked of the store itself.
        let may = match who {
            Some(who) => self.projects.can_view_now(&who, &project).await?,
            None => false,
        };
        self.lookups.grants.keep((holder, build_id), may);
        Ok(may)
    }

    /// Checks access, then signs a short-lived URL for the artifact's bytes (shared bytes:
    /// a URL kept a few seconds goes out again without a copy).
    pub async fn artifact_download_url(
        &self,
        who: &Principal,
        at: &ArtifactRef,
        follower: Follower,
    ) -> ServiceResult<bytes::Bytes> {
        let node = at.node;
        let Follower { reader, client } = follower;
        let (_, build, readable) = self.read_artifact(who, at, client).await?;
        let artifact = match readable {
            Readable::Stored(artifact) => artifact,
            Readable::Member(found) => {
                // No object of its own: the artifacts origin reads it from the archive. A page
                // opens with the rest of its archive; anything else alone.
                let artifact = found.as_artifact();
                let scope = if reader == Reader::Browser && is_active_content(&artifact.content_type) {
                    Scope::Folder(format!("{}/", found.archive.pretty_path))
                } else {
                    Scope::File(artifact.pretty_path.clone())
                };
                return Ok(self.capability_url(who, &build, node, scope, &artifact.pretty_path)?.into());
            }
        };
        let active = is_active_content(&artifact.content_type);
        if active && reader == Reader::Browser {
            // Pages need their relative links: they open on the artifacts origin, not from S3.
            let scope = Scope::of_report(&artifact.pretty_path);
            return Ok(self.capability_url(who, &build, node, scope, &artifact.pretty_path)?.into());
        }
        if let Some(url) = self.lookups.downloads.get(&(artifact.id, active)) {
            return Ok(url);
        }
        let disposition = if active {
            content_disposition(&artifact.pretty_path, "application/octet-stream")
        } else {
            content_disposition(&artifact.pretty_path, &artifact.content_type)
        };
        let url = self
            .storage
            .presign_get(&artifact.s3_key, &artifact.content_type, Some(&disposition), DOWNLOAD_URL_TTL)
            .await?;
        let url = bytes::Bytes::from(url);
        self.lookups.downloads.keep((artifact.id, active), url.clone());
        Ok(url)
    }

    /// Where a Playwright trace (a `.zip` artifact) opens in Playwright's trace viewer, on the
    /// artifacts origin: the viewer's page, given the trace's URL under a capability for that
    /// one file.
    pub async fn trace_viewer_url(
        &self,
        who: &Principal,
        at: &ArtifactRef,
        client: Option<std::net::IpAddr>,
    ) -> ServiceResult<String> {
        let (node, path) = (at.node, &at.path);
        let (_, build, readable) = self.read_artifact(who, at, client).await?;
        let trace = readable.artifact();
        if !trace.pretty_path.to_ascii_lowercase().ends_with(".zip") {
            return Err(ServiceError::BadRequest(format!("`{path}` is not a Playwright trace: a trace is a .zip")));
        }
        let Some(viewer) = self.capabilities.trace_viewer().filter(|_| self.trace_viewer) else {
            return Err(ServiceError::Unavailable(
                "Playwright's trace viewer is not installed on this server: scripts/build.sh copies it \
                 from the playwright-core package into the site's trace-viewer folder"
                    .into(),
            ));
        };
        let scope = Scope::File(trace.pretty_path.clone());
        let trace_url = self.capability_url(who, &build, node, scope, &trace.pretty_path)?;
        let encoded = percent_encoding::utf8_percent_encode(&trace_url, percent_encoding::NON_ALPHANUMERIC);
        Ok(format!("{viewer}{}/index.html?trace={encoded}", super::capabilities::TRACE_VIEWER_PATH))
    }

    /// An artifact that an artifacts-origin capability grants, with its bytes; `host` is the
    /// host the request came to (with per-build origins, a capability opens only on its
    /// build's).
    pub async fn granted_artifact(
        &self,
        capability: &str,
        host: Option<&str>,
        path: &str,
    ) -> ServiceResult<(Artifact, Option<u64>, BoxStream<'static, std::io::Result<bytes::Bytes>>)> {
        let not_found = || {
            ServiceError::NotFound(
                "This link has expired or does not exist; open the report again from its build page".into(),
            )
        };
        let grant = self.capabilities.check(capability, chrono::Utc::now().timestamp()).ok_or_else(not_found)?;
        if !self.capabilities.serves_on(host, grant.build_id) {
            return Err(not_found());
        }
        if !self.holder_may_read(grant.holder, grant.build_id).await? {
            return Err(ServiceError::NotFound(
                "This link no longer opens: its reader may not read this build any more".into(),
            ));
        }
        let path: PrettyPath = path.parse()?;
        if !grant.scope.allows(path.as_str()) {
            return Err(ServiceError::NotFound(format!(
                "`{path}` is outside the folder this link opens; open it from its build page"
            )));
        }
        let node = NodeIndex(grant.node_index);
        match self.db.artifact(grant.build_id, node, path.as_str()).await {
            Ok(artifact) => {
                let object = self.storage.stream(&artifact.s3_key).await?;
                let body = tokio_util::io::ReaderStream::new(object.body.into_async_read());
                Ok((artifact, object.length.map(|l| l as u64), body.boxed()))
            }
            Err(DbError::NotFound) => match self.archives.archive_member(grant.build_id, node, path.as_str()).await? {
                Some(found) => {
                    let body = self.archives.member_bytes(&found).await?;
                    Ok((found.as_artifact(), Some(found.member.size), body))
                }
                None => Err(ServiceError::NotFound(format!("No artifact `{path}` in this build"))),
            },
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip() {
        let t = encode_page_token(3, "$CIRCLE_ARTIFACTS/a b/c.txt");
        assert_eq!(decode_page_token(&t), Some((3, "$CIRCLE_ARTIFACTS/a b/c.txt".to_owned())));
        assert_eq!(decode_page_token("not base64!"), None);
    }
}
