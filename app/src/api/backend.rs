//! The seam between the UI and the server crate: what server functions need, as a trait the
//! server implements and provides through Leptos context. Server-only; never in the WASM build.

use std::sync::Arc;

use leptos::prelude::*;

use vitrine_wire::domain::{
    BuildNum, FolderCursor, FolderPath, InvalidInput, MAX_PATH_LEN, NodeIndex, PrettyPath, ProjectSlug,
};

use super::{BrowseRequest, BuildPageData, FileRequest, GalleryRequest, UiError};

/// A build a page names, parsed from its address: its project and its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageBuild {
    pub project: ProjectSlug,
    pub build: BuildNum,
}

impl PageBuild {
    /// A malformed address names no project or build: the page says so as it would for a
    /// missing one.
    pub fn parse(vcs: &str, org: &str, repo: &str, build_num: &str) -> Result<PageBuild, UiError> {
        let project = project_at(vcs, org, repo)?;
        let build = build_num.parse().map_err(|_| UiError::NotFound(format!("There is no build {build_num}")))?;
        Ok(PageBuild { project, build })
    }
}

/// A project a page names, parsed from its address.
pub fn project_at(vcs: &str, org: &str, repo: &str) -> Result<ProjectSlug, UiError> {
    ProjectSlug::new(vcs, org, repo).map_err(|_| UiError::NotFound("Project not found".into()))
}

/// What a page of the Artifacts tab asks for, parsed: the build's artifacts whose path
/// contains a filter, or a page of a folder of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Browse {
    Search { at: PageBuild, filter: String },
    Folder { at: PageBuild, node: NodeIndex, folder: FolderPath, after: Option<FolderCursor> },
}

impl Browse {
    pub fn parse(request: &BrowseRequest) -> Result<Browse, UiError> {
        let BrowseRequest { vcs, org, repo, build_num, node, folder, filter, after } = request;
        let at = PageBuild::parse(vcs, org, repo, build_num)?;
        let filter = filter.trim();
        if filter.len() > MAX_PATH_LEN {
            return Err(UiError::BadRequest(format!("A filter is at most {MAX_PATH_LEN} bytes long")));
        }
        if !filter.is_empty() {
            return Ok(Browse::Search { at, filter: filter.to_owned() });
        }
        let bad = |e: InvalidInput| UiError::BadRequest(e.to_string());
        let node = NodeIndex::try_from(*node).map_err(bad)?;
        let folder: FolderPath = folder.parse().map_err(bad)?;
        let after = Some(after.as_str()).filter(|a| !a.is_empty());
        let after = after.map(|a| FolderCursor::parse(a, &folder)).transpose().map_err(bad)?;
        Ok(Browse::Folder { at, node, folder, after })
    }

    pub fn build(&self) -> &PageBuild {
        match self {
            Browse::Search { at, .. } | Browse::Folder { at, .. } => at,
        }
    }
}

/// A later page of a build's gallery, parsed: it starts after the image at `node` and `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GalleryAfter {
    pub at: PageBuild,
    pub node: i64,
    pub path: String,
}

impl GalleryAfter {
    pub fn parse(request: &GalleryRequest) -> Result<GalleryAfter, UiError> {
        let GalleryRequest { vcs, org, repo, build_num, after } = request;
        let at = PageBuild::parse(vcs, org, repo, build_num)?;
        let missing = || UiError::BadRequest("This page of the gallery does not exist".into());
        if after.len() > MAX_PATH_LEN + 32 {
            return Err(missing());
        }
        let (node, path) = after.split_once(':').ok_or_else(missing)?;
        Ok(GalleryAfter { at, node: node.parse().map_err(|_| missing())?, path: path.to_owned() })
    }
}

/// An artifact the Artifacts tab opens, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedFile {
    pub at: PageBuild,
    pub node: NodeIndex,
    pub path: PrettyPath,
}

impl OpenedFile {
    pub fn parse(request: &FileRequest) -> Result<OpenedFile, UiError> {
        let FileRequest { vcs, org, repo, build_num, node, path } = request;
        let at = PageBuild::parse(vcs, org, repo, build_num)?;
        let node = NodeIndex::try_from(*node).map_err(|e| UiError::BadRequest(e.to_string()))?;
        let path = path.parse().map_err(|e: InvalidInput| UiError::NotFound(e.to_string()))?;
        Ok(OpenedFile { at, node, path })
    }
}

/// The session cookie's name over http (`vitrine_session`), and over https, where it also has
/// `Secure` and the `__Host-` prefix: only this host can set it (no sibling subdomain can plant
/// a session), only over https, for every path.
pub const SESSION_COOKIE: &str = "vitrine_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-vitrine_session";

/// How the session cookie is named and flagged: `secure` when the public URL is https.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    pub fn name(self) -> &'static str {
        if self.secure { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
    }

    /// The session token from a `Cookie` header, if any (only under this policy's name).
    pub fn session_from_headers(self, headers: &http::HeaderMap) -> Option<String> {
        cookie_from_headers(headers, self.name())
    }

    /// A cookie of this site: for every path, never to scripts, sent on top-level navigation
    /// from elsewhere (`Lax`), `Secure` over https; gone after `max_age` seconds.
    pub fn cookie(self, name: &str, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
    }

    pub fn session_cookie(self, token: &str) -> http::HeaderValue {
        http::HeaderValue::from_str(&self.cookie(self.name(), token, 2_592_000)).expect("session tokens are hex")
    }

    pub fn clear_session_cookie(self) -> http::HeaderValue {
        http::HeaderValue::from_str(&self.cookie(self.name(), "", 0)).expect("a fixed cookie")
    }
}

/// A cookie's value from a request's `Cookie` headers; an empty one counts as none.
pub fn cookie_from_headers(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

#[async_trait::async_trait]
pub trait UiBackend: Send + Sync + 'static {
    async fn current_user(&self, session: Option<String>) -> Result<Option<String>, UiError>;
    async fn build_page(&self, session: Option<String>, at: &PageBuild) -> Result<BuildPageData, UiError>;
    /// A page of the Artifacts tab (see [`super::browse_artifacts`]).
    async fn browse(&self, session: Option<String>, at: &Browse) -> Result<super::FolderView, UiError>;
    /// A later page of the gallery (see [`super::gallery_images`]).
    async fn gallery(&self, session: Option<String>, at: &GalleryAfter) -> Result<super::GalleryPage, UiError>;
    /// An artifact opened in the Artifacts tab (see [`super::open_artifact`]); the request's
    /// headers and extensions give the client's address for the audit log.
    async fn open_artifact(
        &self,
        session: Option<String>,
        at: &OpenedFile,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<super::FileView, UiError>;
    /// Pins a build or unpins it (members of its project only).
    async fn pin_build(&self, session: Option<String>, at: &PageBuild, pin: bool) -> Result<(), UiError>;
    /// Checks the password and opens a session; returns the session token. The request's
    /// headers and extensions tell the server who is asking (the client address, read through
    /// trusted proxies only), for its sign-in limits.
    async fn login(
        &self,
        username: &str,
        password: &str,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<String, UiError>;
    /// How the session cookie is named and flagged on this server.
    fn cookies(&self) -> CookiePolicy;
    /// The Content-Security-Policy of a page whose scripts carry `nonce`.
    fn content_security_policy(&self, nonce: &str) -> String;
}

/// The backend, as provided in context by the server.
#[derive(Clone)]
pub struct Backend(pub Arc<dyn UiBackend>);

/// The backend the server provided. Absent only while Leptos renders the app outside a
/// request (collecting its routes at start-up): then data is simply not there.
pub fn get() -> Result<Arc<dyn UiBackend>, UiError> {
    match use_context::<Backend>() {
        Some(backend) => Ok(backend.0),
        None => Err(UiError::Internal),
    }
}

/// Sends the page's Content-Security-Policy, with the nonce Leptos put on its hydration
/// scripts: no other inline script runs on the app's pages.
pub fn send_content_security_policy() {
    let (Some(nonce), Some(backend), Some(response)) =
        (leptos::nonce::use_nonce(), use_context::<Backend>(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    if let Ok(value) = http::HeaderValue::from_str(&backend.0.content_security_policy(&nonce)) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Only paths on this site are followed after sign-in: not `//evil.example`, `https://...`,
/// `/\\evil.example`, nor `/\t/evil.example` (browsers drop tabs and newlines from URLs, which
/// would make it `//evil.example`); visible ASCII only (browsers percent-encode the rest), no
/// backslash, so the path is also always a valid `Location` header.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= 2048
                && n.chars().all(|c| c.is_ascii_graphic() && c != '\\') =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Pages rendered on the server answer with the status their data had (404 for a missing build).
pub fn set_status_for<T>(result: &Result<T, UiError>) {
    let status = match result {
        Ok(_) => return,
        Err(UiError::NotFound(_)) => http::StatusCode::NOT_FOUND,
        Err(UiError::BadRequest(_)) => http::StatusCode::BAD_REQUEST,
        Err(UiError::Unauthorized(_)) => http::StatusCode::UNAUTHORIZED,
        Err(UiError::Forbidden(_)) => http::StatusCode::FORBIDDEN,
        Err(UiError::TooManyRequests { .. }) => http::StatusCode::TOO_MANY_REQUESTS,
        Err(UiError::Unavailable(_) | UiError::Busy { .. }) => http::StatusCode::SERVICE_UNAVAILABLE,
        Err(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
        if let Err(UiError::TooManyRequests { retry_after, .. } | UiError::Busy { retry_after, .. }) = result {
            response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(*retry_after));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_kept_on_site() {
        assert_eq!(safe_next(Some("/gh/a/b/3")), "/gh/a/b/3");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/a\r\nSet-Cookie: x=1")), "/");
        assert_eq!(safe_next(Some("/gh/a/b/3?tab=artifacts#top")), "/gh/a/b/3?tab=artifacts#top");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, "a=1; vitrine_session=abc; b=2".parse().unwrap());
        let (plain, secure) = (CookiePolicy { secure: false }, CookiePolicy { secure: true });
        assert_eq!(plain.session_from_headers(&h).as_deref(), Some("abc"));
        assert_eq!(secure.session_from_headers(&h), None, "over https only the __Host- cookie counts");
        h.insert(http::header::COOKIE, "__Host-vitrine_session=def".parse().unwrap());
        assert_eq!(secure.session_from_headers(&h).as_deref(), Some("def"));
        let cookie = secure.session_cookie("def");
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.starts_with("__Host-vitrine_session=def; Path=/; HttpOnly; SameSite=Lax"), "{cookie}");
        assert!(cookie.ends_with("; Secure") && !cookie.contains("Domain"), "{cookie}");
        assert!(!plain.session_cookie("abc").to_str().unwrap().contains("Secure"));
    }
}
