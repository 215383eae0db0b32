//! The part of CircleCI's v2 API that concerns artifacts.

pub mod artifacts;
