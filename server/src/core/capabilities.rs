//! Browsable artifacts (HTML reports, SVG) are served from a second origin that holds no
//! session, under a short-lived capability in the path prefix:
//! `{artifacts_url}/c/{capability}/{pretty path}`. Relative links inside a report (its CSS,
//! scripts, images, other pages) resolve under the same prefix and keep working.
//!
//! A capability names one container of one build, a [`Scope`] inside it and an expiry, so a
//! leaked link opens one report's folder for a few minutes and nothing else. When the
//! artifacts URL has a `*` in place of its first host label (`https://*.vitrine-artifacts.example`),
//! every build gets an origin of its own (`b42.vitrine-artifacts.example`) and a capability
//! opens only on its build's host: one build's report cannot read another's, even in a
//! browser that ignores the sandbox.

use std::sync::{Arc, RwLock};
use std::time::Duration;
use vitrine_store::{BuildId, TokenId, UserId};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Long enough to read a report and follow its links; a fresh capability comes with every
/// click on the build page.
/// Where the artifacts origin serves Playwright's trace viewer.
pub const TRACE_VIEWER_PATH: &str = "/trace-viewer";

pub const CAPABILITY_TTL: Duration = Duration::from_secs(15 * 60);

/// The marker CircleCI shows for files a build wrote to its artifacts directory: a report
/// under it is scoped as if it were at the top.
const ARTIFACTS_DIR: &str = "$CIRCLE_ARTIFACTS/";

/// Which artifacts of a container a capability opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything under a folder (ends with `/`): a report with its nested pages, styles and
    /// scripts, or (in the viewer) the entries of an archive opened as a folder,
    /// `site.zip/`.
    Folder(String),
    /// The files directly in a folder (`""` for the top), not in its subfolders: a report
    /// stored at the top level, with the files beside it.
    FilesIn(String),
    /// One artifact: a trace that the trace viewer loads.
    File(String),
}

impl Scope {
    /// The scope of a report: its top-level folder, so that a nested page's
    /// `../../base.css` still resolves; the top-level files when it has no folder.
    pub fn of_report(pretty_path: &str) -> Scope {
        let (root, rest) = match pretty_path.strip_prefix(ARTIFACTS_DIR) {
            Some(rest) => (ARTIFACTS_DIR, rest),
            None => ("", pretty_path),
        };
        match rest.split_once('/') {
            Some((top, _)) => Scope::Folder(format!("{root}{top}/")),
            None => Scope::FilesIn(root.to_owned()),
        }
    }

    pub fn allows(&self, pretty_path: &str) -> bool {
        match self {
            Scope::Folder(prefix) => pretty_path.starts_with(prefix.as_str()),
            Scope::FilesIn(dir) => pretty_path.strip_prefix(dir.as_str()).is_some_and(|rest| !rest.contains('/')),
            Scope::File(path) => pretty_path == path,
        }
    }

    fn encode(&self) -> String {
        match self {
            Scope::Folder(p) => format!("d:{p}"),
            Scope::FilesIn(p) => format!("f:{p}"),
            Scope::File(p) => format!("1:{p}"),
        }
    }

    fn decode(text: &str) -> Option<Scope> {
        let (kind, path) = text.split_once(':')?;
        let path = path.to_owned();
        match kind {
            "d" => Some(Scope::Folder(path)),
            "f" => Some(Scope::FilesIn(path)),
            "1" => Some(Scope::File(path)),
            _ => None,
        }
    }
}

/// Whom a capability was handed to. Each use asks again (through the lookups, a few seconds
/// old at most) whether they may still read the build: a removed member, a project made
/// private, a disabled user or a revoked token stops their links within seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// Anyone: the project was public.
    Anyone,
    /// A user in a browser session.
    User(UserId),
    /// The holder of an API token (a user's, or a project's build token).
    Token(TokenId),
}

impl Holder {
    /// The holder of a capability made for `who`; `None` for those who read nothing.
    pub fn of(who: &super::principal::Principal) -> Option<Holder> {
        use super::principal::Principal;
        match who {
            Principal::Anonymous => Some(Holder::Anyone),
            Principal::User { token_id: Some(t), .. } | Principal::BuildAgent { token_id: t, .. } => {
                Some(Holder::Token(*t))
            }
            Principal::User { id, token_id: None, .. } => Some(Holder::User(*id)),
            Principal::BuildNode { .. } => None,
        }
    }

    fn encode(self) -> String {
        match self {
            Holder::Anyone => "a".into(),
            Holder::User(id) => format!("u{id}"),
            Holder::Token(id) => format!("t{id}"),
        }
    }

    fn decode(text: &str) -> Option<Holder> {
        match text.split_at_checked(1)? {
            ("a", "") => Some(Holder::Anyone),
            ("u", id) => id.parse().ok().map(Holder::User),
            ("t", id) => id.parse().ok().map(Holder::Token),
            _ => None,
        }
    }
}

/// What a capability grants: reading the artifacts of one container of one build that its
/// scope allows, until it expires, while its holder may still read that build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub build_id: BuildId,
    pub node_index: i64,
    pub scope: Scope,
    pub expires_at: i64,
    pub holder: Holder,
}

/// Signs and checks capabilities with a key kept in the metadata store (shared by every
/// server on it), and names the origin each build's artifacts open on.
#[derive(Clone)]
pub struct ArtifactsOrigin {
    /// Replaced when an admin rotates it (`vitrine admin capabilities rotate`): every link
    /// signed with the old key stops.
    key: Arc<RwLock<Vec<u8>>>,
    /// Base URL of the artifacts listener, without a trailing `/`; a `*` as the first host
    /// label stands for each build's own label.
    pub base_url: String,
    /// The origin of Playwright's trace viewer (its own, beside no untrusted page), when the
    /// viewer is installed.
    trace_viewer: Arc<RwLock<Option<String>>>,
}

impl std::fmt::Debug for ArtifactsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactsOrigin").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

/// The host label of a build's own artifacts origin.
fn build_label(build_id: BuildId) -> String {
    format!("b{build_id}")
}

impl ArtifactsOrigin {
    /// Refuses an artifacts URL whose `*` is anywhere but the whole first host label.
    pub fn new(key: Vec<u8>, base_url: &str) -> anyhow::Result<Self> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let (scheme, rest) = base_url
            .split_once("://")
            .ok_or_else(|| anyhow::anyhow!("the artifacts URL `{base_url}` needs a scheme (http:// or https://)"))?;
        anyhow::ensure!(
            matches!(scheme, "http" | "https"),
            "the artifacts URL `{base_url}` must start with http:// or https://"
        );
        let wildcards = base_url.matches('*').count();
        anyhow::ensure!(
            wildcards == 0
                || (wildcards == 1 && rest.starts_with("*.") && !rest[2..].starts_with([':', '/']) && rest.len() > 2),
            "in the artifacts URL `{base_url}`, `*` may only stand for the first label of the host, as in \
             https://*.vitrine-artifacts.example"
        );
        Ok(ArtifactsOrigin { key: Arc::new(RwLock::new(key)), base_url, trace_viewer: Arc::default() })
    }

    /// Whether each build has an origin of its own.
    pub fn per_build(&self) -> bool {
        self.base_url.contains('*')
    }

    /// The origin a build's artifacts open on (the artifacts URL itself unless per build).
    pub fn origin_of(&self, build_id: BuildId) -> String {
        self.origin_of_label(&build_label(build_id))
    }

    /// The artifacts URL with `label` for its `*`.
    pub fn origin_of_label(&self, label: &str) -> String {
        self.base_url.replacen('*', label, 1)
    }

    /// Where Playwright's trace viewer is served (an origin of its own).
    pub fn set_trace_viewer(&self, origin: &str) {
        *self.trace_viewer.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(origin.trim_end_matches('/').to_owned());
    }

    pub fn trace_viewer(&self) -> Option<String> {
        self.trace_viewer.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Whether a request that arrived with this `Host` may use a grant for `build_id`: with
    /// per-build origins, only on that build's host.
    pub fn serves_on(&self, host: Option<&str>, build_id: BuildId) -> bool {
        if !self.per_build() {
            return true;
        }
        let origin = self.origin_of(build_id);
        let authority = origin.split_once("://").map_or(origin.as_str(), |(_, a)| a);
        let authority = authority.split('/').next().unwrap_or(authority);
        host.is_some_and(|h| h.eq_ignore_ascii_case(authority) || authority_without_default_port(authority, h))
    }

    /// Takes a new signing key (read from the metadata store); `true` when it changed.
    pub fn set_key(&self, key: Vec<u8>) -> bool {
        let mut current = self.key.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = *current != key;
        *current = key;
        changed
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let key = self.key.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }

    pub fn capability(&self, grant: &Grant) -> String {
        let payload = format!(
            "{}.{}.{}.{}.{}",
            grant.build_id,
            grant.node_index,
            grant.expires_at,
            grant.holder.encode(),
            grant.scope.encode()
        );
        let mac = self.mac(&payload).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(&mac[..16]))
    }

    /// The grant a capability carries, if its signature holds and it has not expired.
    pub fn check(&self, capability: &str, now: i64) -> Option<Grant> {
        let (payload, mac) = capability.split_once('.')?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        self.mac(&payload).verify_truncated_left(&mac).ok()?;
        let mut parts = payload.splitn(5, '.');
        let grant = Grant {
            build_id: parts.next()?.parse().ok()?,
            node_index: parts.next()?.parse().ok()?,
            expires_at: parts.next()?.parse().ok()?,
            holder: Holder::decode(parts.next()?)?,
            scope: Scope::decode(parts.next()?)?,
        };
        (grant.expires_at > now).then_some(grant)
    }

    /// The URL a browser opens for one artifact of the granted container.
    pub fn url(&self, grant: &Grant, pretty_path: &str) -> String {
        crate::urls::artifacts_origin(&self.origin_of(grant.build_id), &self.capability(grant), pretty_path)
    }
}

/// `b1.example:443` is `b1.example` to a client that leaves the default port out.
fn authority_without_default_port(expected: &str, host: &str) -> bool {
    expected
        .strip_suffix(":443")
        .or_else(|| expected.strip_suffix(":80"))
        .is_some_and(|bare| bare.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(scope: Scope) -> Grant {
        Grant { build_id: BuildId(7), node_index: 1, scope, expires_at: 1000, holder: Holder::User(UserId(3)) }
    }

    #[test]
    fn capabilities_verify_expire_and_resist_tampering() {
        let origin = ArtifactsOrigin::new(b"k".repeat(32), "http://127.0.0.1:3002/").unwrap();
        let g = grant(Scope::Folder("report.v2/".into()));
        let cap = origin.capability(&g);
        assert_eq!(origin.check(&cap, 999), Some(g.clone()));
        assert_eq!(origin.check(&cap, 1000), None, "expired");
        let other = ArtifactsOrigin::new(b"x".repeat(32), "http://a").unwrap();
        assert_eq!(other.check(&cap, 0), None, "another key");
        let mac = cap.split_once('.').unwrap().1;
        for payload in
            ["8.1.1000.u3.d:report.v2/", "7.1.1000.u3.d:", "7.1.9999.u3.d:report.v2/", "7.1.1000.a.d:report.v2/"]
        {
            let forged = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(payload));
            assert_eq!(origin.check(&forged, 0), None, "{payload}");
        }
        // A rotated key: every link signed before stops at once.
        assert!(origin.set_key(b"r".repeat(32)));
        assert_eq!(origin.check(&cap, 999), None, "signed with the old key");
        assert_eq!(origin.check(&origin.capability(&g), 999), Some(g.clone()));
        for holder in [Holder::Anyone, Holder::User(UserId(12)), Holder::Token(TokenId(7))] {
            assert_eq!(Holder::decode(&holder.encode()), Some(holder));
        }
        assert_eq!(Holder::decode("u"), None);
        assert_eq!(Holder::decode("x1"), None);
        assert!(origin.url(&g, "report/a b.html").starts_with("http://127.0.0.1:3002/c/"));
        assert!(origin.url(&g, "report/a b.html").ends_with("/report/a%20b.html"));
    }

    #[test]
    fn a_report_opens_its_top_level_folder_only() {
        let nested = Scope::of_report("coverage/pkg/mod/index.html");
        assert_eq!(nested, Scope::Folder("coverage/".into()));
        assert!(nested.allows("coverage/base.css"));
        assert!(nested.allows("coverage/pkg/other.html"));
        assert!(!nested.allows("coverage-secrets.txt"));
        assert!(!nested.allows("logs/env.txt"));

        let run = Scope::of_report("$CIRCLE_ARTIFACTS/report/index.html");
        assert_eq!(run, Scope::Folder("$CIRCLE_ARTIFACTS/report/".into()));
        assert!(!run.allows("$CIRCLE_ARTIFACTS/secret.txt"));

        let top = Scope::of_report("$CIRCLE_ARTIFACTS/index.html");
        assert!(top.allows("$CIRCLE_ARTIFACTS/style.css"));
        assert!(!top.allows("$CIRCLE_ARTIFACTS/private/key.pem"));
        let bare = Scope::of_report("index.html");
        assert!(bare.allows("style.css"));
        assert!(!bare.allows("logs/env.txt"));

        let one = Scope::File("traces/trace.zip".into());
        assert!(one.allows("traces/trace.zip"));
        assert!(!one.allows("traces/trace.zip.bak"));
    }

    #[test]
    fn per_build_origins() {
        let key = b"k".repeat(32);
        let origin = ArtifactsOrigin::new(key.clone(), "http://*.artifacts.localhost:3001").unwrap();
        assert!(origin.per_build());
        assert_eq!(origin.origin_of(BuildId(42)), "http://b42.artifacts.localhost:3001");
        assert!(origin.url(&grant(Scope::File("a".into())), "a").starts_with("http://b7.artifacts.localhost:3001/c/"));
        assert!(origin.serves_on(Some("B42.artifacts.localhost:3001"), BuildId(42)));
        assert!(!origin.serves_on(Some("b43.artifacts.localhost:3001"), BuildId(42)));
        assert!(!origin.serves_on(None, BuildId(42)));
        let tls = ArtifactsOrigin::new(key.clone(), "https://*.cdn.example:443").unwrap();
        assert!(tls.serves_on(Some("b1.cdn.example"), BuildId(1)));
        let single = ArtifactsOrigin::new(key.clone(), "http://127.0.0.1:3001").unwrap();
        assert!(single.serves_on(Some("anything"), BuildId(42)));
        for bad in [
            "http://a*.example",
            "http://*.localhost/x*",
            "http://x.*.example",
            "http://*.:80",
            "http://*.",
            "ftp://a",
            "a.b",
        ] {
            assert!(ArtifactsOrigin::new(key.clone(), bad).is_err(), "{bad}");
        }
    }
}
