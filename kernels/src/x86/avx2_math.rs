//! AVX2 `exp` (Cephes `expf` polynomial, about 1 ulp on the normal range, subnormal results
//! via a two-step 2ⁿ scaling, +inf above 88.72) and the vector op built on it, `silu_mul`.

use core::arch::x86_64::*;

use crate::scalar::vecops;

/// e^x for 8 lanes (NaN input is not supported; it comes out as some finite value or inf).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn exp8(x: __m256) -> __m256 {
    let over = _mm256_cmp_ps(x, _mm256_set1_ps(88.722_84), _CMP_GT_OQ);
    let xc = _mm256_max_ps(
        _mm256_min_ps(x, _mm256_set1_ps(88.722_84)),
        _mm256_set1_ps(-104.0),
    );
    let n = _mm256_round_ps(
        _mm256_mul_ps(xc, _mm256_set1_ps(core::f32::consts::LOG2_E)),
        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC,
    );
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), xc);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    for c in [
        1.398_2e-3f32,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let p = _mm256_fmadd_ps(
        p,
        _mm256_mul_ps(r, r),
        _mm256_add_ps(r, _mm256_set1_ps(1.0)),
    );
    // 2ⁿ = 2^(n1)·2^(n2) with both halves in the normal exponent range (n ≥ −150).
    let ni = _mm256_cvtps_epi32(n);
    let n1 = _mm256_srai_epi32(ni, 1);
    let n2 = _mm256_sub_epi32(ni, n1);
    let pow = |k: __m256i| {
        _mm256_castsi256_ps(_mm256_slli_epi32(
            _mm256_add_epi32(k, _mm256_set1_epi32(127)),
            23,
        ))
    };
    let e = _mm256_mul_ps(_mm256_mul_ps(p, pow(n1)), pow(n2));
    _mm256_blendv_ps(e, _mm256_set1_ps(f32::INFINITY), over)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn silu_mul_raw(g: *const f32, u: *const f32, out: *mut f32, n: usize) -> usize {
    let one = _mm256_set1_ps(1.0);
    let sign = _mm256_set1_ps(-0.0);
    let mut i = 0;
    while i + 8 <= n {
        let v = _mm256_loadu_ps(g.add(i));
        let e = exp8(_mm256_xor_ps(v, sign));
        let s = _mm256_div_ps(v, _mm256_add_ps(one, e));
        _mm256_storeu_ps(out.add(i), _mm256_mul_ps(s, _mm256_loadu_ps(u.add(i))));
        i += 8;
    }
    i
}

// SAFETY (applies to every `unsafe` block below): only reachable through the `AVX2`/`AVX512`
// tables, handed out only when their `supported()` (AVX2+FMA+F16C at least) is true; every
// pointer access stays below the checked slice lengths.

pub(crate) fn silu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(
        gate.len() == up.len() && gate.len() == out.len(),
        "silu_mul: length mismatch"
    );
    // SAFETY: see the comment above the wrappers.
    let i = unsafe { silu_mul_raw(gate.as_ptr(), up.as_ptr(), out.as_mut_ptr(), gate.len()) };
    vecops::silu_mul(&gate[i..], &up[i..], &mut out[i..]);
}
