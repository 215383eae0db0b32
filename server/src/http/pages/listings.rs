//! `/` (the projects the reader may see, searched with `?q=`) and `/:vcs/:org/:repo` (a
//! project's builds, 50 a page by build number, `?before=`, filtered by `?branch=&status=`).
//! Lists of links and plain GET forms, rendered on the server alone: they need no client
//! code, so the app's bundle carries only the build page's. Like the app's pages, they know
//! sessions only: a token here counts as nobody.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use leptos::prelude::*;

use super::{error_page, page, time};
use crate::core::ServiceError;
use crate::core::manage::Caller;
use crate::domain::{BuildNum, ProjectSlug, StatusFilter};
use crate::http::extract::RouteParams;
use crate::http::state::AppState;
use vitrine_app::format::{human_duration, short_revision};
use vitrine_store::{Build, Project, Role};

/// The project page shows this many builds a page.
pub const BUILDS_PAGE: i64 = 50;

/// The status filter's choices: (value in the address, label).
const STATUSES: [(&str, &str); 5] = [
    ("", "Any"),
    ("running", "Running"),
    ("successful", "Successful"),
    ("failed", "Failed"),
    ("completed", "Finished"),
];

/// Who reads a listing: the session's user, or nobody (a token is not looked at).
async fn reader(state: &AppState, parts: &http::request::Parts) -> Result<Caller, ServiceError> {
    let session = state.policy.cookies().session_from_headers(&parts.headers);
    let who = match &session {
        Some(s) => state.vitrine.sign_in().principal_for_session(s).await?,
        None => crate::core::Principal::Anonymous,
    };
    if let Some(seen) = parts.extensions.get::<crate::http::access_log::Who>() {
        seen.set(who.user_id(), None);
    }
    Ok(Caller { who, client: None, session })
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

pub async fn projects(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    let search = match axum::extract::Query::<SearchQuery>::try_from_uri(&parts.uri) {
        Ok(Query(q)) => q.q,
        Err(_) => String::new(),
    };
    let caller = match reader(&state, &parts).await {
        Ok(c) => c,
        Err(e) => return error_page(&state, &crate::core::Principal::Anonymous, &e),
    };
    let listed = match state.vitrine.projects().visible_projects(&caller.who).await {
        Ok(p) => p,
        Err(e) => return error_page(&state, &caller.who, &e),
    };
    let needle = search.trim().to_lowercase();
    let found: Vec<&Project> = listed
        .iter()
        .filter(|p| needle.is_empty() || format!("{}/{}", p.org, p.repo).to_lowercase().contains(&needle))
        .collect();
    let list = if found.is_empty() && !needle.is_empty() {
        view! { <p class="empty">"No project matches."</p> }.into_any()
    } else if found.is_empty() {
        view! {
            <p class="empty">
                "No projects to show. " <a href="/login">"Sign in"</a> " to see private projects you are a member of."
            </p>
        }
        .into_any()
    } else {
        let items = found
            .iter()
            .map(|p| {
                view! {
                    <li>
                        <a href=href(p)>{format!("{}/{}", p.org, p.repo)}</a>
                        <span class="vcs">{p.vcs.short()}</span>
                        {(!p.public).then(|| view! { <span class="private">"private"</span> })}
                    </li>
                }
            })
            .collect_view();
        view! { <ul class="project-list">{items}</ul> }.into_any()
    };
    let body = view! {
        <h1>"Projects"</h1>
        <form method="get" action="/" class="build-filter" role="search" aria-label="Projects">
            <label for="project-search">"Search projects"</label>
            <input id="project-search" type="search" name="q" value=search placeholder="org/repo"/>
            <button type="submit">"Search"</button>
        </form>
        {list}
    }
    .into_any();
    page(&state, &caller.who, StatusCode::OK, "Projects", body)
}

/// `/gh/acme/widgets`
fn href(p: &Project) -> String {
    format!("/{}/{}/{}", p.vcs.short(), p.org, p.repo)
}

/// What the project page's address asks for.
#[derive(Debug, Default, serde::Deserialize)]
pub struct BuildsQuery {
    #[serde(default)]
    branch: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    before: String,
}

/// [`BuildsQuery`] read: which builds the page shows.
struct Wanted<'a> {
    branch: Option<&'a str>,
    status: Option<StatusFilter>,
    before: Option<BuildNum>,
}

impl BuildsQuery {
    fn parse(&self) -> Result<Wanted<'_>, ServiceError> {
        let branch = Some(self.branch.trim()).filter(|b| !b.is_empty());
        let status = match self.status.as_str() {
            "" => None,
            s => Some(s.parse().map_err(|e: crate::domain::InvalidInput| ServiceError::BadRequest(e.to_string()))?),
        };
        let before = match self.before.as_str() {
            "" => None,
            b => Some(b.parse().map_err(|_| ServiceError::BadRequest(format!("`{b}` is not a build number")))?),
        };
        Ok(Wanted { branch, status, before })
    }
}

pub async fn project(State(state): State<AppState>, params: RouteParams, request: axum::extract::Request) -> Response {
    let (parts, _) = request.into_parts();
    let caller = match reader(&state, &parts).await {
        Ok(c) => c,
        Err(e) => return error_page(&state, &crate::core::Principal::Anonymous, &e),
    };
    match builds_page(&state, &caller, &params, &parts.uri).await {
        Ok(response) => response,
        Err(e) => error_page(&state, &caller.who, &e),
    }
}

async fn builds_page(
    state: &AppState,
    caller: &Caller,
    params: &RouteParams,
    uri: &http::Uri,
) -> Result<Response, ServiceError> {
    let get = |k: &str| params.get(k).map(str::to_owned).unwrap_or_default();
    let slug =
        ProjectSlug::new(&get("vcs"), &get("org"), &get("repo")).map_err(|_| ServiceError::project_not_found())?;
    let query = match uri.query() {
        None => BuildsQuery::default(),
        Some(_) => Query::<BuildsQuery>::try_from_uri(uri).map_err(|e| ServiceError::BadRequest(e.body_text()))?.0,
    };
    let Wanted { branch, status, before } = query.parse()?;
    let (project, builds, next) =
        state.vitrine.builds().builds_page(&caller.who, &slug, branch, status, before, BUILDS_PAGE).await?;
    let maintains = state.vitrine.projects().role(&caller.who, &project).await? == Some(Role::Maintainer);
    let title = format!("{}/{}", project.org, project.repo);
    let base = href(&project);
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
    let kept = format!("{base}?branch={}&status={}", enc(&query.branch), enc(&query.status));
    let filtered = branch.is_some() || status.is_some();
    let list = if builds.is_empty() {
        view! { <p class="empty">{if filtered { "No builds match." } else { "No builds yet." }}</p> }.into_any()
    } else {
        builds_table(&base, &builds).into_any()
    };
    let body = view! {
        <nav class="crumbs" aria-label="Breadcrumb"><a href="/">"Projects"</a>" / "</nav>
        <div class="project-head">
            <h1>{title.clone()}</h1>
            {maintains.then(|| view! { <a href=format!("{base}/settings")>"Settings"</a> })}
        </div>
        {filter_form(&base, &query)}
        {list}
        <nav class="next" aria-label="Pages of builds">
            {before.is_some().then(|| view! { <a href=kept.clone()>"« Newest builds"</a> })}
            " "
            {next.map(|n| view! { <a rel="next" href=format!("{kept}&before={n}")>"Older builds »"</a> })}
        </nav>
    }
    .into_any();
    Ok(page(state, &caller.who, StatusCode::OK, &title, body))
}

/// The branch and status filter: a plain GET form, so the filter is in the address.
fn filter_form(base: &str, query: &BuildsQuery) -> impl IntoView + use<> {
    let status = query.status.clone();
    view! {
        <form method="get" action=base.to_owned() class="build-filter" role="search" aria-label="Filter builds">
            <label for="branch-filter">"Branch"</label>
            <input id="branch-filter" type="search" name="branch" value=query.branch.clone() placeholder="any branch"/>
            <label for="status-filter">"Status"</label>
            <select id="status-filter" name="status">
                {STATUSES.iter().map(|(value, label)| view! {
                    <option value=*value selected=*value == status>{*label}</option>
                }).collect_view()}
            </select>
            <button type="submit">"Filter"</button>
        </form>
    }
}

fn builds_table(base: &str, builds: &[Build]) -> impl IntoView + use<> {
    let rows = builds
        .iter()
        .map(|b| {
            let duration = b.stop_time.map(|s| human_duration(s - b.start_time)).unwrap_or_default();
            view! {
                <tr>
                    <td><a href=format!("{base}/{}", b.build_num)>{format!("#{}", b.build_num)}</a></td>
                    // The app's StatusBadge is reactive (a signal), which needs the page's owner
                    // while it is built; the same markup, plain.
                    <td><span class=format!("status status-{}", b.status.as_str()) data-status=b.status.as_str()>{b.status.as_str().replace('_', " ")}</span></td>
                    <td class="branch">{b.branch.clone()}</td>
                    <td class="revision"><code>{short_revision(&b.revision).to_owned()}</code></td>
                    <td>{time(b.start_time)}</td>
                    <td>{duration}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="builds">
            <thead><tr>
                <th>"Build"</th><th>"Status"</th><th>"Branch"</th>
                <th>"Revision"</th><th>"Started"</th><th>"Duration"</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}
