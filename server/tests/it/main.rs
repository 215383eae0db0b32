//! Integration tests: a real `vitrine serve` (embedded S3; SQLite, or PostgreSQL when
//! `VITRINE_TEST_POSTGRES` names a server) on free ports, driven
//! over HTTP and through the real `vitrine` binary. Files mirror the URL tree and commands.
//! The server under test runs on a multi-threaded runtime, as `vitrine serve` does: pages
//! rendered on a single-threaded one can stall for good on a race between two Suspense
//! components in Leptos 0.8 (the access table met it about once in eight runs; 2,500 page
//! loads of the real server met it never).

// A test tells its story in one function, however long.
#![allow(clippy::too_many_lines)]

mod access;
mod admin;
mod agent;
mod api_v1_1;
mod api_v2;
mod archives;
mod audit;
mod backup;
mod cli_download;
mod cli_execute;
mod cli_run;
mod common;
mod compare;
mod crash;
mod downloads;
mod faults;
mod hostile;
mod manage;
mod migrate;
mod oidc;
mod operations;
mod read_path;
mod readers;
mod retention;
mod security;
mod store;
mod two_servers;
mod ui;
mod upgrade;
mod viewer;
mod zoo;
