//! The Gallery tab: image artifacts as lazy thumbnails, grouped by folder. An opened image
//! shows in a lightbox (a dialog with its path and size, zoom, the previous and next images)
//! whose URL can be shared (`?tab=gallery&image=0:screenshots/login.png`). Arrow keys move,
//! Escape closes; without JavaScript the same moves are links.

use std::sync::Arc;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{
    ArtifactView, BaselineView, GALLERY_PAGE, GalleryPage, GalleryRequest, ImageChange, ProjectView, UiError,
    gallery_images,
};
use crate::format::human_size;

/// `0:screenshots/login.png`: how the URL names an opened image.
fn image_key(a: &ArtifactView) -> String {
    format!("{}:{}", a.node_index, a.pretty_path)
}

/// `base` is the gallery's own address (`/gh/a/b/3?tab=gallery`, with `&changed=1` when only
/// changed screenshots show).
fn image_href(base: &str, a: &ArtifactView) -> String {
    let key = percent_encoding::utf8_percent_encode(&image_key(a), crate::format::QUERY_VALUE).to_string();
    format!("{base}&image={key}")
}

/// The image opened in the Artifacts tab, against the last green build's.
fn compare_href(page: &str, a: &ArtifactView) -> String {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, crate::format::QUERY_VALUE).to_string();
    let folder = a.pretty_path.rsplit_once('/').map(|(dir, _)| format!("{dir}/")).unwrap_or_default();
    format!(
        "{page}?tab=artifacts&node={}&folder={}&file={}&compare=diff",
        a.node_index,
        enc(&folder),
        enc(&a.pretty_path)
    )
}

fn folder_of(a: &ArtifactView) -> &str {
    a.pretty_path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The gallery: the build's first images (from the build page's data), or, with `?from=`, a
/// later page read from the server.
#[component]
pub fn Gallery(
    images: Vec<ArtifactView>,
    more: Option<String>,
    project: ProjectView,
    build_num: i64,
    baseline: Option<BaselineView>,
) -> impl IntoView {
    if images.is_empty() {
        return view! { <p class="empty">"No images in this build."</p> }.into_any();
    }
    let base = format!("{}/{build_num}", project.href());
    let query = use_query_map();
    let from = Memo::new(move |_| query.read().get("from").filter(|f| !f.is_empty()));
    let later = crate::api::load(
        move || from.get(),
        move |from| {
            let ProjectView { vcs, org, repo, .. } = project.clone();
            async move {
                match from {
                    None => Ok(None),
                    Some(after) => {
                        let at = GalleryRequest { vcs, org, repo, build_num: build_num.to_string(), after };
                        gallery_images(at).await.map(Some)
                    }
                }
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading images…"</p> }>
            {move || {
                let (images, more, base, baseline) = (images.clone(), more.clone(), base.clone(), baseline.clone());
                Suspend::new(async move {
                    let page: Result<Option<GalleryPage>, UiError> = later.await;
                    match page {
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(None) => view! { <GalleryPart images next=more base baseline from=None/> }.into_any(),
                        Ok(Some(page)) => {
                            let from = from.get_untracked();
                            view! { <GalleryPart images=page.images next=page.next base baseline from/> }.into_any()
                        }
                    }
                })
            }}
        </Suspense>
    }
    .into_any()
}

/// A page of the gallery: which images (all, or those changed since the baseline), the grid,
/// and links to the other pages.
#[component]
fn GalleryPart(
    images: Vec<ArtifactView>,
    next: Option<String>,
    base: String,
    baseline: Option<BaselineView>,
    from: Option<String>,
) -> impl IntoView {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, crate::format::QUERY_VALUE).to_string();
    let here = match &from {
        Some(from) => format!("{base}?tab=gallery&from={}", enc(from)),
        None => format!("{base}?tab=gallery"),
    };
    let query = use_query_map();
    let opened = Memo::new(move |_| query.read().get("image"));
    let only_changed = Memo::new(move |_| query.read().get("changed").is_some_and(|c| c == "1"));
    let changed: Vec<ArtifactView> = images.iter().filter(|a| a.change.is_some()).cloned().collect();
    let filter = baseline.map(|b| {
        let (all, changed_count) = (images.len(), changed.len());
        let (all_href, changed_href) = (here.clone(), format!("{here}&changed=1"));
        view! {
            <nav class="gallery-filter" aria-label="Which images">
                <a href=all_href aria-current=move || (!only_changed.get()).then_some("page")>"All images"<span class="count">{all}</span></a>
                <a href=changed_href aria-current=move || only_changed.get().then_some("page")>
                    {format!("Changed screenshots since #{}", b.build_num)}<span class="count">{changed_count}</span>
                </a>
            </nav>
        }
    });
    let pages = (from.is_some() || next.is_some()).then(|| {
        let first = from.is_some().then(|| view! { <a href=format!("{base}?tab=gallery")>"« First images"</a> });
        let next = next.map(|n| {
            let href = format!("{base}?tab=gallery&from={}", enc(&n));
            view! { <a rel="next" href=href>{format!("Next {GALLERY_PAGE} images »")}</a> }
        });
        view! { <nav class="next gallery-pages" aria-label="Gallery pages">{first}" "{next}</nav> }
    });
    let (all, changed) = (Arc::new(images), Arc::new(changed));
    let page = base.clone();
    let content = move || {
        let (images, gallery) = if only_changed.get() {
            (changed.clone(), format!("{here}&changed=1"))
        } else {
            (all.clone(), here.clone())
        };
        view! { <Grid images gallery page=page.clone() opened/> }
    };
    view! {
        {filter}
        {content}
        {pages}
    }
}

/// The images, by folder, and the one opened.
#[component]
fn Grid(images: Arc<Vec<ArtifactView>>, gallery: String, page: String, opened: Memo<Option<String>>) -> impl IntoView {
    if images.is_empty() {
        return view! { <p class="empty">"No screenshot changed since the last green build."</p> }.into_any();
    }
    let base = gallery;

    // Images come in listing order (container, path), so each folder's are together.
    let mut groups: Vec<(String, Vec<ArtifactView>)> = Vec::new();
    for a in images.iter() {
        let folder = format!("{}{}", folder_of(a), if folder_of(a).is_empty() { "" } else { "/" });
        match groups.last_mut() {
            Some((last, members)) if *last == folder => members.push(a.clone()),
            _ => groups.push((folder, vec![a.clone()])),
        }
    }
    let grid_base = base.clone();
    let grid = groups
        .into_iter()
        .map(|(folder, members)| {
            let heading = if folder.is_empty() { "Top level".to_owned() } else { folder };
            let count = members.len();
            let base = grid_base.clone();
            view! {
                <section class="gallery-group">
                    <h3>{heading}<span class="count">{count}</span></h3>
                    <ul class="gallery">
                        {members.into_iter().map(|a| view! {
                            <li>
                                <figure>
                                    <a href=image_href(&base, &a)>
                                        <img src=a.url.clone() alt=a.pretty_path.clone() loading="lazy"/>
                                    </a>
                                    <figcaption>
                                        <span class="node-tag">{a.node_index}</span>
                                        {a.file_name().to_owned()}
                                        <span class="size">{human_size(a.size)}</span>
                                        {a.change.map(|change| {
                                            let label = match change {
                                                ImageChange::New => "New",
                                                ImageChange::Changed => "Changed",
                                            };
                                            view! { <a class=format!("change {}", change.as_str()) href=compare_href(&page, &a)>{label}</a> }
                                        })}
                                    </figcaption>
                                </figure>
                            </li>
                        }).collect_view()}
                    </ul>
                </section>
            }
        })
        .collect_view();
    let lightbox = move || {
        let key = opened.get()?;
        let index = images.iter().position(|a| image_key(a) == key)?;
        Some(view! { <Lightbox images=images.clone() index base=base.clone()/> })
    };
    view! {
        {grid}
        {lightbox}
    }
    .into_any()
}

#[component]
fn Lightbox(images: Arc<Vec<ArtifactView>>, index: usize, base: String) -> impl IntoView {
    let image = images[index].clone();
    let prev = index.checked_sub(1).map(|i| image_href(&base, &images[i]));
    let next = images.get(index + 1).map(|a| image_href(&base, a));
    let close = base.clone();
    let zoomed = RwSignal::new(false);
    let dialog = NodeRef::<leptos::html::Div>::new();
    keyboard(dialog, prev.clone(), next.clone(), close.clone());
    let position = format!("{} of {}", index + 1, images.len());
    view! {
        <div class="lightbox" role="dialog" aria-modal="true" aria-label=image.pretty_path.clone() tabindex="-1" node_ref=dialog>
            <header>
                <span class="path">{image.pretty_path.clone()}</span>
                <span class="size">{human_size(image.size)}</span>
                <span class="position">{position}</span>
                <button type="button" aria-pressed=move || zoomed.get().to_string() on:click=move |_| zoomed.update(|z| *z = !*z)>
                    "Zoom"
                </button>
                <a href=image.url.clone() rel="external">"Open original"</a>
                <a class="close" href=close aria-label="Close">"×"</a>
            </header>
            <div class="stage" class:zoomed=move || zoomed.get()>
                <img src=image.url.clone() alt=image.pretty_path.clone() on:click=move |_| zoomed.update(|z| *z = !*z)/>
            </div>
            <nav class="moves" aria-label="Images">
                {prev.map(|href| view! { <a rel="prev" href=href>"‹ Previous"</a> })}
                {next.map(|href| view! { <a rel="next" href=href>"Next ›"</a> })}
            </nav>
        </div>
    }
}

/// In the browser: the dialog takes the focus; arrow keys move, Escape closes.
#[allow(unused_variables)]
fn keyboard(dialog: NodeRef<leptos::html::Div>, prev: Option<String>, next: Option<String>, close: String) {
    #[cfg(feature = "hydrate")]
    {
        Effect::new(move |_| {
            if let Some(el) = dialog.get() {
                let _ = el.focus();
            }
        });
        let navigate = leptos_router::hooks::use_navigate();
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            let target = match ev.key().as_str() {
                "ArrowLeft" => prev.as_deref(),
                "ArrowRight" => next.as_deref(),
                "Escape" => Some(close.as_str()),
                _ => None,
            };
            if let Some(href) = target {
                ev.prevent_default();
                navigate(href, leptos_router::NavigateOptions { scroll: false, ..Default::default() });
            }
        });
        on_cleanup(move || handle.remove());
    }
}
