//! The claims Vitrine reads of a person: a name for a new user, and their groups; from the
//! checked ID token, completed from the provider's user info endpoint where the ID token
//! lacks them (GitLab and some Keycloak set-ups send groups there only).

use base64::Engine;
use futures::StreamExt;
use openidconnect::ProviderMetadataWithLogout;
use serde_json::{Map, Value};

use super::error::IdentityError;

/// At most this many groups are read of a person, each at most [`MAX_GROUP_NAME`] bytes; more
/// is refused, not cut: a partial list would take roles away without reason.
const MAX_GROUPS: usize = 1000;
const MAX_GROUP_NAME: usize = 256;
/// A user info answer larger than this is refused.
const MAX_USER_INFO: usize = 256 * 1024;

/// The claims wanted, by name.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub username: &'a str,
    pub groups: Option<&'a str>,
}

impl Wanted<'_> {
    /// Whether a claims object lacks a claim wanted (then the user info is asked).
    pub fn missing_from(&self, claims: &Map<String, Value>) -> bool {
        !claims.contains_key(self.username) || self.groups.is_some_and(|g| !claims.contains_key(g))
    }
}

/// What a provider vouched for: who the person is, and what they are called and belong to.
#[derive(Debug, Clone)]
pub struct Vouched {
    pub subject: String,
    /// The wanted username claim, as sent (the core makes a username of it).
    pub username: Option<String>,
    pub email: Option<String>,
    /// `None` when no groups claim is configured; then groups give nothing and take nothing.
    pub groups: Option<Vec<String>>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

/// The payload of a JWT whose signature was checked: its claims as JSON.
pub fn payload(jwt: &str) -> Result<Map<String, Value>, IdentityError> {
    let part = jwt.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| IdentityError::refused("malformed", e))?;
    serde_json::from_slice(&bytes).map_err(|e| IdentityError::refused("malformed", e))
}

/// The provider's user info about the bearer of `access_token`, which must be `subject`
/// (OpenID Connect Core 5.3.2). `no-user-info`: the provider has no such endpoint.
pub async fn user_info(
    http: &reqwest::Client,
    metadata: &ProviderMetadataWithLogout,
    access_token: &str,
    subject: &str,
) -> Result<Map<String, Value>, IdentityError> {
    let Some(endpoint) = metadata.userinfo_endpoint() else {
        return Err(IdentityError::refused("no-user-info", "the provider has no user info endpoint"));
    };
    let unreachable = |e: reqwest::Error| IdentityError::Unreachable(format!("user info: {e}"));
    let response = http
        .get(endpoint.url().clone())
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(IdentityError::refused("provider-refused", format!("user info answered {}", response.status())));
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        body.extend_from_slice(&chunk.map_err(unreachable)?);
        if body.len() > MAX_USER_INFO {
            return Err(IdentityError::refused("malformed", "the user info is larger than 256 KiB"));
        }
    }
    let info: Map<String, Value> =
        serde_json::from_slice(&body).map_err(|e| IdentityError::refused("malformed", format!("user info: {e}")))?;
    if info.get("sub").and_then(Value::as_str) != Some(subject) {
        return Err(IdentityError::refused("wrong-subject", "the user info is another person's"));
    }
    Ok(info)
}

/// A claim as text, from the ID token or else the user info.
fn text(name: &str, token: &Map<String, Value>, info: Option<&Map<String, Value>>) -> Option<String> {
    let value = token.get(name).or_else(|| info.and_then(|i| i.get(name)))?;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The groups claim: a list of names (or one name); bounded.
fn groups(
    name: &str,
    token: &Map<String, Value>,
    info: Option<&Map<String, Value>>,
) -> Result<Vec<String>, IdentityError> {
    let Some(value) = token.get(name).or_else(|| info.and_then(|i| i.get(name))) else {
        return Ok(Vec::new());
    };
    let names: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    };
    if names.len() > MAX_GROUPS {
        return Err(IdentityError::refused(
            "malformed",
            format!("{} groups: at most {MAX_GROUPS} are read", names.len()),
        ));
    }
    let mut groups: Vec<String> = names
        .into_iter()
        .filter_map(|v| v.as_str())
        .filter(|g| !g.is_empty() && g.len() <= MAX_GROUP_NAME && !g.chars().any(char::is_control))
        .map(str::to_owned)
        .collect();
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// What the provider vouched for, from the checked claims.
pub fn vouched(
    subject: &str,
    token: &Map<String, Value>,
    info: Option<&Map<String, Value>>,
    wanted: &Wanted<'_>,
    refresh_token: Option<String>,
    id_token: Option<String>,
) -> Result<Vouched, IdentityError> {
    if subject.is_empty() || subject.len() > 255 {
        return Err(IdentityError::refused("malformed", "the subject is empty or longer than 255 characters"));
    }
    Ok(Vouched {
        subject: subject.to_owned(),
        username: text(wanted.username, token, info),
        email: text("email", token, info),
        groups: wanted.groups.map(|g| groups(g, token, info)).transpose()?,
        refresh_token,
        id_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn groups_are_read_bounded_and_in_order() {
        let token = claims(r#"{"groups": ["b", "a", "a", "", 3, "c\u0007"]}"#);
        assert_eq!(groups("groups", &token, None).unwrap(), ["a", "b"]);
        assert_eq!(groups("groups", &claims(r#"{"groups": "solo"}"#), None).unwrap(), ["solo"]);
        assert_eq!(groups("groups", &claims("{}"), Some(&claims(r#"{"groups": ["x"]}"#))).unwrap(), ["x"]);
        let many = format!(r#"{{"groups": [{}]}}"#, vec!["\"g\""; MAX_GROUPS + 1].join(","));
        assert!(matches!(
            groups("groups", &claims(&many), None),
            Err(IdentityError::Refused { reason: "malformed", .. })
        ));
    }

    #[test]
    fn the_payload_of_a_jwt_is_its_middle_part() {
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"42"}"#);
        assert_eq!(payload(&format!("e30.{body}.sig")).unwrap()["sub"], "42");
        assert!(payload("e30.!!!.sig").is_err());
    }
}
