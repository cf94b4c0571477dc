//! AVX2 dots for the remaining K-quants (Q2_K, Q3_K, Q5_K) and Q8_K·Q8_K; Q4_K and Q6_K are
//! in [`super::avx2`]. Same scheme: exact integer sub-block sums (`maddubs` of unsigned
//! quants with the Q8_K bytes, |y| ≤ 127, then `madd` with the sub-block scales), one f32
//! scaling per block accumulated in 8 lanes.

use core::arch::x86_64::*;

use super::avx2::{hsum_ps, k4_scales, ld, rd16};
use crate::blocks::{check, Block, BlockQ2K, BlockQ3K, BlockQ5K, BlockQ8K};
use crate::half::f16_to_f32;
use crate::scalar::kquants_dequant::q3_scales;

#[inline]
unsafe fn rdf32(p: *const u8) -> f32 {
    f32::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; 4]))
}

/// Two i16 scales: `s0` for the low 128-bit lane (elements 0..16), `s1` for the high one.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scale2(s0: i16, s1: i16) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q2_k_q8_k(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut accm = _mm256_setzero_ps();
    let m3 = _mm256_set1_epi8(3);
    for i in 0..nb {
        let x = w.add(i * BlockQ2K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let yd = rdf32(y);
        let dall = yd * f16_to_f32(rd16(x.add(80)));
        let dmin = yd * f16_to_f32(rd16(x.add(82)));
        let sc = _mm_loadu_si128(x as *const __m128i);
        let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc, 4), _mm_set1_epi8(15)));
        let pm = _mm256_madd_epi16(ld(y.add(260)), mins);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(pm), accm);
        let mut isum = _mm256_setzero_si256();
        for h in 0..2 {
            let mut q = ld(x.add(16 + 32 * h));
            for k in 0..4 {
                let qk = _mm256_and_si256(q, m3);
                q = _mm256_srli_epi16(q, 2);
                let p = _mm256_maddubs_epi16(qk, ld(y.add(4 + 128 * h + 32 * k)));
                let j = 8 * h + 2 * k;
                let s0 = (*x.add(j) & 15) as i16;
                let s1 = (*x.add(j + 1) & 15) as i16;
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scale2(s0, s1)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(isum), acc);
    }
    hsum_ps(acc) - hsum_ps(accm)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q3_k_q8_k(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let m3 = _mm256_set1_epi8(3);
    let m1 = _mm256_set1_epi8(1);
    for i in 0..nb {
        let x = w.add(i * BlockQ3K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let d = f16_to_f32(rd16(x.add(108))) * rdf32(y);
        let sc = q3_scales(&core::ptr::read_unaligned(x.add(96) as *const [u8; 12]));
        let mut hm = ld(x);
        let mut isum = _mm256_setzero_si256();
        for h in 0..2 {
            let mut q = ld(x.add(32 + 32 * h));
            for k in 0..4 {
                let qk = _mm256_and_si256(q, m3);
                q = _mm256_srli_epi16(q, 2);
                // 4 where the high bit is clear (value − 4), else 0.
                let h4 = _mm256_slli_epi16(_mm256_xor_si256(_mm256_and_si256(hm, m1), m1), 2);
                hm = _mm256_srli_epi16(hm, 1);
                let yk = ld(y.add(4 + 128 * h + 32 * k));
                let p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(qk, yk), _mm256_maddubs_epi16(h4, yk));
                let j = 8 * h + 2 * k;
                let s = scale2((sc[j] - 32) as i16, (sc[j + 1] - 32) as i16);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_k_q8_k(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut accm = _mm256_setzero_ps();
    let m4 = _mm256_set1_epi8(0x0f);
    let m1 = _mm256_set1_epi8(1);
    for i in 0..nb {
        let x = w.add(i * BlockQ5K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let yd = rdf32(y);
        let d = f16_to_f32(rd16(x)) * yd;
        let dmin = f16_to_f32(rd16(x.add(2))) * yd;
        let sm = k4_scales(&core::ptr::read_unaligned(x.add(4) as *const [u8; 12]));
        let mins = _mm_loadl_epi64(sm.as_ptr().add(8) as *const __m128i);
        let mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins));
        let pm = _mm256_madd_epi16(ld(y.add(260)), mins16);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(pm), accm);
        let mut hb = ld(x.add(16));
        let mut isum = _mm256_setzero_si256();
        for c in 0..4 {
            let q = ld(x.add(48 + 32 * c));
            let lo = _mm256_or_si256(
                _mm256_and_si256(q, m4),
                _mm256_slli_epi16(_mm256_and_si256(hb, m1), 4),
            );
            let hi = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 1), m1), 4),
            );
            hb = _mm256_srli_epi16(hb, 2);
            let p0 = _mm256_maddubs_epi16(lo, ld(y.add(4 + 64 * c)));
            let p1 = _mm256_maddubs_epi16(hi, ld(y.add(36 + 64 * c)));
            let s0 = _mm256_set1_epi16(sm[2 * c] as i16);
            let s1 = _mm256_set1_epi16(sm[2 * c + 1] as i16);
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, s0));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, s1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    hsum_ps(acc) - hsum_ps(accm)
}

// SAFETY (applies to every `unsafe` block below): only reachable through the `AVX2`/`AVX512`
// tables, which `crate::kernels` hands out only when their `supported()` (AVX2+FMA+F16C at
// least) is true; lengths are checked before any pointer is read.

macro_rules! vec_dot_wrapper {
    ($name:ident, $raw:ident, $w:ty) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], n: usize) -> f32 {
            let nb = check::<$w>(n, w.len());
            check::<BlockQ8K>(n, a.len());
            // SAFETY: see the comment above the wrappers (features present, lengths checked).
            unsafe { $raw(w.as_ptr(), a.as_ptr(), nb) }
        }
    };
}

vec_dot_wrapper!(vec_dot_q2_k_q8_k, q2_k_q8_k, BlockQ2K);
vec_dot_wrapper!(vec_dot_q3_k_q8_k, q3_k_q8_k, BlockQ3K);
vec_dot_wrapper!(vec_dot_q5_k_q8_k, q5_k_q8_k, BlockQ5K);
