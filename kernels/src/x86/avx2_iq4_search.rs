//! IQ4_NL / IQ4_XS scale search: the sixteen trial scales of one 32-element block at once, one
//! per AVX2 lane (two registers). Each lane runs the scalar trial's f32 operations in the same
//! order and without FMA — the nearest level by counting the table entries at or below the
//! value (where ggml's bisection lands), then its nearer-of-two test — so the sums, and the
//! chosen scales, are bit for bit those of `scalar::iquants_quant`.
use crate::iq_tables::KVALUES_IQ4NL;
use core::arch::x86_64::*;

/// The value of the table entry `idx` (0..16) per lane.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn entry(lo: __m256, hi: __m256, idx: __m256i) -> __m256 {
    let a = _mm256_permutevar8x32_ps(lo, idx);
    let b = _mm256_permutevar8x32_ps(hi, idx);
    let upper = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7)));
    _mm256_blendv_ps(a, b, upper)
}

/// `(Σ w·q·x, Σ w·q²)` over the block `x` (weights `w`) for each inverse scale in `ids`, q the
/// table value nearest `id·x`.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn iq4_trial_sums(
    x: &[f32; 32],
    w: &[f32; 32],
    ids: &[f32; 16],
) -> ([f32; 16], [f32; 16]) {
    let v = |i: usize| KVALUES_IQ4NL[i] as f32;
    let lo = _mm256_setr_ps(v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7));
    let hi = _mm256_setr_ps(v(8), v(9), v(10), v(11), v(12), v(13), v(14), v(15));
    let mut bounds = [_mm256_setzero_ps(); 14];
    for (i, b) in bounds.iter_mut().enumerate() {
        *b = _mm256_set1_ps(v(i + 1));
    }
    let last = _mm256_set1_ps(v(15));
    let one = _mm256_set1_epi32(1);
    let (mut sumqx, mut sumq2) = ([0.0f32; 16], [0.0f32; 16]);
    for half in 0..2 {
        let id = _mm256_loadu_ps(ids[8 * half..].as_ptr());
        let (mut sx, mut s2) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for j in 0..32 {
            let xj = _mm256_set1_ps(x[j]);
            let wj = _mm256_set1_ps(w[j]);
            let al = _mm256_mul_ps(id, xj);
            // Entries 1..=14 at or below al: the lower end of its bracket.
            let mut below = _mm256_setzero_si256();
            for b in &bounds {
                let ge = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GE_OQ>(al, *b));
                below = _mm256_sub_epi32(below, ge);
            }
            let vlo = entry(lo, hi, below);
            let vhi = entry(lo, hi, _mm256_add_epi32(below, one));
            let take_lo =
                _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_sub_ps(al, vlo), _mm256_sub_ps(vhi, al));
            let mut q = _mm256_blendv_ps(vhi, vlo, take_lo);
            // NaN: the bisection ends on the last entry.
            q = _mm256_blendv_ps(q, last, _mm256_cmp_ps::<_CMP_UNORD_Q>(al, al));
            let wq = _mm256_mul_ps(wj, q);
            sx = _mm256_add_ps(sx, _mm256_mul_ps(wq, xj));
            s2 = _mm256_add_ps(s2, _mm256_mul_ps(wq, q));
        }
        _mm256_storeu_ps(sumqx[8 * half..].as_mut_ptr(), sx);
        _mm256_storeu_ps(sumq2[8 * half..].as_mut_ptr(), s2);
    }
    (sumqx, sumq2)
}
