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
use crate::scalar::quant_search::{c_f32_to_i32, round_half_away};

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

#[cfg(target_arch = "x86_64")]
use crate::x86::avx2_legacy_quant as avx2;

/// Element j's level low and element j + 16's high in byte j (Q4_0, Q4_1).
#[cfg(target_arch = "x86_64")]
fn nibbles(l: &[u8; QK]) -> [u8; QK / 2] {
    let mut qs = [0u8; QK / 2];
    for j in 0..QK / 2 {
        qs[j] = l[j] | (l[j + QK / 2] << 4);
    }
    qs
}

/// A 32-element block as an array (for the SIMD block quantizers).
#[cfg(target_arch = "x86_64")]
fn block_array(x: &[f32]) -> [f32; QK] {
    let mut a = [0.0f32; QK];
    a.copy_from_slice(x);
    a
}

#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    is_x86_feature_detected!("avx2")
}

pub fn quantize_q4_0(src: &[f32], dst: &mut [u8]) {
    q4_0_rows(src, dst, simd_available());
}

/// `quantize_q4_0`, in AVX2 when `simd` (the CPU must have it) or in scalar code.
fn q4_0_rows(src: &[f32], dst: &mut [u8], simd: bool) {
    quantize_blocks(src, dst, |x| {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: AVX2 is present (`simd`).
            if let Some((d, l)) = simd
                .then(|| unsafe { avx2::signed_levels(&block_array(x), -8.0, 8.5, 15) })
                .flatten()
            {
                return BlockQ4_0 {
                    d: f32_to_f16(d),
                    qs: nibbles(&l),
                };
            }
        }
        let _ = simd;
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
    q4_1_rows(src, dst, simd_available());
}

/// `quantize_q4_1`, in AVX2 when `simd` (the CPU must have it) or in scalar code.
fn q4_1_rows(src: &[f32], dst: &mut [u8], simd: bool) {
    quantize_blocks(src, dst, |x| {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: AVX2 is present (`simd`).
            if let Some((d, m, l)) = simd
                .then(|| unsafe { avx2::min_levels(&block_array(x), 15, true) })
                .flatten()
            {
                return BlockQ4_1 {
                    d: f32_to_f16(d),
                    m: f32_to_f16(m),
                    qs: nibbles(&l),
                };
            }
        }
        let _ = simd;
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
    q5_0_rows(src, dst, simd_available());
}

/// `quantize_q5_0`, in AVX2 when `simd` (the CPU must have it) or in scalar code.
fn q5_0_rows(src: &[f32], dst: &mut [u8], simd: bool) {
    quantize_blocks(src, dst, |x| {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: AVX2 is present (`simd`).
            if let Some((d, l)) = simd
                .then(|| unsafe { avx2::signed_levels(&block_array(x), -16.0, 16.5, 31) })
                .flatten()
            {
                let (qh, qs) = pack5(&l);
                return BlockQ5_0 {
                    d: f32_to_f16(d),
                    qh,
                    qs,
                };
            }
        }
        let _ = simd;
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
    q5_1_rows(src, dst, simd_available());
}

/// `quantize_q5_1`, in AVX2 when `simd` (the CPU must have it) or in scalar code.
fn q5_1_rows(src: &[f32], dst: &mut [u8], simd: bool) {
    quantize_blocks(src, dst, |x| {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: AVX2 is present (`simd`).
            if let Some((d, m, l)) = simd
                .then(|| unsafe { avx2::min_levels(&block_array(x), 31, false) })
                .flatten()
            {
                let (qh, qs) = pack5(&l);
                return BlockQ5_1 {
                    d: f32_to_f16(d),
                    m: f32_to_f16(m),
                    qh,
                    qs,
                };
            }
        }
        let _ = simd;
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

/// Shared by Q8_0 and Q8_1: `d = amax/127`, `q = round(x/d)` (half away from zero); in AVX2
/// where `simd` says the CPU has it (the same bytes).
fn q8_block(x: &[f32], simd: bool) -> (f32, [i8; QK]) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: AVX2 is present (`simd`).
        if let Some(r) = simd
            .then(|| unsafe { avx2::q8_0_block(&block_array(x)) })
            .flatten()
        {
            return r;
        }
    }
    let _ = simd;
    let d = absmax(x) / 127.0;
    let id = inverse(d);
    let mut qs = [0i8; QK];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = c_i8(round_half_away(v * id));
    }
    (d, qs)
}

/// Whether the AVX2 block quantizers can run.
fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

pub fn quantize_q8_0(src: &[f32], dst: &mut [u8]) {
    q8_0_rows(src, dst, simd_available());
}

/// `quantize_q8_0`, in AVX2 when `simd` (the CPU must have it) or in scalar code.
fn q8_0_rows(src: &[f32], dst: &mut [u8], simd: bool) {
    quantize_blocks(src, dst, |x| {
        let (d, qs) = q8_block(x, simd);
        BlockQ8_0 {
            d: f32_to_f16(d),
            qs,
        }
    });
}

/// Q8_1 as ggml's `quantize_row_q8_1_ref`. Note `s = f16(d·Σq)` overflows to ±inf (as in
/// ggml) when a block's |Σx| exceeds 65504.
pub fn quantize_q8_1(src: &[f32], dst: &mut [u8]) {
    q8_1_rows(src, dst, simd_available());
}

/// `quantize_q8_1`, in AVX2 when `simd` (the CPU must have it) or in scalar code.
fn q8_1_rows(src: &[f32], dst: &mut [u8], simd: bool) {
    quantize_blocks(src, dst, |x| {
        let (d, qs) = q8_block(x, simd);
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

#[cfg(all(test, target_arch = "x86_64"))]
mod simd_tests {
    use super::*;

    /// Blocks that exercise every rule: random, signed-zero mixes, ties of |max| with both
    /// signs, denormals, huge and infinite values, NaN in several places, constants.
    fn blocks() -> Vec<[f32; QK]> {
        let mut out = Vec::new();
        let mut rng = crate::testutil::Rng::new(0x2545_f491);
        let mut next = || rng.next_u64() as u32;
        for _ in 0..3000 {
            let mut b = [0.0f32; QK];
            let kind = next() % 8;
            for v in b.iter_mut() {
                let r = next();
                *v = match kind {
                    0 => f32::from_bits(r),
                    1 => ((r >> 8) as f32 / 16_777_216.0 - 0.5) * 4.0,
                    2 => [0.0, -0.0, 1.0, -1.0][(r % 4) as usize],
                    3 => f32::from_bits(r & 0x807f_ffff),
                    4 => [0.0f32, -0.0][(r % 2) as usize],
                    5 => ((r % 7) as f32 - 3.0) * 1e30,
                    6 => 2.5,
                    _ => ((r >> 8) as f32 / 16_777_216.0) * 1e-3,
                };
            }
            if kind == 7 {
                let i = (next() % QK as u32) as usize;
                b[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][(next() % 3) as usize];
            }
            out.push(b);
        }
        out
    }

    #[test]
    fn avx2_blocks_equal_the_scalar_ones() {
        if !is_x86_feature_detected!("avx2") {
            eprintln!("SKIP: no AVX2 on this CPU");
            return;
        }
        type Rows = fn(&[f32], &mut [u8], bool);
        let rows: [(&str, Rows, usize); 6] = [
            ("Q4_0", q4_0_rows, 18),
            ("Q4_1", q4_1_rows, 20),
            ("Q5_0", q5_0_rows, 22),
            ("Q5_1", q5_1_rows, 24),
            ("Q8_0", q8_0_rows, 34),
            ("Q8_1", q8_1_rows, 36),
        ];
        for b in blocks() {
            for (name, f, bytes) in rows {
                let (mut a, mut s) = (vec![0u8; bytes], vec![0u8; bytes]);
                f(&b, &mut a, true);
                f(&b, &mut s, false);
                assert_eq!(a, s, "{name} {b:?}");
            }
        }
    }
}
