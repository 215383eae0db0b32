//! The state every handler gets: the services, the Leptos options, the UI's backend. Kept
//! apart from the router, so that handlers and the router both depend on it and not on
//! each other.

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;
use vitrine_app::api::backend::UiBackend;

use crate::services::Vitrine;

#[derive(Clone)]
pub struct AppState {
    pub vitrine: Vitrine,
    pub leptos_options: LeptosOptions,
    pub ui: std::sync::Arc<dyn UiBackend>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
