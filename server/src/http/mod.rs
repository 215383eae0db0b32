//! Everything that speaks HTTP: the route list and its layers (`router.rs`), the handlers of
//! CircleCI's v1.1 and v2 APIs, the agent API and the site's own routes, the extractors that
//! parse and authorize a request, the errors as HTTP answers, the Leptos app's backend
//! (`ui.rs`), the artifacts origin, the policies browsers are told and proxies are believed
//! by (`policy.rs`), and the accept loop every listener runs (`listen.rs`).
//! Handlers parse, authorize through the core, call it, and shape the answer; the core never
//! sees a request.

pub mod access_log;
pub mod agent;
pub mod artifacts_origin;
pub mod auth;
pub mod downloads;
pub mod error;
pub mod extract;
pub mod kept;
pub mod listen;
pub mod one_port;
pub mod openapi;
pub mod operations;
pub mod pages;
pub mod policy;
pub mod router;
pub mod site;
pub mod state;
pub mod ui;
pub mod v1_1;
pub mod v2;
