//! The artifacts origin: a listener of its own that serves browsable artifacts under a
//! capability prefix (see `services::artifacts_origin`). It reads no cookie and sets none.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::ApiResult;
use crate::services::Vitrine;

/// On one origin shared by every build, pages run sandboxed in an opaque origin: scripts work,
/// but they can read no cookie or storage of any origin and their requests count as
/// cross-site.
const SANDBOX: &str = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";
/// With an origin per build (`--artifacts-url 'http://*.artifacts.example'`), pages keep that
/// origin: reports that keep state (Playwright's HTML report reads localStorage) work, and what
/// they can reach is their own build's, which the same people may read. Still no plugins, no
/// top navigation, no cookie of the app (another site).
const SANDBOX_PER_BUILD: &str =
    "sandbox allow-scripts allow-same-origin allow-forms allow-popups allow-modals allow-downloads";

/// The artifacts origin's route for artifacts: one under a capability.
pub const CAPABILITY_ROUTE: &str = "/c/{capability}/{*path}";
/// Where Playwright's trace viewer is served, from the playwright-core package: trusted code,
/// unsandboxed, so that it can register its service worker. The traces it opens stay behind
/// capabilities (`Scope::File`); untrusted pages stay sandboxed under `/c/`.
pub const TRACE_VIEWER_PATH: &str = "/trace-viewer";

pub fn router(vitrine: Vitrine, trace_viewer: Option<std::path::PathBuf>) -> Router {
    let mut router = Router::new().route(CAPABILITY_ROUTE, get(get_report_file));
    if let Some(dir) = trace_viewer {
        let files = tower::ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ))
            .service(tower_http::services::ServeDir::new(dir));
        router = router.nest_service(TRACE_VIEWER_PATH, files);
    }
    router.fallback(|| async { (StatusCode::NOT_FOUND, "Not found\n") }).with_state(vitrine)
}

async fn get_report_file(
    State(vitrine): State<Vitrine>,
    Path((capability, path)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let (artifact, length, bytes) = vitrine.granted_artifact(&capability, host, &path).await?;
    let mut response = (StatusCode::OK, Body::from_stream(bytes)).into_response();
    let headers = response.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&artifact.content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(len) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    let sandbox = if vitrine.artifacts_origin.per_build() { SANDBOX_PER_BUILD } else { SANDBOX };
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(sandbox));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The capability is in the URL: do not hand it to other sites.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    Ok(response)
}
