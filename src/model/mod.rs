//! The transformer: what tells architectures apart (`arch`), hyperparameters (`config`), bound
//! weights (`weights`), the one forward pass (`forward`), and loading a model from a file
//! (`loader`).
pub mod arch;
pub mod blocks;
pub mod config;
pub mod forward;
pub mod loader;
#[cfg(feature = "wgpu")]
pub mod offload;
pub mod repack;
pub mod weights;

pub use arch::Arch;
pub use config::{Config, RopeStyle};
pub use forward::{Logits, Model};
pub use loader::LoadedModel;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("bad model metadata: {0}")]
    Metadata(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("missing tensor '{0}'")]
    MissingTensor(String),
    #[error("bad tensor shape: {0}")]
    Shape(String),
    #[error(transparent)]
    Format(#[from] crate::format::error::FormatError),
    /// The kernel set asked for (`BRISK_CPU`) cannot run here.
    #[error("{0}")]
    Kernels(String),
    #[error("cannot start worker threads: {0}")]
    Threads(std::io::Error),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The GPU (`-ngl`) cannot be used.
    #[error("{0}")]
    Gpu(String),
}
