//! The agent API (shapes and protocol in `vitrine_wire::agent`), used by `vitrine run`,
//! `store-artifacts` and `execute` with a project build token. Every route checks the
//! agent's protocol version first, so an incompatible agent hears which one it needs.

pub mod builds;
pub mod uploads;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vitrine_wire::agent::{OLDEST_PROTOCOL_VERSION, PROTOCOL_HEADER, PROTOCOL_VERSION};

use crate::http::error::ApiError;

/// Refuses requests from agents that speak a protocol this server does not: older than
/// [`OLDEST_PROTOCOL_VERSION`] (the agent is told to upgrade, and where to get one), or newer
/// than its own (the agent is told which version the server speaks).
pub async fn require_protocol(request: Request, next: Next) -> Response {
    let sent = request.headers().get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok()).map(str::trim);
    let version = sent.and_then(|v| v.parse::<u32>().ok());
    if version.is_some_and(|v| (OLDEST_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&v)) {
        return next.run(request).await;
    }
    let speaks = if OLDEST_PROTOCOL_VERSION == PROTOCOL_VERSION {
        format!("version {PROTOCOL_VERSION}")
    } else {
        format!("versions {OLDEST_PROTOCOL_VERSION} to {PROTOCOL_VERSION}")
    };
    let release = env!("CARGO_PKG_VERSION");
    let why = match (sent, version) {
        (_, Some(v)) if v > PROTOCOL_VERSION => format!(
            "This Vitrine server (release {release}) speaks agent protocol {speaks}; this agent speaks version {v}, \
             which is newer: upgrade the server, or use the agent it serves at /downloads/"
        ),
        (Some(v), _) => format!(
            "This Vitrine server (release {release}) speaks agent protocol {speaks}; this agent speaks version {v}: \
             use the agent the server serves at /downloads/"
        ),
        (None, _) => format!(
            "This Vitrine server (release {release}) speaks agent protocol {speaks}; this agent is older: \
             use the agent the server serves at /downloads/"
        ),
    };
    ApiError::bad_request(why).into_response()
}
