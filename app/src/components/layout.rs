use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::api::current_user;

/// Top bar and main area. `data-hydrated` turns `true` once the WASM has taken over the page
/// (effects run only in the browser), which is what browser tests wait for.
#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let location = use_location();
    // Re-asked on every navigation, so signing in or out shows at once.
    let user = crate::api::load(move || location.pathname.get(), |_| current_user());

    view! {
        <header class="topbar">
            <a class="brand" href="/" rel="external">
                <span class="brand-mark" aria-hidden="true">"◧"</span>
                " Vitrine"
            </a>
            <nav class="account" aria-label="Account">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(Some(name)) => view! {
                                // The account page is the server's alone: the browser loads it.
                                <a class="who" href="/account" rel="external">{name}</a>
                                <form class="sign-out" method="post" action="/logout">
                                    <button type="submit">"Sign out"</button>
                                </form>
                            }.into_any(),
                            // The sign-in page is the server's too.
                            _ => view! { <a href="/login" rel="external">"Sign in"</a> }.into_any(),
                        }
                    })}
                </Suspense>
            </nav>
        </header>
        <main data-hydrated=move || hydrated.get().to_string()>{children()}</main>
    }
}

/// A page-level error, said plainly.
#[component]
pub fn ErrorPanel(error: crate::api::UiError) -> impl IntoView {
    let title = match &error {
        crate::api::UiError::NotFound(_) => "Not found",
        crate::api::UiError::BadRequest(_) => "That address is not right",
        crate::api::UiError::Unauthorized(_) => "Sign in needed",
        crate::api::UiError::Forbidden(_) => "Not allowed",
        _ => "Something went wrong",
    };
    view! {
        <leptos_meta::Title text=title/>
        <section class="panel error-panel" role="alert">
            <h1>{title}</h1>
            <p>{error.to_string()}</p>
            <p><a href="/" rel="external">"Back to projects"</a></p>
        </section>
    }
}
