//! The agent API (shapes and protocol in `vitrine_wire::agent`), used by `vitrine run`,
//! `store-artifacts` and `execute` with a project build token. Every route checks the
//! agent's protocol version first, so an incompatible agent hears which one it needs.

pub mod builds;
pub mod uploads;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vitrine_wire::agent::{PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::http::error::ApiError;

/// Refuses requests from agents that speak another protocol version.
pub async fn require_protocol(request: Request, next: Next) -> Response {
    let sent = request.headers().get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()).map(str::trim);
    match sent {
        Some(v) if v == PROTOCOL_VERSION.to_string() => next.run(request).await,
        other => {
            let theirs = other.map_or_else(|| "an older one".to_owned(), |v| format!("version {v}"));
            ApiError::bad_request(format!(
                "This Vitrine server speaks agent protocol version {PROTOCOL_VERSION}; this agent speaks {theirs}. \
                 Use a vitrine or vitrine-agent binary of the server's release (version {})",
                env!("CARGO_PKG_VERSION")
            ))
            .into_response()
        }
    }
}
