use leptos::prelude::*;

use crate::api::ArtifactView;

/// Image artifacts as a grid of thumbnails; each opens the full image.
#[component]
pub fn Gallery(images: Vec<ArtifactView>) -> impl IntoView {
    if images.is_empty() {
        return view! { <p class="empty">"No images in this build."</p> }.into_any();
    }
    view! {
        <ul class="gallery">
            {images
                .into_iter()
                .map(|a| {
                    view! {
                        <li>
                            <figure>
                                <a href=a.url.clone() rel="external">
                                    <img src=a.url.clone() alt=a.pretty_path.clone() loading="lazy"/>
                                </a>
                                <figcaption>
                                    <span class="node-tag">{a.node_index}</span>
                                    {a.pretty_path.clone()}
                                </figcaption>
                            </figure>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}
