use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::list_projects;
use crate::components::layout::ErrorPanel;

/// `/`: the projects the reader may see, searched by `?q=` (a plain form: it works without
/// JavaScript, and the search is in the address).
#[component]
pub fn ProjectsPage() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let projects = crate::api::load(search, list_projects);
    view! {
        <Title text="Projects"/>
        <h1>"Projects"</h1>
        <form method="get" action="/" class="build-filter" role="search" aria-label="Projects">
            <label for="project-search">"Search projects"</label>
            <input id="project-search" type="search" name="q" value=search placeholder="org/repo"/>
            <button type="submit">"Search"</button>
        </form>
        <Suspense fallback=|| view! { <p class="loading">"Loading projects…"</p> }>
            {move || Suspend::new(async move {
                match projects.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(list) if list.is_empty() && !search().is_empty() => view! {
                        <p class="empty">"No project matches."</p>
                    }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="empty">
                            "No projects to show. " <a href="/login">"Sign in"</a>
                            " to see private projects you are a member of."
                        </p>
                    }.into_any(),
                    Ok(list) => view! {
                        <ul class="project-list">
                            {list.into_iter().map(|p| view! {
                                <li>
                                    <a href=p.href()>{format!("{}/{}", p.org, p.repo)}</a>
                                    <span class="vcs">{p.vcs.clone()}</span>
                                    {(!p.public).then(|| view! { <span class="private">"private"</span> })}
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
