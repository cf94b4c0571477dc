//! NEON `exp` (the Cephes `expf` polynomial, about 1 ulp on the normal range, subnormal results
//! via a two-step 2ⁿ scaling, +inf above 88.72; the same method as the AVX2 one) and the vector
//! op built on it, `silu_mul`. Tails call the scalar code.

use core::arch::aarch64::*;

use crate::scalar::vecops;

/// e^x for 4 lanes (NaN input is not supported; it comes out as some finite value, inf or NaN).
#[inline(always)]
unsafe fn exp4(x: float32x4_t) -> float32x4_t {
    let hi = vdupq_n_f32(88.722_84);
    let over = vcgtq_f32(x, hi);
    let xc = vmaxq_f32(vminq_f32(x, hi), vdupq_n_f32(-104.0));
    let n = vrndnq_f32(vmulq_f32(xc, vdupq_n_f32(core::f32::consts::LOG2_E)));
    // r = x − n·ln 2, with ln 2 split in two for precision.
    let r = vfmsq_f32(xc, n, vdupq_n_f32(0.693_359_4));
    let r = vfmsq_f32(r, n, vdupq_n_f32(-2.121_944_4e-4));
    let mut p = vdupq_n_f32(1.987_569_1e-4);
    for c in [
        1.398_2e-3f32,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        p = vfmaq_f32(vdupq_n_f32(c), p, r);
    }
    let p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0)), p, vmulq_f32(r, r));
    // 2ⁿ = 2^(n1)·2^(n2) with both halves in the normal exponent range (n ≥ −150).
    let ni = vcvtq_s32_f32(n);
    let n1 = vshrq_n_s32::<1>(ni);
    let n2 = vsubq_s32(ni, n1);
    let pow =
        |k: int32x4_t| vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(k, vdupq_n_s32(127))));
    let e = vmulq_f32(vmulq_f32(p, pow(n1)), pow(n2));
    vbslq_f32(over, vdupq_n_f32(f32::INFINITY), e)
}

#[target_feature(enable = "neon")]
unsafe fn silu_mul_raw(g: *const f32, u: *const f32, out: *mut f32, n: usize) -> usize {
    let one = vdupq_n_f32(1.0);
    let mut i = 0;
    while i + 4 <= n {
        let v = vld1q_f32(g.add(i));
        let s = vdivq_f32(v, vaddq_f32(one, exp4(vnegq_f32(v))));
        vst1q_f32(out.add(i), vmulq_f32(s, vld1q_f32(u.add(i))));
        i += 4;
    }
    i
}

// SAFETY (applies to every `unsafe` block below): only reachable through the `NEON` table,
// handed out only when its `supported()` (NEON) is true; every pointer access stays below the
// checked slice lengths.

pub(crate) fn silu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(
        gate.len() == up.len() && gate.len() == out.len(),
        "silu_mul: length mismatch"
    );
    // SAFETY: see the comment above the wrappers.
    let i = unsafe { silu_mul_raw(gate.as_ptr(), up.as_ptr(), out.as_mut_ptr(), gate.len()) };
    vecops::silu_mul(&gate[i..], &up[i..], &mut out[i..]);
}
