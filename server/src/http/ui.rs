//! The UI's backend: what the Leptos server functions call, implemented over the services.

use std::sync::Arc;

use vitrine_app::api::backend::{Browse, CookiePolicy, GalleryAfter, OpenedFile, PageBuild, UiBackend};
use vitrine_app::api::{
    ArtifactView, BaselineView, BuildPageData, BuildView, CompareView, ContainerView, EntryView, FOLDER_PAGE, FileView,
    FolderView, GalleryPage, JUnitView, PreviewView, ProjectView, TestCaseView, TextRun, UiError,
};

use crate::core::archives::ArchiveKind;
use crate::core::artifacts::{ArtifactRef, Readable};
use crate::core::folders::{FolderEntry, FolderPageAt};
use crate::core::gallery::Change;
use crate::core::lookups::Recent;
use crate::core::previews::Preview;
use crate::core::{Principal, ServiceError, Vitrine};
use crate::domain::{BuildRef, FolderCursor, FolderPath};
use crate::http::policy::HttpPolicy;
use crate::http::v1_1::views::iso_time;
use crate::urls::{artifact_route, compare_route};
use vitrine_store::{Artifact, Build, BuildId, Project};
use vitrine_wire::report::ImageChange;

pub struct UiService {
    vitrine: Vitrine,
    policy: HttpPolicy,
    /// What a finished build's page shows of its artifacts (its first ones, its containers,
    /// its gallery's first page against its baseline), by [`ContentsKey`], for
    /// [`FRESH_FOR`](crate::core::lookups::FRESH_FOR) each: the same for everyone the
    /// page lets in, and four queries over the build's index to make. The build's own facts
    /// (a pin), its baseline, the project and what the caller may do are read for each
    /// request.
    build_contents: Recent<ContentsKey, Arc<BuildPageData>>,
}

/// How many builds' page contents are kept at once (each a few hundred rows at most).
const KEPT_BUILD_PAGES: usize = 64;

/// A build's and its baseline's (id, listing version): a purge or the retention of either,
/// or another baseline, makes another key.
type ContentsKey = ((BuildId, i64), Option<(BuildId, i64)>);

impl UiService {
    pub fn shared(vitrine: Vitrine, policy: HttpPolicy) -> Arc<dyn UiBackend> {
        Arc::new(UiService { vitrine, policy, build_contents: Recent::new("build_pages", KEPT_BUILD_PAGES) })
    }

    async fn principal(&self, session: Option<String>) -> Result<Principal, UiError> {
        match session {
            None => Ok(Principal::Anonymous),
            Some(s) => self.vitrine.sign_in().principal_for_session(&s).await.map_err(ui_error),
        }
    }
}

fn ui_error(e: ServiceError) -> UiError {
    match e {
        ServiceError::NotFound(m) => UiError::NotFound(m),
        ServiceError::BadRequest(m) | ServiceError::Conflict(m) => UiError::BadRequest(m),
        ServiceError::Unauthorized(m) => UiError::Unauthorized(m),
        ServiceError::Forbidden(m) => UiError::Forbidden(m),
        ServiceError::TooManyRequests { message, retry_after } => UiError::TooManyRequests { message, retry_after },
        ServiceError::Unavailable(m) => UiError::Unavailable(m),
        ServiceError::Busy { message, retry_after } => UiError::Busy { message, retry_after },
        ServiceError::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error in a page");
            UiError::Internal
        }
    }
}

fn project_view(p: &Project) -> ProjectView {
    ProjectView { vcs: p.vcs.short().to_owned(), org: p.org.clone(), repo: p.repo.clone(), public: p.public }
}

fn build_view(b: &Build) -> BuildView {
    BuildView {
        build_num: b.build_num,
        branch: b.branch.clone(),
        revision: b.revision.clone(),
        status: b.status,
        start_time: iso_time(b.start_time),
        stop_time: b.stop_time.map(iso_time),
        duration_secs: b.stop_time.map(|s| s - b.start_time),
        parallelism: b.parallelism,
        pinned: b.pinned_at.is_some(),
        artifacts_expired_at: b.artifacts_expired_at.map(iso_time),
        agent: b
            .agent
            .clone()
            .unwrap_or_else(|| "not recorded (stored before Vitrine kept it, or by another client)".into()),
        expires_at: None,
    }
}

fn artifact_view(project: &Project, build: &Build, a: &vitrine_store::Artifact) -> ArtifactView {
    ArtifactView {
        node_index: a.node_index,
        path: a.path.clone(),
        pretty_path: a.pretty_path.clone(),
        url: artifact_route(project, build.build_num, a.node_index, &a.pretty_path),
        size: a.size,
        content_type: a.content_type.clone(),
        opens_as_folder: !a.s3_key.is_empty() && ArchiveKind::of(&a.pretty_path).is_some(),
        change: None,
    }
}

fn baseline_view(b: &Build) -> BaselineView {
    BaselineView { build_num: b.build_num, branch: b.branch.clone() }
}

fn preview_view(preview: &Preview) -> PreviewView {
    match preview {
        Preview::Text { runs, shown, truncated } => PreviewView::Text {
            runs: runs.iter().map(|r| TextRun { class: r.style.classes(), text: r.text.clone() }).collect(),
            shown: *shown as i64,
            truncated: *truncated,
        },
        Preview::Json(json) => PreviewView::Json { text: json.text.clone(), stopped: json.stopped.clone() },
        Preview::JUnit(report) => PreviewView::JUnit(JUnitView {
            total: report.total,
            failed: report.failed,
            errors: report.errors,
            skipped: report.skipped,
            stopped: report.stopped.clone(),
            cases: report
                .cases
                .iter()
                .map(|c| TestCaseView {
                    outcome: c.outcome,
                    suite: c.suite.to_string(),
                    class_name: c.class_name.clone(),
                    name: c.name.clone(),
                    // A report's seconds (`0.25`), in whole milliseconds; anything else is left out.
                    time_ms: c.time.filter(|t| t.is_finite() && *t >= 0.0).map(|t| (t * 1000.0).round() as u64),
                    message: c.message.clone(),
                    detail: c.detail.clone(),
                })
                .collect(),
        }),
        Preview::Image => PreviewView::Image,
        Preview::Page => PreviewView::Page,
        Preview::Download => PreviewView::Download,
    }
}

/// A build number from the address; a malformed one names no build.
/// `0:screenshots/login.png`: where a gallery page starts (after that image).
fn gallery_token(a: &Artifact) -> String {
    format!("{}:{}", a.node_index, a.pretty_path)
}

impl UiService {
    /// The build a page names, if the caller may see it.
    async fn find_build(&self, who: &Principal, at: &PageBuild) -> Result<(Project, Build), UiError> {
        self.vitrine.builds().find_build(who, &at.project, &BuildRef::Num(at.build)).await.map_err(ui_error)
    }

    /// The Artifacts tab's search: the build's artifacts whose path contains `filter`, a page
    /// of them.
    async fn search(&self, project: &Project, build: &Build, filter: &str) -> Result<FolderView, UiError> {
        let page = FOLDER_PAGE;
        let found = self.vitrine.artifacts().search(build, filter, page as i64 + 1).await.map_err(ui_error)?;
        let more_matches = found.len() > page;
        let entries = found.iter().take(page).map(|a| EntryView::File(artifact_view(project, build, a))).collect();
        Ok(FolderView { folder: String::new(), entries, next: None, more_matches })
    }

    /// What a build's page shows of its artifacts: its HTML pages and first artifacts (a
    /// bounded few, whatever the build's size), its containers, its gallery's first page
    /// against `baseline`. The project, the build and `can_pin` are the caller's to fill in.
    async fn build_contents(
        &self,
        project: &Project,
        build: &Build,
        baseline: Option<&Build>,
    ) -> Result<BuildPageData, UiError> {
        let view = |a: &vitrine_store::Artifact| artifact_view(project, build, a);
        let (pages, first) = self.vitrine.artifacts().first_of(build, 50, 200).await.map_err(ui_error)?;
        let mut top: Vec<ArtifactView> = pages.iter().map(view).collect();
        top.extend(first.iter().filter(|a| !a.content_type.starts_with("text/html")).map(view));
        let containers: Vec<ContainerView> =
            (self.vitrine.artifacts().artifact_counts(build).await.map_err(ui_error)?.iter())
                .map(|c| ContainerView { node_index: c.node_index, count: c.count as usize })
                .collect();
        let artifact_count = containers.iter().map(|c| c.count).sum();
        let (images, more_images) = self.gallery_images(project, build, baseline, None).await?;
        Ok(BuildPageData {
            project: project_view(project),
            build: build_view(build),
            top,
            containers,
            artifact_count,
            images,
            more_images,
            can_pin: false,
            baseline: baseline.map(baseline_view),
        })
    }

    /// A page of a build's images from `after`, each marked against the baseline, and where
    /// the next page starts.
    async fn gallery_images(
        &self,
        project: &Project,
        build: &Build,
        baseline: Option<&Build>,
        after: Option<(i64, &str)>,
    ) -> Result<(Vec<ArtifactView>, Option<String>), UiError> {
        let page = vitrine_app::api::GALLERY_PAGE;
        let mut images = self.vitrine.gallery().images(build, after, page as i64 + 1).await.map_err(ui_error)?;
        let next = (images.len() > page).then(|| {
            images.truncate(page);
            images.last().map(gallery_token)
        });
        let changes = match baseline {
            Some(baseline) => self.vitrine.gallery().image_changes(baseline, &images).await.map_err(ui_error)?,
            None => Default::default(),
        };
        let images = images
            .iter()
            .map(|a| {
                let change = changes.get(&(a.node_index, a.pretty_path.clone())).and_then(|c| match c {
                    Change::Changed => Some(ImageChange::Changed),
                    Change::New => Some(ImageChange::New),
                    Change::Same => None,
                });
                ArtifactView { change, ..artifact_view(project, build, a) }
            })
            .collect();
        Ok((images, next.flatten()))
    }

    /// An opened image against the same image of the build's baseline.
    async fn compare(&self, project: &Project, build: &Build, image: &Artifact) -> Result<CompareView, UiError> {
        let found = self.vitrine.gallery().baseline_image(project, build, image).await.map_err(ui_error)?;
        let Some((baseline, theirs)) = found else { return Ok(CompareView::NoBaseline) };
        let Some(theirs) = theirs else { return Ok(CompareView::NotInBaseline { baseline: baseline_view(&baseline) }) };
        let baseline_url = artifact_route(project, baseline.build_num, theirs.node_index, &theirs.pretty_path);
        if theirs.sha256 == image.sha256 {
            return Ok(CompareView::Compared {
                baseline: baseline_view(&baseline),
                baseline_url,
                diff_url: String::new(),
                identical: true,
                changed_pixels: 0,
                total_pixels: 0,
                resized: None,
            });
        }
        match self.vitrine.gallery().pixel_diff(&theirs, image).await {
            Ok(diff) => Ok(CompareView::Compared {
                baseline: baseline_view(&baseline),
                baseline_url,
                diff_url: compare_route(project, build.build_num, image.node_index, &image.pretty_path),
                identical: false,
                changed_pixels: diff.changed_pixels,
                total_pixels: u64::from(diff.width) * u64::from(diff.height),
                resized: (diff.baseline_size != diff.current_size).then(|| {
                    let ((w0, h0), (w1, h1)) = (diff.baseline_size, diff.current_size);
                    format!("{w0}×{h0} then, {w1}×{h1} now")
                }),
            }),
            Err(ServiceError::BadRequest(why)) => {
                Ok(CompareView::Failed { baseline: baseline_view(&baseline), baseline_url, why })
            }
            Err(e) => Err(ui_error(e)),
        }
    }
}

#[async_trait::async_trait]
impl UiBackend for UiService {
    async fn current_user(&self, session: Option<String>) -> Result<Option<String>, UiError> {
        Ok(match self.principal(session).await? {
            Principal::User { username, .. } => Some(username),
            _ => None,
        })
    }

    async fn build_page(&self, session: Option<String>, at: &PageBuild) -> Result<BuildPageData, UiError> {
        let who = self.principal(session).await?;
        let (project, build) = self.find_build(&who, at).await?;
        let can_pin = match &who {
            Principal::User { admin: true, .. } => true,
            Principal::User { id, .. } => self.vitrine.projects().is_member(project.id, *id).await.map_err(ui_error)?,
            _ => false,
        };
        let baseline = self.vitrine.gallery().baseline(&project, &build).await.map_err(ui_error)?;
        let key = ((build.id, build.listing_version), baseline.as_ref().map(|b| (b.id, b.listing_version)));
        let contents = if let Some(kept) = self.build_contents.get(&key) {
            kept
        } else {
            let made = Arc::new(self.build_contents(&project, &build, baseline.as_ref()).await?);
            // A running build's artifacts change: read each time.
            if build.status.is_finished() {
                self.build_contents.keep(key, made.clone());
            }
            made
        };
        let expires_at = self.vitrine.retention().expires_at(&project, &build).await.map_err(ui_error)?;
        let build = BuildView { expires_at: expires_at.map(iso_time), ..build_view(&build) };
        Ok(BuildPageData { project: project_view(&project), build, can_pin, ..(*contents).clone() })
    }

    async fn browse(&self, session: Option<String>, query: &Browse) -> Result<FolderView, UiError> {
        let who = self.principal(session).await?;
        let (project, build) = self.find_build(&who, query.build()).await?;
        let page = FOLDER_PAGE;
        let (node, mut shown, after) = match query {
            Browse::Search { filter, .. } => return self.search(&project, &build, filter).await,
            Browse::Folder { node, folder, after, .. } => (*node, folder.clone(), after.clone()),
        };
        let bad = |e: crate::domain::InvalidInput| UiError::BadRequest(e.to_string());
        let artifacts = self.vitrine.artifacts();
        let at = |folder: FolderPath, from: Option<FolderCursor>| FolderPageAt { node, folder, from, limit: page };
        let mut folder = artifacts.browse_any(&build, &at(shown.clone(), after.clone())).await.map_err(ui_error)?;
        // A folder that holds one folder only opens that one at once (a few levels at most).
        for _ in 0..16 {
            let [FolderEntry::Folder { path, .. }] = folder.entries.as_slice() else { break };
            if after.is_some() {
                break;
            }
            shown = path.parse().map_err(bad)?;
            folder = artifacts.browse_any(&build, &at(shown.clone(), None)).await.map_err(ui_error)?;
        }
        let entries = folder
            .entries
            .into_iter()
            .map(|entry| match entry {
                FolderEntry::Folder { name, path, count } => EntryView::Folder { name, path, count: count as usize },
                FolderEntry::File(a) => EntryView::File(artifact_view(&project, &build, &a)),
            })
            .collect();
        Ok(FolderView { folder: shown.to_string(), entries, next: folder.next, more_matches: false })
    }

    async fn gallery(&self, session: Option<String>, at: &GalleryAfter) -> Result<GalleryPage, UiError> {
        let who = self.principal(session).await?;
        let (project, build) = self.find_build(&who, &at.at).await?;
        let baseline = self.vitrine.gallery().baseline(&project, &build).await.map_err(ui_error)?;
        let after = Some((at.node, at.path.as_str()));
        let (images, next) = self.gallery_images(&project, &build, baseline.as_ref(), after).await?;
        Ok(GalleryPage { images, next })
    }

    async fn open_artifact(
        &self,
        session: Option<String>,
        at: &OpenedFile,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<FileView, UiError> {
        let who = self.principal(session).await?;
        let OpenedFile { at: PageBuild { project, build }, node, path } = at;
        let at = ArtifactRef { slug: project.clone(), build: BuildRef::Num(*build), node: *node, path: path.clone() };
        let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let client = self.policy.client_addr(headers, peer);
        let (project, build, readable) =
            self.vitrine.artifacts().read_artifact(&who, &at, client).await.map_err(ui_error)?;
        let preview = self.vitrine.previews().preview(&readable).await.map_err(ui_error)?;
        let compare = match (&*preview, &readable) {
            (Preview::Image, Readable::Stored(image)) => Some(self.compare(&project, &build, image).await?),
            _ => None,
        };
        let artifact = readable.artifact();
        Ok(FileView {
            artifact: artifact_view(&project, &build, &artifact),
            sha256: artifact.sha256.clone(),
            preview: preview_view(&preview),
            compare,
        })
    }

    async fn pin_build(&self, session: Option<String>, at: &PageBuild, pin: bool) -> Result<(), UiError> {
        let who = self.principal(session).await?;
        self.vitrine.builds().pin_build(&who, &at.project, at.build, pin).await.map_err(ui_error)?;
        Ok(())
    }

    async fn login(
        &self,
        username: &str,
        password: &str,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<String, UiError> {
        let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        let client = self.policy.client_addr(headers, peer);
        let agent = headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
        self.vitrine
            .sign_in()
            .with_password(username, password, crate::core::sign_in::Client { address: client, agent })
            .await
            .map_err(ui_error)
    }

    fn cookies(&self) -> CookiePolicy {
        self.policy.cookies()
    }

    fn content_security_policy(&self, nonce: &str) -> String {
        self.policy.content_security_policy(nonce)
    }
}
