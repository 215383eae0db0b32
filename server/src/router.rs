//! Every route and layer of the HTTP server, in one place.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use vitrine_app::api::backend::Backend;
use vitrine_app::{App, shell};

use crate::api::{agent, v1_1, v2};
use crate::app::AppState;
use crate::error::ApiError;

pub fn router(state: AppState) -> Router {
    use crate::urls::{AGENT_BUILDS as AGENT, API_PROJECT as PROJECT};
    let agent_api = Router::new()
        .route(AGENT, post(agent::builds::start_build))
        .route(&format!("{AGENT}/{{build_num}}/uploads"), post(agent::uploads::plan_uploads))
        .route(&format!("{AGENT}/{{build_num}}/uploads/complete"), post(agent::uploads::complete_uploads))
        .route(&format!("{AGENT}/{{build_num}}/finish"), post(agent::builds::finish_build))
        .route_layer(axum::middleware::from_fn(agent::require_protocol))
        // A plan of 1,000 files with long paths exceeds axum's 2 MB default.
        .layer(axum::extract::DefaultBodyLimit::max(16 << 20));
    let api = Router::new()
        .route("/api/v1.1/me", get(v1_1::me::get_me))
        .route("/api/v1.1/projects", get(v1_1::me::list_projects))
        .route(PROJECT, get(v1_1::builds::list_builds))
        .route(&format!("{PROJECT}/tree/{{*branch}}"), get(v1_1::builds::list_branch_builds))
        .route(&format!("{PROJECT}/{{build_num}}"), get(v1_1::builds::get_build))
        .route(&format!("{PROJECT}/{{build_num}}/artifacts"), get(v1_1::artifacts::list_artifacts))
        .route(
            &format!("{PROJECT}/{{build_num}}/artifacts/{{node_index}}/{{*path}}"),
            get(v1_1::artifacts::get_artifact),
        )
        .route("/api/v2/project/{vcs}/{org}/{repo}/{job_number}/artifacts", get(v2::artifacts::list_job_artifacts))
        .merge(agent_api)
        .route("/api/{*rest}", get(api_not_found).post(api_not_found))
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store")));

    let options = state.leptos_options.clone();
    let ui = state.ui.clone();
    let routes = generate_route_list(App);
    Router::new()
        .merge(api)
        .route("/healthz", get(healthz))
        .route("/logout", get(logout_needs_post).post(logout))
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
        .layer(middleware::from_fn_with_state(state.clone(), reject_cross_site_writes))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.vitrine.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "health check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
    }
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("Not found: see the v1.1 API routes in the Vitrine README")
}

async fn logout(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let cookies = state.vitrine.settings.cookies();
    if let Some(session) = cookies.session_from_headers(&headers)
        && let Err(e) = state.vitrine.accounts().logout(&session).await
    {
        tracing::error!(error = ?e, "logout");
    }
    let mut response = Redirect::to("/").into_response();
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
/// older ones only send `Origin`, which must then be this server's. Agents and API clients
/// send neither and are not affected.
async fn reject_cross_site_writes(State(state): State<AppState>, request: Request<Body>, next: Next) -> Response {
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let headers = request.headers();
    let refused = writes
        && match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some(site) => !matches!(site, "same-origin" | "none"),
            None => headers
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|origin| origin != crate::urls::origin_of(&state.vitrine.settings.public_url)),
        };
    if refused {
        return ApiError { status: StatusCode::FORBIDDEN, message: "Cross-site request refused".into() }
            .into_response();
    }
    next.run(request).await
}
