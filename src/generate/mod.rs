//! Generation: sampling (`sampler`), the session that holds the KV cache and evaluates tokens
//! (`session`), stop strings (`stop`), speculative decoding (`speculative`), and the one
//! decode loop every subcommand uses (`decode`).
pub mod decode;
pub mod rng;
pub mod sampler;
pub mod session;
pub mod speculative;
pub mod stop;

pub use decode::{decode, DecodeOptions, DecodeSink, Decoded, Finish};
pub use sampler::{Dist, Sampler, SamplerParams};
pub use session::{Session, SessionError};
pub use speculative::{SpecOptions, SpecStats, Speculator};
pub use stop::StopFilter;
