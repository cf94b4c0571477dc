//! Legacy 32-element blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1): ggml's reference quantizers
//! (`quantize_row_q*_ref`, bit-identical) and dequantizers.
//!
//! Every `c_i8(f)` / `c_f32_to_i32(f) as u8` below is C's `(int8_t)` / `(uint8_t)` float
//! conversion as x86-64 ggml does it (truncation toward zero; 0 for the NaN/inf that a
//! subnormal scale's overflowing inverse produces), so even those blocks match llama-quantize.

use crate::blocks::{
    check, dequantize_blocks, Block, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0,
    BlockQ8_1,
};
use crate::half::{f16_to_f32, f32_to_f16};
use crate::scalar::quant_search::c_f32_to_i32;

/// C's `(int8_t)f` on x86-64.
fn c_i8(f: f32) -> i8 {
    c_f32_to_i32(f) as i8
}
use crate::types::QK;

/// The value with the largest magnitude, keeping its sign (first one wins on ties).
fn signed_absmax(x: &[f32]) -> f32 {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// The largest magnitude (`MAX(amax, fabsf(v))` as ggml writes it).
fn absmax(x: &[f32]) -> f32 {
    x.iter().fold(
        0.0f32,
        |amax, &v| if amax > v.abs() { amax } else { v.abs() },
    )
}

fn min_max(x: &[f32]) -> (f32, f32) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

fn inverse(d: f32) -> f32 {
    if d != 0.0 {
        1.0 / d
    } else {
        0.0
    }
}

/// Writes each block produced by `f` for each 32-element chunk of `src`.
fn quantize_blocks<B: Block>(src: &[f32], dst: &mut [u8], f: impl Fn(&[f32]) -> B) {
    check::<B>(src.len(), dst.len());
    crate::blocks::encode_blocks(src, dst, |_, x| f(x));
}

pub fn quantize_q4_0(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let d = signed_absmax(x) / -8.0;
        let id = inverse(d);
        let mut qs = [0u8; QK / 2];
        for (j, q) in qs.iter_mut().enumerate() {
            let lo = c_i8(x[j] * id + 8.5).min(15) as u8;
            let hi = c_i8(x[j + QK / 2] * id + 8.5).min(15) as u8;
            *q = lo | (hi << 4);
        }
        BlockQ4_0 {
            d: f32_to_f16(d),
            qs,
        }
    });
}

pub fn quantize_q4_1(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = inverse(d);
        let mut qs = [0u8; QK / 2];
        for (j, q) in qs.iter_mut().enumerate() {
            let lo = c_i8((x[j] - min) * id + 0.5).min(15) as u8;
            let hi = c_i8((x[j + QK / 2] - min) * id + 0.5).min(15) as u8;
            *q = lo | (hi << 4);
        }
        BlockQ4_1 {
            d: f32_to_f16(d),
            m: f32_to_f16(min),
            qs,
        }
    });
}

/// Packs 32 five-bit values: low nibbles as in Q4, 5th bits into a little-endian u32.
pub(crate) fn pack5(q: &[u8; QK]) -> ([u8; 4], [u8; QK / 2]) {
    let mut qh = 0u32;
    let mut qs = [0u8; QK / 2];
    for j in 0..QK / 2 {
        let (a, b) = (q[j], q[j + QK / 2]);
        qs[j] = (a & 0x0f) | ((b & 0x0f) << 4);
        qh |= (((a & 0x10) >> 4) as u32) << j;
        qh |= (((b & 0x10) >> 4) as u32) << (j + QK / 2);
    }
    (qh.to_le_bytes(), qs)
}

/// Unpacks element j (0..32) of a Q5 block as an unsigned 5-bit value.
#[inline]
pub(crate) fn q5_value(qh: u32, qs: &[u8; QK / 2], j: usize) -> i32 {
    let nib = if j < QK / 2 {
        qs[j] & 0x0f
    } else {
        qs[j - QK / 2] >> 4
    };
    (nib as i32) | ((((qh >> j) & 1) as i32) << 4)
}

pub fn quantize_q5_0(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let d = signed_absmax(x) / -16.0;
        let id = inverse(d);
        let mut q = [0u8; QK];
        for (qj, &v) in q.iter_mut().zip(x) {
            *qj = c_i8(v * id + 16.5).min(31) as u8;
        }
        let (qh, qs) = pack5(&q);
        BlockQ5_0 {
            d: f32_to_f16(d),
            qh,
            qs,
        }
    });
}

pub fn quantize_q5_1(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = inverse(d);
        let mut q = [0u8; QK];
        for (qj, &v) in q.iter_mut().zip(x) {
            // ggml does not clamp here; the value is at most 31 for finite input.
            *qj = c_f32_to_i32((v - min) * id + 0.5) as u8;
        }
        let (qh, qs) = pack5(&q);
        BlockQ5_1 {
            d: f32_to_f16(d),
            m: f32_to_f16(min),
            qh,
            qs,
        }
    });
}

/// Shared by Q8_0 and Q8_1: `d = amax/127`, `q = round(x/d)` (half away from zero).
fn q8_block(x: &[f32]) -> (f32, [i8; QK]) {
    let d = absmax(x) / 127.0;
    let id = inverse(d);
    let mut qs = [0i8; QK];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = c_i8((v * id).round());
    }
    (d, qs)
}

pub fn quantize_q8_0(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let (d, qs) = q8_block(x);
        BlockQ8_0 {
            d: f32_to_f16(d),
            qs,
        }
    });
}

/// Q8_1 as ggml's `quantize_row_q8_1_ref`. Note `s = f16(d·Σq)` overflows to ±inf (as in
/// ggml) when a block's |Σx| exceeds 65504.
pub fn quantize_q8_1(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let (d, qs) = q8_block(x);
        let sum: i32 = qs.iter().map(|&q| q as i32).sum();
        BlockQ8_1 {
            d: f32_to_f16(d),
            s: f32_to_f16(sum as f32 * d),
            qs,
        }
    });
}

/// Nibble j (0..32) of a 16-byte Q4 array: low nibbles are elements 0..16, high ones 16..32.
#[inline]
pub(crate) fn nibble(qs: &[u8; QK / 2], j: usize) -> i32 {
    if j < QK / 2 {
        (qs[j] & 0x0f) as i32
    } else {
        (qs[j - QK / 2] >> 4) as i32
    }
}

pub fn dequantize_q4_0(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ4_0, y| {
        let d = f16_to_f32(b.d);
        for (j, v) in y.iter_mut().enumerate() {
            *v = (nibble(&b.qs, j) - 8) as f32 * d;
        }
    });
}

pub fn dequantize_q4_1(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ4_1, y| {
        let (d, m) = (f16_to_f32(b.d), f16_to_f32(b.m));
        for (j, v) in y.iter_mut().enumerate() {
            *v = nibble(&b.qs, j) as f32 * d + m;
        }
    });
}

pub fn dequantize_q5_0(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ5_0, y| {
        let d = f16_to_f32(b.d);
        let qh = u32::from_le_bytes(b.qh);
        for (j, v) in y.iter_mut().enumerate() {
            *v = (q5_value(qh, &b.qs, j) - 16) as f32 * d;
        }
    });
}

pub fn dequantize_q5_1(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ5_1, y| {
        let (d, m) = (f16_to_f32(b.d), f16_to_f32(b.m));
        let qh = u32::from_le_bytes(b.qh);
        for (j, v) in y.iter_mut().enumerate() {
            *v = q5_value(qh, &b.qs, j) as f32 * d + m;
        }
    });
}

pub fn dequantize_q8_0(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ8_0, y| {
        let d = f16_to_f32(b.d);
        for (v, &q) in y.iter_mut().zip(&b.qs) {
            *v = q as f32 * d;
        }
    });
}

pub fn dequantize_q8_1(src: &[u8], dst: &mut [f32]) {
    dequantize_blocks(src, dst, |b: &BlockQ8_1, y| {
        let d = f16_to_f32(b.d);
        for (v, &q) in y.iter_mut().zip(&b.qs) {
            *v = q as f32 * d;
        }
    });
}
