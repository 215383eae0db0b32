//! Every route and layer of the HTTP server, in one place.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodFilter, MethodRouter};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa::openapi::path::Paths;
use utoipa::openapi::{RefOr, Schema};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;
use vitrine_app::api::backend::Backend;
use vitrine_app::{App, shell};

use crate::http::error::ApiError;
use crate::http::openapi::ApiDoc;
use crate::http::state::AppState;
use crate::http::{agent, downloads, operations, pages, site, v1_1, v2};

/// One route of the HTTP API or the site (besides the Leptos pages and server functions,
/// which Leptos lists itself): its method, its path in axum's syntax, its handler, and, for
/// the routes the API documents, its OpenAPI operation with the schemas it names.
pub struct Route {
    pub method: Method,
    pub path: String,
    handler: MethodRouter<AppState>,
    doc: Option<Documented>,
}

/// A route's OpenAPI operation (by its path) and the schemas it names.
type Documented = (Vec<(String, RefOr<Schema>)>, Paths);

/// A route the API documents: its method, path and operation come from its handler's
/// `#[utoipa::path]`, whose path is written in axum's syntax (`{*path}` for the rest of a
/// path; the document says `{path}`).
fn documented((schemas, paths, handler): UtoipaMethodRouter<AppState>) -> Route {
    let (path, item) = paths.paths.iter().next().expect("a handler has one path");
    let method = [
        (&item.get, Method::GET),
        (&item.post, Method::POST),
        (&item.put, Method::PUT),
        (&item.delete, Method::DELETE),
        (&item.patch, Method::PATCH),
    ]
    .into_iter()
    .find_map(|(operation, method)| operation.is_some().then_some(method))
    .expect("a documented handler has a method");
    Route { method, path: path.clone(), handler, doc: Some((schemas, paths)) }
}

fn route<H, T>(method: Method, path: impl Into<String>, handler: H) -> Route
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
    Route { method, path: path.into(), handler: axum::routing::on(filter, handler), doc: None }
}

/// Every route besides the Leptos pages and server functions: the one list. The router mounts
/// exactly these, the OpenAPI document is made of the documented ones ([`api_document`]), and
/// the access-table test checks that each one is in its table.
pub fn routes() -> Vec<Route> {
    use Method as M;
    vec![
        documented(routes!(v1_1::me::get_me)),
        documented(routes!(v1_1::me::list_projects)),
        documented(routes!(v1_1::builds::list_builds)),
        documented(routes!(v1_1::builds::list_branch_builds)),
        documented(routes!(v1_1::builds::get_build)),
        documented(routes!(v1_1::artifacts::list_artifacts)),
        documented(routes!(v1_1::tests::list_tests)),
        documented(routes!(v1_1::artifacts::get_artifact)),
        documented(routes!(v2::artifacts::list_job_artifacts)),
        documented(routes!(agent::builds::start_build)),
        documented(routes!(agent::uploads::plan_uploads)),
        documented(routes!(agent::uploads::complete_uploads)),
        documented(routes!(agent::builds::finish_build)),
        documented(routes!(openapi_json)),
        route(M::GET, "/api/{*rest}", api_not_found),
        route(M::POST, "/api/{*rest}", api_not_found),
        // The artifact route in the site's own shape (`/gh/acme/widgets/latest/artifacts/0/...`),
        // for links people copy from the build page.
        route(M::GET, "/{vcs}/{org}/{repo}/{build_num}/artifacts/{node_index}/{*path}", v1_1::artifacts::get_artifact),
        route(M::GET, "/{vcs}/{org}/{repo}/{build_num}/download/{node_index}", site::download_zip),
        route(M::GET, "/{vcs}/{org}/{repo}/{build_num}/compare/{node_index}/{*path}", site::image_diff),
        route(M::GET, "/{vcs}/{org}/{repo}/{build_num}/trace/{node_index}/{*path}", site::open_trace),
        documented(routes!(operations::healthz)),
        documented(routes!(operations::readyz)),
        documented(routes!(operations::metrics)),
        route(M::GET, "/downloads/", downloads::list),
        route(M::GET, "/downloads/{name}", downloads::file),
        // Pages rendered on the server alone: the listings, and the pages people change things
        // on (plain forms).
        route(M::GET, "/", pages::listings::projects),
        route(M::GET, "/{vcs}/{org}/{repo}", pages::listings::project),
        route(M::GET, "/{vcs}/{org}/{repo}/settings", pages::settings::show),
        route(M::POST, "/{vcs}/{org}/{repo}/settings", pages::settings::change),
        route(M::GET, "/account", pages::account::show),
        route(M::POST, "/account", pages::account::change),
        route(M::GET, "/admin", pages::admin::show),
        route(M::POST, "/admin", pages::admin::change),
        route(M::GET, "/login", pages::sign_in::show),
        route(M::POST, "/login", pages::sign_in::password),
        route(M::POST, "/auth/oidc/start", pages::sign_in::start),
        route(M::GET, "/auth/oidc/callback", pages::sign_in::callback),
        route(M::GET, "/logout", logout_needs_post),
        route(M::POST, "/logout", logout),
    ]
}

/// The OpenAPI document: [`ApiDoc`]'s description, tags and security, and the operations of
/// the documented routes with the schemas they name.
pub fn api_document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for (schemas, paths) in routes().into_iter().filter_map(|r| r.doc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.schemas.extend(schemas);
        for (path, item) in paths.paths {
            match doc.paths.paths.entry(path.replace("{*", "{")) {
                std::collections::btree_map::Entry::Occupied(mut kept) => kept.get_mut().merge_operations(item),
                std::collections::btree_map::Entry::Vacant(new) => {
                    new.insert(item);
                }
            }
        }
    }
    doc
}

/// The document as JSON, made once.
pub fn document() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| api_document().to_pretty_json().expect("the document serializes"))
}

/// `GET /api/openapi.json`
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, no-cache")),
        ],
        document(),
    )
        .into_response()
}

/// The Leptos pages and server functions, as (method, path): the rest of what the app serves.
pub fn page_routes() -> Vec<(Method, String)> {
    let pages = generate_route_list(App).into_iter().flat_map(|listing| {
        let path = listing.path().to_owned();
        listing.methods().map(move |m| (leptos_method(m), path.clone())).collect::<Vec<_>>()
    });
    let server_fns = leptos::server_fn::axum::server_fn_paths().map(|(path, method)| (method, path.to_owned()));
    pages.chain(server_fns).collect()
}

fn leptos_method(method: leptos_router::Method) -> Method {
    use leptos_router::Method as L;
    match method {
        L::Get => Method::GET,
        L::Post => Method::POST,
        L::Put => Method::PUT,
        L::Delete => Method::DELETE,
        L::Patch => Method::PATCH,
    }
}

pub fn router(state: AppState) -> Router {
    let (agent, others): (Vec<Route>, Vec<Route>) =
        routes().into_iter().partition(|r| r.path.starts_with("/api/agent/"));
    let agent_api = agent
        .into_iter()
        .fold(Router::new(), |router, r| router.route(&r.path, r.handler))
        .route_layer(axum::middleware::from_fn(agent::require_protocol))
        // A plan of 1,000 files with long paths exceeds axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::max(16 << 20));
    let (api, site): (Vec<Route>, Vec<Route>) = others.into_iter().partition(|r| r.path.starts_with("/api/"));
    let api = api
        .into_iter()
        .fold(Router::new(), |router, r| router.route(&r.path, r.handler))
        .merge(agent_api)
        // Answers that may be kept (listings, redirects) say how themselves; the rest may not.
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    let site = site.into_iter().fold(Router::new(), |router, r| router.route(&r.path, r.handler));

    let options = state.leptos_options.clone();
    let ui = state.ui.clone();
    let routes = generate_route_list(App);
    Router::new()
        .merge(api)
        .merge(site)
        .merge(site_pkg(&options))
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let ui = ui.clone();
                move || provide_context(Backend(ui.clone()))
            },
            {
                let options = options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            move || provide_context(Backend(ui.clone())),
            shell,
        ))
        // One stack, applied once: each `Router::layer` call wraps every route in another
        // boxed service, cloned and polled through on every request.
        .layer(
            tower::ServiceBuilder::new()
                .layer(crate::http::access_log::Access)
                // Answers made per request (pages, running builds' listings) are compressed at
                // gzip's fastest level, as nginx's default `gzip_comp_level 1`: a third of the
                // time of the default level for a few percent more bytes. What is kept (a
                // finished build's listing, the bundle) is compressed once, at a higher level.
                .layer(
                    CompressionLayer::new()
                        .quality(tower_http::CompressionLevel::Fastest)
                        .compress_when(DefaultPredicate::new().and(compressible as CompressWhen)),
                )
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SameSiteWrites { origin: crate::urls::origin_of(&state.vitrine.settings().public_url).into() }),
        )
        .with_state(state)
}

/// Only text is compressed per request (pages, JSON, postcard, XML, scripts, SVG). Zips,
/// archives, images, video, fonts and whatever else a build stored go out as they are: gzip on
/// top of a zip costs CPU for nothing, and on a zip of zeros it makes one request a thousandfold
/// read of the store.
type CompressWhen = fn(StatusCode, http::Version, &http::HeaderMap, &http::Extensions) -> bool;

fn compressible(_: StatusCode, _: http::Version, headers: &http::HeaderMap, _: &http::Extensions) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/').unwrap_or((&essence, ""));
    match kind {
        "text" => true,
        "application" => {
            matches!(subtype, "json" | "javascript" | "xml" | "x-postcard" | "x-ndjson" | "problem+json")
                || subtype.ends_with("+json")
                || subtype.ends_with("+xml")
        }
        "image" => subtype == "svg+xml",
        _ => false,
    }
}

/// The client bundle and stylesheet under `/pkg`, as `cargo leptos build --precompress` left
/// them: a brotli or gzip copy to whoever takes it, never compressed again per request. Names
/// with a content hash (`hash-files`) are kept by browsers for a year; wasm-bindgen's
/// snippets keep plain names, so browsers ask again each time (a `304` when unchanged).
fn site_pkg(options: &LeptosOptions) -> Router<AppState> {
    let pkg = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let files = |dir: std::path::PathBuf, cache: &'static str| {
        tower::ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static(cache)))
            .layer(SetResponseHeaderLayer::appending(header::VARY, HeaderValue::from_static("Accept-Encoding")))
            .service(ServeDir::new(dir).precompressed_br().precompressed_gzip())
    };
    let hashed = if options.hash_files { "public, max-age=31536000, immutable" } else { "public, no-cache" };
    Router::new()
        .nest_service(&format!("/{}", options.site_pkg_dir), files(pkg.clone(), hashed))
        .nest_service(&format!("/{}/snippets", options.site_pkg_dir), files(pkg.join("snippets"), "public, no-cache"))
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("Not found: see the v1.1 API routes in the Vitrine README")
}

/// Ends the session; one opened through a provider that supports RP-initiated logout goes on
/// to the provider, to end the person's session there too.
async fn logout(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let cookies = state.policy.cookies();
    let mut to = None;
    if let Some(session) = cookies.session_from_headers(&headers) {
        match state.vitrine.sign_in().sign_out(&session).await {
            Ok(provider) => to = provider,
            Err(e) => tracing::error!(error = ?e, "logout"),
        }
    }
    let mut response = Redirect::to(to.as_deref().unwrap_or("/")).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookies.clear_session_cookie());
    response
}

/// Signing out changes state, so it takes a POST (the page's "Sign out" button): a link or an
/// image on another site cannot sign anyone out.
async fn logout_needs_post() -> Response {
    let mut response =
        (StatusCode::METHOD_NOT_ALLOWED, "Sign out with the button on any page (a POST to /logout).\n").into_response();
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// A state-changing request a browser sends from another site is refused, with or without a
/// cookie: that covers writes on a signed-in user's behalf (from an artifact page on the
/// artifacts origin, say: artifacts are untrusted content) and signing a visitor in to an
/// account of the attacker's (login CSRF). Browsers label requests with `Sec-Fetch-Site`;
/// older ones only send `Origin`, which must then be `origin` (this server's). Agents and API
/// clients send neither and are not affected.
fn cross_site_write(request: &Request<Body>, origin: &str) -> bool {
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let headers = request.headers();
    writes
        && match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some(site) => !matches!(site, "same-origin" | "none"),
            None => headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).is_some_and(|o| o != origin),
        }
}

/// Refuses [`cross_site_write`]s. A layer of its own rather than `middleware::from_fn`: the
/// check reads headers only, so a request passes straight to the router, without the
/// boxing and the clone of the whole inner service that `from_fn` costs every request.
#[derive(Clone)]
struct SameSiteWrites {
    origin: std::sync::Arc<str>,
}

impl<S> tower::Layer<S> for SameSiteWrites {
    type Service = SameSiteWritesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SameSiteWritesService { inner, origin: self.origin.clone() }
    }
}

#[derive(Clone)]
struct SameSiteWritesService<S> {
    inner: S,
    origin: std::sync::Arc<str>,
}

impl<S> tower::Service<Request<Body>> for SameSiteWritesService<S>
where
    S: tower::Service<Request<Body>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures::future::Either<std::future::Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if cross_site_write(&request, &self.origin) {
            let refused = ApiError::new(StatusCode::FORBIDDEN, "Cross-site request refused");
            return futures::future::Either::Left(std::future::ready(Ok(refused.into_response())));
        }
        futures::future::Either::Right(self.inner.call(request))
    }
}
