//! brisk: run large language models locally. The library behind the `brisk` binary.
pub mod attn;
pub mod backend;
pub mod chat;
pub mod cli;
pub mod convert;
pub mod eval;
pub mod format;
pub mod generate;
pub mod grammar;
pub mod hub;
pub mod interrupt;
pub mod model;
pub mod quantize;
pub mod tokenizer;
