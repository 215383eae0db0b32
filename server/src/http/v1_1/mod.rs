//! CircleCI's v1.1 API, on its exact route shapes and JSON fields.

pub mod artifacts;
pub mod builds;
pub mod me;
pub mod tests;
pub mod views;
