//! The Artifacts tab: artifacts grouped by node (container), each node a collapsible tree of
//! directories built from the pretty paths. Native `<details>` so it works before WASM arrives.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::api::ArtifactView;
use crate::format::human_size;

#[derive(Default)]
struct Dir {
    dirs: BTreeMap<String, Dir>,
    files: Vec<ArtifactView>,
}

impl Dir {
    fn insert(&mut self, artifact: ArtifactView) {
        let path = artifact.pretty_path.clone();
        let mut segments: Vec<&str> = path.split('/').collect();
        segments.pop();
        let mut dir = self;
        for segment in segments {
            dir = dir.dirs.entry(segment.to_owned()).or_default();
        }
        dir.files.push(artifact);
    }

    fn count(&self) -> usize {
        self.files.len() + self.dirs.values().map(Dir::count).sum::<usize>()
    }
}

/// Groups by node index, keeping the order the artifacts came in within each node.
fn by_node(artifacts: Vec<ArtifactView>) -> BTreeMap<i64, Dir> {
    let mut nodes: BTreeMap<i64, Dir> = BTreeMap::new();
    for artifact in artifacts {
        nodes.entry(artifact.node_index).or_default().insert(artifact);
    }
    nodes
}

fn render_dir(dir: Dir) -> AnyView {
    let dirs = dir
        .dirs
        .into_iter()
        .map(|(mut name, mut sub)| {
            // A chain of single directories reads better as one line: `tmp/artifacts`.
            while sub.files.is_empty() && sub.dirs.len() == 1 {
                let (child_name, child) = sub.dirs.into_iter().next().expect("one entry");
                name = format!("{name}/{child_name}");
                sub = child;
            }
            let count = sub.count();
            view! {
                <li class="dir">
                    <details open>
                        <summary>
                            <span class="dir-name">{name}"/"</span>
                            <span class="count">{count}</span>
                        </summary>
                        {render_dir(sub)}
                    </details>
                </li>
            }
        })
        .collect_view();
    let files = dir
        .files
        .into_iter()
        .map(|a| {
            let name = a.file_name().to_owned();
            let kind = if a.is_image() {
                "file image"
            } else if a.is_html() {
                "file html"
            } else {
                "file"
            };
            view! {
                <li class=kind>
                    <a href=a.url.clone() title=a.pretty_path.clone() rel="external">{name}</a>
                    <span class="size">{human_size(a.size)}</span>
                </li>
            }
        })
        .collect_view();
    view! { <ul class="tree">{dirs}{files}</ul> }.into_any()
}

#[component]
pub fn ArtifactTree(artifacts: Vec<ArtifactView>) -> impl IntoView {
    if artifacts.is_empty() {
        return view! { <p class="empty">"This build stored no artifacts."</p> }.into_any();
    }
    by_node(artifacts)
        .into_iter()
        .map(|(node, dir)| {
            let count = dir.count();
            let noun = if count == 1 { "file" } else { "files" };
            view! {
                <details class="node" open data-node=node>
                    <summary>
                        <strong>"Container "{node}</strong>
                        <span class="count">{count}" "{noun}</span>
                    </summary>
                    {render_dir(dir)}
                </details>
            }
        })
        .collect_view()
        .into_any()
}
