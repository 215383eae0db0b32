//! Vitrine: a self-hosted, CircleCI-compatible home for CI build artifacts.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod db;
pub use vitrine_wire::domain;
pub mod error;
pub mod listen;
pub mod observe;
pub mod router;
pub mod serve;
pub mod services;
pub mod storage;
pub mod ui;
pub mod urls;
