//! The artifacts origin: a listener of its own that serves browsable artifacts under a
//! capability prefix (see `services::artifacts_origin`). It reads no cookie and sets none.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use tower_http::set_header::SetResponseHeaderLayer;

use crate::core::Vitrine;
use crate::http::error::ApiResult;

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
pub use crate::core::capabilities::TRACE_VIEWER_PATH;

/// The artifacts origin's routes: artifacts under capabilities and, beside per-build origins,
/// the trace viewer on its own host (`trace`: its files and that host).
pub fn router(vitrine: Vitrine, trace: Option<(std::path::PathBuf, Option<String>)>) -> Router {
    let mut router = Router::new().route(CAPABILITY_ROUTE, get(get_report_file)).with_state(vitrine);
    if let Some((dir, host)) = trace {
        router = router.merge(trace_viewer(dir, host));
    }
    router.fallback(|| async { (StatusCode::NOT_FOUND, "Not found\n") })
}

/// Playwright's trace viewer under [`TRACE_VIEWER_PATH`]: on its own listener (`host`
/// `None`), or only to requests for `host` on a listener shared with per-build origins.
pub fn trace_viewer(dir: std::path::PathBuf, host: Option<String>) -> Router {
    let files = tower::ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        ))
        .service(tower_http::services::ServeDir::new(dir));
    let router = Router::new().nest_service(TRACE_VIEWER_PATH, files);
    let Some(host) = host else {
        return router.fallback(|| async { (StatusCode::NOT_FOUND, "Not found\n") });
    };
    router.route_layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let on_its_host = request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|h| h.eq_ignore_ascii_case(&host));
            async move {
                if on_its_host {
                    next.run(request).await
                } else {
                    (StatusCode::NOT_FOUND, "Not found\n").into_response()
                }
            }
        },
    ))
}

async fn get_report_file(
    State(vitrine): State<Vitrine>,
    Path((capability, path)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let (artifact, length, bytes) = vitrine.artifacts().granted_artifact(&capability, host, &path).await?;
    let mut response = (StatusCode::OK, Body::from_stream(bytes)).into_response();
    let headers = response.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&artifact.content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(len) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    // The trace viewer, on its own origin, fetches the trace it was given from here.
    if let Some(viewer) = vitrine.capabilities().trace_viewer().and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, viewer);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    let sandbox = if vitrine.capabilities().per_build() { SANDBOX_PER_BUILD } else { SANDBOX };
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(sandbox));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The capability is in the URL: do not hand it to other sites.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    Ok(response)
}
