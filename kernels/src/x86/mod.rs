//! x86-64 kernel tables: AVX2+FMA+F16C ([`AVX2`]) and AVX-512 F/BW/VL(+VNNI) ([`AVX512`]).
//!
//! Every SIMD function is a `#[target_feature]` `unsafe fn`; the tables hold safe wrappers
//! that check lengths (like the scalar reference) and are only handed out by
//! [`crate::kernels::available`] / [`crate::kernels::selected`] when `supported()` is true.
//!
//! Toolchain: the crate's MSRV (1.63) is for the aarch64 build; this module is compiled only
//! for x86-64 and needs Rust 1.89 (stable AVX-512 intrinsics), see the `allow` in `lib.rs`.

/// A `vec_dots` list: the table's own dots, then the AVX2 dots of the K-quants without AVX-512
/// versions and of the i-quant, ternary and MXFP4 types, which both x86 tables share.
macro_rules! x86_vec_dots {
    ($($own:expr),* $(,)?) => {
        &[
            $($own,)*
            (QuantType::Q2_K, super::avx2_kquants::vec_dot_q2_k_q8_k),
            (QuantType::Q3_K, super::avx2_kquants::vec_dot_q3_k_q8_k),
            (QuantType::Q5_K, super::avx2_kquants::vec_dot_q5_k_q8_k),
            (QuantType::IQ4_NL, super::avx2_iquants::vec_dot_iq4_nl_q8_0),
            (QuantType::IQ4_XS, super::avx2_iquants::vec_dot_iq4_xs_q8_k),
            (QuantType::MXFP4, super::avx2_iquants::vec_dot_mxfp4_q8_0),
            (QuantType::TQ2_0, super::avx2_iquants::vec_dot_tq2_0_q8_k),
            (QuantType::IQ2_XXS, super::avx2_iquants_grid::vec_dot_iq2_xxs_q8_k),
            (QuantType::IQ2_XS, super::avx2_iquants_grid::vec_dot_iq2_xs_q8_k),
            (QuantType::IQ2_S, super::avx2_iquants_grid::vec_dot_iq2_s_q8_k),
            (QuantType::IQ3_XXS, super::avx2_iquants_grid::vec_dot_iq3_xxs_q8_k),
            (QuantType::IQ3_S, super::avx2_iquants_grid::vec_dot_iq3_s_q8_k),
            (QuantType::IQ1_S, super::avx2_iquants_one::vec_dot_iq1_s_q8_k),
            (QuantType::IQ1_M, super::avx2_iquants_one::vec_dot_iq1_m_q8_k),
        ]
    };
}

pub mod attn;
pub mod avx2;
mod avx2_float_gemm;
pub(crate) mod avx2_iq4_search;
pub mod avx2_iquants;
pub mod avx2_iquants_grid;
pub mod avx2_iquants_one;
pub mod avx2_kquants;
pub(crate) mod avx2_legacy_quant;
pub mod avx2_math;
mod avx2_packed;
pub(crate) mod avx2_quant_search;
pub(crate) mod avx2_ternary;
pub mod avx512;
mod avx512_float_gemm;
mod avx512_lanes;
mod avx512_q4k16;
mod avx512_q6k16;
mod avx512_x16;
pub(crate) mod convert;
pub mod stream;

pub use avx2::AVX2;
pub use avx512::AVX512;

use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};

/// Decode streams every weight byte once: request the cache lines of the block `PREFETCH`
/// bytes ahead (`len` bytes long) so several DRAM reads are in flight.
#[inline]
pub(crate) unsafe fn prefetch_ahead(p: *const u8, len: usize) {
    let mut off = 0;
    while off < len + 63 {
        // `wrapping_add`: the address may lie past the buffer; a prefetch never faults.
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH + off) as *const i8);
        off += 64;
    }
}

/// Software prefetch distance for the single-token kernels, in bytes.
const PREFETCH: usize = 2048;
