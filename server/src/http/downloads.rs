//! The agent binaries this server was built with, for build machines: `/downloads/` lists
//! them with the lines that install one, `/downloads/vitrine-agent-<target>` is one (for
//! example `vitrine-agent-x86_64-unknown-linux-gnu`), and `<name>.sha256` its checksum as
//! `sha256sum` prints it. scripts/build.sh puts them in the site's `downloads/` folder.
//! Anyone may fetch them: they hold nothing of any project.

use std::path::PathBuf;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::http::state::AppState;

/// The prefix of every file served here.
const AGENT: &str = "vitrine-agent-";

fn folder(state: &AppState) -> PathBuf {
    std::path::Path::new(&*state.leptos_options.site_root).join("downloads")
}

/// Whether `name` may be one of the files: an agent binary or its checksum, a plain name
/// (no path, no dot segment), as build.sh names them.
fn servable(name: &str) -> bool {
    name.strip_prefix(AGENT).is_some_and(|rest| {
        let target = rest.strip_suffix(".sha256").unwrap_or(rest);
        !target.is_empty()
            && !target.starts_with('.')
            && target.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    })
}

/// The agent binaries here, by name, with their checksums.
async fn agents(state: &AppState) -> Vec<(String, String)> {
    let dir = folder(state);
    let Ok(mut entries) = tokio::fs::read_dir(&dir).await else { return Vec::new() };
    let mut found = Vec::new();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if servable(&name) && !name.ends_with(".sha256") {
            let sum = tokio::fs::read_to_string(dir.join(format!("{name}.sha256"))).await.unwrap_or_default();
            found.push((name, sum.split_whitespace().next().unwrap_or("").to_owned()));
        }
    }
    found.sort();
    found
}

/// The first agent binary installed beside the server, by name.
pub async fn installed_agent(state: &AppState) -> Option<String> {
    agents(state).await.into_iter().next().map(|(name, _)| name)
}

/// How a build machine installs the agent `name` from this server and stores a build of
/// `project` with it: two shell lines.
pub fn install_lines(public: &str, name: &str, project: &str) -> [String; 2] {
    [
        format!(
            "curl -fsSL {public}/downloads/{name} -o vitrine-agent && \
             curl -fsSL {public}/downloads/{name}.sha256 | sed 's/ .*/  vitrine-agent/' | sha256sum -c - && \
             sudo install vitrine-agent /usr/local/bin/"
        ),
        format!(
            "VITRINE_URL={public} VITRINE_TOKEN=<a build token of {project}> vitrine-agent run \
             --project {project} -- make test"
        ),
    ]
}

/// `GET /downloads/`: the agent binaries, and how a build machine installs one.
pub async fn list(State(state): State<AppState>) -> Response {
    let public = &state.vitrine.settings().public_url;
    let agents = agents(&state).await;
    let mut text = String::from("Vitrine's build agent, as this server was built with it.\n\n");
    if agents.is_empty() {
        text.push_str(
            "No agent binary is installed beside this server (scripts/build.sh puts them in site/downloads).\n",
        );
    }
    for (name, sha256) in &agents {
        text.push_str(&format!("{public}/downloads/{name}\n  sha256 {sha256}\n"));
    }
    if let Some((name, _)) = agents.first() {
        let [get, run] = install_lines(public, name, "gh/ORG/REPO");
        text.push_str(&format!("\nOn a build machine ({}):\n  {get}\n  {run}\n", name.trim_start_matches(AGENT)));
    }
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], text).into_response()
}

/// `GET /downloads/{name}`: an agent binary, or its checksum.
pub async fn file(State(state): State<AppState>, Path(name): Path<String>, request: Request) -> Response {
    if !servable(&name) {
        return (StatusCode::NOT_FOUND, "No such download: see /downloads/\n").into_response();
    }
    let path = folder(&state).join(&name);
    let checksum = name.ends_with(".sha256");
    let kind = if checksum { "text/plain; charset=utf-8" } else { "application/octet-stream" };
    let file = ServeFile::new_with_mime(&path, &kind.parse().expect("a valid MIME type"));
    let Ok(mut answer) = file.oneshot(request).await;
    if answer.status() == StatusCode::NOT_FOUND {
        return (StatusCode::NOT_FOUND, "No such download: see /downloads/\n").into_response();
    }
    let headers = answer.headers_mut();
    // A new release replaces the files under the same names.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !checksum && let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    answer.map(axum::body::Body::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_agent_binaries_and_their_checksums_are_served() {
        for ok in ["vitrine-agent-x86_64-unknown-linux-gnu", "vitrine-agent-x86_64-unknown-linux-musl.sha256"] {
            assert!(servable(ok), "{ok}");
        }
        for bad in
            ["vitrine-agent-", "vitrine-agent-../vitrine", "vitrine-agent-.sha256", "vitrine", "x/vitrine-agent-a"]
        {
            assert!(!servable(bad), "{bad}");
        }
    }
}
