//! Quantizers for the 1-bit i-quants IQ1_S and IQ1_M (ggml's `quantize_row_iq1_s_impl` and
//! `quantize_row_iq1_m_impl`), with the same f32 operations in the same order, so the bytes
//! equal `ggml_quantize_chunk`'s.
//!
//! Each sub-block (32 elements for IQ1_S, 16 for IQ1_M) is split exactly: with values sorted
//! ascending, every pair of boundaries into −1/0/+1 is scored by its weighted least-squares fit
//! (prefix sums make each split O(1)), for both signs of the `±IQ1_DELTA` shift (IQ1_M: each half
//! its own sign). The levels of each group of 8 are then snapped to the 2048-point grid (or the
//! best of its [`Lattice`] neighbours) and the scale refitted. IQ1_M refits the super-block scale
//! over the coded sub-block scales as well.
//!
//! The sort is stable (ties keep index order), as glibc's `qsort` is for these sizes (it merges
//! in a buffer). IQ1_S needs an importance matrix (ggml asserts one); IQ1_M does not. Where ggml
//! would abort (no neighbour with a finite distance, only from NaN input) the first neighbour is
//! taken.

// Index loops over parallel per-element arrays mirror ggml's reference code.
#![allow(clippy::needless_range_loop)]

use crate::blocks::encode_blocks;
use crate::half::f32_to_f16;
use crate::iq_blocks::{BlockIQ1M, BlockIQ1S};
use crate::iq_tables::{IQ1M_DELTA, IQ1S_DELTA};
use crate::scalar::iq_lattice::{self, Lattice, Lookup};
use crate::scalar::quant_search::{c_max, nearest_int, sum_sq};
use crate::types::QK_K;

/// `GROUP_MAX_EPS_IQ1_S`, `GROUP_MAX_EPS_IQ1_M`.
const EPS_IQ1_S: f32 = 1e-12;
const EPS_IQ1_M: f32 = 1e-7;

/// Indices of `xb` in ascending order of value, ties in index order.
fn sorted_order<const N: usize>(xb: &[f32]) -> [usize; N] {
    let mut idx: [usize; N] = core::array::from_fn(|i| i);
    for i in 1..N {
        let mut j = i;
        // The C comparator: `a < b ? -1 : a > b ? 1 : 0`; move left only past strictly larger.
        while j > 0 && xb[idx[j - 1]] > xb[idx[j]] {
            idx.swap(j - 1, j);
            j -= 1;
        }
    }
    idx
}

/// Levels 0/1/2 of a split: sorted positions below `i1` get 0, below `i2` 1, the rest 2.
fn split_levels<const N: usize>(order: &[usize; N], i1: usize, i2: usize) -> [i8; N] {
    let mut l = [0i8; N];
    for (j, &i) in order.iter().enumerate() {
        l[i] = if j < i1 {
            0
        } else if j < i2 {
            1
        } else {
            2
        };
    }
    l
}

/// Snaps each group of 8 levels of `l` to the grid: on it, or the neighbour nearest to `xb` at
/// `scale` with group k's values `xx(k)[level]` (`iq1_find_best_neighbour2`); the grid indices
/// go to `index`. When a group was off the grid the scale is refitted over the chosen points
/// (one pair of sums across the groups, as ggml). Returns the scale.
fn snap_groups<'a>(
    lat: &Lattice<8>,
    l: &mut [i8],
    xb: &[f32],
    weight: &[f32],
    mut scale: f32,
    xx: impl Fn(usize) -> &'a [f32; 3],
    index: &mut [u16],
) -> f32 {
    let mut all_on_grid = true;
    for (k, idx) in index.iter_mut().enumerate() {
        let g = 8 * k..8 * k + 8;
        *idx = match lat.lookup(&l[g.clone()]) {
            Lookup::OnGrid(i) => i as u16,
            Lookup::Off(list) => {
                all_on_grid = false;
                let v = xx(k);
                let value = |p: i8| v[((p - 1) / 2) as usize];
                let (x, w) = (&xb[g.clone()], &weight[g.clone()]);
                lat.best_neighbour(list, x, w, scale, value, &mut l[g]) as u16
            }
        };
    }
    if !all_on_grid {
        let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
        for (k, &idx) in index.iter().enumerate() {
            let (p, v) = (&lat.points[idx as usize], xx(k));
            for j in 0..8 {
                let w = weight[8 * k + j];
                let q = v[((p[j] - 1) / 2) as usize];
                sumqx += w * q * xb[8 * k + j];
                sumq2 += w * q * q;
            }
        }
        if sumqx > 0.0 && sumq2 > 0.0 {
            scale = sumqx / sumq2;
        }
    }
    scale
}

/// `(−1 + δ, δ, 1 + δ)` and `(−1 − δ, −δ, 1 − δ)`.
fn shifted(delta: f32) -> ([f32; 3], [f32; 3]) {
    (
        [-1.0 + delta, delta, 1.0 + delta],
        [-1.0 - delta, -delta, 1.0 - delta],
    )
}

fn max_abs(xb: &[f32]) -> f32 {
    let mut max = xb[0].abs();
    for &v in &xb[1..] {
        max = c_max(max, v.abs());
    }
    max
}

fn iq1_s_block(lat: &Lattice<8>, x: &[f32], qw: &[f32]) -> BlockIQ1S {
    let (x_p, x_m) = shifted(IQ1S_DELTA);
    let mut b = BlockIQ1S {
        d: f32_to_f16(0.0),
        qs: [0; QK_K / 8],
        qh: [0; QK_K / 32],
    };
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let mut scales = [0.0f32; QK_K / 32];
    let mut shifts = [1i8; QK_K / 32];
    let mut max_scale = 0.0f32;
    for ib in 0..QK_K / 32 {
        let xb = &x[32 * ib..32 * ib + 32];
        let mut weight = [0.0f32; 32];
        for i in 0..32 {
            weight[i] = qw[32 * ib + i] * (sigma2 + xb[i] * xb[i]).sqrt();
        }
        let max = max_abs(xb);
        if max < EPS_IQ1_S {
            continue;
        }
        let order = sorted_order::<32>(xb);
        let (mut sumx, mut sumw) = ([0.0f32; 33], [0.0f32; 33]);
        for j in 0..32 {
            let i = order[j];
            sumx[j + 1] = sumx[j] + weight[i] * xb[i];
            sumw[j + 1] = sumw[j] + weight[i];
        }
        let mut best_score = -f32::MAX;
        let mut scale = max;
        let mut best: Option<(usize, usize, i8)> = None;
        for i1 in 0..=32 {
            for i2 in i1..=32 {
                for (xx, shift) in [(&x_p, 1i8), (&x_m, -1)] {
                    let sumqx = (sumx[i1] - sumx[0]) * xx[0]
                        + (sumx[i2] - sumx[i1]) * xx[1]
                        + (sumx[32] - sumx[i2]) * xx[2];
                    let sumq2 = (sumw[i1] - sumw[0]) * xx[0] * xx[0]
                        + (sumw[i2] - sumw[i1]) * xx[1] * xx[1]
                        + (sumw[32] - sumw[i2]) * xx[2] * xx[2];
                    if sumq2 > 0.0 && sumqx * sumqx > best_score * sumq2 {
                        scale = sumqx / sumq2;
                        best_score = scale * sumqx;
                        best = Some((i1, i2, shift));
                    }
                }
            }
        }
        let (i1, i2, mut shift) = match best {
            Some(b) => b,
            None => continue,
        };
        let mut l = split_levels(&order, i1, i2);
        if scale < 0.0 {
            l.iter_mut().for_each(|v| *v = 2 - *v);
            scale = -scale;
            shift = -shift;
        }
        let xx = if shift == 1 { &x_p } else { &x_m };
        let mut index = [0u16; 4];
        let scale = snap_groups(lat, &mut l, xb, &weight, scale, |_| xx, &mut index);
        let mut h = 0u16;
        for k in 0..4 {
            b.qs[4 * ib + k] = index[k] as u8;
            h |= (index[k] >> 8) << (3 * k);
        }
        b.qh[ib] = h;
        scales[ib] = scale;
        shifts[ib] = shift;
        max_scale = c_max(max_scale, scale);
    }
    if max_scale == 0.0 {
        return b;
    }
    let d = max_scale / 15.0;
    b.d = f32_to_f16(d * 1.125);
    let id = 1.0 / d;
    for ib in 0..QK_K / 32 {
        let mut l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7) as u16;
        if shifts[ib] == -1 {
            l |= 8;
        }
        b.qh[ib] |= l << 12;
    }
    b
}

/// IQ1_M's delta signs per sub-block: 0: (+, +), 1: (+, −), 2: (−, +), 3: (−, −) for its two
/// groups of 8.
fn iq1m_shift_of<'a>(k: usize, group: usize, x_p: &'a [f32; 3], x_m: &'a [f32; 3]) -> &'a [f32; 3] {
    let plus = if group == 0 { k < 2 } else { k % 2 == 0 };
    if plus {
        x_p
    } else {
        x_m
    }
}

fn iq1m_weights(xb: &[f32], qw: Option<&[f32]>, sigma2: f32) -> [f32; 16] {
    let mut w = [0.0f32; 16];
    for i in 0..16 {
        w[i] = match qw {
            Some(q) => q[i] * (sigma2 + xb[i] * xb[i]).sqrt(),
            None => xb[i] * xb[i],
        };
    }
    w
}

/// The best split and sign pattern of a 16-element sub-block: `(i1, i2, pattern, scale)`.
fn iq1m_split(
    xb: &[f32],
    weight: &[f32; 16],
    order: &[usize; 16],
    max: f32,
    x_p: &[f32; 3],
    x_m: &[f32; 3],
) -> (Option<(usize, usize, usize)>, f32) {
    // Prefix sums per half (each half may take its own sign); with v0 − v1 = v1 − v2 = −1 a
    // split's sum collapses to T·v2 − px[i1] − px[i2].
    let (mut px, mut pw) = ([[0.0f32; 17]; 2], [[0.0f32; 17]; 2]);
    for j in 0..16 {
        let i = order[j];
        let h = usize::from(i >= 8);
        px[h][j + 1] = px[h][j] + weight[i] * xb[i];
        px[1 - h][j + 1] = px[1 - h][j];
        pw[h][j + 1] = pw[h][j] + weight[i];
        pw[1 - h][j + 1] = pw[1 - h][j];
    }
    let txs = [px[0][16], px[1][16]];
    let tws = [pw[0][16], pw[1][16]];
    let (p2, m2) = (x_p[2], x_m[2]);
    let cp1 = x_p[0] * x_p[0] - x_p[1] * x_p[1];
    let cp2 = x_p[1] * x_p[1] - x_p[2] * x_p[2];
    let cm1 = x_m[0] * x_m[0] - x_m[1] * x_m[1];
    let cm2 = x_m[1] * x_m[1] - x_m[2] * x_m[2];
    let mut best_score = -f32::MAX;
    let mut scale = max;
    let mut best = None;
    for i1 in 0..=16 {
        for i2 in i1..=16 {
            let (mut qx_p, mut qx_m, mut q2_p, mut q2_m) =
                ([0.0f32; 2], [0.0f32; 2], [0.0f32; 2], [0.0f32; 2]);
            for h in 0..2 {
                let sx = px[h][i1] + px[h][i2];
                qx_p[h] = txs[h] * p2 - sx;
                qx_m[h] = txs[h] * m2 - sx;
                q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
                q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
            }
            let sumqx = [
                qx_p[0] + qx_p[1],
                qx_p[0] + qx_m[1],
                qx_m[0] + qx_p[1],
                qx_m[0] + qx_m[1],
            ];
            let sumq2 = [
                q2_p[0] + q2_p[1],
                q2_p[0] + q2_m[1],
                q2_m[0] + q2_p[1],
                q2_m[0] + q2_m[1],
            ];
            for k in 0..4 {
                if sumq2[k] > 0.0 && sumqx[k] * sumqx[k] > best_score * sumq2[k] {
                    scale = sumqx[k] / sumq2[k];
                    best_score = scale * sumqx[k];
                    best = Some((i1, i2, k));
                }
            }
        }
    }
    (best, scale)
}

fn iq1_m_block(lat: &Lattice<8>, x: &[f32], qw: Option<&[f32]>) -> BlockIQ1M {
    let (x_p, x_m) = shifted(IQ1M_DELTA);
    const MASKS: [u8; 4] = [0x00, 0x80, 0x08, 0x88];
    let mut b = BlockIQ1M {
        qs: [0; QK_K / 8],
        qh: [0; QK_K / 16],
        scales: [0; QK_K / 32],
    };
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let mut scales = [0.0f32; QK_K / 16];
    let mut shifts = [0usize; QK_K / 16];
    let mut max_scale = 0.0f32;
    let qw_of = |ib: usize| qw.map(|q| &q[16 * ib..16 * ib + 16]);
    for ib in 0..QK_K / 16 {
        let xb = &x[16 * ib..16 * ib + 16];
        let weight = iq1m_weights(xb, qw_of(ib), sigma2);
        let max = max_abs(xb);
        if max < EPS_IQ1_M {
            continue;
        }
        let order = sorted_order::<16>(xb);
        let (best, mut scale) = iq1m_split(xb, &weight, &order, max, &x_p, &x_m);
        let (i1, i2, mut k_best) = match best {
            Some(b) => b,
            None => continue,
        };
        let mut l = split_levels(&order, i1, i2);
        if scale < 0.0 {
            l.iter_mut().for_each(|v| *v = 2 - *v);
            scale = -scale;
            k_best = 3 - k_best;
        }
        let mut index = [0u16; 2];
        let xx = |k| iq1m_shift_of(k_best, k, &x_p, &x_m);
        let scale = snap_groups(lat, &mut l, xb, &weight, scale, xx, &mut index);
        b.qs[2 * ib] = index[0] as u8;
        b.qs[2 * ib + 1] = index[1] as u8;
        b.qh[ib] = ((index[0] >> 8) | ((index[1] >> 8) << 4)) as u8;
        scales[ib] = scale;
        shifts[ib] = k_best;
        max_scale = c_max(max_scale, scale);
    }
    if max_scale == 0.0 {
        return b;
    }
    let mut sc = [0u16; 4];
    let mut d = max_scale / 15.0;
    let id = 1.0 / d;
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for ib in 0..QK_K / 16 {
        let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7);
        sc[ib / 4] |= (l as u16) << (3 * (ib % 4));
        b.qh[ib] |= MASKS[shifts[ib]];
        let xb = &x[16 * ib..16 * ib + 16];
        let weight = iq1m_weights(xb, qw_of(ib), sigma2);
        for k in 0..2 {
            let xx = iq1m_shift_of(shifts[ib], k, &x_p, &x_m);
            let hi = ((b.qh[ib] as usize) << (8 - 4 * k)) & 0x700;
            let p = &lat.points[b.qs[2 * ib + k] as usize + hi];
            for j in 0..8 {
                let w = weight[8 * k + j];
                let q = xx[((p[j] - 1) / 2) as usize] * (2 * l + 1) as f32;
                sumqx += w * q * xb[8 * k + j];
                sumq2 += w * q * q;
            }
        }
    }
    if sumq2 > 0.0 {
        d = sumqx / sumq2;
    }
    let s = f32_to_f16(d * 1.1125);
    sc[0] |= (s & 0x000f) << 12;
    sc[1] |= (s & 0x00f0) << 8;
    sc[2] |= (s & 0x0f00) << 4;
    sc[3] |= s & 0xf000;
    for (i, v) in sc.iter().enumerate() {
        b.scales[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
    }
    b
}

/// IQ1_S under importance `qw` (`quantize_iq1_s`; ggml has no unweighted form).
pub fn quantize_iq1_s_weighted(src: &[f32], qw: &[f32], dst: &mut [u8]) {
    let lat = iq_lattice::iq1();
    encode_blocks(src, dst, |i, x| {
        iq1_s_block(lat, x, &qw[QK_K * i..QK_K * (i + 1)])
    });
}

/// IQ1_M, weighted by `qw` when given (`quantize_iq1_m`).
pub fn quantize_iq1_m_weighted(src: &[f32], qw: Option<&[f32]>, dst: &mut [u8]) {
    let lat = iq_lattice::iq1();
    encode_blocks(src, dst, |i, x| {
        iq1_m_block(lat, x, qw.map(|q| &q[QK_K * i..QK_K * (i + 1)]))
    });
}

/// IQ1_M without an importance matrix.
pub fn quantize_iq1_m(src: &[f32], dst: &mut [u8]) {
    quantize_iq1_m_weighted(src, None, dst);
}
