//! The Artifacts tab: one folder of one container at a time, a page at a time, read from the
//! server as it is opened, so a build of 100,000 artifacts renders a few hundred lines. A
//! filter finds artifacts anywhere in the build by a part of their path, answered from the
//! server's index as one types. Folders, containers, pages and the filter are links and a
//! GET form: everything works before (or without) the WASM.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{
    ArtifactView, BrowseRequest, ContainerView, EntryView, FOLDER_PAGE, FileRequest, FileView, FolderView, ProjectView,
    UiError, browse_artifacts, open_artifact,
};
use crate::components::file_preview::FilePreview;
use crate::format::human_size;

/// Where the tab is: container, folder, filter and page, or an opened file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Place {
    pub node: i64,
    pub folder: String,
    pub filter: String,
    pub after: String,
    /// An artifact opened for its preview (its path in the container).
    pub file: String,
}

/// What the tab shows: a folder (or a filter's matches) or one opened artifact.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Shown {
    Folder(FolderView),
    File(Box<FileView>),
}

impl Place {
    /// The page's address for this place.
    pub fn href(&self, base: &str) -> String {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, crate::format::QUERY_VALUE).to_string();
        let mut href = format!("{base}?tab=artifacts&node={}", self.node);
        for (key, value) in
            [("folder", &self.folder), ("q", &self.filter), ("after", &self.after), ("file", &self.file)]
        {
            if !value.is_empty() {
                href.push_str(&format!("&{key}={}", enc(value)));
            }
        }
        href
    }

    pub fn in_folder(&self, folder: &str) -> Place {
        Place {
            node: self.node,
            folder: folder.to_owned(),
            filter: String::new(),
            after: String::new(),
            file: String::new(),
        }
    }

    /// An artifact opened from here: its folder is where "back" leads.
    fn opening(node: i64, path: &str) -> Place {
        let folder = path.rsplit_once('/').map(|(dir, _)| format!("{dir}/")).unwrap_or_default();
        Place { node, folder, filter: String::new(), after: String::new(), file: path.to_owned() }
    }
}

#[component]
pub fn ArtifactBrowser(project: ProjectView, build_num: i64, containers: Vec<ContainerView>) -> impl IntoView {
    let base = format!("{}/{build_num}", project.href());
    let place = current_place(containers.first().map_or(0, |c| c.node_index));
    let ProjectView { vcs, org, repo, .. } = project.clone();
    let page = crate::api::load(
        move || place.get(),
        move |p| {
            let (vcs, org, repo, build_num) = (vcs.clone(), org.clone(), repo.clone(), build_num.to_string());
            async move {
                if !p.file.is_empty() {
                    let at = FileRequest { vcs, org, repo, build_num, node: p.node, path: p.file };
                    let file = crate::api::when_not_busy(|| open_artifact(at.clone())).await;
                    return file.map(|file| Shown::File(Box::new(file)));
                }
                let at = BrowseRequest {
                    vcs,
                    org,
                    repo,
                    build_num,
                    node: p.node,
                    folder: p.folder,
                    filter: p.filter,
                    after: p.after,
                };
                crate::api::when_not_busy(|| browse_artifacts(at.clone())).await.map(Shown::Folder)
            }
        },
    );
    let containers_nav = (containers.len() > 1).then(|| containers_nav(containers, place, &base));
    let render_base = base.clone();
    view! {
        {filter_form(place, base)}
        {containers_nav}
        <Suspense fallback=|| view! { <p class="loading">"Loading artifacts…"</p> }>
            {move || {
                let base = render_base.clone();
                Suspend::new(async move {
                    let here = place.get_untracked();
                    let shown: Result<Shown, UiError> = page.await;
                    match shown {
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                        Ok(Shown::Folder(folder)) => view! { <Folder folder here base/> }.into_any(),
                        Ok(Shown::File(file)) => {
                            let crumbs = breadcrumbs(&here, &base);
                            let href = here.href(&base);
                            view! { {crumbs} <FilePreview file=*file href/> }.into_any()
                        }
                    }
                })
            }}
        </Suspense>
    }
}

/// Where the tab is, from the page's query (the first container's top by default).
fn current_place(first_node: i64) -> Memo<Place> {
    let query = use_query_map();
    Memo::new(move |_| {
        let q = query.read();
        Place {
            node: q.get("node").and_then(|n| n.parse().ok()).unwrap_or(first_node),
            folder: q.get("folder").unwrap_or_default(),
            filter: q.get("q").unwrap_or_default(),
            after: q.get("after").unwrap_or_default(),
            file: q.get("file").unwrap_or_default(),
        }
    })
}

/// The filter by path: a plain form without JavaScript, the list narrowing as one types with
/// it. (A function, not a component: a component costs the browser bundle its own code.)
fn filter_form(place: Memo<Place>, base: String) -> impl IntoView {
    let navigate = use_navigate();
    let typing_base = base.clone();
    let on_input = move |ev: leptos::ev::Event| {
        let filter = event_target_value(&ev);
        let here = place.get_untracked();
        let next = Place { filter, after: String::new(), folder: String::new(), file: String::new(), ..here };
        navigate(&next.href(&typing_base), NavigateOptions { replace: true, scroll: false, ..Default::default() });
    };
    view! {
        <form class="filter" method="get" action=base role="search">
            <input type="hidden" name="tab" value="artifacts"/>
            <input
                type="search"
                name="q"
                aria-label="Filter artifacts by path"
                placeholder="Filter by path, e.g. screenshots or .html"
                autocomplete="off"
                value=move || place.get_untracked().filter
                on:input=on_input
            />
            <button type="submit">"Filter"</button>
        </form>
    }
}

/// One link per container, with how many artifacts it holds.
fn containers_nav(containers: Vec<ContainerView>, place: Memo<Place>, base: &str) -> impl IntoView + use<> {
    view! {
        <nav class="containers" aria-label="Containers">
            {containers.into_iter().map(|c| {
                let href = Place { node: c.node_index, ..Place::default() }.href(base);
                let node = c.node_index;
                view! {
                    <a href=href aria-current=move || (place.get().node == node && place.get().filter.is_empty()).then_some("page")>
                        "Container "{node}<span class="count">{c.count}</span>
                    </a>
                }
            }).collect_view()}
        </nav>
    }
}

#[component]
fn Folder(folder: FolderView, here: Place, base: String) -> impl IntoView {
    let FolderView { folder, entries, next, more_matches } = folder;
    let filtering = !here.filter.is_empty();
    let here = Place { folder, ..here };
    let has_entries = !entries.is_empty();
    let crumbs = (!filtering).then(|| {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, crate::format::QUERY_VALUE).to_string();
        let (zip_href, label) = if here.folder.is_empty() {
            (format!("{base}/download/{}", here.node), format!("Download container {} as .zip", here.node))
        } else {
            let name = here.folder.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
            (format!("{base}/download/{}?folder={}", here.node, enc(&here.folder)), format!("Download {name}/ as .zip"))
        };
        view! {
            <div class="folder-bar">
                {breadcrumbs(&here, &base)}
                {has_entries.then(|| view! { <a class="zip" href=zip_href rel="external" download="">{label}</a> })}
            </div>
        }
    });
    let empty = entries.is_empty().then(|| {
        let text = if filtering {
            format!("No artifact path contains “{}”.", here.filter)
        } else if here.folder.is_empty() {
            "This container stored no artifacts.".to_owned()
        } else {
            "Nothing in this folder.".to_owned()
        };
        view! { <p class="empty">{text}</p> }
    });
    let more = more_matches.then(|| {
        view! { <p class="truncated">{format!("Showing the first {FOLDER_PAGE} matches: type more of the path to narrow them.")}</p> }
    });
    let next = next.map(|after| {
        let href = Place { after, ..here.clone() }.href(&base);
        view! { <p class="next"><a rel="next" href=href>{format!("Next {FOLDER_PAGE} »")}</a></p> }
    });
    let lines = entries
        .into_iter()
        .map(|entry| match entry {
            EntryView::Folder { name, path, count } => {
                let href = here.in_folder(&path).href(&base);
                view! {
                    <li class="dir">
                        <a href=href>{name}"/"</a>
                        <span class="count">{count}</span>
                    </li>
                }
                .into_any()
            }
            EntryView::File(a) if is_trace(&a) => {
                let folder = here.in_folder(&format!("{}/", a.pretty_path)).href(&base);
                let viewer =
                    a.url.split_once("/artifacts/").map(|(_, rest)| format!("{base}/trace/{rest}")).unwrap_or_default();
                let name = if filtering { a.pretty_path.clone() } else { a.file_name().to_owned() };
                view! {
                    <li class="file trace">
                        <a href=viewer rel="external" title="Opens in Playwright's trace viewer">{name}</a>
                        <span class="size">{human_size(a.size)}</span>
                        <span class="hint">"Playwright trace"</span>
                        <a class="aside" href=folder>"files"</a>
                    </li>
                }
                .into_any()
            }
            EntryView::File(a) if a.opens_as_folder && !filtering => {
                let href = here.in_folder(&format!("{}/", a.pretty_path)).href(&base);
                view! {
                    <li class="dir archive">
                        <a href=href title="An archive: opens as a folder">{a.file_name().to_owned()}"/"</a>
                        <span class="size">{human_size(a.size)}</span>
                    </li>
                }
                .into_any()
            }
            EntryView::File(a) => {
                let href = Place::opening(a.node_index, &a.pretty_path).href(&base);
                file_line(a, filtering, href).into_any()
            }
        })
        .collect_view();
    view! {
        {crumbs}
        {more}
        {empty}
        <ul class="tree">{lines}</ul>
        {next}
    }
}

/// A Playwright trace: a zip named `trace.zip` (or `*.trace.zip`, `trace-1.zip`), as
/// Playwright writes them.
fn is_trace(a: &ArtifactView) -> bool {
    let name = a.file_name().to_ascii_lowercase();
    a.opens_as_folder && name.ends_with(".zip") && name.starts_with("trace") || name.ends_with(".trace.zip")
}

/// `Container 0 / reports / html /`, each part a link up.
fn breadcrumbs(here: &Place, base: &str) -> impl IntoView + use<> {
    let mut parts = vec![(format!("Container {}", here.node), here.in_folder("").href(base))];
    let mut path = String::new();
    for segment in here.folder.split('/').filter(|s| !s.is_empty()) {
        path.push_str(segment);
        path.push('/');
        parts.push((segment.to_owned(), here.in_folder(&path).href(base)));
    }
    if !here.file.is_empty() {
        let name = here.file.rsplit('/').next().unwrap_or(&here.file).to_owned();
        parts.push((name, String::new()));
    }
    let last = parts.len() - 1;
    view! {
        <nav class="crumbs folder-crumbs" aria-label="Folder">
            {parts.into_iter().enumerate().map(|(i, (name, href))| {
                if i == last {
                    view! { <span aria-current="location">{name}</span> }.into_any()
                } else {
                    view! { <a href=href>{name}</a>" / " }.into_any()
                }
            }).collect_view()}
        </nav>
    }
}

/// A file's line: its name opens its preview (a page opens as itself, on the artifacts origin).
fn file_line(a: ArtifactView, filtering: bool, preview_href: String) -> impl IntoView {
    // A filter's matches come from anywhere in the build: they show their whole path.
    let name = if filtering { a.pretty_path.clone() } else { a.file_name().to_owned() };
    let kind = if a.is_image() {
        "file image"
    } else if a.is_html() {
        "file html"
    } else {
        "file"
    };
    let thumb = a.is_image().then(|| view! { <img class="thumb" src=a.url.clone() alt="" loading="lazy"/> });
    let node = filtering.then(|| view! { <span class="node-tag" title="Container">{a.node_index}</span> });
    view! {
        <li class=kind>
            {thumb}
            {node}
            {if a.is_html() {
                view! { <a href=a.url.clone() title=a.pretty_path.clone() rel="external">{name}</a> }.into_any()
            } else {
                view! { <a href=preview_href title=a.pretty_path.clone()>{name}</a> }.into_any()
            }}
            <span class="size">{human_size(a.size)}</span>
        </li>
    }
}
