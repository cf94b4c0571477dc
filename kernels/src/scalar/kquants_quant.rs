//! K-quant quantizers: ggml's reference algorithms (`quantize_row_q{2..6}_K_ref` with
//! `make_qkx2_quants`, `make_qx_quants`, `make_q3_quants`) and the Q8_K activation quantizer
//! (`quantize_row_q8_K_ref`, with `bsums`). Same f32 operations in the same order as ggml, so
//! the bytes match ggml's reference quantizers (the golden tests check this).

// Index loops over parallel per-sub-block arrays mirror ggml's reference code.
#![allow(clippy::needless_range_loop)]

use crate::blocks::{check, Block, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::half::{f16_to_f32, f32_to_f16};
use crate::scalar::kquants_dequant::scale_min_k4;
use crate::scalar::quant_search::{
    nearest_int, q3_16x16, qx_16x16, round_levels, scale_and_min_16x16, scale_and_min_x8,
    QkxSearch, GROUP_MAX_EPS,
};
use crate::types::QK_K;

/// Packs 256 two-bit levels the way Q2_K/Q3_K store them (see `q2_bits`).
pub(crate) fn pack_2bit(levels: &[u8; QK_K], qs: &mut [u8; QK_K / 4]) {
    for half in 0..2 {
        for l in 0..32 {
            let j = half * 128 + l;
            qs[half * 32 + l] =
                levels[j] | (levels[j + 32] << 2) | (levels[j + 64] << 4) | (levels[j + 96] << 6);
        }
    }
}

fn quantize_blocks<B: Block>(src: &[f32], dst: &mut [u8], f: impl Fn(&[f32]) -> B) {
    check::<B>(src.len(), dst.len());
    crate::blocks::encode_blocks(src, dst, |_, x| f(x));
}

pub fn quantize_q2_k(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let mut levels = [0u8; QK_K];
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        let mut weights = [0.0f32; QK_K];
        for (w, &v) in weights.iter_mut().zip(x) {
            *w = v.abs();
        }
        let search = QkxSearch {
            nmax: 3,
            rmin: -0.5,
            rdelta: 0.1,
            nstep: 15,
            use_mad: true,
            keep_first_guess_without_steps: false,
        };
        let (scales, mins) = scale_and_min_16x16(x, &weights, &mut levels, search);
        for j in 0..16 {
            if scales[j] > max_scale {
                max_scale = scales[j];
            }
            if mins[j] > max_min {
                max_min = mins[j];
            }
        }
        let mut b = BlockQ2K {
            scales: [0; 16],
            qs: [0; 64],
            d: 0,
            dmin: 0,
        };
        if max_scale > 0.0 {
            let iscale = 15.0 / max_scale;
            for j in 0..16 {
                b.scales[j] = nearest_int(iscale * scales[j]) as u8;
            }
            b.d = f32_to_f16(max_scale / 15.0);
        }
        if max_min > 0.0 {
            let iscale = 15.0 / max_min;
            for j in 0..16 {
                b.scales[j] |= (nearest_int(iscale * mins[j]) << 4) as u8;
            }
            b.dmin = f32_to_f16(max_min / 15.0);
        }
        for j in 0..16 {
            let d = f16_to_f32(b.d) * (b.scales[j] & 0x0f) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = f16_to_f32(b.dmin) * (b.scales[j] >> 4) as f32;
            let r = 16 * j..16 * j + 16;
            round_levels(&x[r.clone()], dm, d, 0, 3, 0, &mut levels[r]);
        }
        pack_2bit(&levels, &mut b.qs);
        b
    });
}

pub fn quantize_q3_k(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let mut levels = [0i8; QK_K];
        let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
        let scales = q3_16x16(4, x, &mut levels);
        for j in 0..16 {
            if scales[j].abs() > amax {
                amax = scales[j].abs();
                max_scale = scales[j];
            }
        }
        let mut b = BlockQ3K {
            hmask: [0; 32],
            qs: [0; 64],
            scales: [0; 12],
            d: 0,
        };
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for j in 0..16 {
                // C: `int8_t l = nearest_int(...)` truncates to 8 bits before clamping.
                let l = ((nearest_int(iscale * scales[j]) as i8).clamp(-32, 31) + 32) as u8;
                if j < 8 {
                    b.scales[j] = l & 0x0f;
                } else {
                    b.scales[j - 8] |= (l & 0x0f) << 4;
                }
                b.scales[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
            }
            b.d = f32_to_f16(1.0 / iscale);
        }
        q3_k_requantize_and_pack(x, &mut b, &mut levels);
        b
    });
}

/// The common tail of both Q3_K quantizers: re-derives every level from the block's rounded
/// 6-bit scales and `d`, then fills `hmask` and `qs`. `levels` holds `level + 4` for the
/// sub-blocks whose scale is zero (they keep their search result, as in ggml).
pub(crate) fn q3_k_requantize_and_pack(x: &[f32], b: &mut BlockQ3K, levels: &mut [i8; QK_K]) {
    let sc = crate::scalar::kquants_dequant::q3_scales(&b.scales);
    for j in 0..16 {
        let d = f16_to_f32(b.d) * (sc[j] - 32) as f32;
        if d == 0.0 {
            continue;
        }
        let mut q = [0u8; 16];
        round_levels(&x[16 * j..16 * j + 16], 0.0, d, -4, 3, 4, &mut q);
        for (l, &v) in levels[16 * j..16 * j + 16].iter_mut().zip(&q) {
            *l = v as i8;
        }
    }
    b.hmask = [0; 32];
    let mut low = [0u8; QK_K];
    for (j, (&lv, lo)) in levels.iter().zip(low.iter_mut()).enumerate() {
        let mut v = lv as u8;
        if v > 3 {
            b.hmask[j % 32] |= 1 << (j / 32);
            v -= 4;
        }
        *lo = v;
    }
    pack_2bit(&low, &mut b.qs);
}

/// Per sub-block of 32: the scale and min chosen by `make_qkx2_quants` with ggml's Q4_K/Q5_K
/// weights `rms(x) + |x|`. Returns (scales, mins) and fills `levels`.
fn qkx2_subblocks(
    x: &[f32],
    nmax: i32,
    rmin: f32,
    nstep: i32,
    levels: &mut [u8; QK_K],
) -> ([f32; 8], [f32; 8]) {
    let mut weights = [0.0f32; QK_K];
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, &v) in weights[32 * j..32 * j + 32].iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
    }
    let search = QkxSearch {
        nmax,
        rmin,
        rdelta: 0.1,
        nstep,
        use_mad: false,
        keep_first_guess_without_steps: false,
    };
    scale_and_min_x8::<32>(x, &weights, levels, search)
}

/// Quantizes 8 scales and 8 mins to 6 bits against their maxima and packs them into the
/// 12-byte Q4_K/Q5_K layout; returns (packed, d, dmin) with d and dmin as f16 bits.
fn pack_scales_k4(scales: &[f32; 8], mins: &[f32; 8]) -> ([u8; 12], u16, u16) {
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..8 {
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut packed = [0u8; 12];
    for j in 0..8 {
        // C stores nearest_int into a uint8_t (truncation) before MIN(63, ·).
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    (
        packed,
        f32_to_f16(max_scale / 63.0),
        f32_to_f16(max_min / 63.0),
    )
}

/// Re-derives the levels of each sub-block of 32 from the rounded scales (0..=nmax).
pub(crate) fn requantize_k4(
    x: &[f32],
    packed: &[u8; 12],
    d: u16,
    dmin: u16,
    nmax: i32,
    levels: &mut [u8; QK_K],
) {
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, packed);
        let d = f16_to_f32(d) * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = f16_to_f32(dmin) * m as f32;
        let r = 32 * j..32 * j + 32;
        round_levels(&x[r.clone()], dm, d, 0, nmax, 0, &mut levels[r]);
    }
}

pub fn quantize_q4_k(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let mut levels = [0u8; QK_K];
        let (scales, mins) = qkx2_subblocks(x, 15, -1.0, 20, &mut levels);
        let (packed, d, dmin) = pack_scales_k4(&scales, &mins);
        requantize_k4(x, &packed, d, dmin, 15, &mut levels);
        BlockQ4K {
            d,
            dmin,
            scales: packed,
            qs: pack_q4_k(&levels),
        }
    });
}

/// Packs 256 four-bit levels the Q4_K way: each 64-element chunk as 32 bytes, element l in
/// the low nibble and element l+32 in the high one.
pub(crate) fn pack_q4_k(levels: &[u8; QK_K]) -> [u8; QK_K / 2] {
    let mut qs = [0u8; QK_K / 2];
    for chunk in 0..4 {
        for l in 0..32 {
            let j = chunk * 64 + l;
            qs[chunk * 32 + l] = levels[j] | (levels[j + 32] << 4);
        }
    }
    qs
}

/// Packs 256 five-bit levels the Q5_K way: low nibbles as Q4_K, the fifth bits into `qh`
/// (two bits per 64-element chunk). Returns `(qh, qs)`.
pub(crate) fn pack_q5_k(levels: &[u8; QK_K]) -> ([u8; QK_K / 8], [u8; QK_K / 2]) {
    let mut qs = [0u8; QK_K / 2];
    let mut qh = [0u8; QK_K / 8];
    for chunk in 0..4 {
        for l in 0..32 {
            let j = chunk * 64 + l;
            let (lo, hi) = (levels[j], levels[j + 32]);
            qh[l] |= ((lo >> 4) << (2 * chunk)) | ((hi >> 4) << (2 * chunk + 1));
            qs[chunk * 32 + l] = (lo & 0x0f) | ((hi & 0x0f) << 4);
        }
    }
    (qh, qs)
}

pub fn quantize_q5_k(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let mut levels = [0u8; QK_K];
        let (scales, mins) = qkx2_subblocks(x, 31, -0.5, 15, &mut levels);
        let (packed, d, dmin) = pack_scales_k4(&scales, &mins);
        requantize_k4(x, &packed, d, dmin, 31, &mut levels);
        let (qh, qs) = pack_q5_k(&levels);
        BlockQ5K {
            d,
            dmin,
            scales: packed,
            qh,
            qs,
        }
    });
}

pub fn quantize_q6_k(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| q6_k_block(x, None));
}

/// One Q6_K block: `make_qx_quants` per 16 elements, weighted by `qw` (the block's slice of an
/// importance matrix) when given and by x² otherwise (ggml's reference), then 8-bit scales.
pub(crate) fn q6_k_block(x: &[f32], qw: Option<&[f32]>) -> BlockQ6K {
    {
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        let mut levels = [0i8; QK_K];
        let scales = qx_16x16(32, x, qw, &mut levels);
        for j in 0..16 {
            if scales[j].abs() > max_abs_scale {
                max_abs_scale = scales[j].abs();
                max_scale = scales[j];
            }
        }
        let mut b = BlockQ6K {
            ql: [0; 128],
            qh: [0; 64],
            scales: [0; 16],
            d: 0,
        };
        if max_abs_scale < GROUP_MAX_EPS {
            return b;
        }
        let iscale = -128.0 / max_scale;
        b.d = f32_to_f16(1.0 / iscale);
        for j in 0..16 {
            b.scales[j] = nearest_int(iscale * scales[j]).min(127) as i8;
        }
        for j in 0..16 {
            let d = f16_to_f32(b.d) * b.scales[j] as f32;
            if d == 0.0 {
                continue;
            }
            let mut q = [0u8; 16];
            round_levels(&x[16 * j..16 * j + 16], 0.0, d, -32, 31, 32, &mut q);
            for (l, &v) in levels[16 * j..16 * j + 16].iter_mut().zip(&q) {
                *l = v as i8;
            }
        }
        for half in 0..2 {
            for l in 0..32 {
                let j = half * 128 + l;
                let q = [
                    levels[j] as u8,
                    levels[j + 32] as u8,
                    levels[j + 64] as u8,
                    levels[j + 96] as u8,
                ];
                b.ql[half * 64 + l] = (q[0] & 0x0f) | ((q[2] & 0x0f) << 4);
                b.ql[half * 64 + l + 32] = (q[1] & 0x0f) | ((q[3] & 0x0f) << 4);
                b.qh[half * 32 + l] =
                    (q[0] >> 4) | ((q[1] >> 4) << 2) | ((q[2] >> 4) << 4) | ((q[3] >> 4) << 6);
            }
        }
        b
    }
}

pub fn quantize_q8_k(src: &[f32], dst: &mut [u8]) {
    quantize_blocks(src, dst, |x| {
        let mut b = BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; 16],
        };
        let mut max = 0.0f32;
        let mut amax = 0.0f32;
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            return b;
        }
        // ggml uses −127/max (not −128) so that every SIMD kernel can treat q as symmetric.
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (s, g) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
            *s = g.iter().map(|&q| q as i16).sum();
        }
        b.d = 1.0 / iscale;
        b
    });
}
