//! Scalar dot products: every weight type against its activation partner
//! (`QuantType::vec_dot_type`), plus the f32/f16/bf16 float dots.
//!
//! Quantized dots follow ggml's `ggml_vec_dot_*_generic`: exact integer sums per block (or per
//! sub-block, multiplied by the integer sub-block scale), then one f32 scaling per block, added
//! to an f32 accumulator in block order. The legacy types use ggml's exact f32 expressions.
//! ggml's generic Q3_K…Q6_K code spreads the integer sums over 8 lanes and keeps 8 f32 partial
//! sums (an auto-vectorisation device); here the 8 lanes are summed as integers first (exact)
//! and each block adds `d·isum − dmin·summs` like ggml's Q2_K code, which is what SIMD kernels
//! compute per block too. Float dots multiply in f32 and accumulate in f64, like ggml's scalar
//! `ggml_vec_dot_f32`/`ggml_vec_dot_f16`.

use crate::blocks::{
    pairs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1,
    BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1,
};
use crate::half::{bf16_to_f32, f16_to_f32};
use crate::scalar::kquants_dequant::{
    q2_bits, q3_scales, q3_value, q4k_nibble, q5k_value, q6_value, scale_min_k4,
};
use crate::scalar::legacy::{nibble, q5_value};

/// Σ over a legacy block of `x(j)·y[j]`.
#[inline]
fn isum32(y: &[i8; 32], x: impl Fn(usize) -> i32) -> i32 {
    y.iter().enumerate().map(|(j, &q)| x(j) * q as i32).sum()
}

pub fn vec_dot_q4_0_q8_0(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ4_0, BlockQ8_0>(w, a, n) {
        let sumi = isum32(&y.qs, |j| nibble(&x.qs, j) - 8);
        sumf += sumi as f32 * f16_to_f32(x.d) * f16_to_f32(y.d);
    }
    sumf
}

pub fn vec_dot_q4_1_q8_1(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ4_1, BlockQ8_1>(w, a, n) {
        let sumi = isum32(&y.qs, |j| nibble(&x.qs, j));
        sumf +=
            (f16_to_f32(x.d) * f16_to_f32(y.d)) * sumi as f32 + f16_to_f32(x.m) * f16_to_f32(y.s);
    }
    sumf
}

pub fn vec_dot_q5_0_q8_0(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ5_0, BlockQ8_0>(w, a, n) {
        let qh = u32::from_le_bytes(x.qh);
        let sumi = isum32(&y.qs, |j| q5_value(qh, &x.qs, j) - 16);
        sumf += (f16_to_f32(x.d) * f16_to_f32(y.d)) * sumi as f32;
    }
    sumf
}

pub fn vec_dot_q5_1_q8_1(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ5_1, BlockQ8_1>(w, a, n) {
        let qh = u32::from_le_bytes(x.qh);
        let sumi = isum32(&y.qs, |j| q5_value(qh, &x.qs, j));
        sumf +=
            (f16_to_f32(x.d) * f16_to_f32(y.d)) * sumi as f32 + f16_to_f32(x.m) * f16_to_f32(y.s);
    }
    sumf
}

pub fn vec_dot_q8_0_q8_0(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ8_0, BlockQ8_0>(w, a, n) {
        let sumi = isum32(&y.qs, |j| x.qs[j] as i32);
        sumf += sumi as f32 * (f16_to_f32(x.d) * f16_to_f32(y.d));
    }
    sumf
}

/// Σ over sub-blocks of `scale(sub) · Σ_{i in sub} q(i)·y[i]` for sub-blocks of `len`.
#[inline]
fn scaled_isum(
    y: &[i8; 256],
    len: usize,
    scale: impl Fn(usize) -> i32,
    q: impl Fn(usize) -> i32,
) -> i32 {
    let mut isum = 0i32;
    for (sub, ys) in y.chunks_exact(len).enumerate() {
        let s: i32 = ys
            .iter()
            .enumerate()
            .map(|(l, &v)| q(sub * len + l) * v as i32)
            .sum();
        isum += scale(sub) * s;
    }
    isum
}

pub fn vec_dot_q2_k_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ2K, BlockQ8K>(w, a, n) {
        let summs: i32 = (0..16)
            .map(|j| y.bsums[j] as i32 * (x.scales[j] >> 4) as i32)
            .sum();
        let dall = y.d * f16_to_f32(x.d);
        let dmin = y.d * f16_to_f32(x.dmin);
        let isum = scaled_isum(
            &y.qs,
            16,
            |j| (x.scales[j] & 0x0f) as i32,
            |i| q2_bits(&x.qs, i),
        );
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

pub fn vec_dot_q3_k_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ3K, BlockQ8K>(w, a, n) {
        let sc = q3_scales(&x.scales);
        let isum = scaled_isum(&y.qs, 16, |j| sc[j] - 32, |i| q3_value(&x, i));
        let d = f16_to_f32(x.d) * y.d;
        sumf += d * isum as f32;
    }
    sumf
}

/// Σ_j bsums[j] · min(j / 2): the Q4_K/Q5_K min term, from the Q8_K per-16 sums.
#[inline]
fn k4_min_sum(packed: &[u8; 12], bsums: &[i16; 16]) -> i32 {
    (0..16)
        .map(|j| bsums[j] as i32 * scale_min_k4(j / 2, packed).1 as i32)
        .sum()
}

pub fn vec_dot_q4_k_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ4K, BlockQ8K>(w, a, n) {
        let summs = k4_min_sum(&x.scales, &y.bsums);
        let isum = scaled_isum(
            &y.qs,
            32,
            |j| scale_min_k4(j, &x.scales).0 as i32,
            |i| q4k_nibble(&x.qs, i),
        );
        let d = f16_to_f32(x.d) * y.d;
        let dmin = f16_to_f32(x.dmin) * y.d;
        sumf += d * isum as f32 - dmin * summs as f32;
    }
    sumf
}

pub fn vec_dot_q5_k_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ5K, BlockQ8K>(w, a, n) {
        let summs = k4_min_sum(&x.scales, &y.bsums);
        let isum = scaled_isum(
            &y.qs,
            32,
            |j| scale_min_k4(j, &x.scales).0 as i32,
            |i| q5k_value(&x, i),
        );
        let d = f16_to_f32(x.d) * y.d;
        let dmin = f16_to_f32(x.dmin) * y.d;
        sumf += d * isum as f32 - dmin * summs as f32;
    }
    sumf
}

pub fn vec_dot_q6_k_q8_k(w: &[u8], a: &[u8], n: usize) -> f32 {
    let mut sumf = 0.0f32;
    for (x, y) in pairs::<BlockQ6K, BlockQ8K>(w, a, n) {
        let isum = scaled_isum(&y.qs, 16, |j| x.scales[j] as i32, |i| q6_value(&x, i));
        let d = f16_to_f32(x.d) * y.d;
        sumf += d * isum as f32;
    }
    sumf
}

/// Reads little-endian f32 number `i` of a byte row.
#[inline]
fn f32_at(b: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

#[inline]
fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[2 * i], b[2 * i + 1]])
}

/// `Σ a[i]·b[i]`: products in f32, sum in f64, rounded to f32 once. Panics if lengths differ.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f32: length mismatch");
    let mut sum = 0.0f64;
    for (&x, &y) in a.iter().zip(b) {
        sum += (x * y) as f64;
    }
    sum as f32
}

/// `Σ w[i]·x[i]` with `w` as little-endian f16 (`w.len() == 2·x.len()`).
pub fn dot_f16_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_f16_f32: length mismatch");
    let mut sum = 0.0f64;
    for (i, &v) in x.iter().enumerate() {
        sum += (f16_to_f32(u16_at(w, i)) * v) as f64;
    }
    sum as f32
}

/// `Σ w[i]·x[i]` with `w` as little-endian bf16 (`w.len() == 2·x.len()`).
pub fn dot_bf16_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_bf16_f32: length mismatch");
    let mut sum = 0.0f64;
    for (i, &v) in x.iter().enumerate() {
        sum += (bf16_to_f32(u16_at(w, i)) * v) as f64;
    }
    sum as f32
}

/// F32 weights · F32 activations, both as little-endian bytes (`4·n` each).
pub fn vec_dot_f32_f32(w: &[u8], a: &[u8], n: usize) -> f32 {
    assert!(
        w.len() == 4 * n && a.len() == 4 * n,
        "vec_dot f32: length mismatch"
    );
    let mut sum = 0.0f64;
    for i in 0..n {
        sum += (f32_at(w, i) * f32_at(a, i)) as f64;
    }
    sum as f32
}

/// F16 weights (`2·n` bytes) · F32 activations (`4·n` bytes).
pub fn vec_dot_f16_f32(w: &[u8], a: &[u8], n: usize) -> f32 {
    assert!(
        w.len() == 2 * n && a.len() == 4 * n,
        "vec_dot f16: length mismatch"
    );
    let mut sum = 0.0f64;
    for i in 0..n {
        sum += (f16_to_f32(u16_at(w, i)) * f32_at(a, i)) as f64;
    }
    sum as f32
}

/// BF16 weights (`2·n` bytes) · F32 activations (`4·n` bytes).
pub fn vec_dot_bf16_f32(w: &[u8], a: &[u8], n: usize) -> f32 {
    assert!(
        w.len() == 2 * n && a.len() == 4 * n,
        "vec_dot bf16: length mismatch"
    );
    let mut sum = 0.0f64;
    for i in 0..n {
        sum += (bf16_to_f32(u16_at(w, i)) * f32_at(a, i)) as f64;
    }
    sum as f32
}
