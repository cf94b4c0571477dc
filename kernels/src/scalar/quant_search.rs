//! The scale searches behind ggml's quantizers (`make_qkx2_quants`, `make_qkx3_quants`,
//! `make_qx_quants`, `make_q3_quants`, `make_qp_quants`), shared by the reference quantizers
//! and the importance-weighted ones. Same f32 operations in the same order as ggml's C (which
//! is built without FMA contraction), so the chosen levels and scales match bit for bit.

// Index loops over parallel arrays mirror ggml's reference code.
#![allow(clippy::needless_range_loop)]

use crate::types::QK_K;

/// ggml's `GROUP_MAX_EPS`: a group whose largest magnitude is below this is all zeros.
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `MAX(a, b)`: `a > b ? a : b` (so a NaN `b` wins, a NaN `a` loses).
#[inline]
pub(crate) fn c_max(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// `Σx²` in element order, as ggml sums it.
pub(crate) fn sum_sq(x: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for &v in x {
        s += v * v;
    }
    s
}

/// Round to nearest, ties to even, via ggml's magic-number trick (`nearest_int`). Exact for
/// |x| ≤ 4194303; beyond that it wraps like ggml's (never panics).
#[inline]
pub(crate) fn nearest_int(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    ((v.to_bits() & 0x007f_ffff) as i32) - 0x0040_0000
}

/// C's float → integer conversion as x86-64 compilers emit it (`cvttss2si`): truncation toward
/// zero, and the "integer indefinite" `i32::MIN` for NaN and out-of-range values (`(int8_t)`
/// and `(uint8_t)` then keep its low byte, 0). ggml's reference quantizers meet those only
/// when `x·(1/d)` is not finite (NaN/inf input, or a scale so small that its inverse
/// overflows); converting the same way keeps those bytes equal to llama-quantize's on x86.
#[inline]
pub(crate) fn c_f32_to_i32(x: f32) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&x) {
        x as i32
    } else {
        i32::MIN
    }
}

/// C's `roundf` (half away from zero), inline: `f32::round` is a libm call on baseline x86-64,
/// which costs more than the rest of a Q8_0 block. Exact for every input: the fraction
/// `x − trunc(x)` of an |x| < 2²³ is exact in f32, larger values, infinities and NaN are
/// returned as they are (they are already integers, or not numbers), and the sign of x is kept
/// (−0.3 rounds to −0.0).
#[inline]
pub(crate) fn round_half_away(x: f32) -> f32 {
    if x.abs() >= 8_388_608.0 || x.is_nan() {
        return x;
    }
    let t = x as i32 as f32;
    let frac = x - t;
    let r = if frac >= 0.5 {
        t + 1.0
    } else if frac <= -0.5 {
        t - 1.0
    } else {
        t
    };
    r.copysign(x)
}

/// glibc's `lroundf` (half away from zero) as x86-64 returns it, narrowed to C's `int`: 0 for
/// NaN and out-of-range values (`i64::MIN`'s low 32 bits).
#[inline]
pub(crate) fn c_lroundf_to_int(x: f32) -> i32 {
    let r = round_half_away(x);
    if (-9.223_372e18..9.223_372e18).contains(&r) {
        r as i64 as i32
    } else {
        0
    }
}

/// Unsigned levels 0..=nmax and a min for `x` under importance weights (`make_qkx3_quants`,
/// the search ggml runs when an imatrix is given): `make_qkx2_quants`, except that with
/// `nstep < 1` the first guess is kept without a trial. Writes the levels to `l`; returns
/// `(scale, the_min)` with `x ≈ scale·l − the_min`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx3_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let p = QkxSearch {
        nmax,
        rmin,
        rdelta,
        nstep,
        use_mad,
        keep_first_guess_without_steps: true,
    };
    search_scale_and_min(x, weights, l, p)
}

/// A min-and-scale search: levels 0..=nmax, trial scales `(nmax + rmin + rdelta·k) / (max − min)`
/// for k in 0..=nstep, absolute (`use_mad`) or squared error; `make_qkx3_quants` keeps its
/// first guess when `nstep < 1`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QkxSearch {
    pub nmax: i32,
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
    pub use_mad: bool,
    pub keep_first_guess_without_steps: bool,
}

/// Eight sub-blocks of `N` elements (sub-block j at `x[j·N..]`, weights alike) searched at once:
/// levels into `l`, each one's (scale, −min) returned. In AVX2 lanes where the CPU has it, with
/// the same bits as one search after another.
pub(crate) fn scale_and_min_x8<const N: usize>(
    x: &[f32],
    w: &[f32],
    l: &mut [u8],
    p: QkxSearch,
) -> ([f32; 8], [f32; 8]) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked above); the function checks slice lengths.
            return unsafe { crate::x86::avx2_quant_search::scale_and_min_x8::<N>(x, w, l, p) };
        }
    }
    scale_and_min_x8_scalar::<N>(x, w, l, p)
}

/// `scale_and_min_x8` one sub-block after another.
pub(crate) fn scale_and_min_x8_scalar<const N: usize>(
    x: &[f32],
    w: &[f32],
    l: &mut [u8],
    p: QkxSearch,
) -> ([f32; 8], [f32; 8]) {
    let (mut scales, mut mins) = ([0.0f32; 8], [0.0f32; 8]);
    for j in 0..8 {
        let r = j * N..(j + 1) * N;
        let (s, m) = search_scale_and_min(&x[r.clone()], &w[r.clone()], &mut l[r], p);
        scales[j] = s;
        mins[j] = m;
    }
    (scales, mins)
}

/// `make_qx_quants` for eight sub-blocks of `N` elements (weights `qw` or x²): `level + nmax`
/// into `l`, the scales returned; AVX2 lanes where the CPU has them, the same bits either way.
pub(crate) fn qx_x8<const N: usize>(
    nmax: i32,
    x: &[f32],
    l: &mut [u8],
    qw: Option<&[f32]>,
) -> [f32; 8] {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked above); the function checks slice lengths.
            return unsafe { crate::x86::avx2_quant_search::qx_x8::<N>(nmax, x, l, qw) };
        }
    }
    qx_x8_scalar::<N>(nmax, x, l, qw)
}

/// `make_q3_quants` for eight sub-blocks of `N` elements: `level + nmax` into `l`, the scales
/// returned; AVX2 lanes where the CPU has them, the same bits either way.
pub(crate) fn q3_x8<const N: usize>(nmax: i32, x: &[f32], l: &mut [u8]) -> [f32; 8] {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked above); the function checks slice lengths.
            return unsafe { crate::x86::avx2_quant_search::q3_x8::<N>(nmax, x, l) };
        }
    }
    q3_x8_scalar::<N>(nmax, x, l)
}

/// `q3_x8` one sub-block after another.
pub(crate) fn q3_x8_scalar<const N: usize>(nmax: i32, x: &[f32], l: &mut [u8]) -> [f32; 8] {
    each_signed_sub_block::<N>(l, |r, lv| make_q3_quants(nmax, &x[r], lv))
}

/// Runs a signed-level search (`f(range, levels)` → scale) on each of eight sub-blocks of `N`,
/// storing its levels (non-negative once biased by the search) as bytes into `l`.
fn each_signed_sub_block<const N: usize>(
    l: &mut [u8],
    mut f: impl FnMut(core::ops::Range<usize>, &mut [i8]) -> f32,
) -> [f32; 8] {
    let mut scales = [0.0f32; 8];
    for j in 0..8 {
        let r = j * N..(j + 1) * N;
        let mut lv = [0i8; 32];
        scales[j] = f(r.clone(), &mut lv[..N]);
        for (o, &v) in l[r].iter_mut().zip(&lv[..N]) {
            *o = v as u8;
        }
    }
    scales
}

/// A super-block's 16 sub-blocks of 16 as two eight-lane calls `f(range of 128)`; the 16 results.
fn halves(mut f: impl FnMut(core::ops::Range<usize>) -> [f32; 8]) -> [f32; 16] {
    let mut out = [0.0f32; 16];
    for half in 0..2 {
        out[8 * half..8 * half + 8].copy_from_slice(&f(128 * half..128 * half + 128));
    }
    out
}

/// `make_qx_quants` on the 16 sub-blocks of 16 of a super-block (Q3_K, Q6_K): levels + nmax
/// into `levels`, the 16 scales returned.
pub(crate) fn qx_16x16(
    nmax: i32,
    x: &[f32],
    qw: Option<&[f32]>,
    levels: &mut [i8; QK_K],
) -> [f32; 16] {
    let mut u = [0u8; QK_K];
    let scales = halves(|r| qx_x8::<16>(nmax, &x[r.clone()], &mut u[r.clone()], qw.map(|q| &q[r])));
    for (l, &v) in levels.iter_mut().zip(&u) {
        *l = v as i8;
    }
    scales
}

/// `make_q3_quants` on the 16 sub-blocks of 16 of a super-block (Q3_K without an imatrix).
pub(crate) fn q3_16x16(nmax: i32, x: &[f32], levels: &mut [i8; QK_K]) -> [f32; 16] {
    let mut u = [0u8; QK_K];
    let scales = halves(|r| q3_x8::<16>(nmax, &x[r.clone()], &mut u[r]));
    for (l, &v) in levels.iter_mut().zip(&u) {
        *l = v as i8;
    }
    scales
}

/// The min-and-scale search on the 16 sub-blocks of 16 of a super-block (Q2_K): levels into
/// `levels`, the 16 (scale, −min) pairs returned.
pub(crate) fn scale_and_min_16x16(
    x: &[f32],
    w: &[f32],
    levels: &mut [u8; QK_K],
    p: QkxSearch,
) -> ([f32; 16], [f32; 16]) {
    let mut mins = [0.0f32; 8 * 2];
    let scales = halves(|r| {
        let (s, m) =
            scale_and_min_x8::<16>(&x[r.clone()], &w[r.clone()], &mut levels[r.clone()], p);
        mins[r.start / 16..r.start / 16 + 8].copy_from_slice(&m);
        s
    });
    (scales, mins)
}

/// `out[i] = clamp(nearest_int((x[i] + add) / d), lo, hi) + bias` (the requantization pass once
/// a block's scales are rounded; `add` 0 gives ggml's `x / d` exactly); AVX2 where present.
pub(crate) fn round_levels(
    x: &[f32],
    add: f32,
    d: f32,
    lo: i32,
    hi: i32,
    bias: i32,
    out: &mut [u8],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked above); the function bounds itself by both lengths.
            return unsafe {
                crate::x86::avx2_quant_search::round_levels(x, add, d, lo, hi, bias, out)
            };
        }
    }
    round_levels_scalar(x, add, d, lo, hi, bias, out)
}

/// `round_levels` one value at a time.
pub(crate) fn round_levels_scalar(
    x: &[f32],
    add: f32,
    d: f32,
    lo: i32,
    hi: i32,
    bias: i32,
    out: &mut [u8],
) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (nearest_int((v + add) / d).clamp(lo, hi) + bias) as u8;
    }
}

/// `qx_x8` one sub-block after another.
pub(crate) fn qx_x8_scalar<const N: usize>(
    nmax: i32,
    x: &[f32],
    l: &mut [u8],
    qw: Option<&[f32]>,
) -> [f32; 8] {
    each_signed_sub_block::<N>(l, |r, lv| {
        make_qx_quants(nmax, &x[r.clone()], lv, qw.map(|q| &q[r]))
    })
}

/// ggml's `make_qkx2_quants` (and, with `keep_first_guess_without_steps`, `make_qkx3_quants`):
/// the best scale and min for `x` with unsigned levels 0..=nmax by weighted least squares over
/// `nstep + 1` trial scales; levels into `l`, returns `(scale, the_min)` with
/// `x ≈ scale·l − the_min`. (ggml's qkx3 tests `max <= min`
/// where qkx2 tests `max == min`; `max` can never be below the clamped `min`, so one test
/// serves both.)
fn search_scale_and_min(x: &[f32], weights: &[f32], l: &mut [u8], p: QkxSearch) -> (f32, f32) {
    let QkxSearch {
        nmax,
        rmin,
        rdelta,
        nstep,
        use_mad,
        keep_first_guess_without_steps,
    } = p;
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max <= min {
        l[..n].iter_mut().for_each(|v| *v = 0);
        return (0.0, -min);
    }
    let err = |diff: f32| if use_mad { diff.abs() } else { diff * diff };
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        l[i] = nearest_int(iscale * (x[i] - min)).clamp(0, nmax) as u8;
        best_error += weights[i] * err(scale * l[i] as f32 + min - x[i]);
    }
    if keep_first_guess_without_steps && nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; 32];
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let li = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = li as u8;
            let (w, lf) = (weights[i], li as f32);
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                cur_error += weights[i] * err(this_scale * laux[i] as f32 + this_min - x[i]);
            }
            if cur_error < best_error {
                l[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Signed levels −nmax..nmax−1 with a weighted RMSE search over 19 trial scales
/// (`make_qx_quants` with `rmse_type = 1`): the weights are `qw` when given (an importance
/// matrix), else x². Writes `level + nmax` to `l` and returns the scale.
pub(crate) fn make_qx_quants(nmax: i32, x: &[f32], l: &mut [i8], qw: Option<&[f32]>) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.iter_mut().for_each(|v| *v = 0);
        return 0.0;
    }
    let weight = |i: usize| match qw {
        Some(q) => q[i],
        None => x[i] * x[i],
    };
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for (i, &v) in x.iter().enumerate() {
            let lf = level(iscale, v) as f32;
            let w = weight(i);
            sumlx += w * v * lf;
            suml2 += w * lf * lf;
        }
        (sumlx, suml2)
    };
    let mut iscale = -(nmax as f32) / max;
    for (li, &v) in l.iter_mut().zip(x) {
        *li = (level(iscale, v) + nmax) as i8;
    }
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (li, &v) in l.iter_mut().zip(x) {
                *li = (level(iscale, v) + nmax) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Signed levels −nmax..nmax−1 refined coordinate-wise for x²-weighted error
/// (`make_q3_quants` with `do_rmse`). Writes `level + nmax` to `l` and returns the scale.
pub(crate) fn make_q3_quants(nmax: i32, x: &[f32], l: &mut [i8]) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l.iter_mut().for_each(|v| *v = 0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (li, &v) in l.iter_mut().zip(x) {
        let q = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        *li = q as i8;
        let w = v * v;
        sumlx += w * v * q as f32;
        suml2 += w * q as f32 * q as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for (li, &v) in l.iter_mut().zip(x) {
            let w = v * v;
            let old = *li as f32;
            let mut slx = sumlx - w * v * old;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * old * old;
                let new_l = nearest_int(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != *li as i32 {
                    let nl = new_l as f32;
                    slx += w * v * nl;
                    sl2 += w * nl * nl;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *li = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for li in l.iter_mut() {
        *li += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Unsigned levels 0..=nmax for non-negative `x` (a block's sub-block scales or mins) under
/// weights `qw` (`make_qp_quants`): the best of 9 trial scales, then coordinate-wise
/// refinement. Returns the scale. Levels are stored as C stores them in a `uint8_t` (a
/// negative level wraps), which only matters for inputs ggml never produces.
pub(crate) fn make_qp_quants(nmax: i32, x: &[f32], l: &mut [u8], qw: &[f32]) -> f32 {
    let n = x.len();
    let mut max = 0.0f32;
    for &v in x {
        max = if max > v { max } else { v };
    }
    if max < GROUP_MAX_EPS {
        l[..n].iter_mut().for_each(|v| *v = 0);
        return 0.0;
    }
    let mut iscale = nmax as f32 / max;
    for i in 0..n {
        l[i] = nearest_int(iscale * x[i]) as u8;
    }
    let scale = 1.0 / iscale;
    let mut best_mse = 0.0f32;
    for i in 0..n {
        let diff = x[i] - scale * l[i] as f32;
        best_mse += qw[i] * diff * diff;
    }
    for is in -4..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = (0.1 * is as f32 + nmax as f32) / max;
        let scale_is = 1.0 / iscale_is;
        let mut mse = 0.0f32;
        for i in 0..n {
            let li = nearest_int(iscale_is * x[i]).min(nmax);
            let diff = x[i] - scale_is * li as f32;
            mse += qw[i] * diff * diff;
        }
        if mse < best_mse {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for i in 0..n {
        let li = nearest_int(iscale * x[i]).min(nmax);
        l[i] = li as u8;
        let w = qw[i];
        sumlx += w * x[i] * li as f32;
        suml2 += w * li as f32 * li as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = qw[i];
            let old = l[i] as f32;
            let mut slx = sumlx - w * x[i] * old;
            let mut sl2 = suml2 - w * old * old;
            if slx > 0.0 && sl2 > 0.0 {
                let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                if new_l != l[i] as i32 {
                    slx += w * x[i] * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l[i] = new_l as u8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_round_equals_roundf() {
        let mut xs = vec![
            0.5f32,
            -0.5,
            1.5,
            -1.5,
            2.5,
            0.49999997,
            -0.49999997,
            8_388_607.5,
            8_388_608.0,
            -8_388_609.0,
            1e30,
            -1e30,
            0.0,
            -0.0,
            -0.3,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
            1e-45,
        ];
        let mut rng = crate::testutil::Rng::new(0x1234_5678);
        for _ in 0..200_000 {
            let bits = rng.next_u64() as u32;
            xs.push(f32::from_bits(bits));
            xs.push((bits >> 9) as f32 / 1024.0 - 4096.0);
        }
        for x in xs {
            let (a, b) = (round_half_away(x), x.round());
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{x}: {a} vs {b}"
            );
        }
    }
    use crate::testutil::Rng;

    /// Sub-blocks of every shape the quantizers meet: normal, all zero, constant, all negative,
    /// one huge value, denormals, a single non-zero, huge magnitudes.
    fn cases(n: usize, rng: &mut Rng) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        for trial in 0..40 {
            let mut x = rng.normals(8 * n, 10f32.powi(trial % 7 - 3));
            let j = trial as usize % 8;
            let sub = &mut x[j * n..(j + 1) * n];
            match trial % 8 {
                0 => sub.fill(0.0),
                1 => sub.fill(0.75),
                2 => sub.iter_mut().for_each(|v| *v = -v.abs() - 0.1),
                3 => sub[n / 2] = 1e6,
                4 => sub.iter_mut().for_each(|v| *v *= 1e-40),
                5 => {
                    sub.fill(0.0);
                    sub[1] = -3.0;
                }
                6 => sub.iter_mut().for_each(|v| *v *= 1e30),
                _ => {}
            }
            out.push(x);
        }
        out
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn check_qkx<const N: usize>(p: QkxSearch, weight: &dyn Fn(&[f32], usize) -> f32) {
        let mut rng = Rng::new(7);
        for x in cases(N, &mut rng) {
            let w: Vec<f32> = (0..x.len()).map(|i| weight(&x, i)).collect();
            let (mut la, mut lb) = (vec![0u8; 8 * N], vec![0u8; 8 * N]);
            let a = scale_and_min_x8::<N>(&x, &w, &mut la, p);
            let b = scale_and_min_x8_scalar::<N>(&x, &w, &mut lb, p);
            assert_eq!((bits(&a.0), bits(&a.1)), (bits(&b.0), bits(&b.1)), "{p:?}");
            assert_eq!(la, lb, "{p:?}");
        }
    }

    #[test]
    fn lane_searches_equal_the_scalar_ones_bit_for_bit() {
        let q = |nmax, rmin, rdelta, nstep, use_mad, keep| QkxSearch {
            nmax,
            rmin,
            rdelta,
            nstep,
            use_mad,
            keep_first_guess_without_steps: keep,
        };
        let abs = |x: &[f32], i: usize| x[i].abs();
        let imat = |x: &[f32], i: usize| (i % 5) as f32 * 0.3 * (0.01 + x[i] * x[i]).sqrt();
        check_qkx::<16>(q(3, -0.5, 0.1, 15, true, false), &abs);
        check_qkx::<32>(q(15, -1.0, 0.1, 20, false, false), &abs);
        check_qkx::<32>(q(31, -0.5, 0.1, 15, false, false), &abs);
        check_qkx::<32>(q(15, -0.9, 0.05, 36, false, true), &imat);
        check_qkx::<16>(q(3, -0.9, 0.05, 36, false, true), &imat);
        check_qkx::<16>(q(3, -0.9, 0.05, 0, false, true), &imat);
        let mut rng = Rng::new(11);
        for (nmax, n16) in [(32, true), (4, true), (32, false)] {
            for x in cases(if n16 { 16 } else { 32 }, &mut rng) {
                let qw: Vec<f32> = x
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i % 3) as f32 + v.abs())
                    .collect();
                for weights in [None, Some(&qw[..])] {
                    let (mut la, mut lb) = (vec![0u8; x.len()], vec![0u8; x.len()]);
                    let (a, b) = if n16 {
                        (
                            qx_x8::<16>(nmax, &x, &mut la, weights),
                            qx_x8_scalar::<16>(nmax, &x, &mut lb, weights),
                        )
                    } else {
                        (
                            qx_x8::<32>(nmax, &x, &mut la, weights),
                            qx_x8_scalar::<32>(nmax, &x, &mut lb, weights),
                        )
                    };
                    assert_eq!(bits(&a), bits(&b), "qx nmax {nmax}");
                    assert_eq!(la, lb, "qx nmax {nmax}");
                }
            }
        }
        for x in cases(16, &mut rng) {
            for (add, d, lo, hi, bias) in [
                (0.0, 0.37, -4, 3, 4),
                (0.2, 0.05, 0, 15, 0),
                (0.0, -1e-3, -32, 31, 32),
            ] {
                let (mut a, mut b) = (vec![0u8; 125], vec![0u8; 125]);
                round_levels(&x[..125], add, d, lo, hi, bias, &mut a);
                round_levels_scalar(&x[..125], add, d, lo, hi, bias, &mut b);
                assert_eq!(a, b, "round_levels d {d}");
            }
            let (mut la, mut lb) = (vec![0u8; x.len()], vec![0u8; x.len()]);
            let (a, b) = (
                q3_x8::<16>(4, &x, &mut la),
                q3_x8_scalar::<16>(4, &x, &mut lb),
            );
            assert_eq!(bits(&a), bits(&b), "q3");
            assert_eq!(la, lb, "q3");
        }
    }
}
