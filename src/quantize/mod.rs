//! `brisk quantize`: llama-quantize's file types, per-tensor type rules, importance-matrix
//! files and byte-identical output, planned up front and streamed tensor by tensor.
pub mod calib;
pub mod export;
pub mod ftype;
pub mod imatrix_file;
pub mod plan;
pub mod rules;
pub mod run;
pub mod source;

pub use ftype::{parse_target, FileType, Target};
pub use plan::{plan, Plan, Request};
pub use source::Source;
