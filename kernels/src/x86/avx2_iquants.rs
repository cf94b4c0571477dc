//! AVX2 dot products of the 4-bit table types — IQ4_NL and MXFP4 against Q8_0, IQ4_XS against
//! Q8_K — and of the ternary TQ2_0 against Q8_K. Each 16-byte run of nibbles becomes 32
//! signed values with one `vpshufb` lookup in the 16-entry table per half, then meets the
//! activation bytes in `vpmaddubsw` through the sign trick (|x| · sign(y, x)): the values are in
//! −127..113 and activations in −127..127, so a pair sum is at most 2·127·127 < 2¹⁵ and never
//! saturates. Block integers are exact; IQ4_XS sums its 8 sub-blocks' `(ls − 32)·Σ` in integers
//! (at most 8·2·32·32258 per lane) before one f32 scaling per super-block, where the scalar
//! reference scales each sub-block: equal up to f32 rounding. MXFP4 is IQ4_NL with the doubled
//! E2M1 table and a halved E8M0 block scale. TQ2_0 multiplies its 2-bit codes (0..3) directly
//! and subtracts the activations' sum (Q8_K `bsums`) for the −1 offset.

use core::arch::x86_64::*;

use super::avx2::{drive2, dxy, f16x, hsum_ps, ld, rd16};
use crate::blocks::{check, Block, BlockQ8K, BlockQ8_0};
use crate::iq_blocks::{
    BlockIQ4NL, BlockIQ4XS, BlockMXFP4, BlockTQ2_0, IQ4NL_QS, IQ4XS_D, IQ4XS_QS, IQ4XS_SCALES_H,
    IQ4XS_SCALES_L, MXFP4_E, MXFP4_QS, TQ2_0_D, TQ2_0_QS,
};
use crate::iq_tables::{KVALUES_IQ4NL, KVALUES_MXFP4};
use crate::scalar::iquants::e8m0_to_f32_half;

/// The 32 values of 16 nibble bytes at `qs`: low nibbles are elements 0..16, high ones 16..32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn lookup32(qs: *const u8, table: __m128i) -> __m256i {
    let q = _mm_loadu_si128(qs as *const __m128i);
    let m4 = _mm_set1_epi8(0x0f);
    let lo = _mm_shuffle_epi8(table, _mm_and_si128(q, m4));
    let hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), m4));
    _mm256_set_m128i(hi, lo)
}

/// Pairwise 16-bit sums of `x·y` for 32 signed bytes (no saturation for |x|, |y| ≤ 127).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pair_sums(x: __m256i, y: __m256i) -> __m256i {
    _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

#[inline]
unsafe fn rdf32(p: *const u8) -> f32 {
    f32::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; 4]))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq4_nl_q8_0(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let table = _mm_loadu_si128(KVALUES_IQ4NL.as_ptr() as *const __m128i);
    let ones = _mm256_set1_epi16(1);
    drive2(nb, |i, acc| {
        let x = w.add(i * BlockIQ4NL::BYTES);
        let y = a.add(i * BlockQ8_0::BYTES);
        let q = lookup32(x.add(IQ4NL_QS), table);
        let p = _mm256_madd_epi16(pair_sums(q, ld(y.add(2))), ones);
        _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq4_xs_q8_k(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let table = _mm_loadu_si128(KVALUES_IQ4NL.as_ptr() as *const __m128i);
    let mut acc = _mm256_setzero_ps();
    for i in 0..nb {
        let x = w.add(i * BlockIQ4XS::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let sh = rd16(x.add(IQ4XS_SCALES_H)) as i32;
        let mut isum = _mm256_setzero_si256();
        for ib in 0..8 {
            let sl = *x.add(IQ4XS_SCALES_L + ib / 2) as i32;
            let ls = ((sl >> (4 * (ib % 2))) & 0xf) | (((sh >> (2 * ib)) & 3) << 4);
            let q = lookup32(x.add(IQ4XS_QS + 16 * ib), table);
            let p16 = pair_sums(q, ld(y.add(4 + 32 * ib)));
            let scale = _mm256_set1_epi16((ls - 32) as i16);
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p16, scale));
        }
        let d = f16x(rd16(x.add(IQ4XS_D))) * rdf32(y);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mxfp4_q8_0(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let table = _mm_loadu_si128(KVALUES_MXFP4.as_ptr() as *const __m128i);
    let ones = _mm256_set1_epi16(1);
    drive2(nb, |i, acc| {
        let x = w.add(i * BlockMXFP4::BYTES);
        let y = a.add(i * BlockQ8_0::BYTES);
        let q = lookup32(x.add(MXFP4_QS), table);
        let p = _mm256_madd_epi16(pair_sums(q, ld(y.add(2))), ones);
        let d = f16x(rd16(y)) * e8m0_to_f32_half(*x.add(MXFP4_E));
        _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(p), acc)
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tq2_0_q8_k(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let ones = _mm256_set1_epi16(1);
    let m3 = _mm256_set1_epi8(3);
    let mut acc = _mm256_setzero_ps();
    for i in 0..nb {
        let x = w.add(i * BlockTQ2_0::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let mut p16 = _mm256_setzero_si256();
        for c in 0..2 {
            let codes = ld(x.add(TQ2_0_QS + 32 * c));
            for k in 0..4 {
                // Element 128c + 32k + m is bits 2k..2k+2 of byte m of this run.
                let shift = _mm_cvtsi32_si128(2 * k as i32);
                let q = _mm256_and_si256(_mm256_srl_epi16(codes, shift), m3);
                let yv = ld(y.add(4 + 128 * c + 32 * k));
                p16 = _mm256_add_epi16(p16, _mm256_maddubs_epi16(q, yv));
            }
        }
        // Σ y over the block from the 16 bsums (i16 at 260..292).
        let bsums = _mm256_madd_epi16(ld(y.add(260)), ones);
        let isum = _mm256_sub_epi32(_mm256_madd_epi16(p16, ones), bsums);
        let d = f16x(rd16(x.add(TQ2_0_D))) * rdf32(y);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    hsum_ps(acc)
}

// SAFETY (applies to every `unsafe` block below): only reachable through the `AVX2`/`AVX512`
// tables, which `crate::kernels` hands out only when their `supported()` (AVX2+FMA+F16C at
// least) is true; `check` has verified both rows hold `nb` whole blocks before any read.

pub(crate) fn vec_dot_iq4_nl_q8_0(w: &[u8], a: &[u8], n: usize) -> f32 {
    let nb = check::<BlockIQ4NL>(n, w.len());
    check::<BlockQ8_0>(n, a.len());
    // SAFETY: see above.
    unsafe { iq4_nl_q8_0(w.as_ptr(), a.as_ptr(), nb) }
}

pub(crate) fn vec_dot_iq4_xs_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let nb = check::<BlockIQ4XS>(n, w.len());
    check::<BlockQ8K>(n, a.len());
    // SAFETY: see above.
    unsafe { iq4_xs_q8_k(w.as_ptr(), a.as_ptr(), nb) }
}

pub(crate) fn vec_dot_mxfp4_q8_0(w: &[u8], a: &[u8], n: usize) -> f32 {
    let nb = check::<BlockMXFP4>(n, w.len());
    check::<BlockQ8_0>(n, a.len());
    // SAFETY: see above.
    unsafe { mxfp4_q8_0(w.as_ptr(), a.as_ptr(), nb) }
}

pub(crate) fn vec_dot_tq2_0_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let nb = check::<BlockTQ2_0>(n, w.len());
    check::<BlockQ8K>(n, a.len());
    // SAFETY: see above.
    unsafe { tq2_0_q8_k(w.as_ptr(), a.as_ptr(), nb) }
}
