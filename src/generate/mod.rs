//! Generation: sampling (`sampler`) and the prefill/decode loop shared by every subcommand
//! (`session`).
pub mod rng;
pub mod sampler;
pub mod session;

pub use sampler::{Sampler, SamplerParams};
pub use session::Session;
