//! Generation: sampling (`sampler`), the session that holds the KV cache and evaluates tokens
//! (`session`), stop strings (`stop`), and the one decode loop every subcommand uses
//! (`decode`).
pub mod decode;
pub mod rng;
pub mod sampler;
pub mod session;
pub mod stop;

pub use decode::{decode, DecodeOptions, DecodeSink, Decoded, Finish};
pub use sampler::{Sampler, SamplerParams};
pub use session::{Session, SessionError};
pub use stop::StopFilter;
