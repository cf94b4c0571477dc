//! The trits of ggml's ternary quantizers (`quantize_row_tq1_0_ref`, `quantize_row_tq2_0_ref`)
//! for one 256-element block in AVX2: the scale is the block's largest magnitude (order-free)
//! and each trit is `lroundf(x·(1/d)) + 1` lane by lane with the scalar f32 operations, so the
//! bytes equal the scalar reference's. Blocks with a NaN, or with a rounded value the scalar
//! code would narrow from 64 bits (never seen for finite scales), return `None`.
#![allow(clippy::needless_range_loop)]
use super::avx2_legacy_quant::{abs_max, low_bytes, round_half_away};
use core::arch::x86_64::*;

/// `(d, trits)`: `d = max |x|`, trit i = `lroundf(x_i / d) + 1` as a byte (0 for a value the
/// scalar conversion maps to 0: NaN products and out-of-range roundings).
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn ternary(x: &[f32; 256]) -> Option<(f32, [u8; 256])> {
    let mut v = [_mm256_setzero_ps(); 32];
    for i in 0..32 {
        v[i] = _mm256_loadu_ps(x.as_ptr().add(8 * i));
    }
    let d = abs_max(&v)?;
    let sign = _mm256_set1_ps(-0.0);
    let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
    let (in_range, int_range) = (
        _mm256_set1_ps(9.223_372e18),
        _mm256_set1_ps(2_147_483_648.0),
    );
    let one = _mm256_set1_epi32(1);
    let mut out = [0u8; 256];
    for g in 0..8 {
        let mut q = [_mm256_setzero_si256(); 4];
        for k in 0..4 {
            let r = round_half_away(_mm256_mul_ps(v[4 * g + k], id));
            let a = _mm256_andnot_ps(sign, r);
            let ok = _mm256_cmp_ps::<_CMP_LT_OQ>(a, in_range);
            let wide = _mm256_and_ps(ok, _mm256_cmp_ps::<_CMP_GE_OQ>(a, int_range));
            if _mm256_movemask_ps(wide) != 0 {
                return None;
            }
            let i = _mm256_and_si256(_mm256_cvttps_epi32(r), _mm256_castps_si256(ok));
            q[k] = _mm256_add_epi32(i, one);
        }
        out[32 * g..32 * g + 32].copy_from_slice(&low_bytes(q));
    }
    Some((d, out))
}
