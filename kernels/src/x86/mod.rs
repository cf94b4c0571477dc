//! x86-64 kernel tables: AVX2+FMA+F16C ([`AVX2`]) and AVX-512 F/BW/VL(+VNNI) ([`AVX512`]).
//!
//! Every SIMD function is a `#[target_feature]` `unsafe fn`; the tables hold safe wrappers
//! that check lengths (like the scalar reference) and are only handed out by
//! [`crate::kernels::available`] / [`crate::kernels::selected`] when `supported()` is true.
//!
//! Toolchain: the crate's MSRV (1.63) is for the aarch64 build; this module is compiled only
//! for x86-64 and needs Rust 1.89 (stable AVX-512 intrinsics), see the `allow` in `lib.rs`.

pub mod attn;
pub mod avx2;
pub mod avx2_kquants;
pub mod avx2_math;
pub mod avx512;
mod avx512_multi;
mod avx512_packed;
pub mod stream;

pub use avx2::AVX2;
pub use avx512::AVX512;
