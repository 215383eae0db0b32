use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::list_projects;
use crate::components::layout::ErrorPanel;

#[component]
pub fn ProjectsPage() -> impl IntoView {
    let projects = crate::api::load(|| (), |()| list_projects());
    view! {
        <Title text="Projects"/>
        <h1>"Projects"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading projects…"</p> }>
            {move || Suspend::new(async move {
                match projects.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
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
