//! Shared helpers for integration tests: where `../shared` is, and skipping when it is absent.
#![allow(dead_code)]
use std::path::PathBuf;

/// `../shared` beside the project root, if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"));
    if dir.join("fixtures").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: {} is absent; fixture-based checks did not run",
            dir.display()
        );
        None
    }
}

pub fn fixtures() -> Option<PathBuf> {
    shared_dir().map(|d| d.join("fixtures"))
}

pub mod random_model;
