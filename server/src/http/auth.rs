//! Who is calling: a CircleCI-style token (`Circle-Token` header, `?circle-token=`, HTTP Basic
//! with the token as username) or, from the browser, the session cookie.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;

use crate::core::Principal;
use crate::http::error::ApiError;
use crate::http::state::AppState;

const CIRCLE_TOKEN: http::HeaderName = http::HeaderName::from_static("circle-token");

/// The token a request carries, if any, in CircleCI's three forms (and `Bearer`).
pub fn token_from_parts(parts: &Parts) -> Option<String> {
    let headers = &parts.headers;
    if let Some(t) = headers.get(CIRCLE_TOKEN).and_then(|v| v.to_str().ok()) {
        return Some(t.trim().to_owned());
    }
    if let Some(query) = parts.uri.query() {
        let found = form_pairs(query).find_map(|(k, v)| (k == "circle-token").then(|| decode_form(v)).flatten());
        if let Some(t) = found {
            return Some(t);
        }
    }
    let auth = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, value) = auth.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let user = text.split_once(':').map_or(text.as_str(), |(u, _)| u);
            Some(user.to_owned())
        }
        "bearer" => Some(value.trim().to_owned()),
        _ => None,
    }
}

/// A query's pairs, names decoded (values are decoded by [`decode_form`] when wanted).
fn form_pairs(query: &str) -> impl Iterator<Item = (String, &str)> + '_ {
    query.split('&').filter_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        Some((decode_form(k)?, v))
    })
}

/// A form-encoded value decoded (`+` is a space); `None` when it is not UTF-8.
fn decode_form(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8().ok().map(std::borrow::Cow::into_owned)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let principal = if let Some(token) = token_from_parts(parts).filter(|t| !t.is_empty()) {
            state.vitrine.accounts().principal_for_token(&token).await?
        } else if let Some(session) = state.policy.cookies().session_from_headers(&parts.headers) {
            state.vitrine.sign_in().principal_for_session(&session).await?
        } else {
            Principal::Anonymous
        };
        // Who it was, by ids, for the access line.
        if let Some(who) = parts.extensions.get::<crate::http::access_log::Who>() {
            who.set(principal.user_id(), principal.token_id());
        }
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut req = http::Request::builder().uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn tokens_are_read_in_all_circleci_forms() {
        assert_eq!(token_from_parts(&parts("/x", &[("Circle-Token", "abc")])).as_deref(), Some("abc"));
        assert_eq!(token_from_parts(&parts("/x?limit=1&circle-token=q%2Bt", &[])).as_deref(), Some("q+t"));
        // "tok:" in base64, as curl -u tok: sends it.
        assert_eq!(token_from_parts(&parts("/x", &[("Authorization", "Basic dG9rOg==")])).as_deref(), Some("tok"));
        assert_eq!(token_from_parts(&parts("/x", &[])), None);
    }
}
