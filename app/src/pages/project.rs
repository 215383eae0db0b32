use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::list_builds;
use crate::components::layout::ErrorPanel;
use crate::components::status::StatusBadge;
use crate::format::{human_duration, short_revision, short_time};

/// `/:vcs/:org/:repo`: the project's recent builds.
#[component]
pub fn ProjectPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        let get = |k: &str| p.get(k).unwrap_or_default();
        (get("vcs"), get("org"), get("repo"))
    };
    let data = crate::api::load(key, |(vcs, org, repo)| list_builds(vcs, org, repo));
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading builds…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(page) => {
                        let title = format!("{}/{}", page.project.org, page.project.repo);
                        let base = page.project.href();
                        view! {
                            <Title text=title.clone()/>
                            <nav class="crumbs" aria-label="Breadcrumb"><a href="/">"Projects"</a>" / "</nav>
                            <div class="project-head">
                                <h1>{title}</h1>
                                // A page the server renders alone: the browser loads it.
                                {page.can_manage.then(|| view! { <a href=format!("{base}/settings") rel="external">"Settings"</a> })}
                            </div>
                            {if page.builds.is_empty() {
                                view! { <p class="empty">"No builds yet."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="builds">
                                        <thead><tr>
                                            <th>"Build"</th><th>"Status"</th><th>"Branch"</th>
                                            <th>"Revision"</th><th>"Started"</th><th>"Duration"</th>
                                        </tr></thead>
                                        <tbody>
                                            {page.builds.into_iter().map(|b| {
                                                let href = format!("{base}/{}", b.build_num);
                                                view! {
                                                    <tr>
                                                        <td><a href=href>{format!("#{}", b.build_num)}</a></td>
                                                        <td><StatusBadge status=b.status/></td>
                                                        <td class="branch">{b.branch.clone()}</td>
                                                        <td class="revision"><code>{short_revision(&b.revision).to_owned()}</code></td>
                                                        <td>{short_time(&b.start_time)}</td>
                                                        <td>{b.duration_secs.map(human_duration).unwrap_or_default()}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
