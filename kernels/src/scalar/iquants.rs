//! Scalar reference for ggml's i-quants (IQ1_S … IQ4_XS), ternary types (TQ1_0, TQ2_0) and
//! MXFP4: dequantization and the dot product against the activation partner.
//!
//! - `dequantize_*` perform ggml's `dequantize_row_*` f32 operations in the same order, so the
//!   results are bit-identical (e.g. IQ2_XXS: `((d·(0.5 + s))·0.25)·grid·(±1)`).
//! - `vec_dot_*` follow `ggml_vec_dot_*_generic` (`ggml-cpu/quants.c`): the same exact integer
//!   sums, then the same f32 operations in the same order (per block, or per 32-element
//!   sub-block for IQ4_XS, added to one f32 accumulator; the final `0.125·` / `0.25·` factors of
//!   IQ2_* / IQ3_XXS), so the results are bit-identical too. IQ4_NL and MXFP4 pair with Q8_0,
//!   all others with Q8_K. IQ1_S reads the Q8_K `bsums` for its delta term (like ggml), IQ1_M
//!   sums the quants itself.
//!
//! Grid entries are read little-endian: byte j of `IQ2XXS_GRID[i]` is element j of grid point i
//! (ggml casts the table to `uint8_t *` / `int8_t *` on little-endian hosts).
#![allow(clippy::needless_range_loop)]

use crate::blocks::{dequantize_blocks, pairs, BlockQ8K, BlockQ8_0};
use crate::half::f16_to_f32;
use crate::iq_blocks::{
    BlockIQ1M, BlockIQ1S, BlockIQ2S, BlockIQ2XS, BlockIQ2XXS, BlockIQ3S, BlockIQ3XXS, BlockIQ4NL,
    BlockIQ4XS, BlockMXFP4, BlockTQ1_0, BlockTQ2_0,
};
use crate::iq_tables::{
    IQ1M_DELTA, IQ1S_DELTA, IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID,
    KMASK_IQ2XS, KSIGNS_IQ2XS, KVALUES_IQ4NL, KVALUES_MXFP4,
};

// ---------------------------------------------------------------------------------------------
// Shared helpers

/// E8M0 exponent byte to f32: `2^(x − 127)` (`ggml_e8m0_to_fp32`; x = 0 gives 2^−127).
#[inline]
pub fn e8m0_to_f32(x: u8) -> f32 {
    if x == 0 {
        f32::from_bits(0x0040_0000)
    } else {
        f32::from_bits((x as u32) << 23)
    }
}

/// Half of [`e8m0_to_f32`]: `2^(x − 128)` (`ggml_e8m0_to_fp32_half`), the MXFP4 block scale
/// (the E2M1 table [`KVALUES_MXFP4`] is doubled). Used by MXFP4 dequantization and dot product.
#[inline]
pub fn e8m0_to_f32_half(x: u8) -> f32 {
    if x < 2 {
        f32::from_bits(0x0020_0000u32 << x)
    } else {
        f32::from_bits(((x - 1) as u32) << 23)
    }
}

/// ±1.0 for element `j` (0..8) of a group with sign byte `signs` (bit j set: negative).
#[inline]
fn fsign(signs: u8, j: usize) -> f32 {
    if signs & KMASK_IQ2XS[j] != 0 {
        -1.0
    } else {
        1.0
    }
}

/// ±1 for element `j` (0..8) of a group with sign byte `signs`.
#[inline]
fn isign(signs: u8, j: usize) -> i32 {
    if signs & KMASK_IQ2XS[j] != 0 {
        -1
    } else {
        1
    }
}

/// Two 4-element grid points as one group of 8 magnitudes.
#[inline]
fn grid_pair(g1: u32, g2: u32) -> [u8; 8] {
    let (a, b) = (g1.to_le_bytes(), g2.to_le_bytes());
    [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
}

/// `Σ_j mags[j]·(±1)·q8[j]` over a group of 8.
#[inline]
fn signed_group_dot(mags: &[u8; 8], signs: u8, q8: &[i8]) -> i32 {
    (0..8)
        .map(|j| mags[j] as i32 * q8[j] as i32 * isign(signs, j))
        .sum()
}

/// `Σ_j v[j]·q8[j]`.
#[inline]
fn idot(v: &[i8], q8: &[i8]) -> i32 {
    v.iter().zip(q8).map(|(&p, &q)| p as i32 * q as i32).sum()
}

// ---------------------------------------------------------------------------------------------
// Element decoding (shared by dequantization and dot products)
//
// The grid types are decoded per group of 8 elements (`g` in 0..32, elements 8g..8g+8):
// magnitudes and a sign byte (bit j set: element j negative).

/// IQ2_XXS sub-block `ib32` (0..8): the two little-endian u32 of its 8 bytes (grid indices;
/// sign indices and scale).
#[inline]
fn iq2xxs_aux(b: &BlockIQ2XXS, ib32: usize) -> (u32, u32) {
    let q = &b.qs[4 * ib32..4 * ib32 + 4];
    (
        q[0] as u32 | (q[1] as u32) << 16,
        q[2] as u32 | (q[3] as u32) << 16,
    )
}

/// IQ2_XXS group `g`: magnitudes and sign byte.
#[inline]
fn iq2xxs_group(b: &BlockIQ2XXS, g: usize) -> ([u8; 8], u8) {
    let (aux0, aux1) = iq2xxs_aux(b, g / 4);
    let l = g % 4;
    let grid = IQ2XXS_GRID[((aux0 >> (8 * l)) & 0xff) as usize];
    let signs = KSIGNS_IQ2XS[((aux1 >> (7 * l)) & 127) as usize];
    (grid.to_le_bytes(), signs)
}

/// IQ2_XS group `g`: 9-bit grid index and 7-bit sign index in `qs[g]`.
#[inline]
fn iq2xs_group(b: &BlockIQ2XS, g: usize) -> ([u8; 8], u8) {
    let q = b.qs[g];
    let grid = IQ2XS_GRID[(q & 511) as usize];
    (grid.to_le_bytes(), KSIGNS_IQ2XS[(q >> 9) as usize])
}

/// The 4-bit scale of group `g` in an IQ2_XS / IQ2_S `scales` array (low nibble: groups 0–1 of
/// the sub-block of 32, high nibble: groups 2–3).
#[inline]
fn iq2_scale(scales: &[u8; 8], g: usize) -> u8 {
    (scales[g / 4] >> (4 * ((g % 4) / 2))) & 0x0f
}

/// IQ2_S group `g`: 10-bit grid index (`qs[g]` | two bits of `qh[g/4]`), explicit sign byte.
#[inline]
fn iq2s_group(b: &BlockIQ2S, g: usize) -> ([u8; 8], u8) {
    let l = g % 4;
    let idx = b.qs[g] as usize | (((b.qh[g / 4] as usize) << (8 - 2 * l)) & 0x300);
    (IQ2S_GRID[idx].to_le_bytes(), b.qs[32 + g])
}

/// IQ3_XXS sub-block `ib32`: the little-endian u32 with four sign indices and the scale.
#[inline]
fn iq3xxs_aux(b: &BlockIQ3XXS, ib32: usize) -> u32 {
    let at = 64 + 4 * ib32;
    u32::from_le_bytes([b.qs[at], b.qs[at + 1], b.qs[at + 2], b.qs[at + 3]])
}

/// IQ3_XXS group `g`: two grid points (indices `qs[2g]`, `qs[2g+1]`) and a sign byte.
#[inline]
fn iq3xxs_group(b: &BlockIQ3XXS, g: usize) -> ([u8; 8], u8) {
    let aux = iq3xxs_aux(b, g / 4);
    let signs = KSIGNS_IQ2XS[((aux >> (7 * (g % 4))) & 127) as usize];
    let mags = grid_pair(
        IQ3XXS_GRID[b.qs[2 * g] as usize],
        IQ3XXS_GRID[b.qs[2 * g + 1] as usize],
    );
    (mags, signs)
}

/// IQ3_S group `g`: two 9-bit grid indices (bit 8 from `qh[g/4]`), explicit sign byte.
#[inline]
fn iq3s_group(b: &BlockIQ3S, g: usize) -> ([u8; 8], u8) {
    let l = g % 4;
    let qh = b.qh[g / 4] as usize;
    let i1 = b.qs[2 * g] as usize | ((qh << (8 - 2 * l)) & 256);
    let i2 = b.qs[2 * g + 1] as usize | ((qh << (7 - 2 * l)) & 256);
    (grid_pair(IQ3S_GRID[i1], IQ3S_GRID[i2]), b.signs[g])
}

/// The 4-bit scale of IQ3_S sub-block `ib32` (0..8).
#[inline]
fn iq3s_scale(b: &BlockIQ3S, ib32: usize) -> u8 {
    (b.scales[ib32 / 2] >> (4 * (ib32 % 2))) & 0x0f
}

/// The 8 grid values (−1, 0, 1) of `IQ1S_GRID[idx]`.
#[inline]
fn iq1_grid(idx: usize) -> [i8; 8] {
    let g = IQ1S_GRID[idx].to_le_bytes();
    [
        g[0] as i8, g[1] as i8, g[2] as i8, g[3] as i8, g[4] as i8, g[5] as i8, g[6] as i8,
        g[7] as i8,
    ]
}

/// IQ1_S group `g`: the 11-bit grid index (`qs[g]` | 3 bits of `qh[g/4]`).
#[inline]
fn iq1s_group(b: &BlockIQ1S, g: usize) -> [i8; 8] {
    let qh = b.qh[g / 4] as usize;
    iq1_grid(b.qs[g] as usize | (((qh >> (3 * (g % 4))) & 7) << 8))
}

/// The four little-endian u16 of an IQ1_M `scales` array.
#[inline]
fn iq1m_sc(b: &BlockIQ1M) -> [u16; 4] {
    let s = &b.scales;
    [
        u16::from_le_bytes([s[0], s[1]]),
        u16::from_le_bytes([s[2], s[3]]),
        u16::from_le_bytes([s[4], s[5]]),
        u16::from_le_bytes([s[6], s[7]]),
    ]
}

/// The IQ1_M super-block scale (f16 bits): the top nibbles of the four scale u16.
#[inline]
fn iq1m_d(sc: &[u16; 4]) -> u16 {
    (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000)
}

/// The 3-bit IQ1_M scale of half `h` (0: groups 0–1, 1: groups 2–3) of sub-block `ib32`.
#[inline]
fn iq1m_scale(sc: &[u16; 4], ib32: usize, h: usize) -> i32 {
    ((sc[ib32 / 2] >> (6 * (ib32 % 2) + 3 * h)) & 7) as i32
}

/// IQ1_M group `g`: grid values and whether the delta is negative.
#[inline]
fn iq1m_group(b: &BlockIQ1M, g: usize) -> ([i8; 8], bool) {
    let qh = b.qh[g / 2] as usize; // qh[2·ib32 + l/2]
    let shift = 4 * (g % 2);
    let idx = b.qs[g] as usize | ((qh << (8 - shift)) & 0x700);
    (iq1_grid(idx), qh & (0x08 << shift) != 0)
}

/// IQ4_XS 6-bit scale of sub-block `ib` (0..8), still offset by 32.
#[inline]
fn iq4xs_scale(b: &BlockIQ4XS, ib: usize) -> i32 {
    let low = (b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f;
    let high = ((b.scales_h >> (2 * ib)) & 3) as u8;
    (low | (high << 4)) as i32
}

/// The 16 low and high nibbles of a 32-element IQ4_NL-style sub-block, looked up in `table`:
/// element j (< 16) is `table[qs[j] & 15]`, element j + 16 is `table[qs[j] >> 4]`.
#[inline]
fn nl_values(qs: &[u8], table: &[i8; 16]) -> [i8; 32] {
    let mut v = [0i8; 32];
    for j in 0..16 {
        v[j] = table[(qs[j] & 0x0f) as usize];
        v[j + 16] = table[(qs[j] >> 4) as usize];
    }
    v
}

/// The 256 TQ1_0 trits (0, 1, 2; the value is trit − 1) in element order: bytes 0..32 give
/// elements `32n + m` (digit n of byte m), bytes 32..48 elements `160 + 16n + m`, `qh` elements
/// `240 + 4n + j`. Digit n of byte q is `((q·3^n mod 256)·3) >> 8`.
fn tq1_trits(b: &BlockTQ1_0) -> [i32; 256] {
    const POW3: [u8; 6] = [1, 3, 9, 27, 81, 243];
    let digit = |q: u8, n: usize| (((q.wrapping_mul(POW3[n]) as u16) * 3) >> 8) as i32;
    let mut t = [0i32; 256];
    for n in 0..5 {
        for m in 0..32 {
            t[32 * n + m] = digit(b.qs[m], n);
        }
        for m in 0..16 {
            t[160 + 16 * n + m] = digit(b.qs[32 + m], n);
        }
    }
    for n in 0..4 {
        for j in 0..4 {
            t[240 + 4 * n + j] = digit(b.qh[j], n);
        }
    }
    t
}

/// TQ2_0 element `i` (0..256) as 0..=3 (the value is q − 1): bit pair `(i % 128) / 32` of byte
/// `(i / 128)·32 + i % 32`.
#[inline]
fn tq2_q(b: &BlockTQ2_0, i: usize) -> i32 {
    ((b.qs[(i / 128) * 32 + i % 32] >> (2 * ((i % 128) / 32))) & 3) as i32
}

// ---------------------------------------------------------------------------------------------
// Dequantization

pub fn dequantize_iq2_xxs(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockIQ2XXS, y| {
        let d = f16_to_f32(b.d);
        for ib32 in 0..8 {
            let (_, aux1) = iq2xxs_aux(b, ib32);
            let db = d * (0.5 + (aux1 >> 28) as f32) * 0.25;
            for l in 0..4 {
                let g = 4 * ib32 + l;
                let (mags, signs) = iq2xxs_group(b, g);
                for j in 0..8 {
                    y[8 * g + j] = db * mags[j] as f32 * fsign(signs, j);
                }
            }
        }
    });
}

pub fn dequantize_iq2_xs(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockIQ2XS, y| {
        let d = f16_to_f32(b.d);
        for g in 0..32 {
            let db = d * (0.5 + iq2_scale(&b.scales, g) as f32) * 0.25;
            let (mags, signs) = iq2xs_group(b, g);
            for j in 0..8 {
                y[8 * g + j] = db * mags[j] as f32 * fsign(signs, j);
            }
        }
    });
}

pub fn dequantize_iq2_s(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockIQ2S, y| {
        let d = f16_to_f32(b.d);
        for g in 0..32 {
            let dl = d * (0.5 + iq2_scale(&b.scales, g) as f32) * 0.25;
            let (mags, signs) = iq2s_group(b, g);
            for j in 0..8 {
                y[8 * g + j] = dl * mags[j] as f32 * fsign(signs, j);
            }
        }
    });
}

pub fn dequantize_iq3_xxs(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockIQ3XXS, y| {
        let d = f16_to_f32(b.d);
        for ib32 in 0..8 {
            let db = d * (0.5 + (iq3xxs_aux(b, ib32) >> 28) as f32) * 0.5;
            for l in 0..4 {
                let g = 4 * ib32 + l;
                let (mags, signs) = iq3xxs_group(b, g);
                for j in 0..8 {
                    y[8 * g + j] = db * mags[j] as f32 * fsign(signs, j);
                }
            }
        }
    });
}

pub fn dequantize_iq3_s(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockIQ3S, y| {
        let d = f16_to_f32(b.d);
        for ib32 in 0..8 {
            let db = d * (1 + 2 * iq3s_scale(b, ib32) as i32) as f32;
            for l in 0..4 {
                let g = 4 * ib32 + l;
                let (mags, signs) = iq3s_group(b, g);
                for j in 0..8 {
                    y[8 * g + j] = db * mags[j] as f32 * fsign(signs, j);
                }
            }
        }
    });
}

pub fn dequantize_iq1_s(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockIQ1S, y| {
        let d = f16_to_f32(b.d);
        for ib in 0..8 {
            let qh = b.qh[ib];
            let dl = d * (2 * ((qh >> 12) & 7) as i32 + 1) as f32;
            let delta = if qh & 0x8000 != 0 {
                -IQ1S_DELTA
            } else {
                IQ1S_DELTA
            };
            for l in 0..4 {
                let g = 4 * ib + l;
                let grid = iq1s_group(b, g);
                for j in 0..8 {
                    y[8 * g + j] = dl * (grid[j] as f32 + delta);
                }
            }
        }
    });
}

pub fn dequantize_iq1_m(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockIQ1M, y| {
        let sc = iq1m_sc(b);
        let d = f16_to_f32(iq1m_d(&sc));
        for ib in 0..8 {
            let dl = [
                d * (2 * iq1m_scale(&sc, ib, 0) + 1) as f32,
                d * (2 * iq1m_scale(&sc, ib, 1) + 1) as f32,
            ];
            for l in 0..4 {
                let g = 4 * ib + l;
                let (grid, neg) = iq1m_group(b, g);
                // ggml's dequantize_row_iq1_m uses IQ1S_DELTA (equal to IQ1M_DELTA).
                let delta = if neg { -IQ1S_DELTA } else { IQ1S_DELTA };
                for j in 0..8 {
                    y[8 * g + j] = dl[l / 2] * (grid[j] as f32 + delta);
                }
            }
        }
    });
}

pub fn dequantize_iq4_nl(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockIQ4NL, y| {
        let d = f16_to_f32(b.d);
        for (v, &q) in y.iter_mut().zip(&nl_values(&b.qs, &KVALUES_IQ4NL)) {
            *v = d * q as f32;
        }
    });
}

pub fn dequantize_iq4_xs(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockIQ4XS, y| {
        let d = f16_to_f32(b.d);
        for ib in 0..8 {
            let dl = d * (iq4xs_scale(b, ib) - 32) as f32;
            let vals = nl_values(&b.qs[16 * ib..16 * ib + 16], &KVALUES_IQ4NL);
            for (v, &q) in y[32 * ib..32 * ib + 32].iter_mut().zip(&vals) {
                *v = dl * q as f32;
            }
        }
    });
}

pub fn dequantize_tq1_0(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockTQ1_0, y| {
        let d = f16_to_f32(b.d);
        for (v, &t) in y.iter_mut().zip(&tq1_trits(b)) {
            *v = (t - 1) as f32 * d;
        }
    });
}

pub fn dequantize_tq2_0(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockTQ2_0, y| {
        let d = f16_to_f32(b.d);
        for (i, v) in y.iter_mut().enumerate() {
            *v = (tq2_q(b, i) - 1) as f32 * d;
        }
    });
}

pub fn dequantize_mxfp4(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockMXFP4, y| {
        let d = e8m0_to_f32_half(b.e);
        for (v, &q) in y.iter_mut().zip(&nl_values(&b.qs, &KVALUES_MXFP4)) {
            *v = q as f32 * d;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Dot products

pub fn vec_dot_iq2_xxs_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIQ2XXS, BlockQ8K>(w, a, n) {
        let d = f16_to_f32(x.d) * y.d;
        let mut bsum = 0i32;
        for ib32 in 0..8 {
            let ls = 2 * (iq2xxs_aux(&x, ib32).1 >> 28) as i32 + 1;
            let sumi: i32 = (4 * ib32..4 * ib32 + 4)
                .map(|g| {
                    let (mags, signs) = iq2xxs_group(&x, g);
                    signed_group_dot(&mags, signs, &y.qs[8 * g..8 * g + 8])
                })
                .sum();
            bsum += sumi * ls;
        }
        sumf += d * bsum as f32;
    }
    0.125 * sumf
}

pub fn vec_dot_iq2_xs_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIQ2XS, BlockQ8K>(w, a, n) {
        let d = f16_to_f32(x.d) * y.d;
        let bsum: i32 = (0..32)
            .map(|g| {
                let ls = 2 * iq2_scale(&x.scales, g) as i32 + 1;
                let (mags, signs) = iq2xs_group(&x, g);
                ls * signed_group_dot(&mags, signs, &y.qs[8 * g..8 * g + 8])
            })
            .sum();
        sumf += d * bsum as f32;
    }
    0.125 * sumf
}

pub fn vec_dot_iq2_s_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIQ2S, BlockQ8K>(w, a, n) {
        let d = f16_to_f32(x.d) * y.d;
        let bsum: i32 = (0..32)
            .map(|g| {
                let ls = 2 * iq2_scale(&x.scales, g) as i32 + 1;
                let (mags, signs) = iq2s_group(&x, g);
                ls * signed_group_dot(&mags, signs, &y.qs[8 * g..8 * g + 8])
            })
            .sum();
        sumf += d * bsum as f32;
    }
    0.125 * sumf
}

pub fn vec_dot_iq3_xxs_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIQ3XXS, BlockQ8K>(w, a, n) {
        let d = f16_to_f32(x.d) * y.d;
        let mut bsum = 0i32;
        for ib32 in 0..8 {
            let ls = 2 * (iq3xxs_aux(&x, ib32) >> 28) as i32 + 1;
            let sumi: i32 = (4 * ib32..4 * ib32 + 4)
                .map(|g| {
                    let (mags, signs) = iq3xxs_group(&x, g);
                    signed_group_dot(&mags, signs, &y.qs[8 * g..8 * g + 8])
                })
                .sum();
            bsum += sumi * ls;
        }
        sumf += d * bsum as f32;
    }
    0.25 * sumf
}

pub fn vec_dot_iq3_s_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIQ3S, BlockQ8K>(w, a, n) {
        let d = f16_to_f32(x.d) * y.d;
        let mut bsum = 0i32;
        for ib32 in 0..8 {
            let ls = 2 * iq3s_scale(&x, ib32) as i32 + 1;
            let sumi: i32 = (4 * ib32..4 * ib32 + 4)
                .map(|g| {
                    let (mags, signs) = iq3s_group(&x, g);
                    signed_group_dot(&mags, signs, &y.qs[8 * g..8 * g + 8])
                })
                .sum();
            bsum += sumi * ls;
        }
        sumf += d * bsum as f32;
    }
    sumf
}

pub fn vec_dot_iq1_s_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIQ1S, BlockQ8K>(w, a, n) {
        let (mut sumi, mut sumi1) = (0i32, 0i32);
        for ib in 0..8 {
            let qh = x.qh[ib];
            let ls = 2 * ((qh >> 12) & 7) as i32 + 1;
            let delta = if qh & 0x8000 != 0 { -1 } else { 1 };
            let lsum: i32 = (4 * ib..4 * ib + 4)
                .map(|g| idot(&iq1s_group(&x, g), &y.qs[8 * g..8 * g + 8]))
                .sum();
            sumi += ls * lsum;
            sumi1 += ls * delta * (y.bsums[2 * ib] as i32 + y.bsums[2 * ib + 1] as i32);
        }
        sumf += f16_to_f32(x.d) * y.d * (sumi as f32 + IQ1S_DELTA * sumi1 as f32);
    }
    sumf
}

pub fn vec_dot_iq1_m_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIQ1M, BlockQ8K>(w, a, n) {
        let sc = iq1m_sc(&x);
        let (mut sumi1, mut sumi2) = (0i32, 0i32);
        for ib in 0..8 {
            let (mut sum1, mut sum2) = ([0i32; 2], [0i32; 2]);
            for l in 0..4 {
                let g = 4 * ib + l;
                let q8 = &y.qs[8 * g..8 * g + 8];
                let (grid, neg) = iq1m_group(&x, g);
                let lsum2: i32 = q8.iter().map(|&q| q as i32).sum();
                sum1[l / 2] += idot(&grid, q8);
                sum2[l / 2] += if neg { -lsum2 } else { lsum2 };
            }
            let ls1 = 2 * iq1m_scale(&sc, ib, 0) + 1;
            let ls2 = 2 * iq1m_scale(&sc, ib, 1) + 1;
            sumi1 += sum1[0] * ls1 + sum1[1] * ls2;
            sumi2 += sum2[0] * ls1 + sum2[1] * ls2;
        }
        sumf += f16_to_f32(iq1m_d(&sc)) * y.d * (sumi1 as f32 + IQ1M_DELTA * sumi2 as f32);
    }
    sumf
}

pub fn vec_dot_iq4_nl_q8_0(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIQ4NL, BlockQ8_0>(w, a, n) {
        let d = f16_to_f32(y.d) * f16_to_f32(x.d);
        sumf += d * idot(&nl_values(&x.qs, &KVALUES_IQ4NL), &y.qs) as f32;
    }
    sumf
}

pub fn vec_dot_iq4_xs_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockIQ4XS, BlockQ8K>(w, a, n) {
        let d4d8 = f16_to_f32(x.d) * y.d;
        for ib in 0..8 {
            // ggml adds each sub-block of 32 to the f32 sum on its own.
            let dl = d4d8 * (iq4xs_scale(&x, ib) - 32) as f32;
            let vals = nl_values(&x.qs[16 * ib..16 * ib + 16], &KVALUES_IQ4NL);
            sumf += dl * idot(&vals, &y.qs[32 * ib..32 * ib + 32]) as f32;
        }
    }
    sumf
}

pub fn vec_dot_tq1_0_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockTQ1_0, BlockQ8K>(w, a, n) {
        let t = tq1_trits(&x);
        let sum: i32 = t.iter().zip(&y.qs).map(|(&t, &q)| (t - 1) * q as i32).sum();
        sumf += sum as f32 * (f16_to_f32(x.d) * y.d);
    }
    sumf
}

pub fn vec_dot_tq2_0_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockTQ2_0, BlockQ8K>(w, a, n) {
        let sumi: i32 = (0..256).map(|i| y.qs[i] as i32 * (tq2_q(&x, i) - 1)).sum();
        let d = y.d * f16_to_f32(x.d);
        sumf += sumi as f32 * d;
    }
    sumf
}

pub fn vec_dot_mxfp4_q8_0(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockMXFP4, BlockQ8_0>(w, a, n) {
        let d = f16_to_f32(y.d) * e8m0_to_f32_half(x.e);
        sumf += d * idot(&nl_values(&x.qs, &KVALUES_MXFP4), &y.qs) as f32;
    }
    sumf
}

#[cfg(test)]
#[path = "iquants_tests.rs"]
mod tests;
