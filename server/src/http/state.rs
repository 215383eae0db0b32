//! The state every handler gets: the core, the HTTP policy, the Leptos options, the UI's
//! backend. Kept apart from the router, so that handlers and the router both depend on it
//! and not on each other.

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use vitrine_app::api::backend::UiBackend;

use crate::core::Vitrine;
use crate::http::policy::HttpPolicy;

/// Cloned for every request (axum hands each handler its own): one reference count.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<AppParts>);

pub struct AppParts {
    pub vitrine: Vitrine,
    pub policy: HttpPolicy,
    pub leptos_options: LeptosOptions,
    pub ui: std::sync::Arc<dyn UiBackend>,
}

impl AppState {
    pub fn new(parts: AppParts) -> AppState {
        AppState(std::sync::Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
