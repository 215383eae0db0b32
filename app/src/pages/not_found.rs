use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <section class="panel error-panel">
            <h1>"Not found"</h1>
            <p>"There is no page at this address."</p>
            <p><a href="/" rel="external">"Back to projects"</a></p>
        </section>
    }
}
