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

/// The project's own architecture fixtures (random-weight models and llama.cpp goldens).
pub fn arch_fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/arch"))
}

/// Where the fetch scripts put real models: `$BRISK_MODELS`, else `~/.cache/brisk-models`.
pub fn models_cache() -> PathBuf {
    match std::env::var_os("BRISK_MODELS") {
        Some(d) => PathBuf::from(d),
        None => dirs::home_dir()
            .unwrap_or_default()
            .join(".cache/brisk-models"),
    }
}

pub mod arch_checkpoint;
pub mod hf_checkpoint;
pub mod random_model;

/// An error message meant for users: no Rust type names or `Option` debug text.
pub fn assert_plain_message(msg: &str) {
    for leak in [
        "Some(", "None", "struct ", "Option<", "Vec<", "enum ", "Ok(", "Err(",
    ] {
        assert!(
            !msg.contains(leak),
            "error message leaks Rust internals ({leak:?}): {msg}"
        );
    }
}
pub mod process;
