//! `/api/openapi.json`: the HTTP API (CircleCI's v1.1 and v2 routes, the agent API, the
//! operational routes) as an OpenAPI 3.1 document, generated from the handlers' annotations
//! and the shapes they answer. A snapshot test holds it, so that a change to a public shape
//! is a deliberate one.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{agent, v1_1, v2};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vitrine",
        description = "Build artifacts, on CircleCI's API. A token goes in the `Circle-Token` header, the \
                       `circle-token` query parameter, or as the user name of HTTP Basic authentication; \
                       a public project's data needs none.",
        license(name = "Apache-2.0"),
    ),
    paths(
        v1_1::me::get_me,
        v1_1::me::list_projects,
        v1_1::builds::list_builds,
        v1_1::builds::list_branch_builds,
        v1_1::builds::get_build,
        v1_1::artifacts::list_artifacts,
        v1_1::artifacts::get_artifact,
        v2::artifacts::list_job_artifacts,
        agent::builds::start_build,
        agent::uploads::plan_uploads,
        agent::uploads::complete_uploads,
        agent::builds::finish_build,
        super::operations::healthz,
        super::operations::readyz,
        super::operations::metrics,
        openapi_json,
    ),
    modifiers(&Tokens),
    security((), ("circle_token" = []), ("circle_token_query" = []), ("basic" = [])),
    tags(
        (name = "v1.1", description = "CircleCI's v1.1 routes, in its shapes: existing clients work unchanged"),
        (name = "v2", description = "CircleCI's v2 artifact listing, paged"),
        (name = "agent", description = "What `vitrine run`, `store-artifacts` and `execute` call, with a build token"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

struct Tokens;

impl utoipa::Modify for Tokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "circle_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("Circle-Token"))),
        );
        components.add_security_scheme(
            "circle_token_query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("circle-token"))),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// The document, made once.
pub fn document() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_pretty_json().expect("the document serializes"))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A change to a public shape or route shows here first: review the new snapshot
    /// (`cargo insta review`, or `INSTA_UPDATE=always` and read the diff) before taking it.
    #[test]
    fn the_document_is_the_one_reviewed() {
        insta::assert_snapshot!("openapi", document());
    }

    /// Every route of the API the router mounts is in the document, with its method.
    #[test]
    fn every_api_route_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let operational = ["/healthz", "/readyz", "/metrics"];
        for route in crate::http::router::routes() {
            let documented = route.path.starts_with("/api/") || operational.contains(&route.path.as_str());
            if !documented || route.path == "/api/{*rest}" {
                continue;
            }
            let path = route.path.replace("{*", "{");
            let method = route.method.as_str().to_ascii_lowercase();
            assert!(
                paths.get(&path).is_some_and(|p| p.get(&method).is_some()),
                "{method} {path} is not in the document"
            );
        }
    }
}
