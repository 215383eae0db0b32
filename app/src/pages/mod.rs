pub mod build;
pub mod not_found;
