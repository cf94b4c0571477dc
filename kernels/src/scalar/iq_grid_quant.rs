//! Quantizers for the 2- and 3-bit grid i-quants: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S
//! (ggml's `quantize_row_iq2_xxs_impl` … `quantize_row_iq3_s_impl`). The same f32 operations in
//! the same order as ggml, so the bytes equal `ggml_quantize_chunk`'s (what llama-quantize
//! writes).
//!
//! Each sub-block takes magnitudes (sign bits stored apart; IQ2_XXS/XS and IQ3_XXS store 7 of 8
//! signs and flip the least important element to make the count even), tries a range of scales,
//! rounds each group of 8 (or 4) levels to the nearest grid point (or the best of its
//! [`Lattice`] neighbours under the importance weights), keeps the trial with the best weighted
//! fit, and re-searches the off-grid groups at the chosen scale. The sub-block scales are then
//! coded relative to the largest.
//!
//! IQ2_XXS and IQ2_XS need an importance matrix (ggml asserts one). Where ggml would abort (a
//! final group off the grid, which its searches never produce) the nearest neighbour is taken.
//! One ggml quirk is kept on purpose: IQ3_S does not advance its grid-index and sign cursors past
//! an all-zero sub-block, so the later sub-blocks' bytes shift down (and the tail stays zero).

// Index loops over parallel per-group arrays mirror ggml's reference code.
#![allow(clippy::needless_range_loop)]

use crate::blocks::encode_blocks;
use crate::half::f32_to_f16;
use crate::iq_blocks::{BlockIQ2S, BlockIQ2XS, BlockIQ2XXS, BlockIQ3S, BlockIQ3XXS};
use crate::scalar::iq_lattice::{self, Lattice, Lookup};
use crate::scalar::quant_search::{c_max, make_qp_quants, nearest_int, sum_sq, GROUP_MAX_EPS};
use crate::types::QK_K;

/// `GROUP_MAX_EPS_IQ2_S` and `GROUP_MAX_EPS_IQ3_XXS`.
const GROUP_MAX_EPS_1E8: f32 = 1e-8;

/// Which groups the search revisits at the chosen scale.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refine {
    /// Every group, whenever the scale is positive (IQ2_XXS).
    AllWhenPositive,
    /// Only the groups the best trial left off the grid (IQ2_XS, IQ2_S, IQ3_XXS).
    OffGrid,
    /// Every group, when any is off the grid; a search that never improves counts as off
    /// (IQ3_S).
    AllWhenAnyOff,
}

/// One type's scale search over a sub-block.
struct Search<const D: usize> {
    lattice: &'static Lattice<D>,
    /// `kMaxQ`: levels 0..kmax, values `2l + 1`.
    kmax: i32,
    /// Trials `is = −tries..=tries` at `id = (2·kmax − 1 + is·step) / reference`.
    tries: i32,
    step: f32,
    refine: Refine,
}

/// The searches of each type (ggml's `kMaxQ`, trial range and step, refinement).
fn iq2_xxs_search() -> Search<8> {
    let lattice = iq_lattice::iq2_xxs();
    Search {
        lattice,
        kmax: 3,
        tries: 6,
        step: 0.1,
        refine: Refine::AllWhenPositive,
    }
}

fn iq2_xs_search() -> Search<8> {
    let lattice = iq_lattice::iq2_xs();
    Search {
        lattice,
        kmax: 3,
        tries: 9,
        step: 0.1,
        refine: Refine::OffGrid,
    }
}

fn iq2_s_search() -> Search<8> {
    let lattice = iq_lattice::iq2_s();
    Search {
        lattice,
        kmax: 3,
        tries: 9,
        step: 0.1,
        refine: Refine::OffGrid,
    }
}

fn iq3_xxs_search() -> Search<4> {
    let lattice = iq_lattice::iq3_xxs();
    Search {
        lattice,
        kmax: 8,
        tries: 15,
        step: 0.2,
        refine: Refine::OffGrid,
    }
}

fn iq3_s_search() -> Search<4> {
    let lattice = iq_lattice::iq3_s();
    Search {
        lattice,
        kmax: 8,
        tries: 9,
        step: 0.2,
        refine: Refine::AllWhenAnyOff,
    }
}

/// The IQ2/IQ3 grids' value of a coordinate: the coordinate `2l + 1` itself.
fn coordinate(p: i8) -> f32 {
    p as f32
}

/// `Σ w·x·q` and `Σ w·q²` with `q = 2l + 1`.
fn fit(weight: &[f32], xval: &[f32], levels: &[i8]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for i in 0..xval.len() {
        let w = weight[i];
        let q = (2 * levels[i] as i32 + 1) as f32;
        sumqx += w * xval[i] * q;
        sumq2 += w * q * q;
    }
    (sumqx, sumq2)
}

impl<const D: usize> Search<D> {
    /// Rounds group `g` of `xval` at `id` to levels, then to the grid: the levels of the grid
    /// point (or of the best neighbour at `scale`) go to `levels`; returns whether the rounded
    /// point was on the grid.
    fn round_group(
        &self,
        xval: &[f32],
        waux: &[f32],
        id: f32,
        scale: f32,
        levels: &mut [i8],
    ) -> bool {
        for i in 0..D {
            levels[i] = nearest_int(0.5 * (id * xval[i] - 1.0)).clamp(0, self.kmax - 1) as i8;
        }
        match self.lattice.lookup(levels) {
            Lookup::OnGrid(_) => true,
            Lookup::Off(list) => {
                self.lattice
                    .best_neighbour(list, xval, waux, scale, coordinate, levels);
                false
            }
        }
    }

    /// The sub-block's scale (maybe negative: the caller flips the signs) with its levels in
    /// `l` (zeros on entry, as ggml's), starting from `scale` and trying scales around
    /// `reference`.
    fn run(
        &self,
        xval: &[f32],
        weight: &[f32],
        waux: &[f32],
        reference: f32,
        mut scale: f32,
        l: &mut [i8],
    ) -> f32 {
        let n = xval.len();
        let groups = n / D;
        let mut laux = [0i8; 32];
        // IQ3_S counts a search that never improves as off the grid (so it refines).
        let mut on_grid = [self.refine != Refine::AllWhenAnyOff; 8];
        let mut aux_on_grid = [true; 8];
        let mut best = 0.0f32;
        for is in -self.tries..=self.tries {
            let id = ((2 * self.kmax - 1) as f32 + is as f32 * self.step) / reference;
            let this_scale = 1.0 / id;
            for k in 0..groups {
                let g = k * D..k * D + D;
                aux_on_grid[k] = self.round_group(
                    &xval[g.clone()],
                    &waux[g.clone()],
                    id,
                    this_scale,
                    &mut laux[g],
                );
            }
            let (sumqx, sumq2) = fit(weight, xval, &laux[..n]);
            if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                scale = sumqx / sumq2;
                best = scale * sumqx;
                l.copy_from_slice(&laux[..n]);
                on_grid = aux_on_grid;
            }
        }
        let any_off = on_grid[..groups].iter().any(|&o| !o);
        let refine = match self.refine {
            Refine::AllWhenPositive => scale > 0.0,
            Refine::OffGrid | Refine::AllWhenAnyOff => any_off && scale > 0.0,
        };
        if refine {
            let id = 1.0 / scale;
            for k in 0..groups {
                if self.refine == Refine::OffGrid && on_grid[k] {
                    continue;
                }
                let g = k * D..k * D + D;
                self.round_group(&xval[g.clone()], &waux[g.clone()], id, scale, &mut l[g]);
            }
            let (sumqx, sumq2) = fit(weight, xval, l);
            if sumq2 > 0.0 {
                scale = sumqx / sumq2;
            }
        }
        scale
    }

    /// Grid index of each group of `l` (all on the grid after [`Search::run`]).
    fn indices(&self, xval: &[f32], waux: &[f32], scale: f32, l: &mut [i8], out: &mut [u16]) {
        for (k, o) in out.iter_mut().enumerate() {
            let g = k * D..k * D + D;
            *o = match self.lattice.lookup(&l[g.clone()]) {
                Lookup::OnGrid(i) => i as u16,
                Lookup::Off(list) => {
                    let (x, w) = (&xval[g.clone()], &waux[g.clone()]);
                    self.lattice
                        .best_neighbour(list, x, w, scale, coordinate, &mut l[g])
                        as u16
                }
            };
        }
    }
}

/// Magnitudes of groups of 8 with their sign bytes. `even`: flip the element of least
/// `weight·x²` when the count of negatives is odd and keep 7 bits (the 8th sign is implied).
fn magnitudes(xb: &[f32], weight: &[f32], even: bool, xval: &mut [f32], signs: &mut [u8]) {
    for k in 0..xb.len() / 8 {
        let mut s = 0u8;
        let mut nflip = 0;
        for i in 8 * k..8 * k + 8 {
            if xb[i] >= 0.0 {
                xval[i] = xb[i];
            } else {
                xval[i] = -xb[i];
                nflip += 1;
                s |= 1 << (i - 8 * k);
            }
        }
        if even {
            if nflip % 2 == 1 {
                let mut imin = 8 * k;
                let mut min = weight[imin] * xb[imin] * xb[imin];
                for i in 8 * k + 1..8 * k + 8 {
                    let ax = weight[i] * xb[i] * xb[i];
                    if ax < min {
                        min = ax;
                        imin = i;
                    }
                }
                xval[imin] = -xval[imin];
                s ^= 1 << (imin - 8 * k);
            }
            s &= 127;
        }
        signs[k] = s;
    }
}

/// The largest magnitude (`MAX` in ggml's order).
fn max_of(xval: &[f32]) -> f32 {
    let mut max = xval[0];
    for &v in &xval[1..] {
        max = c_max(max, v);
    }
    max
}

/// Element weights of a sub-block: `qw·sqrt(σ² + x²)` with an imatrix, else `fallback(x)`.
fn weights(
    xb: &[f32],
    qw: Option<&[f32]>,
    sigma2: f32,
    fallback: impl Fn(f32) -> f32,
) -> [f32; 32] {
    let mut w = [0.0f32; 32];
    for i in 0..xb.len() {
        w[i] = match qw {
            Some(q) => q[i] * (sigma2 + xb[i] * xb[i]).sqrt(),
            None => fallback(xb[i]),
        };
    }
    w
}

fn sqrt_all(w: &[f32]) -> [f32; 32] {
    let mut a = [0.0f32; 32];
    for i in 0..w.len() {
        a[i] = w[i].sqrt();
    }
    a
}

/// A sub-block scale relative to `id = 1/d`: `clamp(round((id·s − 1)/2), 0, max)`.
fn scale_code(id: f32, s: f32, max: i32) -> u32 {
    nearest_int(0.5 * (id * s - 1.0)).clamp(0, max) as u32
}

fn iq2_xxs_block(search: &Search<8>, x: &[f32], qw: &[f32]) -> BlockIQ2XXS {
    let mut q2 = [0u32; QK_K / 16];
    let mut scales = [0.0f32; QK_K / 32];
    let mut max_scale = 0.0f32;
    let sigma2 = sum_sq(x) / QK_K as f32;
    for ib in 0..QK_K / 32 {
        let xb = &x[32 * ib..32 * ib + 32];
        let weight = weights(xb, Some(&qw[32 * ib..32 * ib + 32]), sigma2, |_| 0.0);
        let waux = sqrt_all(&weight);
        let (mut xval, mut signs) = ([0.0f32; 32], [0u8; 4]);
        magnitudes(xb, &weight, true, &mut xval, &mut signs);
        if max_of(&xval) < GROUP_MAX_EPS {
            continue;
        }
        // ggml leaves make_qp_quants' levels in L, but with this positive start every group is
        // searched again (Refine::AllWhenPositive), so only the scale matters.
        let mut lp = [0u8; 32];
        let start = make_qp_quants(search.kmax + 1, &xval, &mut lp, &weight);
        let eff_max = start * search.kmax as f32;
        if eff_max <= 0.0 {
            continue;
        }
        let mut l = [0i8; 32];
        let mut scale = search.run(&xval, &weight, &waux, eff_max, start, &mut l);
        if scale < 0.0 {
            scale = -scale;
            signs.iter_mut().for_each(|s| *s = !*s & 127);
        }
        let mut idx = [0u16; 4];
        search.indices(&xval, &waux, scale, &mut l, &mut idx);
        for k in 0..4 {
            q2[2 * ib] |= (idx[k] as u32) << (8 * k);
            q2[2 * ib + 1] |= (signs[k] as u32) << (7 * k);
        }
        scales[ib] = scale;
        max_scale = c_max(max_scale, scale);
    }
    let mut b = BlockIQ2XXS {
        d: f32_to_f16(0.0),
        qs: [0; QK_K / 8],
    };
    if max_scale == 0.0 {
        return b;
    }
    let d = max_scale / 31.0;
    b.d = f32_to_f16(d);
    let id = 1.0 / d;
    for ib in 0..QK_K / 32 {
        q2[2 * ib + 1] |= scale_code(id, scales[ib], 15) << 28;
    }
    for (j, &v) in q2.iter().enumerate() {
        b.qs[2 * j] = v as u16;
        b.qs[2 * j + 1] = (v >> 16) as u16;
    }
    b
}

/// IQ2_XS and IQ2_S share the 16-element sub-block search; they differ in grid, weights,
/// signs and packing.
struct Iq2x16 {
    scales: [f32; QK_K / 16],
    /// Grid index and sign byte of each group of 8.
    groups: [(u16, u8); QK_K / 8],
    max_scale: f32,
}

fn iq2_16(x: &[f32], qw: Option<&[f32]>, s: &Search<8>, is_s: bool) -> Iq2x16 {
    let mut out = Iq2x16 {
        scales: [0.0; QK_K / 16],
        groups: [(0, 0); QK_K / 8],
        max_scale: 0.0,
    };
    let sum = sum_sq(x);
    let sigma2 = if is_s {
        2.0 * sum / QK_K as f32
    } else {
        sum / QK_K as f32
    };
    let eps = if is_s {
        GROUP_MAX_EPS_1E8
    } else {
        GROUP_MAX_EPS
    };
    for ib in 0..QK_K / 16 {
        let xb = &x[16 * ib..16 * ib + 16];
        let q = qw.map(|q| &q[16 * ib..16 * ib + 16]);
        let weight = weights(xb, q, sigma2, |v| 0.25 * sigma2 + v * v);
        let waux = sqrt_all(&weight[..16]);
        let (mut xval, mut signs) = ([0.0f32; 16], [0u8; 2]);
        magnitudes(xb, &weight, !is_s, &mut xval, &mut signs);
        let max = max_of(&xval);
        let mut l = [0i8; 16];
        if max < eps {
            continue;
        }
        let start = max / (2 * s.kmax - 1) as f32;
        let mut scale = s.run(&xval, &weight[..16], &waux[..16], max, start, &mut l);
        if scale < 0.0 {
            scale = -scale;
            let mask = if is_s { 0xff } else { 127 };
            signs.iter_mut().for_each(|s| *s = !*s & mask);
        }
        let mut idx = [0u16; 2];
        s.indices(&xval, &waux[..16], scale, &mut l, &mut idx);
        for k in 0..2 {
            out.groups[2 * ib + k] = (idx[k], signs[k]);
        }
        out.scales[ib] = scale;
        out.max_scale = c_max(out.max_scale, scale);
    }
    out
}

/// Nibble pairs of 16 sub-block scale codes.
fn scale_nibbles(id: f32, scales: &[f32; QK_K / 16]) -> [u8; QK_K / 32] {
    let mut out = [0u8; QK_K / 32];
    for ib in 0..QK_K / 16 {
        out[ib / 2] |= (scale_code(id, scales[ib], 15) as u8) << (4 * (ib % 2));
    }
    out
}

fn iq2_xs_block(search: &Search<8>, x: &[f32], qw: &[f32]) -> BlockIQ2XS {
    let r = iq2_16(x, Some(qw), search, false);
    let mut b = BlockIQ2XS {
        d: f32_to_f16(0.0),
        qs: [0; QK_K / 8],
        scales: [0; QK_K / 32],
    };
    if r.max_scale == 0.0 {
        return b;
    }
    let d = r.max_scale / 31.0;
    b.d = f32_to_f16(d);
    b.scales = scale_nibbles(1.0 / d, &r.scales);
    for (q, &(i, s)) in b.qs.iter_mut().zip(&r.groups) {
        *q = i | ((s as u16) << 9);
    }
    b
}

fn iq2_s_block(search: &Search<8>, x: &[f32], qw: Option<&[f32]>) -> BlockIQ2S {
    let r = iq2_16(x, qw, search, true);
    let mut b = BlockIQ2S {
        d: f32_to_f16(0.0),
        qs: [0; QK_K / 4],
        qh: [0; QK_K / 32],
        scales: [0; QK_K / 32],
    };
    // ggml writes the groups as it goes, so they stay even when every scale is 0.
    for (i8, &(gi, s)) in r.groups.iter().enumerate() {
        b.qs[i8] = gi as u8;
        b.qh[i8 / 4] |= ((gi >> 8) as u8) << (2 * (i8 % 4));
        b.qs[QK_K / 8 + i8] = s;
    }
    if r.max_scale == 0.0 {
        return b;
    }
    let d = r.max_scale / 31.0;
    b.d = f32_to_f16(d * 0.9875);
    b.scales = scale_nibbles(1.0 / d, &r.scales);
    b
}

/// The 32-element sub-blocks of IQ3_XXS and IQ3_S: grid indices (one per 4), sign bytes (one
/// per 8) and scale, or `None` for a sub-block ggml skips.
struct Iq3Sub {
    idx: [u16; 8],
    signs: [u8; 4],
    scale: f32,
}

fn iq3_sub(
    xb: &[f32],
    qw: Option<&[f32]>,
    sigma2: f32,
    s: &Search<4>,
    is_s: bool,
) -> Option<Iq3Sub> {
    let weight = weights(xb, qw, sigma2, |v| v * v);
    let waux = sqrt_all(&weight);
    let (mut xval, mut signs) = ([0.0f32; 32], [0u8; 4]);
    magnitudes(xb, &weight, !is_s, &mut xval, &mut signs);
    let max = max_of(&xval);
    let skip = if is_s {
        max == 0.0
    } else {
        max < GROUP_MAX_EPS_1E8
    };
    if skip {
        return None;
    }
    let mut l = [0i8; 32];
    let start = max / (2 * s.kmax - 1) as f32;
    let mut scale = s.run(&xval, &weight, &waux, max, start, &mut l);
    if scale < 0.0 {
        scale = -scale;
        let mask = if is_s { 0xff } else { 127 };
        signs.iter_mut().for_each(|s| *s = !*s & mask);
    }
    let mut idx = [0u16; 8];
    s.indices(&xval, &waux, scale, &mut l, &mut idx);
    Some(Iq3Sub { idx, signs, scale })
}

fn iq3_xxs_block(search: &Search<4>, x: &[f32], qw: Option<&[f32]>) -> BlockIQ3XXS {
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let mut q3 = [0u8; 3 * QK_K / 8];
    let mut scales = [0.0f32; QK_K / 32];
    let mut max_scale = 0.0f32;
    for ib in 0..QK_K / 32 {
        let q = qw.map(|q| &q[32 * ib..32 * ib + 32]);
        let sub = match iq3_sub(&x[32 * ib..32 * ib + 32], q, sigma2, search, false) {
            Some(s) => s,
            None => continue,
        };
        for k in 0..8 {
            q3[8 * ib + k] = sub.idx[k] as u8;
        }
        let s = sub.signs;
        let packed = s[0] as u32 | (s[1] as u32) << 7 | (s[2] as u32) << 14 | (s[3] as u32) << 21;
        q3[QK_K / 4 + 4 * ib..QK_K / 4 + 4 * ib + 4].copy_from_slice(&packed.to_le_bytes());
        scales[ib] = sub.scale;
        max_scale = c_max(max_scale, sub.scale);
    }
    let mut b = BlockIQ3XXS {
        d: f32_to_f16(0.0),
        qs: [0; 3 * QK_K / 8],
    };
    if max_scale == 0.0 {
        return b;
    }
    let d = max_scale / 31.0;
    b.d = f32_to_f16(d * 1.0125);
    let id = 1.0 / d;
    for ib in 0..QK_K / 32 {
        q3[QK_K / 4 + 4 * ib + 3] |= (scale_code(id, scales[ib], 15) as u8) << 4;
    }
    b.qs = q3;
    b
}

fn iq3_s_block(search: &Search<4>, x: &[f32], qw: Option<&[f32]>) -> BlockIQ3S {
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let mut b = BlockIQ3S {
        d: f32_to_f16(0.0),
        qs: [0; QK_K / 4],
        qh: [0; QK_K / 32],
        signs: [0; QK_K / 8],
        scales: [0; QK_K / 64],
    };
    let mut scales = [0.0f32; QK_K / 32];
    let mut max_scale = 0.0f32;
    // ggml's cursors, which a skipped sub-block does not advance.
    let (mut qs_at, mut signs_at) = (0usize, 0usize);
    for ib in 0..QK_K / 32 {
        let q = qw.map(|q| &q[32 * ib..32 * ib + 32]);
        let sub = match iq3_sub(&x[32 * ib..32 * ib + 32], q, sigma2, search, true) {
            Some(s) => s,
            None => continue,
        };
        for k in 0..8 {
            b.qs[qs_at + k] = sub.idx[k] as u8;
            b.qh[ib] |= ((sub.idx[k] >> 8) as u8) << k;
        }
        qs_at += 8;
        b.signs[signs_at..signs_at + 4].copy_from_slice(&sub.signs);
        signs_at += 4;
        scales[ib] = sub.scale;
        max_scale = c_max(max_scale, sub.scale);
    }
    if max_scale == 0.0 {
        return b;
    }
    let d = max_scale / 31.0;
    b.d = f32_to_f16(d * 1.033);
    let id = 1.0 / d;
    for ib in (0..QK_K / 32).step_by(2) {
        let l1 = scale_code(id, scales[ib], 15) as u8;
        let l2 = scale_code(id, scales[ib + 1], 15) as u8;
        b.scales[ib / 2] = l1 | (l2 << 4);
    }
    b
}

/// Super-block `i`'s slice of a row's importance.
fn sub(qw: &[f32], i: usize) -> &[f32] {
    &qw[QK_K * i..QK_K * (i + 1)]
}

/// IQ2_XXS under importance `qw` (`quantize_iq2_xxs`; ggml has no unweighted form).
pub fn quantize_iq2_xxs_weighted(src: &[f32], qw: &[f32], dst: &mut [u8]) {
    let s = iq2_xxs_search();
    encode_blocks(src, dst, |i, x| iq2_xxs_block(&s, x, sub(qw, i)));
}

/// IQ2_XS under importance `qw` (`quantize_iq2_xs`; ggml has no unweighted form).
pub fn quantize_iq2_xs_weighted(src: &[f32], qw: &[f32], dst: &mut [u8]) {
    let s = iq2_xs_search();
    encode_blocks(src, dst, |i, x| iq2_xs_block(&s, x, sub(qw, i)));
}

/// IQ2_S, weighted by `qw` when given (`quantize_iq2_s`).
pub fn quantize_iq2_s_weighted(src: &[f32], qw: Option<&[f32]>, dst: &mut [u8]) {
    let s = iq2_s_search();
    encode_blocks(src, dst, |i, x| iq2_s_block(&s, x, qw.map(|q| sub(q, i))));
}

/// IQ3_XXS, weighted by `qw` when given (`quantize_iq3_xxs`).
pub fn quantize_iq3_xxs_weighted(src: &[f32], qw: Option<&[f32]>, dst: &mut [u8]) {
    let s = iq3_xxs_search();
    encode_blocks(src, dst, |i, x| iq3_xxs_block(&s, x, qw.map(|q| sub(q, i))));
}

/// IQ3_S, weighted by `qw` when given (`quantize_iq3_s`).
pub fn quantize_iq3_s_weighted(src: &[f32], qw: Option<&[f32]>, dst: &mut [u8]) {
    let s = iq3_s_search();
    encode_blocks(src, dst, |i, x| iq3_s_block(&s, x, qw.map(|q| sub(q, i))));
}

/// IQ2_S without an importance matrix.
pub fn quantize_iq2_s(src: &[f32], dst: &mut [u8]) {
    quantize_iq2_s_weighted(src, None, dst);
}

/// IQ3_XXS without an importance matrix.
pub fn quantize_iq3_xxs(src: &[f32], dst: &mut [u8]) {
    quantize_iq3_xxs_weighted(src, None, dst);
}

/// IQ3_S without an importance matrix.
pub fn quantize_iq3_s(src: &[f32], dst: &mut [u8]) {
    quantize_iq3_s_weighted(src, None, dst);
}
