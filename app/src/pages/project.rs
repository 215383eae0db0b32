use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{BuildsRequest, list_builds};
use crate::components::layout::ErrorPanel;
use crate::components::status::StatusBadge;
use crate::format::{QUERY_VALUE, human_duration, short_revision, short_time};

/// The status filter's choices: (value in the address, label).
const STATUSES: [(&str, &str); 5] = [
    ("", "Any"),
    ("running", "Running"),
    ("successful", "Successful"),
    ("failed", "Failed"),
    ("completed", "Finished"),
];

/// `/:vcs/:org/:repo`: the project's builds, newest first, a page at a time (`?before=`),
/// filtered by branch and status (`?branch=&status=`): every state is in the address.
#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        let (p, q) = (params.read(), query.read());
        let get = |k: &str| p.get(k).unwrap_or_default();
        let opt = |k: &str| q.get(k).unwrap_or_default();
        BuildsRequest {
            vcs: get("vcs"),
            org: get("org"),
            repo: get("repo"),
            branch: opt("branch"),
            status: opt("status"),
            before: opt("before"),
        }
    };
    let data = crate::api::load(key, list_builds);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading builds…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(page) => {
                        let at = key();
                        let title = format!("{}/{}", page.project.org, page.project.repo);
                        let base = page.project.href();
                        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string();
                        let kept = format!("{base}?branch={}&status={}", enc(&at.branch), enc(&at.status));
                        let filtered = !at.branch.is_empty() || !at.status.is_empty();
                        let pages = view! {
                            <nav class="next" aria-label="Pages of builds">
                                {(!at.before.is_empty()).then(|| view! { <a href=kept.clone()>"« Newest builds"</a> })}
                                " "
                                {page.next.map(|n| view! { <a rel="next" href=format!("{kept}&before={n}")>"Older builds »"</a> })}
                            </nav>
                        };
                        view! {
                            <Title text=title.clone()/>
                            <nav class="crumbs" aria-label="Breadcrumb"><a href="/">"Projects"</a>" / "</nav>
                            <div class="project-head">
                                <h1>{title}</h1>
                                // A page the server renders alone: the browser loads it.
                                {page.can_manage.then(|| view! { <a href=format!("{base}/settings") rel="external">"Settings"</a> })}
                            </div>
                            {filter_form(&base, &at)}
                            {if page.builds.is_empty() {
                                view! { <p class="empty">{if filtered { "No builds match." } else { "No builds yet." }}</p> }.into_any()
                            } else {
                                builds_table(&base, page.builds).into_any()
                            }}
                            {pages}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// The branch and status filter: a plain GET form, so the filter is in the address.
fn filter_form(base: &str, at: &BuildsRequest) -> impl IntoView + use<> {
    let status = at.status.clone();
    view! {
        <form method="get" action=base.to_owned() class="build-filter" role="search" aria-label="Filter builds">
            <label for="branch-filter">"Branch"</label>
            <input id="branch-filter" type="search" name="branch" value=at.branch.clone() placeholder="any branch"/>
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

fn builds_table(base: &str, builds: Vec<crate::api::BuildView>) -> impl IntoView + use<> {
    let base = base.to_owned();
    view! {
        <table class="builds">
            <thead><tr>
                <th>"Build"</th><th>"Status"</th><th>"Branch"</th>
                <th>"Revision"</th><th>"Started"</th><th>"Duration"</th>
            </tr></thead>
            <tbody>
                {builds.into_iter().map(|b| {
                    let href = format!("{base}/{}", b.build_num);
                    view! {
                        <tr>
                            <td><a href=href>{format!("#{}", b.build_num)}</a></td>
                            <td><StatusBadge status=b.status/></td>
                            <td class="branch">{b.branch.clone()}</td>
                            <td class="revision"><code>{short_revision(&b.revision).to_owned()}</code></td>
                            <td><time datetime=b.start_time.clone()>{short_time(&b.start_time)}</time></td>
                            <td>{b.duration_secs.map(human_duration).unwrap_or_default()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
