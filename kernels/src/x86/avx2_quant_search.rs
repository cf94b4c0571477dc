//! ggml's K-quant scale searches for eight sub-blocks at once, one per AVX2 lane: each lane runs
//! its sub-block's search with exactly the f32 operations of `scalar::quant_search`, in the same
//! order and without FMA, so levels and scales come out bit for bit the same — eight times the
//! throughput of the scalar loops, which are most of the cost of quantizing.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]
use crate::scalar::quant_search::{QkxSearch, GROUP_MAX_EPS};
use core::arch::x86_64::*;

/// Lane j of `v[i]` = `x[j·N + i]`: the eight sub-blocks side by side.
#[target_feature(enable = "avx2")]
unsafe fn transpose<const N: usize>(x: &[f32]) -> [__m256; N] {
    assert!(x.len() >= 8 * N);
    let mut v = [_mm256_setzero_ps(); N];
    for i in 0..N {
        v[i] = _mm256_setr_ps(
            x[i],
            x[N + i],
            x[2 * N + i],
            x[3 * N + i],
            x[4 * N + i],
            x[5 * N + i],
            x[6 * N + i],
            x[7 * N + i],
        );
    }
    v
}

/// `ggml`'s `nearest_int` per lane (the 1.5·2²³ trick, wrapping like the scalar one).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn nearest_int(v: __m256) -> __m256i {
    let m = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12_582_912.0)));
    _mm256_sub_epi32(
        _mm256_and_si256(m, _mm256_set1_epi32(0x007f_ffff)),
        _mm256_set1_epi32(0x0040_0000),
    )
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn clamp(v: __m256i, lo: i32, hi: i32) -> __m256i {
    _mm256_min_epi32(
        _mm256_max_epi32(v, _mm256_set1_epi32(lo)),
        _mm256_set1_epi32(hi),
    )
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn abs(v: __m256) -> __m256 {
    _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff)))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn lanes(v: __m256) -> [f32; 8] {
    let mut o = [0.0f32; 8];
    _mm256_storeu_ps(o.as_mut_ptr(), v);
    o
}

/// Writes lane j of `v[i]` to `l[j·N + i]` (levels fit a byte by construction of the clamp).
#[target_feature(enable = "avx2")]
unsafe fn store_levels<const N: usize>(v: &[__m256i; N], l: &mut [u8]) {
    assert!(l.len() >= 8 * N);
    for i in 0..N {
        let mut o = [0i32; 8];
        _mm256_storeu_si256(o.as_mut_ptr() as *mut __m256i, v[i]);
        for j in 0..8 {
            l[j * N + i] = o[j] as u8;
        }
    }
}

/// Per lane, the element of largest magnitude (the first of equals, as the scalar loop keeps
/// it) and whether that magnitude is below `GROUP_MAX_EPS` (an all-zero sub-block).
#[target_feature(enable = "avx2")]
unsafe fn signed_max<const N: usize>(xt: &[__m256; N]) -> (__m256, __m256) {
    let zero = _mm256_setzero_ps();
    let (mut amax, mut max) = (zero, zero);
    for i in 0..N {
        let a = abs(xt[i]);
        let m = _mm256_cmp_ps(a, amax, _CMP_GT_OQ);
        amax = _mm256_blendv_ps(amax, a, m);
        max = _mm256_blendv_ps(max, xt[i], m);
    }
    (
        max,
        _mm256_cmp_ps(amax, _mm256_set1_ps(GROUP_MAX_EPS), _CMP_LT_OQ),
    )
}

/// Signed levels stored as `level + nmax`; a degenerate lane stores 0 (not 0 + nmax), as the
/// scalar searches' early return does.
#[target_feature(enable = "avx2")]
unsafe fn store_signed_levels<const N: usize>(
    lev: &[__m256i; N],
    nmax: i32,
    degenerate: __m256,
    l: &mut [u8],
) {
    let deg_i = _mm256_castps_si256(degenerate);
    let bias = _mm256_set1_epi32(nmax);
    let mut biased = [_mm256_setzero_si256(); N];
    for i in 0..N {
        biased[i] = _mm256_andnot_si256(deg_i, _mm256_add_epi32(lev[i], bias));
    }
    store_levels::<N>(&biased, l);
}

/// `make_qkx2_quants` / `make_qkx3_quants` (per `p`) for the eight sub-blocks of `N` elements in
/// `x` (weights `w`): levels into `l`, returns each sub-block's (scale, −min).
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn scale_and_min_x8<const N: usize>(
    x: &[f32],
    w: &[f32],
    l: &mut [u8],
    p: QkxSearch,
) -> ([f32; 8], [f32; 8]) {
    let xt = transpose::<N>(x);
    let wt = transpose::<N>(w);
    let zero = _mm256_setzero_ps();
    let nmax = p.nmax;
    let err = |d: __m256| {
        if p.use_mad {
            abs(d)
        } else {
            _mm256_mul_ps(d, d)
        }
    };
    let mut min = xt[0];
    let mut max = xt[0];
    let mut sum_w = wt[0];
    let mut sum_x = _mm256_mul_ps(sum_w, xt[0]);
    for i in 1..N {
        min = _mm256_min_ps(xt[i], min);
        max = _mm256_max_ps(xt[i], max);
        sum_w = _mm256_add_ps(sum_w, wt[i]);
        sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(wt[i], xt[i]));
    }
    min = _mm256_blendv_ps(min, zero, _mm256_cmp_ps(min, zero, _CMP_GT_OQ));
    let degenerate = _mm256_cmp_ps(max, min, _CMP_LE_OQ);
    let min0 = min;
    let range = _mm256_sub_ps(max, min);
    let iscale = _mm256_div_ps(_mm256_set1_ps(nmax as f32), range);
    let mut scale = _mm256_div_ps(_mm256_set1_ps(1.0), iscale);
    let mut best_error = zero;
    let mut best = [_mm256_setzero_si256(); N];
    for i in 0..N {
        let li = clamp(
            nearest_int(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], min))),
            0,
            nmax,
        );
        best[i] = li;
        let lf = _mm256_cvtepi32_ps(li);
        let d = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, lf), min), xt[i]);
        best_error = _mm256_add_ps(best_error, _mm256_mul_ps(wt[i], err(d)));
    }
    if !(p.keep_first_guess_without_steps && p.nstep < 1) {
        let mut laux = [_mm256_setzero_si256(); N];
        for is in 0..=p.nstep {
            let num = p.rmin + p.rdelta * is as f32 + nmax as f32;
            // The scalar search moves `min` as it goes, and later trials divide by the new range.
            let iscale = _mm256_div_ps(_mm256_set1_ps(num), _mm256_sub_ps(max, min));
            let (mut sum_l, mut sum_l2, mut sum_xl) = (zero, zero, zero);
            for i in 0..N {
                let li = clamp(
                    nearest_int(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], min))),
                    0,
                    nmax,
                );
                laux[i] = li;
                let wl = _mm256_mul_ps(wt[i], _mm256_cvtepi32_ps(li));
                sum_l = _mm256_add_ps(sum_l, wl);
                sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, _mm256_cvtepi32_ps(li)));
                sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, xt[i]));
            }
            let det = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
            let det_pos = _mm256_cmp_ps(det, zero, _CMP_GT_OQ);
            if _mm256_movemask_ps(det_pos) == 0 {
                continue;
            }
            let mut this_scale = _mm256_div_ps(
                _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)),
                det,
            );
            let mut this_min = _mm256_div_ps(
                _mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)),
                det,
            );
            let min_pos = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
            this_min = _mm256_blendv_ps(this_min, zero, min_pos);
            this_scale = _mm256_blendv_ps(this_scale, _mm256_div_ps(sum_xl, sum_l2), min_pos);
            let mut cur_error = zero;
            for i in 0..N {
                let lf = _mm256_cvtepi32_ps(laux[i]);
                let d = _mm256_sub_ps(
                    _mm256_add_ps(_mm256_mul_ps(this_scale, lf), this_min),
                    xt[i],
                );
                cur_error = _mm256_add_ps(cur_error, _mm256_mul_ps(wt[i], err(d)));
            }
            let better = _mm256_and_ps(det_pos, _mm256_cmp_ps(cur_error, best_error, _CMP_LT_OQ));
            let better_i = _mm256_castps_si256(better);
            for i in 0..N {
                best[i] = _mm256_blendv_epi8(best[i], laux[i], better_i);
            }
            best_error = _mm256_blendv_ps(best_error, cur_error, better);
            scale = _mm256_blendv_ps(scale, this_scale, better);
            min = _mm256_blendv_ps(min, this_min, better);
        }
    }
    let deg_i = _mm256_castps_si256(degenerate);
    for b in best.iter_mut() {
        *b = _mm256_andnot_si256(deg_i, *b);
    }
    store_levels::<N>(&best, l);
    let scale = _mm256_blendv_ps(scale, zero, degenerate);
    let min = _mm256_blendv_ps(min, min0, degenerate);
    let neg_min = _mm256_xor_ps(min, _mm256_set1_ps(-0.0));
    (lanes(scale), lanes(neg_min))
}

/// `make_qx_quants` (`rmse_type = 1`) for the eight sub-blocks of `N` elements in `x`: weights
/// `qw` when given, else x²; `level + nmax` into `l`, returns the scales.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn qx_x8<const N: usize>(
    nmax: i32,
    x: &[f32],
    l: &mut [u8],
    qw: Option<&[f32]>,
) -> [f32; 8] {
    let xt = transpose::<N>(x);
    let mut wt = [_mm256_setzero_ps(); N];
    match qw {
        Some(q) => wt = transpose::<N>(q),
        None => {
            for i in 0..N {
                wt[i] = _mm256_mul_ps(xt[i], xt[i]);
            }
        }
    }
    let zero = _mm256_setzero_ps();
    let (max, degenerate) = signed_max(&xt);
    // Levels at `iscale` and their sums Σ w·x·l and Σ w·l².
    let pass = |iscale: __m256, lev: &mut [__m256i; N]| {
        let (mut sumlx, mut suml2) = (zero, zero);
        for i in 0..N {
            let li = clamp(nearest_int(_mm256_mul_ps(iscale, xt[i])), -nmax, nmax - 1);
            lev[i] = li;
            let lf = _mm256_cvtepi32_ps(li);
            sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(wt[i], xt[i]), lf));
            suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(wt[i], lf), lf));
        }
        (sumlx, suml2)
    };
    let mut best = [_mm256_setzero_si256(); N];
    let iscale = _mm256_div_ps(_mm256_set1_ps(-(nmax as f32)), max);
    let (sumlx, suml2) = pass(iscale, &mut best);
    let nonzero = _mm256_cmp_ps(suml2, zero, _CMP_NEQ_UQ);
    let mut scale = _mm256_blendv_ps(zero, _mm256_div_ps(sumlx, suml2), nonzero);
    let mut best_sum = _mm256_mul_ps(scale, sumlx);
    let mut lev = [_mm256_setzero_si256(); N];
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        let num = -(nmax as f32 + 0.1 * is as f32);
        let iscale = _mm256_div_ps(_mm256_set1_ps(num), max);
        let (sumlx, suml2) = pass(iscale, &mut lev);
        let better = _mm256_and_ps(
            _mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
            _mm256_cmp_ps(
                _mm256_mul_ps(sumlx, sumlx),
                _mm256_mul_ps(best_sum, suml2),
                _CMP_GT_OQ,
            ),
        );
        if _mm256_movemask_ps(better) == 0 {
            continue;
        }
        let better_i = _mm256_castps_si256(better);
        for i in 0..N {
            best[i] = _mm256_blendv_epi8(best[i], lev[i], better_i);
        }
        scale = _mm256_blendv_ps(scale, _mm256_div_ps(sumlx, suml2), better);
        best_sum = _mm256_blendv_ps(best_sum, _mm256_mul_ps(scale, sumlx), better);
    }
    store_signed_levels::<N>(&best, nmax, degenerate, l);
    lanes(_mm256_blendv_ps(scale, zero, degenerate))
}

/// `make_q3_quants` (weights x², coordinate descent of up to five sweeps) for the eight
/// sub-blocks of `N` elements in `x`: `level + nmax` into `l`, returns the scales. A lane whose
/// sweep changed nothing would change nothing in another sweep (its state is the same), so the
/// lanes sweep together until none changes, as each scalar search stops.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn q3_x8<const N: usize>(nmax: i32, x: &[f32], l: &mut [u8]) -> [f32; 8] {
    let xt = transpose::<N>(x);
    let zero = _mm256_setzero_ps();
    let (max, degenerate) = signed_max(&xt);
    let iscale = _mm256_div_ps(_mm256_set1_ps(-(nmax as f32)), max);
    let mut lev = [_mm256_setzero_si256(); N];
    let mut wt = [zero; N];
    let (mut sumlx, mut suml2) = (zero, zero);
    for i in 0..N {
        let q = clamp(nearest_int(_mm256_mul_ps(iscale, xt[i])), -nmax, nmax - 1);
        lev[i] = q;
        wt[i] = _mm256_mul_ps(xt[i], xt[i]);
        let qf = _mm256_cvtepi32_ps(q);
        sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(wt[i], xt[i]), qf));
        suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(wt[i], qf), qf));
    }
    for _ in 0..5 {
        let mut changed = 0;
        for i in 0..N {
            let (w, v) = (wt[i], xt[i]);
            let old = _mm256_cvtepi32_ps(lev[i]);
            let wv = _mm256_mul_ps(w, v);
            let slx = _mm256_sub_ps(sumlx, _mm256_mul_ps(wv, old));
            let slx_pos = _mm256_cmp_ps(slx, zero, _CMP_GT_OQ);
            if _mm256_movemask_ps(slx_pos) == 0 {
                continue;
            }
            let sl2 = _mm256_sub_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(w, old), old));
            let new_l = clamp(
                nearest_int(_mm256_div_ps(_mm256_mul_ps(v, sl2), slx)),
                -nmax,
                nmax - 1,
            );
            let differs =
                _mm256_xor_si256(_mm256_cmpeq_epi32(new_l, lev[i]), _mm256_set1_epi32(-1));
            let nl = _mm256_cvtepi32_ps(new_l);
            let slx2 = _mm256_add_ps(slx, _mm256_mul_ps(wv, nl));
            let sl22 = _mm256_add_ps(sl2, _mm256_mul_ps(_mm256_mul_ps(w, nl), nl));
            let better = _mm256_cmp_ps(
                _mm256_mul_ps(_mm256_mul_ps(slx2, slx2), suml2),
                _mm256_mul_ps(_mm256_mul_ps(sumlx, sumlx), sl22),
                _CMP_GT_OQ,
            );
            let take = _mm256_and_ps(
                _mm256_and_ps(slx_pos, _mm256_castsi256_ps(differs)),
                _mm256_and_ps(_mm256_cmp_ps(sl22, zero, _CMP_GT_OQ), better),
            );
            let take_i = _mm256_castps_si256(take);
            lev[i] = _mm256_blendv_epi8(lev[i], new_l, take_i);
            sumlx = _mm256_blendv_ps(sumlx, slx2, take);
            suml2 = _mm256_blendv_ps(suml2, sl22, take);
            changed |= _mm256_movemask_ps(take);
        }
        if changed == 0 {
            break;
        }
    }
    store_signed_levels::<N>(&lev, nmax, degenerate, l);
    let pos = _mm256_cmp_ps(suml2, zero, _CMP_GT_OQ);
    let scale = _mm256_and_ps(pos, _mm256_div_ps(sumlx, suml2));
    lanes(_mm256_blendv_ps(scale, zero, degenerate))
}

/// `out[i] = clamp(nearest_int((x[i] + add) / d), lo, hi) + bias`, eight at a time: the
/// requantization pass every K-quant makes once its scales are rounded.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn round_levels(
    x: &[f32],
    add: f32,
    d: f32,
    lo: i32,
    hi: i32,
    bias: i32,
    out: &mut [u8],
) {
    let n = x.len().min(out.len());
    let (va, vd, vb) = (
        _mm256_set1_ps(add),
        _mm256_set1_ps(d),
        _mm256_set1_epi32(bias),
    );
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 ≤ n ≤ x.len().
        let v = _mm256_loadu_ps(x.as_ptr().add(i));
        let q = clamp(nearest_int(_mm256_div_ps(_mm256_add_ps(v, va), vd)), lo, hi);
        let mut o = [0i32; 8];
        _mm256_storeu_si256(o.as_mut_ptr() as *mut __m256i, _mm256_add_epi32(q, vb));
        for k in 0..8 {
            out[i + k] = o[k] as u8;
        }
        i += 8;
    }
    crate::scalar::quant_search::round_levels_scalar(
        &x[i..n],
        add,
        d,
        lo,
        hi,
        bias,
        &mut out[i..n],
    );
}
