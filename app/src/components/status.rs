use leptos::prelude::*;

/// A build status as a coloured badge; the text is the status itself, for people and tests.
#[component]
pub fn StatusBadge(#[prop(into)] status: Signal<String>) -> impl IntoView {
    view! {
        <span class=move || format!("status status-{}", status.get()) data-status=move || status.get()>
            {move || status.get().replace('_', " ")}
        </span>
    }
}
