//! Quantizers for the grid-free i-quants and the ternary and MXFP4 types: IQ4_NL and IQ4_XS
//! (ggml's `quantize_row_iq4_nl_impl`, with or without an importance matrix), TQ1_0, TQ2_0 and
//! MXFP4 (`quantize_row_*_ref`). The same f32 operations in the same order as ggml, so the bytes
//! equal `ggml_quantize_chunk`'s (what `llama-quantize` writes).
//!
//! IQ4_NL and IQ4_XS always run ggml's scale search (`ntry = 7`): `ggml_quantize_chunk` does,
//! with or without an imatrix. (ggml's `quantize_row_iq4_nl_ref` skips the search; nothing that
//! writes files calls it.)

// Index loops over parallel per-block arrays mirror ggml's reference code.
#![allow(clippy::needless_range_loop)]

use crate::blocks::Block;
use crate::half::f32_to_f16;
use crate::iq_blocks::{BlockIQ4NL, BlockIQ4XS, BlockMXFP4, BlockTQ1_0, BlockTQ2_0};
use crate::iq_tables::{KVALUES_IQ4NL, KVALUES_MXFP4};
use crate::scalar::iquants::e8m0_to_f32_half;
use crate::scalar::quant_search::{c_f32_to_i32, c_lroundf_to_int, nearest_int};
use crate::types::{QK, QK_K};

/// Below this a group's largest magnitude counts as zero (`GROUP_MAX_EPS`).
const GROUP_MAX_EPS: f32 = 1e-15;

/// The scale-search trials on each side of the first guess (`ntry` in ggml).
const IQ4_TRIES: i32 = 7;

/// Index of the entry of the sorted table `values` nearest to `x` (ggml's `best_index_int8`:
/// the reference `best_index_iq4nl` is tested against;
/// a bisection; ties go to the upper entry).
#[cfg(test)]
pub(crate) fn best_index_int8(values: &[i8], x: f32) -> usize {
    let n = values.len();
    if x <= values[0] as f32 {
        return 0;
    }
    if x >= values[n - 1] as f32 {
        return n - 1;
    }
    let (mut ml, mut mu) = (0usize, n - 1);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < values[mav] as f32 {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - (values[mu - 1] as f32) < values[mu] as f32 - x {
        mu - 1
    } else {
        mu
    }
}

/// `KVALUES_IQ4NL` as a constant, for the table below (a test checks they agree).
const IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];
const IQ4NL_LO: i32 = IQ4NL[0] as i32;
const IQ4NL_SPAN: usize = (IQ4NL[15] as i32 - IQ4NL_LO) as usize;

/// For each integer `k` in `[values[0], values[15])`: the index of the last value `<= k`, which
/// is where `best_index_int8`'s bisection ends for any `x` in `[k, k + 1)` (the values are
/// integers, so no boundary lies inside such an interval).
const IQ4NL_LOWER: [u8; IQ4NL_SPAN] = {
    let mut t = [0u8; IQ4NL_SPAN];
    let mut k = 0;
    while k < IQ4NL_SPAN {
        let mut i = 0;
        while i + 1 < 15 && (IQ4NL[i + 1] as i32) <= IQ4NL_LO + k as i32 {
            i += 1;
        }
        t[k] = i as u8;
        k += 1;
    }
    t
};

/// `best_index_int8(&KVALUES_IQ4NL, x)` without the bisection's unpredictable branches: the
/// bracketing pair from a table indexed by `floor(x)`, then ggml's own nearer-of-two test.
#[inline]
pub(crate) fn best_index_iq4nl(x: f32) -> usize {
    if x <= IQ4NL[0] as f32 {
        return 0;
    }
    if x >= IQ4NL[15] as f32 || x.is_nan() {
        // `x >= values[15]`, or NaN (ggml's bisection ends on the last entry for NaN too).
        return 15;
    }
    // Exact floor of x in (-127, 113): truncate, then step down for negative fractions.
    let t = x as i32;
    let floor = t - ((t as f32) > x) as i32;
    let lo = IQ4NL_LOWER[(floor - IQ4NL_LO) as usize] as usize;
    if x - (IQ4NL[lo] as f32) < IQ4NL[lo + 1] as f32 - x {
        lo
    } else {
        lo + 1
    }
}

/// `(Σ w·q·x, Σ w·q²)` over one 32-element block for each trial inverse scale in `ids`, q the
/// IQ4 value nearest `id·x`: AVX2 lanes where the CPU has them, the same bits either way.
fn iq4_trial_sums(xb: &[f32], w: &[f32; QK], ids: &[f32; 16]) -> ([f32; 16], [f32; 16]) {
    let mut x = [0.0f32; QK];
    x.copy_from_slice(xb);
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present (checked above).
            return unsafe { crate::x86::avx2_iq4_search::iq4_trial_sums(&x, w, ids) };
        }
    }
    iq4_trial_sums_scalar(&x, w, ids)
}

/// `iq4_trial_sums` one trial after another (ggml's loop).
pub(crate) fn iq4_trial_sums_scalar(
    x: &[f32; QK],
    w: &[f32; QK],
    ids: &[f32; 16],
) -> ([f32; 16], [f32; 16]) {
    let (mut sumqx, mut sumq2) = ([0.0f32; 16], [0.0f32; 16]);
    for (k, &id) in ids.iter().enumerate() {
        for j in 0..QK {
            let q = KVALUES_IQ4NL[best_index_iq4nl(id * x[j])] as f32;
            sumqx[k] += w[j] * q * x[j];
            sumq2[k] += w[j] * q * q;
        }
    }
    (sumqx, sumq2)
}

/// One IQ4 super-block (32 elements for IQ4_NL, 256 for IQ4_XS) as ggml's
/// `quantize_row_iq4_nl_impl` quantizes it.
struct Iq4 {
    /// The f16 super-block scale.
    d: u16,
    /// IQ4_XS: 6-bit sub-block scales + 32, one per 32 elements (unused for IQ4_NL).
    sub_scales: [u8; QK_K / 32],
    /// 4-bit indexes into `KVALUES_IQ4NL`, one per element.
    levels: [u8; QK_K],
}

fn iq4_search(x: &[f32], quant_weights: Option<&[f32]>) -> Iq4 {
    let values = &KVALUES_IQ4NL;
    let v0 = values[0] as f32;
    let n = x.len();
    let nb = n / QK;
    let mut sigma2 = 0.0f32;
    for &v in x {
        sigma2 += v * v;
    }
    sigma2 *= 2.0 / n as f32;

    let mut out = Iq4 {
        d: f32_to_f16(0.0),
        sub_scales: [0; QK_K / 32],
        levels: [0; QK_K],
    };
    let mut scales = [0.0f32; QK_K / 32];
    let (mut max_scale, mut amax_scale) = (0.0f32, 0.0f32);
    for ib in 0..nb {
        let xb = &x[QK * ib..QK * ib + QK];
        let mut weight = [0.0f32; QK];
        for j in 0..QK {
            weight[j] = match quant_weights {
                Some(qw) => qw[QK * ib + j] * (sigma2 + xb[j] * xb[j]).sqrt(),
                None => xb[j] * xb[j],
            };
        }
        let (mut amax, mut max) = (0.0f32, 0.0f32);
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax < GROUP_MAX_EPS {
            scales[ib] = 0.0;
            continue;
        }
        // The first guess, then 2·IQ4_TRIES + 1 trials around it, all summed at once.
        let mut ids = [0.0f32; 2 * IQ4_TRIES as usize + 2];
        ids[0] = 1.0 / (-max / v0);
        for (k, id) in ids[1..].iter_mut().enumerate() {
            *id = ((k as i32 - IQ4_TRIES) as f32 + v0) / max;
        }
        let (sumqx, sumq2) = iq4_trial_sums(xb, &weight, &ids);
        let mut d = if sumq2[0] > 0.0 {
            sumqx[0] / sumq2[0]
        } else {
            0.0
        };
        let mut best = d * sumqx[0];
        for k in 1..ids.len() {
            if sumq2[k] > 0.0 && sumqx[k] * sumqx[k] > best * sumq2[k] {
                d = sumqx[k] / sumq2[k];
                best = d * sumqx[k];
            }
        }
        scales[ib] = d;
        if d.abs() > amax_scale {
            amax_scale = d.abs();
            max_scale = d;
        }
    }

    let level_of = |id: f32, j: usize| best_index_iq4nl(id * x[j]) as u8;
    if nb > 1 {
        let d = -max_scale / 32.0;
        out.d = f32_to_f16(d);
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        for ib in 0..nb {
            let l = nearest_int(id * scales[ib]).clamp(-32, 31);
            let dl = d * l as f32;
            let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
            for j in QK * ib..QK * ib + QK {
                out.levels[j] = level_of(idl, j);
            }
            out.sub_scales[ib] = (l + 32) as u8;
        }
    } else {
        out.d = f32_to_f16(scales[0]);
        let id = if scales[0] != 0.0 {
            1.0 / scales[0]
        } else {
            0.0
        };
        for j in 0..n {
            out.levels[j] = level_of(id, j);
        }
    }
    out
}

/// Nibbles of 32 levels: byte j holds level j (low) and level j + 16 (high).
fn pack_iq4_nibbles(levels: &[u8]) -> [u8; QK / 2] {
    let mut qs = [0u8; QK / 2];
    for j in 0..QK / 2 {
        qs[j] = levels[j] | (levels[j + QK / 2] << 4);
    }
    qs
}

fn iq4_nl_block(x: &[f32], qw: Option<&[f32]>) -> BlockIQ4NL {
    let q = iq4_search(x, qw);
    BlockIQ4NL {
        d: q.d,
        qs: pack_iq4_nibbles(&q.levels[..QK]),
    }
}

fn iq4_xs_block(x: &[f32], qw: Option<&[f32]>) -> BlockIQ4XS {
    let q = iq4_search(x, qw);
    let mut b = BlockIQ4XS {
        d: q.d,
        scales_h: 0,
        scales_l: [0; QK_K / 64],
        qs: [0; QK_K / 2],
    };
    for ib in 0..QK_K / QK {
        let l = q.sub_scales[ib];
        b.scales_l[ib / 2] |= (l & 0xf) << (4 * (ib % 2));
        b.scales_h |= ((l >> 4) as u16) << (2 * ib);
        let qs = pack_iq4_nibbles(&q.levels[QK * ib..QK * ib + QK]);
        b.qs[16 * ib..16 * ib + 16].copy_from_slice(&qs);
    }
    b
}

/// Runs `f` over every block of `src` (with its slice of `qw`), writing each block to `dst`.
fn blocks<B: Block>(
    src: &[f32],
    qw: Option<&[f32]>,
    dst: &mut [u8],
    f: impl Fn(&[f32], Option<&[f32]>) -> B,
) {
    crate::blocks::encode_blocks(src, dst, |i, x| {
        f(x, qw.map(|w| &w[B::LEN * i..B::LEN * (i + 1)]))
    });
}

/// IQ4_NL, weighted by `qw` when given (`quantize_iq4_nl`).
pub fn quantize_iq4_nl_weighted(src: &[f32], qw: Option<&[f32]>, dst: &mut [u8]) {
    blocks(src, qw, dst, iq4_nl_block);
}

/// IQ4_XS, weighted by `qw` when given (`quantize_iq4_xs`).
pub fn quantize_iq4_xs_weighted(src: &[f32], qw: Option<&[f32]>, dst: &mut [u8]) {
    blocks(src, qw, dst, iq4_xs_block);
}

/// IQ4_NL without an importance matrix (what `ggml_quantize_chunk` writes).
pub fn quantize_iq4_nl(src: &[f32], dst: &mut [u8]) {
    quantize_iq4_nl_weighted(src, None, dst);
}

/// IQ4_XS without an importance matrix.
pub fn quantize_iq4_xs(src: &[f32], dst: &mut [u8]) {
    quantize_iq4_xs_weighted(src, None, dst);
}

/// The largest magnitude of a block and `1/amax` (0 for an all-zero block), as the ternary
/// quantizers scale.
fn ternary_scale(x: &[f32]) -> (f32, f32) {
    let mut amax = 0.0f32;
    for &v in x {
        amax = if amax > v.abs() { amax } else { v.abs() };
    }
    (amax, if amax != 0.0 { 1.0 / amax } else { 0.0 })
}

/// `lroundf(x·id) + 1`: −1, 0, 1 → 0, 1, 2 (with C's wrapping into the `uint8_t` sums; NaN/inf
/// give 1, as x86-64 glibc's `lroundf` does).
fn trit(x: f32, id: f32) -> u8 {
    c_lroundf_to_int(x * id).wrapping_add(1) as u8
}

/// Five (or four, then shifted) trits as a fixed-point fraction of 3^5: `⌈q·256/243⌉`.
fn trits_to_byte(q: u8) -> u8 {
    ((q as u16 * 256 + 242) / 243) as u8
}

/// The block's scale and its 256 trits (`trit` of each element): in AVX2 where the CPU has it,
/// the same bytes either way.
fn ternary(x: &[f32]) -> (f32, [u8; QK_K]) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") {
            let mut a = [0.0f32; QK_K];
            a.copy_from_slice(x);
            // SAFETY: AVX2 is present (checked above).
            if let Some(r) = unsafe { crate::x86::avx2_ternary::ternary(&a) } {
                return r;
            }
        }
    }
    ternary_scalar(x)
}

/// `ternary` in scalar code (ggml's reference).
fn ternary_scalar(x: &[f32]) -> (f32, [u8; QK_K]) {
    let (d, id) = ternary_scale(x);
    let mut t = [0u8; QK_K];
    for (t, &v) in t.iter_mut().zip(x) {
        *t = trit(v, id);
    }
    (d, t)
}

fn tq1_0_block(x: &[f32], _qw: Option<&[f32]>) -> BlockTQ1_0 {
    let (d, t) = ternary(x);
    let mut b = BlockTQ1_0 {
        qs: [0; 48],
        qh: [0; 4],
        d: f32_to_f16(d),
    };
    // qs[0..32]: elements 0..160, five per byte, 32 apart; qs[32..48]: 160..240, 16 apart.
    for (first, stride, bytes) in [(0usize, 32usize, 0..32usize), (160, 16, 32..48)] {
        for (m, j) in bytes.enumerate() {
            let mut q = 0u8;
            for n in 0..5 {
                q = q.wrapping_mul(3).wrapping_add(t[first + m + n * stride]);
            }
            b.qs[j] = trits_to_byte(q);
        }
    }
    // qh: elements 240..256, four per byte, 4 apart, then shifted to the top trit.
    for j in 0..4 {
        let mut q = 0u8;
        for m in 0..4 {
            q = q.wrapping_mul(3).wrapping_add(t[240 + j + m * 4]);
        }
        b.qh[j] = trits_to_byte(q.wrapping_mul(3));
    }
    b
}

fn tq2_0_block(x: &[f32], _qw: Option<&[f32]>) -> BlockTQ2_0 {
    let (d, t) = ternary(x);
    let mut b = BlockTQ2_0 {
        qs: [0; QK_K / 4],
        d: f32_to_f16(d),
    };
    for (j, q) in b.qs.iter_mut().enumerate() {
        let (c, m) = (j / 32, j % 32);
        for n in 0..4 {
            *q = q.wrapping_add((t[128 * c + m + 32 * n] & 3) << (2 * n));
        }
    }
    b
}

/// TQ1_0 (`quantize_row_tq1_0_ref`; an importance matrix is ignored, as in ggml).
pub fn quantize_tq1_0(src: &[f32], dst: &mut [u8]) {
    blocks(src, None, dst, tq1_0_block);
}

/// TQ2_0 (`quantize_row_tq2_0_ref`).
pub fn quantize_tq2_0(src: &[f32], dst: &mut [u8]) {
    blocks(src, None, dst, tq2_0_block);
}

/// The E2M1 entry nearest to `x / d` (`best_index_mxfp4`: first of equals wins).
fn best_index_mxfp4(x: f32, d: f32) -> u8 {
    let mut best = 0;
    let mut best_err = (KVALUES_MXFP4[0] as f32 * d - x).abs();
    for (i, &v) in KVALUES_MXFP4.iter().enumerate().skip(1) {
        let err = (v as f32 * d - x).abs();
        if err < best_err {
            best = i as u8;
            best_err = err;
        }
    }
    best
}

fn mxfp4_block(x: &[f32], _qw: Option<&[f32]>) -> BlockMXFP4 {
    let mut amax = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
        }
    }
    // `(uint8_t)(floorf(log2f(amax)) − 2 + 127)`: x86 converts through i32, then truncates.
    let e = if amax > 0.0 {
        c_f32_to_i32(amax.log2().floor() - 2.0 + 127.0) as u8
    } else {
        0
    };
    let d = e8m0_to_f32_half(e);
    let mut qs = [0u8; QK / 2];
    for j in 0..QK / 2 {
        qs[j] = best_index_mxfp4(x[j], d) | (best_index_mxfp4(x[j + QK / 2], d) << 4);
    }
    BlockMXFP4 { e, qs }
}

/// MXFP4 (`quantize_row_mxfp4_ref`).
pub fn quantize_mxfp4(src: &[f32], dst: &mut [u8]) {
    blocks(src, None, dst, mxfp4_block);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trial_sums_equal_the_scalar_ones() {
        let mut rng = crate::testutil::Rng::new(12345);
        let mut next = || rng.uniform() * 2.0 - 1.0;
        for case in 0..2000 {
            let mut x = [0.0f32; QK];
            let mut w = [0.0f32; QK];
            for j in 0..QK {
                x[j] = next() * if case % 7 == 0 { 1e-30 } else { 3.0 };
                w[j] = if case % 5 == 0 {
                    x[j] * x[j]
                } else {
                    next().abs()
                };
            }
            if case % 11 == 0 {
                x[3] = 0.0;
                x[9] = x[2]; // ties
            }
            let max = x
                .iter()
                .fold(0.0f32, |m, v| if v.abs() > m.abs() { *v } else { m });
            let mut ids = [0.0f32; 16];
            ids[0] = 1.0 / (-max / -127.0);
            for k in 1..16 {
                ids[k] = ((k as i32 - 8) as f32 - 127.0) / max;
            }
            let a = iq4_trial_sums(&x, &w, &ids);
            let b = iq4_trial_sums_scalar(&x, &w, &ids);
            for k in 0..16 {
                assert_eq!(a.0[k].to_bits(), b.0[k].to_bits(), "case {case} trial {k}");
                assert_eq!(a.1[k].to_bits(), b.1[k].to_bits(), "case {case} trial {k}");
            }
        }
    }

    #[test]
    fn ternary_trits_equal_the_scalar_ones() {
        let mut rng = crate::testutil::Rng::new(0xdead_beef);
        let mut next = || rng.next_u64() as u32;
        for case in 0..3000 {
            let mut x = [0.0f32; QK_K];
            for v in x.iter_mut() {
                let r = next();
                *v = match case % 6 {
                    0 => f32::from_bits(r),
                    1 => ((r >> 8) as f32 / 16_777_216.0 - 0.5) * 2.0,
                    2 => [0.0, -0.0, 0.5, -0.5, 1.0][(r % 5) as usize],
                    3 => f32::from_bits(r & 0x807f_ffff),
                    4 => ((r % 5) as f32 - 2.0) * 1e-39,
                    _ => ((r >> 8) as f32 / 16_777_216.0 - 0.5) * 1e30,
                };
            }
            if case % 13 == 0 {
                x[(next() % 256) as usize] = [f32::NAN, f32::INFINITY, -f32::INFINITY][case % 3];
            }
            let (a, b) = (ternary(&x), ternary_scalar(&x));
            assert_eq!((a.0.to_bits(), a.1), (b.0.to_bits(), b.1), "case {case}");
        }
    }

    #[test]
    fn table_index_equals_the_bisection() {
        assert_eq!(IQ4NL, KVALUES_IQ4NL);
        let mut xs = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0];
        // Every value, every midpoint, and their float neighbours.
        for w in IQ4NL.windows(2) {
            for c in [w[0] as f32, (w[0] as f32 + w[1] as f32) / 2.0] {
                let mut v = c;
                for _ in 0..4 {
                    v = f32::from_bits(v.to_bits().wrapping_sub(1));
                }
                for _ in 0..9 {
                    xs.push(v);
                    xs.push(-v);
                    v = f32::from_bits(v.to_bits() + 1);
                }
            }
        }
        // A dense sweep over the whole range and a little past it.
        let mut x = -140.0f32;
        while x < 130.0 {
            xs.push(x);
            x += 0.0137;
        }
        let mut rng = crate::testutil::Rng::new(0x9e37_79b9);
        for _ in 0..100_000 {
            xs.push(f32::from_bits(rng.next_u64() as u32));
        }
        for x in xs {
            assert_eq!(
                best_index_iq4nl(x),
                best_index_int8(&KVALUES_IQ4NL, x),
                "x = {x} ({:#x})",
                x.to_bits()
            );
        }
    }
}
