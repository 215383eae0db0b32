pub mod artifact_tree;
pub mod gallery;
pub mod layout;
pub mod status;
