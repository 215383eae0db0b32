//! What the pages exchange with the server: the shapes (plain serde types, shared with the
//! WASM build) and the server functions that fetch them.

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
pub use vitrine_wire::domain::BuildStatus;
pub use vitrine_wire::report::{ImageChange, TestOutcome};

/// How what a server function or a resource returns crosses to the browser: postcard, a
/// compact binary form of the same serde types. The client bundle then carries no JSON
/// parser, and each type's decoder is a few reads in field order, not a match on field names
/// (a fifth of the bundle was serde_json's per-type code). Arguments go in postcard too,
/// except those of the forms that work without JavaScript (signing in, pinning), which stay
/// a URL-encoded form ([`Form`]).
pub type Wire = codee::binary::PostcardCodec;

/// Data a page loads on the server and hands to the browser with the HTML, in [`Wire`]'s form.
pub type Loaded<T> = Resource<T, Wire>;

/// A [`Loaded`] resource: `fetch` runs again whenever `source` changes.
#[track_caller]
pub fn load<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetch: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Loaded<T>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetch, false)
}

/// Calls a server function again, after the wait its answer asks for, while the server says
/// it is busy with that kind of work (at most a few times, and only in the browser: a page
/// rendered on the server answers at once, with the server's 503 and its `Retry-After`).
pub async fn when_not_busy<T, Fut>(call: impl Fn() -> Fut) -> Result<T, UiError>
where
    Fut: Future<Output = Result<T, UiError>>,
{
    #[cfg(feature = "hydrate")]
    for _ in 0..3 {
        match call().await {
            Err(UiError::Busy { retry_after, .. }) => {
                let wait = u32::try_from(retry_after.clamp(1, 30) * 1000).unwrap_or(30_000);
                send_wrapper::SendWrapper::new(gloo_timers::future::TimeoutFuture::new(wait)).await;
            }
            answer => return answer,
        }
    }
    call().await
}

/// A project as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    /// `gh` or `bb`, as in page URLs.
    pub vcs: String,
    pub org: String,
    pub repo: String,
    pub public: bool,
}

impl ProjectView {
    /// `/gh/acme/widgets`
    pub fn href(&self) -> String {
        format!("/{}/{}/{}", self.vcs, self.org, self.repo)
    }

    /// `/api/v1.1/project/gh/acme/widgets`
    pub fn api_href(&self) -> String {
        format!("/api/v1.1/project/{}/{}/{}", self.vcs, self.org, self.repo)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildView {
    pub build_num: i64,
    pub branch: String,
    pub revision: String,
    pub status: BuildStatus,
    /// RFC 3339, UTC.
    pub start_time: String,
    pub stop_time: Option<String>,
    pub duration_secs: Option<i64>,
    pub parallelism: i64,
    /// A member pinned it: its artifacts outlive the retention.
    pub pinned: bool,
    /// When the retention removed its artifacts (RFC 3339, UTC).
    pub artifacts_expired_at: Option<String>,
    /// The agent that stored it, as it named itself (`vitrine/0.2.0`), or what the server
    /// says when it did not.
    pub agent: String,
    /// When the retention will take its artifacts (RFC 3339, UTC); absent when it will not
    /// (pinned, running, its branch's latest green build) or did already.
    pub expires_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactView {
    pub node_index: i64,
    pub path: String,
    pub pretty_path: String,
    /// The v1.1 artifact route, relative to the site (`/api/v1.1/project/.../artifacts/0/...`).
    pub url: String,
    pub size: i64,
    pub content_type: String,
    /// An archive (zip, tar, tar.gz) that the Artifacts tab opens as a folder.
    #[serde(default)]
    pub opens_as_folder: bool,
    /// An image against the same path in the last green build (absent when the same, or
    /// when there is nothing to compare with).
    #[serde(default)]
    pub change: Option<ImageChange>,
}

impl ArtifactView {
    pub fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }

    pub fn is_html(&self) -> bool {
        self.content_type.starts_with("text/html")
    }

    pub fn file_name(&self) -> &str {
        self.pretty_path.rsplit('/').next().unwrap_or(&self.pretty_path)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildPageData {
    pub project: ProjectView,
    pub build: BuildView,
    /// Candidates for the links at the top: the build's HTML pages and its first artifacts
    /// (a bounded few, whatever the build's size).
    pub top: Vec<ArtifactView>,
    /// The build's containers and how many artifacts each holds.
    pub containers: Vec<ContainerView>,
    /// How many the build holds in all.
    pub artifact_count: usize,
    /// The first [`GALLERY_PAGE`] images, in listing order.
    pub images: Vec<ArtifactView>,
    /// Where the gallery's next page starts, when the build has more images.
    pub more_images: Option<String>,
    /// The reader is a member of the project: they may pin the build.
    pub can_pin: bool,
    /// The build its screenshots are compared with: the last green build of its branch, else
    /// of the project's default branch.
    pub baseline: Option<BaselineView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineView {
    pub build_num: i64,
    pub branch: String,
}

/// An opened image against the same image of the last green build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareView {
    /// No green build to compare with.
    NoBaseline,
    /// The baseline has no image at this path.
    NotInBaseline { baseline: BaselineView },
    Compared {
        baseline: BaselineView,
        /// The baseline's image (its artifact route).
        baseline_url: String,
        /// A PNG of the changed pixels in red.
        diff_url: String,
        /// The same bytes: nothing to draw.
        identical: bool,
        changed_pixels: u64,
        total_pixels: u64,
        /// `640×480`, when the two differ in size.
        resized: Option<String>,
    },
    /// The images could not be compared pixel by pixel (too large, undecodable).
    Failed { baseline: BaselineView, baseline_url: String, why: String },
}

/// The gallery shows at most this many images at once.
pub const GALLERY_PAGE: usize = 500;
/// A folder or a filter shows this many entries a page.
pub const FOLDER_PAGE: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerView {
    pub node_index: i64,
    pub count: usize,
}

/// One line of the Artifacts tab: a folder (opened by following it) or an artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryView {
    Folder { name: String, path: String, count: usize },
    File(ArtifactView),
}

/// What the Artifacts tab asks for: a folder of a container of a build, or a filter, from a
/// page on (`after`, empty for the first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowseRequest {
    pub vcs: String,
    pub org: String,
    pub repo: String,
    pub build_num: String,
    pub node: i64,
    pub folder: String,
    pub filter: String,
    pub after: String,
}

/// A page of a folder of one container, or of the artifacts a filter matches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderView {
    /// The folder shown: the one asked for, or the first below it that holds more than one
    /// folder (`$CIRCLE_ARTIFACTS/` alone opens at once).
    pub folder: String,
    pub entries: Vec<EntryView>,
    /// Where the next page starts, when there is one (for `?after=`).
    pub next: Option<String>,
    /// A filter matched more than one page shows.
    pub more_matches: bool,
}

/// A page of the gallery after the first: images from `after` (a previous page's `next`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GalleryRequest {
    pub vcs: String,
    pub org: String,
    pub repo: String,
    pub build_num: String,
    pub after: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GalleryPage {
    pub images: Vec<ArtifactView>,
    pub next: Option<String>,
}

/// One artifact, asked for by the Artifacts tab when it is opened (`?file=`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRequest {
    pub vcs: String,
    pub org: String,
    pub repo: String,
    pub build_num: String,
    pub node: i64,
    pub path: String,
}

/// An opened artifact: what it is, and what of it the page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileView {
    pub artifact: ArtifactView,
    /// Hex SHA-256 of its bytes, as the server verified them.
    pub sha256: String,
    pub preview: PreviewView,
    /// Images only: against the last green build.
    pub compare: Option<CompareView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PreviewView {
    /// A text or a log: its first `shown` bytes, in runs of one style each (ANSI colours).
    Text {
        runs: Vec<TextRun>,
        shown: i64,
        truncated: bool,
    },
    /// JSON, pretty-printed; `stopped` says where and why, when it stopped before the end.
    Json {
        text: String,
        stopped: Option<String>,
    },
    /// A JUnit XML report as a table.
    JUnit(JUnitView),
    Image,
    /// An HTML page: it opens on the artifacts origin.
    Page,
    /// Nothing to show in the page: offered as a download.
    Download,
}

/// Text in one style: `class` names it (`b`, `i`, `u`, `d`, `f0`–`f15`, `k0`–`k15`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextRun {
    pub text: String,
    pub class: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JUnitView {
    /// Failures and errors first, then skipped, then passed (at most a few thousand).
    pub cases: Vec<TestCaseView>,
    pub total: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    /// Where and why the report was read no further (its counts are up to there).
    pub stopped: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestCaseView {
    pub suite: String,
    pub class_name: String,
    pub name: String,
    /// Milliseconds, as the report gave them (in seconds).
    pub time_ms: Option<u64>,
    pub outcome: TestOutcome,
    pub message: String,
    pub detail: String,
}

/// Errors a page shows as they are: each message is written for the reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum UiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but not allowed (pinning a build of a project one is not a member of).
    #[error("{0}")]
    Forbidden(String),
    /// A store the server needs is not answering; try again soon.
    #[error("{0}")]
    Unavailable(String),
    /// Refused for now; try again after `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    #[error("Something went wrong on the server; the details are in its log.")]
    Internal,
    #[error("{0}")]
    Transport(String),
    /// The server is at its limit for this kind of work (previews, comparisons, archives); try
    /// again after `retry_after` seconds.
    #[error("{message}")]
    Busy { message: String, retry_after: u64 },
}

impl server_fn::error::FromServerFnError for UiError {
    type Encoder = server_fn::codec::PostcardEncoding;

    /// A call the server cannot read (missing or malformed arguments, a wrong method) is the
    /// caller's mistake: 400 with what was wrong, not a server fault.
    fn from_server_fn_error(value: server_fn::error::ServerFnErrorErr) -> Self {
        use server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(why) | E::MissingArg(why) | E::Deserialization(why) | E::UnsupportedRequestMethod(why) => {
                let error = UiError::BadRequest(format!("This request cannot be read: {why}"));
                #[cfg(feature = "ssr")]
                backend::set_status_for::<()>(&Err(error.clone()));
                error
            }
            other => UiError::Transport(other.to_string()),
        }
    }
}

use leptos::server_fn;
use leptos::server_fn::codec::Postcard;

mod form;
pub use form::{Form, FormInput};
use form::{form_encoded, required};

impl FormInput for Login {
    fn to_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![("username", self.username.clone()), ("password", self.password.clone())];
        fields.extend(self.next.clone().map(|next| ("next", next)));
        fields
    }

    fn from_fields(field: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        Ok(Login {
            username: required(&field, "username")?,
            password: required(&field, "password")?,
            next: field("next"),
        })
    }
}

impl FormInput for PinBuild {
    fn to_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("vcs", self.vcs.clone()),
            ("org", self.org.clone()),
            ("repo", self.repo.clone()),
            ("build_num", self.build_num.clone()),
            ("pin", self.pin.to_string()),
        ]
    }

    fn from_fields(field: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        Ok(PinBuild {
            vcs: required(&field, "vcs")?,
            org: required(&field, "org")?,
            repo: required(&field, "repo")?,
            build_num: required(&field, "build_num")?,
            pin: required(&field, "pin")? == "true",
        })
    }
}

form_encoded!(Login, PinBuild);

#[cfg(feature = "ssr")]
async fn session_token_from_request() -> Option<String> {
    let headers: http::HeaderMap = leptos_axum::extract().await.ok()?;
    backend::get().ok()?.cookies().session_from_headers(&headers)
}

#[server(endpoint = "build", input = Postcard, output = Postcard)]
pub async fn get_build_page(
    vcs: String,
    org: String,
    repo: String,
    build_num: String,
) -> Result<BuildPageData, UiError> {
    let session = session_token_from_request().await;
    let result = match backend::PageBuild::parse(&vcs, &org, &repo, &build_num) {
        Ok(at) => backend::get()?.build_page(session, &at).await,
        Err(e) => Err(e),
    };
    backend::set_status_for(&result);
    result
}

/// A page of the Artifacts tab: the folder `folder` (`""` for the top, else ending in `/`)
/// of container `node`, from `after`; or, with a `filter`, the build's artifacts whose path
/// contains it (any case), answered from an index.
#[server(endpoint = "browse", input = Postcard, output = Postcard)]
pub async fn browse_artifacts(at: BrowseRequest) -> Result<FolderView, UiError> {
    let session = session_token_from_request().await;
    let result = match backend::Browse::parse(&at) {
        Ok(at) => backend::get()?.browse(session, &at).await,
        Err(e) => Err(e),
    };
    backend::set_status_for(&result);
    result
}

/// A later page of the gallery, [`GALLERY_PAGE`] images from `after`.
#[server(endpoint = "gallery", input = Postcard, output = Postcard)]
pub async fn gallery_images(at: GalleryRequest) -> Result<GalleryPage, UiError> {
    let session = session_token_from_request().await;
    let result = match backend::GalleryAfter::parse(&at) {
        Ok(at) => backend::get()?.gallery(session, &at).await,
        Err(e) => Err(e),
    };
    backend::set_status_for(&result);
    result
}

/// An artifact opened in the Artifacts tab: its facts and a preview (text and logs, JSON,
/// JUnit reports, images), read from its first bytes.
#[server(endpoint = "file", input = Postcard, output = Postcard)]
pub async fn open_artifact(at: FileRequest) -> Result<FileView, UiError> {
    let session = session_token_from_request().await;
    let (headers, extensions): (http::HeaderMap, http::Extensions) =
        leptos_axum::extract().await.map_err(|e| UiError::Transport(e.to_string()))?;
    let result = match backend::OpenedFile::parse(&at) {
        Ok(at) => backend::get()?.open_artifact(session, &at, &headers, &extensions).await,
        Err(e) => Err(e),
    };
    backend::set_status_for(&result);
    result
}

/// Pins a build (its artifacts outlive the retention) or unpins it; members only. As a form
/// post without JavaScript, it returns to the page it came from.
#[server(endpoint = "pin", input = Form, output = Postcard)]
pub async fn pin_build(vcs: String, org: String, repo: String, build_num: String, pin: bool) -> Result<(), UiError> {
    let session = session_token_from_request().await;
    let result = match backend::PageBuild::parse(&vcs, &org, &repo, &build_num) {
        Ok(at) => backend::get()?.pin_build(session, &at, pin).await,
        Err(e) => Err(e),
    };
    backend::set_status_for(&result);
    result
}

#[server(endpoint = "whoami", input = Postcard, output = Postcard)]
pub async fn current_user() -> Result<Option<String>, UiError> {
    let session = session_token_from_request().await;
    backend::get()?.current_user(session).await
}

/// Signs in and sets the session cookie; then goes to `next` (a path on this site) or `/`.
#[server(endpoint = "login", input = Form, output = Postcard)]
pub async fn login(username: String, password: String, next: Option<String>) -> Result<(), UiError> {
    let backend = backend::get()?;
    let (headers, extensions): (http::HeaderMap, http::Extensions) =
        leptos_axum::extract().await.map_err(|e| UiError::Transport(e.to_string()))?;
    let result = backend.login(&username, &password, &headers, &extensions).await;
    // Wrong credentials are a 401 and too many attempts a 429, never a server error.
    backend::set_status_for(&result);
    let session = result?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    response.append_header(http::header::SET_COOKIE, backend.cookies().session_cookie(&session));
    leptos_axum::redirect(&backend::safe_next(next.as_deref()));
    Ok(())
}
