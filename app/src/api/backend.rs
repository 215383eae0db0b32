//! The seam between the UI and the server crate: what server functions need, as a trait the
//! server implements and provides through Leptos context. Server-only; never in the WASM build.

use std::sync::Arc;

use leptos::prelude::*;

use super::{BuildPageData, ProjectBuilds, ProjectView, UiError};

pub const SESSION_COOKIE: &str = "vitrine_session";

#[async_trait::async_trait]
pub trait UiBackend: Send + Sync + 'static {
    async fn current_user(&self, session: Option<String>) -> Result<Option<String>, UiError>;
    async fn projects(&self, session: Option<String>) -> Result<Vec<ProjectView>, UiError>;
    async fn builds(&self, session: Option<String>, vcs: &str, org: &str, repo: &str)
    -> Result<ProjectBuilds, UiError>;
    async fn build_page(
        &self,
        session: Option<String>,
        vcs: &str,
        org: &str,
        repo: &str,
        build_num: &str,
    ) -> Result<BuildPageData, UiError>;
    /// Checks the password and opens a session; returns the session token.
    async fn login(&self, username: &str, password: &str) -> Result<String, UiError>;
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

/// The session token from a `Cookie` header, if any.
pub fn session_from_headers(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

pub fn session_cookie(token: &str) -> http::HeaderValue {
    let cookie = format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000");
    http::HeaderValue::from_str(&cookie).expect("session tokens are hex")
}

pub fn clear_session_cookie() -> http::HeaderValue {
    http::HeaderValue::from_static("vitrine_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// Only same-site paths are followed after sign-in: `//evil.example` and `https://...` are not.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
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
        Err(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
    };
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
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
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::COOKIE, "a=1; vitrine_session=abc; b=2".parse().unwrap());
        assert_eq!(session_from_headers(&h).as_deref(), Some("abc"));
    }
}
