//! brisk-kernels: ggml-compatible block types, the scalar reference for every operation, and
//! one kernel table per instruction set (for now only the scalar one). No dependencies, so it
//! also builds for aarch64 with an old toolchain (Rust 1.63; see docs/ARCHITECTURE.md).
//!
//! - [`QuantType`]: ggml type ids, names, block geometry, `vec_dot_type`.
//! - [`blocks`]: `#[repr(C)]` block structs, byte-identical to ggml's.
//! - [`scalar`]: quantize / dequantize / dot products / f32 vector ops; the specification.
//! - [`Kernels`]: a table of function pointers per instruction set; [`selected`] picks one.

pub mod blocks;
mod half;
pub mod kernels;
pub mod scalar;
#[doc(hidden)]
pub mod testutil;
mod types;

pub use crate::half::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16};
pub use crate::kernels::{
    available, by_name, selected, DotF32Fn, DotHalfFn, Kernels, QuantizeRowFn, VecDotFn, SCALAR,
};
pub use crate::types::{QuantType, QK, QK_K};
