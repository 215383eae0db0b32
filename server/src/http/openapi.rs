//! The OpenAPI 3.1 document's own parts: its description, tags and security schemes. Its
//! operations come from the route list (`router.rs`: `api_document`, served at
//! `/api/openapi.json`), made from the handlers' annotations and the shapes they answer. A
//! snapshot test holds it, so that a change to a public shape is a deliberate one.

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vitrine",
        description = "Build artifacts, on CircleCI's API. A token goes in the `Circle-Token` header, the \
                       `circle-token` query parameter, or as the user name of HTTP Basic authentication; \
                       a public project's data needs none.",
        license(name = "Apache-2.0"),
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

#[cfg(test)]
mod tests {
    use crate::http::router::document;

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
