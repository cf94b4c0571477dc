//! ggml's reference Q8_0 and Q4_0 quantizers (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`)
//! for one 32-element block in AVX2: the block maximum is order-free, and each element's
//! `x·(1/d)` (+ 8.5), rounding and C-style conversion are the scalar f32 operations lane by lane
//! (`cvttps` is x86's `(int)` cast, out-of-range and NaN included), so the bytes equal the
//! scalar reference's. A block holding a NaN returns `None`: the scalar code's running maximum
//! depends on where the NaN sits, so it decides those blocks.
#![allow(clippy::needless_range_loop)]
use core::arch::x86_64::*;

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load4(x: &[f32; 32]) -> [__m256; 4] {
    let p = x.as_ptr();
    [
        _mm256_loadu_ps(p),
        _mm256_loadu_ps(p.add(8)),
        _mm256_loadu_ps(p.add(16)),
        _mm256_loadu_ps(p.add(24)),
    ]
}

/// max |x| over the registers `v`, or `None` when one holds a NaN.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn abs_max(v: &[__m256]) -> Option<f32> {
    let sign = _mm256_set1_ps(-0.0);
    let mut m = _mm256_setzero_ps();
    let mut nan = _mm256_setzero_ps();
    for &x in v {
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, x));
        nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x));
    }
    if _mm256_movemask_ps(nan) != 0 {
        return None;
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), m);
    Some(lanes.iter().fold(0.0f32, |a, &b| a.max(b)))
}

/// C's `(int8_t)(int)v` per lane: truncation (`i32::MIN` when out of range or NaN), low byte
/// sign-extended.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn c_i8(v: __m256) -> __m256i {
    let i = _mm256_cvttps_epi32(v);
    _mm256_srai_epi32::<24>(_mm256_slli_epi32::<24>(i))
}

/// `roundf` per lane: trunc, then one step away from zero when the fraction is at least a half;
/// |v| ≥ 2²³ (and infinities) kept as they are; the sign kept (−0.3 → −0.0).
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn round_half_away(v: __m256) -> __m256 {
    let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
    let frac = _mm256_sub_ps(v, t);
    let half = _mm256_set1_ps(0.5);
    let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(frac, half), _mm256_set1_ps(1.0));
    let down = _mm256_and_ps(
        _mm256_cmp_ps::<_CMP_LE_OQ>(frac, _mm256_set1_ps(-0.5)),
        _mm256_set1_ps(1.0),
    );
    let r = _mm256_sub_ps(_mm256_add_ps(t, up), down);
    let sign = _mm256_set1_ps(-0.0);
    _mm256_or_ps(_mm256_andnot_ps(sign, r), _mm256_and_ps(sign, v))
}

/// The low bytes of 32 i32 lanes (four registers), in order.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn low_bytes(q: [__m256i; 4]) -> [u8; 32] {
    let m = _mm256_set1_epi32(0xff);
    let a = _mm256_packus_epi32(_mm256_and_si256(q[0], m), _mm256_and_si256(q[1], m));
    let b = _mm256_packus_epi32(_mm256_and_si256(q[2], m), _mm256_and_si256(q[3], m));
    let p = _mm256_packus_epi16(a, b);
    // packus works per 128-bit half: dwords come out as 0,2,4,6 | 1,3,5,7 groups.
    let p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    let mut out = [0u8; 32];
    _mm256_storeu_si256(out.as_mut_ptr().cast(), p);
    out
}

/// Q8_0: `(d, qs)` with `d = amax / 127` and `qs = (int8_t)roundf(x / d)`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn q8_0_block(x: &[f32; 32]) -> Option<(f32, [i8; 32])> {
    let v = load4(x);
    let d = abs_max(&v)? / 127.0;
    let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
    // Loops, not closures: a closure would not inherit the AVX2 target feature.
    let mut q = [_mm256_setzero_si256(); 4];
    for i in 0..4 {
        q[i] = c_i8(round_half_away(_mm256_mul_ps(v[i], id)));
    }
    let b = low_bytes(q);
    let mut qs = [0i8; 32];
    for j in 0..32 {
        qs[j] = b[j] as i8;
    }
    Some((d, qs))
}

/// The first element equal to `v` (so that a zero keeps the sign the scalar scan would keep).
fn first_equal(x: &[f32; 32], v: f32) -> f32 {
    x.iter().copied().find(|&e| e == v).unwrap_or(v)
}

/// Q4_0 / Q5_0 levels: `d = max / div` (max the element of largest magnitude, the first on
/// ties; +0 for an all-zero block) and `min(top, (int8_t)(x / d + bias))` per element, as bytes.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn signed_levels(
    x: &[f32; 32],
    div: f32,
    bias: f32,
    top: i32,
) -> Option<(f32, [u8; 32])> {
    let v = load4(x);
    let amax = abs_max(&v)?;
    let max = match amax {
        0.0 => 0.0,
        _ => x.iter().copied().find(|e| e.abs() == amax).unwrap_or(0.0),
    };
    let d = max / div;
    let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
    let (b, t) = (_mm256_set1_ps(bias), _mm256_set1_epi32(top));
    let mut q = [_mm256_setzero_si256(); 4];
    for i in 0..4 {
        q[i] = _mm256_min_epi32(c_i8(_mm256_add_ps(_mm256_mul_ps(v[i], id), b)), t);
    }
    Some((d, low_bytes(q)))
}

/// Q4_1 / Q5_1 levels: `d = (max − min) / nmax` and `(x − min) / d + 0.5` converted, per
/// element as bytes: `min(nmax, (int8_t)…)` when `clamp` (Q4_1), the `(int)` cast's low byte
/// otherwise (Q5_1, which ggml does not clamp). Returns `(d, min, levels)`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn min_levels(x: &[f32; 32], nmax: i32, clamp: bool) -> Option<(f32, f32, [u8; 32])> {
    let v = load4(x);
    let mut lo = v[0];
    let mut hi = v[0];
    let mut nan = _mm256_setzero_ps();
    for i in 0..4 {
        lo = _mm256_min_ps(lo, v[i]);
        hi = _mm256_max_ps(hi, v[i]);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(v[i], v[i]));
    }
    if _mm256_movemask_ps(nan) != 0 {
        return None;
    }
    let (mut l8, mut h8) = ([0.0f32; 8], [0.0f32; 8]);
    _mm256_storeu_ps(l8.as_mut_ptr(), lo);
    _mm256_storeu_ps(h8.as_mut_ptr(), hi);
    let min = first_equal(x, l8.iter().fold(f32::MAX, |a, &b| a.min(b)));
    let max = first_equal(x, h8.iter().fold(-f32::MAX, |a, &b| a.max(b)));
    let d = (max - min) / nmax as f32;
    let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
    let (vmin, half, top) = (
        _mm256_set1_ps(min),
        _mm256_set1_ps(0.5),
        _mm256_set1_epi32(nmax),
    );
    let mut q = [_mm256_setzero_si256(); 4];
    for i in 0..4 {
        let f = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v[i], vmin), id), half);
        q[i] = if clamp {
            _mm256_min_epi32(c_i8(f), top)
        } else {
            _mm256_cvttps_epi32(f)
        };
    }
    Some((d, min, low_bytes(q)))
}
