use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{ArtifactView, BuildPageData, BuildStatus, PinBuild, get_build_page};
use crate::components::artifact_browser::ArtifactBrowser;
use crate::components::gallery::Gallery;
use crate::components::layout::ErrorPanel;
use crate::components::server_form::ServerForm;
use crate::components::status::StatusBadge;
use crate::format::{human_duration, human_size, short_revision, short_time};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Artifacts,
    Gallery,
    Details,
}

impl Tab {
    const ALL: [Tab; 3] = [Tab::Artifacts, Tab::Gallery, Tab::Details];

    fn from_query(value: Option<String>) -> Tab {
        match value.as_deref() {
            Some("gallery") => Tab::Gallery,
            Some("details") => Tab::Details,
            _ => Tab::Artifacts,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Tab::Artifacts => "artifacts",
            Tab::Gallery => "gallery",
            Tab::Details => "details",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Artifacts => "Artifacts",
            Tab::Gallery => "Gallery",
            Tab::Details => "Details",
        }
    }
}

/// The artifacts worth a link at the top: HTML reports first, then logs and text, then the rest.
fn top_links(artifacts: &[ArtifactView], max: usize) -> Vec<ArtifactView> {
    let rank = |a: &ArtifactView| {
        if a.is_html() && a.file_name() == "index.html" {
            0
        } else if a.is_html() {
            1
        } else if a.content_type.starts_with("text/") {
            2
        } else if a.is_image() {
            4
        } else {
            3
        }
    };
    // Stylesheets and scripts are parts of reports, not things people open on their own.
    let supporting = |a: &ArtifactView| a.content_type.starts_with("text/css") || a.content_type.contains("javascript");
    let mut sorted: Vec<&ArtifactView> = artifacts.iter().filter(|a| !supporting(a)).collect();
    sorted.sort_by_key(|a| (rank(a), a.node_index, a.pretty_path.len()));
    sorted.into_iter().take(max).cloned().collect()
}

/// `/:vcs/:org/:repo/:build_num`
#[component]
pub fn BuildPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        let p = params.read();
        let get = |k: &str| p.get(k).unwrap_or_default();
        (get("vcs"), get("org"), get("repo"), get("build_num"))
    };
    let data = crate::api::load(key, |(vcs, org, repo, num)| get_build_page(vcs, org, repo, num));
    // A memo: the panel re-renders when the tab changes, not when its own query does (the
    // filter box keeps its focus while one types).
    let tab = Memo::new(move |_| Tab::from_query(query.read().get("tab")));

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading build…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorPanel error=e/> }.into_any(),
                    Ok(page) => view! { <BuildView page tab refresh=Callback::new(move |()| data.refetch())/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn BuildView(page: BuildPageData, tab: Memo<Tab>, refresh: Callback<()>) -> impl IntoView {
    let BuildPageData { project, build, top, containers, artifact_count, images, more_images, can_pin, baseline } =
        page;
    let base = format!("{}/{}", project.href(), build.build_num);
    let status = RwSignal::new(build.status);
    watch_running_build(format!("{}/{}", project.api_href(), build.build_num), status, move || refresh.run(()));
    let pin_form = can_pin.then(|| view! { <PinForm project=project.clone() summary=build.clone() refresh/> });
    let expired = build.artifacts_expired_at.clone();

    let title = format!("{}/{} #{}", project.org, project.repo, build.build_num);
    let links = top_links(&top, 8);
    // Links that follow the newest finished build of this branch, for copying.
    let branch = percent_encoding::utf8_percent_encode(&build.branch, crate::format::QUERY_VALUE).to_string();
    let latest: Vec<(String, String)> = links
        .iter()
        .filter_map(|a| {
            let (_, rest) = a.url.split_once("/artifacts/")?;
            Some((a.pretty_path.clone(), format!("{}/latest/artifacts/{rest}?branch={branch}", project.href())))
        })
        .collect();
    let total = artifact_count;
    // The first page's images; more when the gallery has further pages.
    let image_count = format!("{}{}", images.len(), if more_images.is_some() { "+" } else { "" });
    let details = build.clone();
    let api_link = format!("{}/{}/artifacts", project.api_href(), build.build_num);

    let browse_project = project.clone();
    let gallery_project = project.clone();
    let build_num = build.build_num;
    let tab_panel = move || match tab.get() {
        Tab::Artifacts if total == 0 => view! { <p class="empty">"This build stored no artifacts."</p> }.into_any(),
        Tab::Artifacts => view! {
            <ArtifactBrowser project=browse_project.clone() build_num containers=containers.clone()/>
        }
        .into_any(),
        Tab::Gallery => view! {
            <Gallery
                images=images.clone()
                more=more_images.clone()
                project=gallery_project.clone()
                build_num
                baseline=baseline.clone()
            />
        }
        .into_any(),
        Tab::Details => {
            view! { <BuildDetails summary=details.clone() api_link=api_link.clone() latest=latest.clone()/> }.into_any()
        }
    };

    view! {
        <Title text=title.clone()/>
        <nav class="crumbs" aria-label="Breadcrumb">
            // The server renders these alone: they load whole.
            <a href="/" rel="external">"Projects"</a>" / "
            <a href=project.href() rel="external">{format!("{}/{}", project.org, project.repo)}</a>" / "
        </nav>
        <header class="build-header">
            <h1>{format!("Build #{}", build.build_num)}</h1>
            <StatusBadge status/>
            <dl class="facts">
                <div><dt>"Branch"</dt><dd class="branch">{build.branch.clone()}</dd></div>
                <div><dt>"Revision"</dt><dd><code title=build.revision.clone()>{short_revision(&build.revision).to_owned()}</code></dd></div>
                <div><dt>"Started"</dt><dd><time datetime=build.start_time.clone()>{short_time(&build.start_time)}</time></dd></div>
                <div><dt>"Duration"</dt><dd>{build.duration_secs.map_or_else(|| "running".into(), human_duration)}</dd></div>
                {build.expires_at.clone().map(|at| view! {
                    <div><dt>"Artifacts expire"</dt><dd><time datetime=at.clone()>{short_time(&at)}</time></dd></div>
                })}
            </dl>
            {build.pinned.then(|| view! {
                <span class="pinned" title="Its artifacts are kept past the retention">"Pinned"</span>
            })}
            {pin_form}
        </header>
        <nav class="artifact-links" aria-label="Artifact links">
            {if let Some(at) = expired {
                view! {
                    <p class="expired" role="note">
                        {format!("Artifacts expired on {}: older builds keep them for the project's retention. ", short_time(&at))}
                        "The latest successful build of each branch and pinned builds keep theirs."
                    </p>
                }.into_any()
            } else if total == 0 {
                view! { <span class="empty">"No artifacts"</span> }.into_any()
            } else {
                view! {
                    <ul>
                        {links.into_iter().map(|a| view! {
                            <li>
                                <a href=a.url.clone() rel="external">{a.pretty_path.clone()}</a>
                                <span class="size">{human_size(a.size)}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                    {(total > 8).then(|| view! {
                        <a class="all" href=format!("{base}?tab=artifacts")>{format!("All {total} artifacts")}</a>
                    })}
                }.into_any()
            }}
        </nav>
        <nav class="tabs" role="tablist" aria-label="Build sections">
            {Tab::ALL.into_iter().map(|t| {
                let count = match t {
                    Tab::Artifacts => Some(total.to_string()),
                    Tab::Gallery => Some(image_count.clone()),
                    Tab::Details => None,
                };
                view! {
                    <a
                        role="tab"
                        href=format!("{base}?tab={}", t.slug())
                        aria-selected=move || (tab.get() == t).to_string()
                        class:active=move || tab.get() == t
                    >
                        {t.label()}
                        {count.map(|c| view! { <span class="count" aria-hidden="true">{c}</span> })}
                    </a>
                }
            }).collect_view()}
        </nav>
        <section class="tab-panel" role="tabpanel" aria-label=move || tab.get().label()>
            {tab_panel}
        </section>
    }
}

/// Pin or unpin, for members: a form that also works without JavaScript (the server function
/// sends the browser back to the page).
#[component]
fn PinForm(project: crate::api::ProjectView, summary: crate::api::BuildView, refresh: Callback<()>) -> impl IntoView {
    let pin = ServerAction::<PinBuild>::new();
    Effect::new(move |_| {
        if pin.version().get() > 0 && matches!(pin.value().get(), Some(Ok(()))) {
            refresh.run(());
        }
    });
    let (label, hint) = if summary.pinned {
        ("Unpin", "Let the retention apply to this build again")
    } else {
        ("Pin build", "Keep this build's artifacts past the retention")
    };
    view! {
        <ServerForm action=pin class="pin-form">
            <input type="hidden" name="vcs" value=project.vcs.clone()/>
            <input type="hidden" name="org" value=project.org.clone()/>
            <input type="hidden" name="repo" value=project.repo.clone()/>
            <input type="hidden" name="build_num" value=summary.build_num.to_string()/>
            <input type="hidden" name="pin" value=(!summary.pinned).to_string()/>
            <button type="submit" title=hint>{label}</button>
        </ServerForm>
        {move || pin.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
    }
}

#[component]
fn BuildDetails(summary: crate::api::BuildView, api_link: String, latest: Vec<(String, String)>) -> impl IntoView {
    let latest = (!latest.is_empty()).then(|| {
        view! {
            <dt>"Latest links"</dt>
            <dd>
                <p class="hint">
                    {format!("These follow the newest finished build of {}; add &filter=successful for the newest green one.", summary.branch)}
                </p>
                <ul class="latest">
                    {latest.into_iter().map(|(path, href)| view! {
                        <li>
                            <a href=href.clone() rel="external" title=href.clone()>{path.clone()}</a>
                            " "
                            <button type="button" class="copy" data-copy=href aria-label=format!("Copy the latest link to {path}")>"Copy"</button>
                        </li>
                    }).collect_view()}
                </ul>
            </dd>
        }
    });
    view! {
        <dl class="details">
            <dt>"Build"</dt><dd>{summary.build_num}</dd>
            <dt>"Status"</dt><dd>{summary.status.as_str()}</dd>
            <dt>"Branch"</dt><dd>{summary.branch.clone()}</dd>
            <dt>"Revision"</dt><dd><code>{summary.revision.clone()}</code></dd>
            <dt>"Started"</dt><dd>{summary.start_time.clone()}</dd>
            <dt>"Finished"</dt><dd>{summary.stop_time.clone().unwrap_or_else(|| "not yet".into())}</dd>
            <dt>"Containers"</dt><dd>{summary.parallelism}</dd>
            <dt>"Stored by"</dt><dd>{summary.agent.clone()}</dd>
            <dt>"API"</dt><dd><a href=api_link.clone() rel="external">{api_link.clone()}</a></dd>
            {latest}
        </dl>
    }
}

/// While a build runs, asks the v1.1 API for its status every few seconds (in the browser
/// only) and reloads the page data once it has finished.
#[allow(unused_variables)]
fn watch_running_build(api_url: String, status: RwSignal<BuildStatus>, on_finished: impl Fn() + Send + Sync + 'static) {
    #[cfg(feature = "hydrate")]
    {
        if status.get_untracked() != BuildStatus::Running {
            return;
        }
        leptos::task::spawn_local(async move {
            loop {
                gloo_timers::future::TimeoutFuture::new(5_000).await;
                // The page was left: stop asking.
                if status.try_get_untracked().is_none() {
                    break;
                }
                let Ok(response) = gloo_net::http::Request::get(&api_url).send().await else { continue };
                let Ok(text) = response.text().await else { continue };
                // The browser's own JSON parser reads the one field wanted: no JSON decoder in
                // the bundle for it.
                let Some(now) = js_sys::JSON::parse(&text)
                    .and_then(|summary| js_sys::Reflect::get(&summary, &"status".into()))
                    .ok()
                    .and_then(|s| s.as_string())
                    .and_then(|s| s.parse::<BuildStatus>().ok())
                else {
                    continue;
                };
                if now != BuildStatus::Running {
                    if status.try_set(now).is_none() {
                        on_finished();
                    }
                    break;
                }
            }
        });
    }
}
