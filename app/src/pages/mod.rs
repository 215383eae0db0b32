pub mod build;
pub mod login;
pub mod not_found;
