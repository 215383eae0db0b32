//! Every URL shape Vitrine hands out, in one place: the API routes (the shapes CircleCI
//! clients know), the build page, and the artifacts origin's capability URLs. The router
//! mounts the same shapes (`API_PROJECT`, `AGENT_BUILDS`).

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use vitrine_store::Project;

/// The v1.1 project routes (CircleCI's shape): `/api/v1.1/project/{vcs}/{org}/{repo}...`.
pub const API_PROJECT: &str = "/api/v1.1/project/{vcs}/{org}/{repo}";
/// The agent API's builds of a project.
pub const AGENT_BUILDS: &str = "/api/agent/projects/{vcs}/{org}/{repo}/builds";

/// Characters escaped in a path segment of an artifact URL; `$` and `/` stay as they are, so
/// `$CIRCLE_ARTIFACTS/hello.txt` reads as CircleCI shows it.
pub const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^')
    .add(b'[')
    .add(b']');

/// The v1.1 artifact route of one artifact, relative to the site root.
pub fn artifact_route(project: &Project, build_num: i64, node_index: i64, pretty_path: &str) -> String {
    format!(
        "/api/v1.1/project/{}/{}/artifacts/{}/{}",
        project.long_slug(),
        build_num,
        node_index,
        utf8_percent_encode(pretty_path, PATH_SEGMENT)
    )
}

/// Where an image's pixel difference with its baseline is drawn (a PNG), relative to the site
/// root: `/gh/acme/widgets/42/compare/0/screenshots/login.png`.
pub fn compare_route(project: &Project, build_num: i64, node_index: i64, pretty_path: &str) -> String {
    format!(
        "/{}/{build_num}/compare/{node_index}/{}",
        project.short_slug(),
        utf8_percent_encode(pretty_path, PATH_SEGMENT)
    )
}

/// The page people open for a build, relative to the site root: `/gh/acme/widgets/42`.
pub fn build_page(project: &Project, build_num: i64) -> String {
    format!("/{}/{build_num}", project.short_slug())
}

/// Where the artifacts origin serves one artifact of a container that `capability` grants:
/// `{artifacts_url}/c/{capability}/{pretty path}`, so a report's relative links stay under it.
pub fn artifacts_origin(artifacts_url: &str, capability: &str, pretty_path: &str) -> String {
    format!("{artifacts_url}/c/{capability}/{}", utf8_percent_encode(pretty_path, PATH_SEGMENT))
}

/// `https://host:port` of a URL: scheme, host and port.
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?']) {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// The URL of another listener of this server as clients reach it: the public URL's scheme
/// and host with that listener's port (`https://ci.example.com` and 3001:
/// `https://ci.example.com:3001`).
pub fn beside(public_url: &url::Url, port: u16) -> String {
    // `host_str` gives an IPv6 address between its brackets already.
    let host = public_url.host_str().unwrap_or("localhost");
    format!("{}://{host}:{port}", public_url.scheme())
}

/// Whether clients elsewhere cannot use a URL: its host is a loopback or unspecified address
/// (`127.0.0.1`, `localhost`, `0.0.0.0`, `[::]`).
pub fn names_this_machine_only(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Domain(name)) => name == "localhost" || name.ends_with(".localhost"),
        None => true,
    }
}

/// `host:port` of a URL (as a `Host` header names it).
pub fn authority_of(url: &str) -> String {
    let origin = origin_of(url);
    origin.split_once("://").map_or(origin, |(_, authority)| authority).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VcsType;

    fn project() -> Project {
        Project {
            id: vitrine_store::ProjectId(1),
            vcs: VcsType::Github,
            org: "acme".into(),
            repo: "widgets".into(),
            public: true,
        }
    }

    #[test]
    fn listeners_beside_the_public_url_take_its_scheme_and_host() {
        let public: url::Url = "https://ci.example.com/".parse().unwrap();
        assert_eq!(beside(&public, 3001), "https://ci.example.com:3001");
        let v6: url::Url = "http://[fd00::1]:3000".parse().unwrap();
        assert_eq!(beside(&v6, 3900), "http://[fd00::1]:3900");
        for local in ["http://127.0.0.1:3000", "http://0.0.0.0:3000", "http://[::]:3000", "http://localhost:3000"] {
            assert!(names_this_machine_only(&local.parse().unwrap()), "{local}");
        }
        assert!(!names_this_machine_only(&"http://10.231.0.1:3000".parse().unwrap()));
        assert!(!names_this_machine_only(&public));
    }

    #[test]
    fn routes_keep_dollar_and_slashes_but_escape_the_rest() {
        assert_eq!(
            artifact_route(&project(), 63, 0, "$CIRCLE_ARTIFACTS/hello.txt"),
            "/api/v1.1/project/github/acme/widgets/63/artifacts/0/$CIRCLE_ARTIFACTS/hello.txt"
        );
        assert_eq!(
            artifact_route(&project(), 1, 2, "a b/c?#%.txt"),
            "/api/v1.1/project/github/acme/widgets/1/artifacts/2/a%20b/c%3F%23%25.txt"
        );
    }

    #[test]
    fn build_pages_and_artifacts_origin_urls() {
        assert_eq!(build_page(&project(), 42), "/gh/acme/widgets/42");
        assert_eq!(artifacts_origin("http://a:1", "cap.sig", "r/a b.html"), "http://a:1/c/cap.sig/r/a%20b.html");
        assert_eq!(origin_of("https://v.example/ci?x"), "https://v.example");
        assert_eq!(origin_of("http://*.a.localhost:3001"), "http://*.a.localhost:3001");
    }
}
