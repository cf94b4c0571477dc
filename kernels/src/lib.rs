//! brisk-kernels: ggml-compatible block types, the scalar reference for every operation, and
//! one kernel table per instruction set (scalar everywhere; AVX2 and AVX-512 on x86-64; NEON,
//! with SDOT where present, on aarch64). No dependencies, so it also builds for aarch64 with an
//! old toolchain (Rust 1.63; see docs/ARCHITECTURE.md).
//!
//! - [`QuantType`]: ggml type ids, names, block geometry, `vec_dot_type`.
//! - [`blocks`]: `#[repr(C)]` block structs, byte-identical to ggml's.
//! - [`scalar`]: quantize / dequantize / dot products / f32 vector ops; the specification.
//! - [`Kernels`]: a table of function pointers per instruction set; [`selected`] picks one.
//!
//! # Conformance (checked by the golden tests, `scripts/make_quant_golden.py`)
//!
//! - Quantization is byte-identical to ggml's reference quantizers (`quantize_row_*_ref`) for
//!   Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K (and to gguf-py
//!   for the legacy types). F16/BF16 round to nearest even like numpy / `half` / ggml.
//! - Dequantization is bit-identical to `gguf.quants.dequantize` (= ggml's `dequantize_row_*`).
//! - Dot products: bit-identical to ggml's `ggml_vec_dot_*_generic` for the legacy types and
//!   Q2_K; Q3_K…Q6_K equal up to f32 rounding (one f32 scaling per block instead of ggml's
//!   8 f32 lane partial sums). Integer block sums are exact in every case.
//! - F16 and BF16 weights are dotted with **f32** activations (`vec_dot_type() == F32`).

pub mod blocks;
pub mod convert;
pub mod float_gemm;
mod half;
pub mod iq_blocks;
pub mod iq_tables;
pub mod kernels;
pub mod packed;
pub mod packed_q4k;
pub mod packed_q6k;
pub mod packed_x16;
pub mod scalar;
#[doc(hidden)]
pub mod testutil;
mod types;
// The x86 module needs Rust 1.89 (stable AVX-512 intrinsics); the 1.63 MSRV is for aarch64.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod x86;
// The aarch64 module (NEON) builds with the 1.63 MSRV; x86 builds never read it.
#[cfg(target_arch = "aarch64")]
mod arm;

pub use crate::half::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16};
pub use crate::kernels::{
    available, by_name, requested, selected, AttnAccumF16Fn, AttnAccumF32Fn, AttnScoresF16Fn,
    AttnScoresF32Fn, DotF32Fn, DotHalfFn, Kernels, QuantizeRowFn, VecDotFn, SCALAR,
};
pub use crate::types::{QuantType, QK, QK_K};
