//! K-quant dequantization (Q2_K … Q6_K, Q8_K) and the scale unpacking shared with the dot
//! products. Results equal ggml's `dequantize_row_q*_K` and `gguf.quants.dequantize` bit for bit
//! (same f32 operations in the same order: `(d·sc)·q − dmin·m`).

use crate::blocks::{
    dequantize_blocks, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K,
};
use crate::half::f16_to_f32;
use crate::types::QK_K;

/// The 2-bit value of element `i` (0..256) in a Q2_K/Q3_K `qs` array: each 128-element half
/// uses 32 bytes; bit pair `(i % 128) / 32` of byte `(i / 128)·32 + i % 32`.
#[inline]
pub(crate) fn q2_bits(qs: &[u8; QK_K / 4], i: usize) -> i32 {
    let byte = qs[(i / 128) * 32 + i % 32];
    let shift = 2 * ((i % 128) / 32);
    ((byte >> shift) & 3) as i32
}

/// Q3_K element `i` as a signed value in −4..=3 (hmask bit set means no −4 offset).
#[inline]
pub(crate) fn q3_value(b: &BlockQ3K, i: usize) -> i32 {
    let high = (b.hmask[i % 32] >> (i / 32)) & 1;
    q2_bits(&b.qs, i) - if high != 0 { 0 } else { 4 }
}

/// The sixteen Q3_K scales, 6 bits each, still offset by 32 (0..=63).
///
/// Bytes 0..8 hold the low nibbles (scales 0..8 in the low halves, 8..16 in the high halves);
/// bytes 8..12 hold the top two bits, scale j at bits `2·(j/4)` of byte `8 + j%4`.
#[inline]
pub(crate) fn q3_scales(packed: &[u8; 12]) -> [i32; 16] {
    let mut sc = [0i32; 16];
    for (j, s) in sc.iter_mut().enumerate() {
        let low = if j < 8 {
            packed[j] & 0x0f
        } else {
            packed[j - 8] >> 4
        };
        let high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        *s = (low | (high << 4)) as i32;
    }
    sc
}

/// Scale and min (6 bits each) of sub-block `j` (0..8) of a Q4_K/Q5_K block
/// (`get_scale_min_k4`).
#[inline]
pub(crate) fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Q4_K/Q5_K low nibble of element `i`: each 64-element chunk uses 32 bytes, low nibbles first.
#[inline]
pub(crate) fn q4k_nibble(qs: &[u8; QK_K / 2], i: usize) -> i32 {
    let byte = qs[(i / 64) * 32 + i % 32];
    if (i % 64) < 32 {
        (byte & 0x0f) as i32
    } else {
        (byte >> 4) as i32
    }
}

/// Q5_K element `i` (0..=31): the Q4_K nibble plus bit `i / 32` of `qh[i % 32]` as bit 4.
#[inline]
pub(crate) fn q5k_value(b: &BlockQ5K, i: usize) -> i32 {
    q4k_nibble(&b.qs, i) | ((((b.qh[i % 32] >> (i / 32)) & 1) as i32) << 4)
}

/// Q6_K element `i` as a signed value in −32..=31.
///
/// Each 128-element half uses 64 `ql` bytes and 32 `qh` bytes; quarter `k = (i % 128) / 32`
/// takes the low (k < 2) or high nibble of `ql[half·64 + (k%2)·32 + l]` and bits `2k` of
/// `qh[half·32 + l]`, with `l = i % 32`.
#[inline]
pub(crate) fn q6_value(b: &BlockQ6K, i: usize) -> i32 {
    let half = i / 128;
    let k = (i % 128) / 32;
    let l = i % 32;
    let ql = b.ql[half * 64 + (k % 2) * 32 + l];
    let low = if k < 2 { ql & 0x0f } else { ql >> 4 };
    let high = (b.qh[half * 32 + l] >> (2 * k)) & 3;
    (low | (high << 4)) as i32 - 32
}

pub fn dequantize_q2_k(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ2K, y| {
        let (d, dmin) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        for (sub, ys) in y.chunks_exact_mut(16).enumerate() {
            // Sub-block `sub` covers elements 16·sub .. 16·sub + 16.
            let sc = b.scales[sub];
            let dl = d * (sc & 0x0f) as f32;
            let ml = dmin * (sc >> 4) as f32;
            for (l, v) in ys.iter_mut().enumerate() {
                *v = dl * q2_bits(&b.qs, 16 * sub + l) as f32 - ml;
            }
        }
    });
}

pub fn dequantize_q3_k(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ3K, y| {
        let d = f16_to_f32(b.d);
        let sc = q3_scales(&b.scales);
        for (sub, ys) in y.chunks_exact_mut(16).enumerate() {
            let dl = d * (sc[sub] - 32) as f32;
            for (l, v) in ys.iter_mut().enumerate() {
                *v = dl * q3_value(b, 16 * sub + l) as f32;
            }
        }
    });
}

pub fn dequantize_q4_k(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ4K, y| {
        let (d, dmin) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        for (sub, ys) in y.chunks_exact_mut(32).enumerate() {
            let (sc, m) = scale_min_k4(sub, &b.scales);
            let (d1, m1) = (d * sc as f32, dmin * m as f32);
            for (l, v) in ys.iter_mut().enumerate() {
                *v = d1 * q4k_nibble(&b.qs, 32 * sub + l) as f32 - m1;
            }
        }
    });
}

pub fn dequantize_q5_k(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ5K, y| {
        let (d, dmin) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        for (sub, ys) in y.chunks_exact_mut(32).enumerate() {
            let (sc, m) = scale_min_k4(sub, &b.scales);
            let (d1, m1) = (d * sc as f32, dmin * m as f32);
            for (l, v) in ys.iter_mut().enumerate() {
                *v = d1 * q5k_value(b, 32 * sub + l) as f32 - m1;
            }
        }
    });
}

pub fn dequantize_q6_k(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ6K, y| {
        let d = f16_to_f32(b.d);
        for (sub, ys) in y.chunks_exact_mut(16).enumerate() {
            let ds = d * b.scales[sub] as f32;
            for (l, v) in ys.iter_mut().enumerate() {
                *v = ds * q6_value(b, 16 * sub + l) as f32;
            }
        }
    });
}

pub fn dequantize_q8_k(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ8K, y| {
        for (v, &q) in y.iter_mut().zip(&b.qs) {
            *v = b.d * q as f32;
        }
    });
}
