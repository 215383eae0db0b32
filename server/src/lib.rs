//! Vitrine: a self-hosted, CircleCI-compatible home for CI build artifacts.
//!
//! Layers, each importing only from those below it (ARCHITECTURE.md; `scripts/layers.py`
//! checks it): `cli` and `serve` (start-up) -> `http` -> `core` (the features) -> `storage`
//! (S3), `identity` (OpenID Connect providers) and the `vitrine-store` crate (metadata) ->
//! `observe`, `urls` and `vitrine-wire`.

pub mod cli;
pub mod core;
pub use vitrine_wire::domain;
pub mod http;
pub mod identity;
pub mod observe;
pub mod serve;
pub mod storage;
pub mod urls;
