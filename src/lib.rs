//! brisk: run large language models locally. The library behind the `brisk` binary.
pub mod format;
pub mod tokenizer;
