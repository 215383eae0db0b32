//! Browsable artifacts (HTML reports, SVG) are served from a second origin that holds no
//! session, under a short-lived capability in the path prefix:
//! `{artifacts_url}/c/{capability}/{pretty path}`. Relative links inside a report (its CSS,
//! scripts, images, other pages) resolve under the same prefix and keep working; the
//! capability names one build and container and expires, so a leaked link does not last.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const CAPABILITY_TTL: Duration = Duration::from_secs(3600);

/// What a capability grants: reading the artifacts of one container of one build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub build_id: i64,
    pub node_index: i64,
    pub expires_at: i64,
}

/// Signs and checks capabilities with a key kept in the data dir (shared by every server
/// on it).
#[derive(Clone)]
pub struct ArtifactsOrigin {
    key: Vec<u8>,
    /// Base URL of the artifacts listener, without a trailing `/`.
    pub base_url: String,
}

impl std::fmt::Debug for ArtifactsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactsOrigin").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

impl ArtifactsOrigin {
    pub fn new(key: Vec<u8>, base_url: String) -> Self {
        ArtifactsOrigin { key, base_url: base_url.trim_end_matches('/').to_owned() }
    }

    fn mac(&self, payload: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes()[..16].to_vec()
    }

    pub fn capability(&self, grant: Grant) -> String {
        let payload = format!("{}.{}.{}", grant.build_id, grant.node_index, grant.expires_at);
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(self.mac(&payload)))
    }

    /// The grant a capability carries, if its signature holds and it has not expired.
    pub fn check(&self, capability: &str, now: i64) -> Option<Grant> {
        let (payload, mac) = capability.split_once('.')?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let mut check = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        check.update(payload.as_bytes());
        check.verify_truncated_left(&mac).ok()?;
        let mut parts = payload.split('.').map(str::parse::<i64>);
        let grant =
            Grant { build_id: parts.next()?.ok()?, node_index: parts.next()?.ok()?, expires_at: parts.next()?.ok()? };
        (grant.expires_at > now).then_some(grant)
    }

    /// The URL a browser opens for one artifact of the granted container.
    pub fn url(&self, grant: Grant, pretty_path: &str) -> String {
        crate::urls::artifacts_origin(&self.base_url, &self.capability(grant), pretty_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_verify_expire_and_resist_tampering() {
        let origin = ArtifactsOrigin::new(b"k".repeat(32), "http://127.0.0.1:3002/".into());
        let grant = Grant { build_id: 7, node_index: 1, expires_at: 1000 };
        let cap = origin.capability(grant);
        assert_eq!(origin.check(&cap, 999), Some(grant));
        assert_eq!(origin.check(&cap, 1000), None, "expired");
        let other = ArtifactsOrigin::new(b"x".repeat(32), String::new());
        assert_eq!(other.check(&cap, 0), None, "another key");
        let forged = format!("{}.{}", URL_SAFE_NO_PAD.encode("8.1.1000"), cap.split_once('.').unwrap().1);
        assert_eq!(origin.check(&forged, 0), None, "another build");
        assert!(origin.url(grant, "report/a b.html").starts_with("http://127.0.0.1:3002/c/"));
        assert!(origin.url(grant, "report/a b.html").ends_with("/report/a%20b.html"));
    }
}
