pub mod artifact_browser;
pub mod file_preview;
pub mod gallery;
pub mod layout;
pub mod server_form;
pub mod status;
