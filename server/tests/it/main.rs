//! Integration tests: a real `vitrine serve` (embedded S3; SQLite, or PostgreSQL when
//! `VITRINE_TEST_POSTGRES` names a server) on free ports, driven
//! over HTTP and through the real `vitrine` binary. Files mirror the URL tree and commands.

mod access;
mod admin;
mod agent;
mod api_v1_1;
mod api_v2;
mod audit;
mod cli_download;
mod cli_execute;
mod cli_run;
mod common;
mod crash;
mod faults;
mod hostile;
mod migrate;
mod retention;
mod security;
mod store;
mod two_servers;
mod ui;
mod viewer;
