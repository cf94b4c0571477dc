//! AVX2 dot products of the 1.5-bit i-quants against Q8_K: IQ1_S and IQ1_M. A sub-block of 32
//! weights is four grid points of 8 values in {−1, 0, 1} (11-bit indices into `IQ1S_GRID`,
//! one 64-bit load each) multiplied with the activations through the sign trick in
//! `vpmaddubsw`, odd 3-bit scales applied in `vpmaddwd`; the ±1/8 delta term is the activations'
//! sum times the delta's sign — from the Q8_K `bsums` for IQ1_S (one sign per sub-block), from a
//! second ±1 vector for IQ1_M (one sign per group of 8). Integers are exact; the scaling is f32
//! per super-block, equal to the scalar reference up to f32 rounding.

use core::arch::x86_64::*;

use super::avx2::{f16x, hsum_ps, ld, rd16};
use crate::blocks::{check, Block, BlockQ8K};
use crate::iq_blocks::{BlockIQ1M, BlockIQ1S, IQ1M_QH, IQ1M_QS, IQ1M_SCALES, IQ1S_QH, IQ1S_QS};
use crate::iq_tables::{IQ1M_DELTA, IQ1S_DELTA, IQ1S_GRID};

#[inline]
unsafe fn rdf32(p: *const u8) -> f32 {
    f32::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; 4]))
}

/// Σ scale · v · y over 32 elements with `v` signed bytes in −1..=1 (|v| ≤ 1: no saturation),
/// `lo`/`hi` the scales of elements 0..16 / 16..32, in 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn signed_dot(v: __m256i, y: __m256i, lo: i16, hi: i16) -> __m256i {
    let p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(y, v));
    _mm256_madd_epi16(
        p16,
        _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo)),
    )
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq1_s(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut delta_acc = 0.0f32;
    for i in 0..nb {
        let x = w.add(i * BlockIQ1S::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let mut isum = _mm256_setzero_si256();
        let mut dsum = 0i32;
        for ib in 0..8 {
            let qh = rd16(x.add(IQ1S_QH + 2 * ib)) as usize;
            let ls = (2 * ((qh >> 12) & 7) + 1) as i16;
            let idx =
                |l: usize| *x.add(IQ1S_QS + 4 * ib + l) as usize | (((qh >> (3 * l)) & 7) << 8);
            let g = [0, 1, 2, 3].map(|l| IQ1S_GRID[idx(l)] as i64);
            let v = _mm256_set_epi64x(g[3], g[2], g[1], g[0]);
            isum = _mm256_add_epi32(isum, signed_dot(v, ld(y.add(4 + 32 * ib)), ls, ls));
            let bs =
                rd16(y.add(260 + 4 * ib)) as i16 as i32 + rd16(y.add(262 + 4 * ib)) as i16 as i32;
            let sign = if qh & 0x8000 != 0 { -1 } else { 1 };
            dsum += ls as i32 * sign * bs;
        }
        let d = f16x(rd16(x)) * rdf32(y);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        delta_acc += d * (IQ1S_DELTA * dsum as f32);
    }
    hsum_ps(acc) + delta_acc
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq1_m(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let delta = _mm256_set1_ps(IQ1M_DELTA);
    for i in 0..nb {
        let x = w.add(i * BlockIQ1M::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let sc = [0, 1, 2, 3].map(|k| rd16(x.add(IQ1M_SCALES + 2 * k)));
        // The super-block scale is the top nibbles of the four scale words.
        let dbits =
            (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
        let (mut isum, mut dsum) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for ib in 0..8 {
            let s = sc[ib / 2] >> (6 * (ib % 2));
            let (ls1, ls2) = ((2 * (s & 7) + 1) as i16, (2 * ((s >> 3) & 7) + 1) as i16);
            let (mut g, mut dl) = ([0i64; 4], [0i64; 4]);
            for l in 0..4 {
                let qh = *x.add(IQ1M_QH + 2 * ib + l / 2) as usize;
                let shift = 4 * (l % 2);
                let idx = *x.add(IQ1M_QS + 4 * ib + l) as usize | ((qh << (8 - shift)) & 0x700);
                g[l] = IQ1S_GRID[idx] as i64;
                // Eight bytes of −1 or +1: the sign of this group's delta.
                dl[l] = if qh & (0x08 << shift) != 0 {
                    -1
                } else {
                    0x0101_0101_0101_0101
                };
            }
            let yv = ld(y.add(4 + 32 * ib));
            let v = _mm256_set_epi64x(g[3], g[2], g[1], g[0]);
            let dv = _mm256_set_epi64x(dl[3], dl[2], dl[1], dl[0]);
            isum = _mm256_add_epi32(isum, signed_dot(v, yv, ls1, ls2));
            dsum = _mm256_add_epi32(dsum, signed_dot(dv, yv, ls1, ls2));
        }
        let d = f16x(dbits) * rdf32(y);
        let tot = _mm256_fmadd_ps(delta, _mm256_cvtepi32_ps(dsum), _mm256_cvtepi32_ps(isum));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), tot, acc);
    }
    hsum_ps(acc)
}

// SAFETY (applies to both `unsafe` blocks below): only reachable through the `AVX2`/`AVX512`
// tables, which `crate::kernels` hands out only when their `supported()` (AVX2+FMA+F16C at
// least) is true; `check` has verified both rows hold `nb` whole blocks before any read, and
// every grid index is 11 bits (the table has 2048 entries).

pub(crate) fn vec_dot_iq1_s_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let nb = check::<BlockIQ1S>(n, w.len());
    check::<BlockQ8K>(n, a.len());
    // SAFETY: see above.
    unsafe { iq1_s(w.as_ptr(), a.as_ptr(), nb) }
}

pub(crate) fn vec_dot_iq1_m_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let nb = check::<BlockIQ1M>(n, w.len());
    check::<BlockQ8K>(n, a.len());
    // SAFETY: see above.
    unsafe { iq1_m(w.as_ptr(), a.as_ptr(), nb) }
}
