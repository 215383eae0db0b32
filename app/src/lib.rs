//! The Vitrine web UI: Leptos components rendered on the server and hydrated in the browser.

pub mod api;
pub mod components;
pub mod format;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, path};

use crate::components::layout::Layout;
use crate::pages::{build::BuildPage, not_found::NotFound};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    api::backend::send_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Copy buttons, local times, "/" to the filter: a small script of its own.
                <script src="/vitrine.js" defer></script>
                <AutoReload options=options.clone()/>
                // The stylesheet and the client bundle by their hashed names (see hash-files).
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|title: String| if title.is_empty() { "Vitrine".to_owned() } else { format!("{title} · Vitrine") }/>
        <Router>
            <Layout>
                // Async: the page waits for its data, so a missing build answers 404, not 200.
                <Routes fallback=|| view! { <NotFound/> }>
                    // `/` and `/:vcs/:org/:repo` (lists of links), the sign-in page and the
                    // settings, account and admin pages are the server's alone (`http/pages`):
                    // links to them load them whole (`rel="external"`).
                    <Route path=path!("/:vcs/:org/:repo/:build_num") view=BuildPage ssr=SsrMode::Async/>
                </Routes>
            </Layout>
        </Router>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // A server function's redirect (signing in, to `next`) loads the page whole: it may be
    // one the server renders alone (settings, account, admin), which the app's router does
    // not have. Set before the router sets its own, so this one is kept.
    _ = leptos::server_fn::redirect::set_redirect_hook(|to: &str| {
        _ = window().location().set_href(to);
    });
    leptos::mount::hydrate_body(App);
}
