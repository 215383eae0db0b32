use leptos::prelude::*;

use crate::api::BuildStatus;

/// A build status as a coloured badge; the text is the status itself, for people and tests.
#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<BuildStatus>) -> impl IntoView {
    view! {
        <span class=move || format!("status status-{}", status.get().as_str()) data-status=move || status.get().as_str()>
            {move || status.get().as_str().replace('_', " ")}
        </span>
    }
}
