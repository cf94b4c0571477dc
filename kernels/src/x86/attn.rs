//! Attention tile kernels for the AVX2 and AVX-512 tables: scores of one query against a run of
//! key rows, `exp` of the shifted scores, and the weighted sum of value rows, over f16 (the F16
//! cache, converted in registers with F16C) or f32 (a dequantized Q8_0 tile) rows.
//!
//! Scores handle four key rows at a time (four independent accumulator chains sharing each
//! query load); the value sum keeps up to 64 (AVX-512) or 32 (AVX2) accumulator columns in
//! registers across every row of the tile, so `acc` is loaded and stored once per call.
//! AVX-512 covers any width with masked loads; AVX2 does the multiple of 8 and leaves the last
//! columns to the scalar reference.

use core::arch::x86_64::*;

use super::avx2_math::exp8;
use crate::scalar::attn as sc;

fn rows_of(what: &str, tile: usize, d: usize, rows: usize) {
    assert!(
        tile == d * rows,
        "{what}: tile of {tile} elements is not {rows} rows of {d}"
    );
}

// ---------------------------------------------------------------------------------------------
// AVX2 (8 lanes).

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn ld8_h(p: *const u16) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn ld8_f(p: *const f32) -> __m256 {
    _mm256_loadu_ps(p)
}

macro_rules! avx2_tile {
    ($scores:ident, $accum:ident, $t:ty, $ld:ident) => {
        /// Scores over columns `0..d8` (`d8` a multiple of 8, `d` the row stride).
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn $scores(
            q: *const f32,
            k: *const $t,
            d: usize,
            d8: usize,
            rows: usize,
            out: *mut f32,
        ) {
            let mut j = 0;
            while j + 4 <= rows {
                let mut acc = [_mm256_setzero_ps(); 4];
                let mut i = 0;
                while i < d8 {
                    let qv = _mm256_loadu_ps(q.add(i));
                    for (r, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_fmadd_ps(qv, $ld(k.add((j + r) * d + i)), *a);
                    }
                    i += 8;
                }
                for (r, a) in acc.iter().enumerate() {
                    *out.add(j + r) = super::avx2::hsum_ps(*a);
                }
                j += 4;
            }
            while j < rows {
                let mut a = _mm256_setzero_ps();
                let mut i = 0;
                while i < d8 {
                    a = _mm256_fmadd_ps(_mm256_loadu_ps(q.add(i)), $ld(k.add(j * d + i)), a);
                    i += 8;
                }
                *out.add(j) = super::avx2::hsum_ps(a);
                j += 1;
            }
        }

        /// Value sum over columns `0..d8` (`d8` a multiple of 8, `d` the row stride).
        #[target_feature(enable = "avx2,fma,f16c")]
        unsafe fn $accum(
            p: *const f32,
            v: *const $t,
            d: usize,
            d8: usize,
            rows: usize,
            acc: *mut f32,
        ) {
            let mut c = 0;
            while c + 32 <= d8 {
                let mut a = [_mm256_setzero_ps(); 4];
                for (u, x) in a.iter_mut().enumerate() {
                    *x = _mm256_loadu_ps(acc.add(c + 8 * u));
                }
                for j in 0..rows {
                    let pj = _mm256_set1_ps(*p.add(j));
                    let row = v.add(j * d + c);
                    for (u, x) in a.iter_mut().enumerate() {
                        *x = _mm256_fmadd_ps(pj, $ld(row.add(8 * u)), *x);
                    }
                }
                for (u, x) in a.iter().enumerate() {
                    _mm256_storeu_ps(acc.add(c + 8 * u), *x);
                }
                c += 32;
            }
            while c < d8 {
                let mut a = _mm256_loadu_ps(acc.add(c));
                for j in 0..rows {
                    a = _mm256_fmadd_ps(_mm256_set1_ps(*p.add(j)), $ld(v.add(j * d + c)), a);
                }
                _mm256_storeu_ps(acc.add(c), a);
                c += 8;
            }
        }
    };
}

avx2_tile!(scores8_h, accum8_h, u16, ld8_h);
avx2_tile!(scores8_f, accum8_f, f32, ld8_f);

/// `x[i] = exp(x[i] − m)` over the first multiple of 8, returning (f32 sum, elements done).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn exp_sub_sum8(x: *mut f32, m: f32, n: usize) -> (f32, usize) {
    let mv = _mm256_set1_ps(m);
    let mut s = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x.add(i)), mv));
        _mm256_storeu_ps(x.add(i), e);
        s = _mm256_add_ps(s, e);
        i += 8;
    }
    (super::avx2::hsum_ps(s), i)
}

// ---------------------------------------------------------------------------------------------
// AVX-512 (16 lanes, masked tails).

macro_rules! tf512 {
    ($($item:item)*) => {
        $(
            #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
            $item
        )*
    };
}

/// Mask of the first `min(n, 16)` lanes.
#[inline]
fn mask16(n: usize) -> __mmask16 {
    if n >= 16 {
        0xffff
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

tf512! {
    /// The four horizontal sums of `a[0..4]`, in order, in one vector (shared shuffles instead
    /// of four separate reductions).
    #[inline]
    unsafe fn hsum4(a: [__m512; 4]) -> __m128 {
        let h = |v: __m512| {
            let hi = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v));
            _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(hi))
        };
        let (b0, b1, b2, b3) = (h(a[0]), h(a[1]), h(a[2]), h(a[3]));
        // [b0 pairs, b1 pairs | ...], then 4 sums per 128-bit half.
        let c01 = _mm256_hadd_ps(b0, b1);
        let c23 = _mm256_hadd_ps(b2, b3);
        let d = _mm256_hadd_ps(c01, c23);
        _mm_add_ps(_mm256_castps256_ps128(d), _mm256_extractf128_ps::<1>(d))
    }

    #[inline]
    unsafe fn ld16_h(p: *const u16, m: __mmask16) -> __m512 {
        _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p as *const i16))
    }

    #[inline]
    unsafe fn ld16_f(p: *const f32, m: __mmask16) -> __m512 {
        _mm512_maskz_loadu_ps(m, p)
    }
}

macro_rules! avx512_tile {
    ($scores:ident, $accum:ident, $t:ty, $ld:ident) => {
        tf512! {
            /// Scores of `rows` rows of width `d` (any `d`).
            unsafe fn $scores(q: *const f32, k: *const $t, d: usize, rows: usize, out: *mut f32) {
                let mut j = 0;
                while j + 4 <= rows {
                    let mut acc = [_mm512_setzero_ps(); 4];
                    let mut i = 0;
                    while i < d {
                        let m = mask16(d - i);
                        let qv = _mm512_maskz_loadu_ps(m, q.add(i));
                        for (r, a) in acc.iter_mut().enumerate() {
                            *a = _mm512_fmadd_ps(qv, $ld(k.add((j + r) * d + i), m), *a);
                        }
                        i += 16;
                    }
                    _mm_storeu_ps(out.add(j), hsum4(acc));
                    j += 4;
                }
                while j < rows {
                    let mut a = _mm512_setzero_ps();
                    let mut i = 0;
                    while i < d {
                        let m = mask16(d - i);
                        let qv = _mm512_maskz_loadu_ps(m, q.add(i));
                        a = _mm512_fmadd_ps(qv, $ld(k.add(j * d + i), m), a);
                        i += 16;
                    }
                    *out.add(j) = _mm512_reduce_add_ps(a);
                    j += 1;
                }
            }

            /// Value sum of `rows` rows of width `d` (any `d`) into `acc`.
            unsafe fn $accum(p: *const f32, v: *const $t, d: usize, rows: usize, acc: *mut f32) {
                let mut c = 0;
                while c < d {
                    let m = [
                        mask16(d - c),
                        mask16(d.saturating_sub(c + 16)),
                        mask16(d.saturating_sub(c + 32)),
                        mask16(d.saturating_sub(c + 48)),
                    ];
                    // Columns past `d` get mask 0: never loaded or stored, and their pointers
                    // are never formed (`wrapping_add` keeps the arithmetic defined).
                    let mut a = [_mm512_setzero_ps(); 4];
                    for (u, x) in a.iter_mut().enumerate() {
                        *x = _mm512_maskz_loadu_ps(m[u], acc.wrapping_add(c + 16 * u));
                    }
                    for j in 0..rows {
                        let pj = _mm512_set1_ps(*p.add(j));
                        let row = v.wrapping_add(j * d + c);
                        for (u, x) in a.iter_mut().enumerate() {
                            *x = _mm512_fmadd_ps(pj, $ld(row.wrapping_add(16 * u), m[u]), *x);
                        }
                    }
                    for (u, x) in a.iter().enumerate() {
                        _mm512_mask_storeu_ps(acc.wrapping_add(c + 16 * u), m[u], *x);
                    }
                    c += 64;
                }
            }
        }
    };
}

avx512_tile!(scores16_h, accum16_h, u16, ld16_h);
avx512_tile!(scores16_f, accum16_f, f32, ld16_f);

// ---------------------------------------------------------------------------------------------
// Safe wrappers.
//
// SAFETY (applies to every `unsafe` block below): the AVX2 functions are reachable only through
// the `AVX2` and `AVX512` tables, the AVX-512 ones only through `AVX512`, and `crate::kernels`
// hands a table out only when its `supported()` is true (AVX2+FMA+F16C, plus AVX-512
// F/BW/VL for `AVX512`), so the CPU features are present. Lengths are checked first
// (`rows_of`): every unmasked access is inside its slice, and masked lanes past the end are
// never touched (AVX-512 masked loads and stores do not fault on masked-off lanes).

/// Adds the columns `d8..d` that the AVX2 score loop left out.
fn scores_tail<T: Copy>(q: &[f32], k: &[T], d8: usize, out: &mut [f32], f: impl Fn(T) -> f32) {
    let d = q.len();
    if d8 == d {
        return;
    }
    for (j, o) in out.iter_mut().enumerate() {
        let row = &k[j * d..(j + 1) * d];
        let mut s = 0.0f32;
        for (&x, &y) in q[d8..].iter().zip(&row[d8..]) {
            s += x * f(y);
        }
        *o += s;
    }
}

/// Adds the columns `d8..d` that the AVX2 value loop left out.
fn accum_tail<T: Copy>(p: &[f32], v: &[T], d8: usize, acc: &mut [f32], f: impl Fn(T) -> f32) {
    let d = acc.len();
    for (i, a) in acc.iter_mut().enumerate().skip(d8) {
        for (j, &w) in p.iter().enumerate() {
            *a += w * f(v[j * d + i]);
        }
    }
}

pub(crate) fn attn_scores_f16_avx2(q: &[f32], k: &[u16], out: &mut [f32]) {
    let d = q.len();
    rows_of("attn_scores_f16", k.len(), d, out.len());
    let d8 = d - d % 8;
    // SAFETY: see the comment above the wrappers.
    unsafe { scores8_h(q.as_ptr(), k.as_ptr(), d, d8, out.len(), out.as_mut_ptr()) };
    scores_tail(q, k, d8, out, crate::f16_to_f32);
}

pub(crate) fn attn_scores_f32_avx2(q: &[f32], k: &[f32], out: &mut [f32]) {
    let d = q.len();
    rows_of("attn_scores_f32", k.len(), d, out.len());
    let d8 = d - d % 8;
    // SAFETY: see the comment above the wrappers.
    unsafe { scores8_f(q.as_ptr(), k.as_ptr(), d, d8, out.len(), out.as_mut_ptr()) };
    scores_tail(q, k, d8, out, |x| x);
}

pub(crate) fn attn_accum_f16_avx2(p: &[f32], v: &[u16], acc: &mut [f32]) {
    let d = acc.len();
    rows_of("attn_accum_f16", v.len(), d, p.len());
    let d8 = d - d % 8;
    // SAFETY: see the comment above the wrappers.
    unsafe { accum8_h(p.as_ptr(), v.as_ptr(), d, d8, p.len(), acc.as_mut_ptr()) };
    accum_tail(p, v, d8, acc, crate::f16_to_f32);
}

pub(crate) fn attn_accum_f32_avx2(p: &[f32], v: &[f32], acc: &mut [f32]) {
    let d = acc.len();
    rows_of("attn_accum_f32", v.len(), d, p.len());
    let d8 = d - d % 8;
    // SAFETY: see the comment above the wrappers.
    unsafe { accum8_f(p.as_ptr(), v.as_ptr(), d, d8, p.len(), acc.as_mut_ptr()) };
    accum_tail(p, v, d8, acc, |x| x);
}

pub(crate) fn exp_sub_sum_avx2(x: &mut [f32], m: f32) -> f32 {
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { exp_sub_sum8(x.as_mut_ptr(), m, x.len()) };
    s + sc::exp_sub_sum(&mut x[i..], m)
}

pub(crate) fn attn_scores_f16_avx512(q: &[f32], k: &[u16], out: &mut [f32]) {
    rows_of("attn_scores_f16", k.len(), q.len(), out.len());
    // SAFETY: see the comment above the wrappers.
    unsafe { scores16_h(q.as_ptr(), k.as_ptr(), q.len(), out.len(), out.as_mut_ptr()) };
}

pub(crate) fn attn_scores_f32_avx512(q: &[f32], k: &[f32], out: &mut [f32]) {
    rows_of("attn_scores_f32", k.len(), q.len(), out.len());
    // SAFETY: see the comment above the wrappers.
    unsafe { scores16_f(q.as_ptr(), k.as_ptr(), q.len(), out.len(), out.as_mut_ptr()) };
}

pub(crate) fn attn_accum_f16_avx512(p: &[f32], v: &[u16], acc: &mut [f32]) {
    rows_of("attn_accum_f16", v.len(), acc.len(), p.len());
    // SAFETY: see the comment above the wrappers.
    unsafe { accum16_h(p.as_ptr(), v.as_ptr(), acc.len(), p.len(), acc.as_mut_ptr()) };
}

pub(crate) fn attn_accum_f32_avx512(p: &[f32], v: &[f32], acc: &mut [f32]) {
    rows_of("attn_accum_f32", v.len(), acc.len(), p.len());
    // SAFETY: see the comment above the wrappers.
    unsafe { accum16_f(p.as_ptr(), v.as_ptr(), acc.len(), p.len(), acc.as_mut_ptr()) };
}
