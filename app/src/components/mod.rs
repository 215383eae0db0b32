pub mod artifact_browser;
pub mod gallery;
pub mod layout;
pub mod status;
