//! The Q4_Kx16 packed layout: Q4_K weights in 16-row groups for a microkernel that holds one
//! weight row per 32-bit lane and broadcasts 4 activation bytes to every lane, so each lane sums
//! a whole 32-element sub-block in integers (8 `vpdpbusd`) before its scale is applied once.
//!
//! Per row group, `S = cols/256` steps of [`STEP_BYTES`] (one super-block of each of the 16
//! rows; rows past the matrix are zeros):
//! - at 0: `d[r]` f16 × 16; at 32: `dmin[r]` f16 × 16;
//! - at `64 + 16j + r`: `sc[r][j]`, the 6-bit scale of sub-block `j` as a byte; at
//!   `192 + 16j + r`: `m[r][j]`, its 6-bit min;
//! - at `320 + 256j + 64p + 4r + i` (`p`, `i` in 0..4): the low nibble is `q[r][32j + 4p + i]`,
//!   the high nibble `q[r][32j + 16 + 4p + i]`. So one 64-byte line gives, after a mask and a
//!   shift, two vectors of 4 consecutive quants for each of the 16 rows.
//!
//! Activations ([`ACT_STEP`] bytes per step and token, shared with [`crate::packed_q6k`]),
//! from one Q8_K row: the 256 quants `a` at 0; at [`ACT_SUMS`]` + 4j` the f32 `Σ a` over the
//! 32 elements of sub-block `j` (Q4_K's mins); at [`ACT_BIAS16`]` + 4s` the i32 `−32·Σ a` over
//! the 16 elements `16s..16s+16` (Q6_K's zero point); at [`ACT_D`] the f32 scale `d_a`; zeros
//! after. Row `r` of a step is then ggml's `vec_dot_q4_K_q8_K` with the same integers:
//! `d_a·(d·Σ_j sc_j·Σ_i q_i a_i − dmin·Σ_j m_j·Σ a)`.

use crate::blocks::{check, Block, BlockQ4K, BlockQ8K};
use crate::half::f16_to_f32;
use crate::packed::{check_gemm, Layout, ROWS};
use crate::scalar::kquants_dequant::scale_min_k4;

/// Weight bytes per step of a row group: 320 of scales, 2048 of quants.
pub const STEP_BYTES: usize = 320 + 2048;
/// Activation bytes per step and token.
pub const ACT_STEP: usize = 384;
/// Offset of the 8 per-32 activation sums (f32) in an activation step.
pub const ACT_SUMS: usize = 256;
/// Offset of the 16 per-16 zero-point biases (i32) in an activation step.
pub const ACT_BIAS16: usize = 288;
/// Offset of the activation scale (f32) in an activation step.
pub const ACT_D: usize = 352;

/// Packs row group `g` (rows `16g..16g+16`) of a Q4_K matrix (`src`: `rows` rows of `cols`
/// elements) into `dst`.
pub fn pack_group(src: &[u8], rows: usize, cols: usize, g: usize, dst: &mut [u8]) {
    assert!(cols % 256 == 0, "Q4_Kx16: cols is whole super-blocks");
    let nb = cols / 256;
    let rb = nb * BlockQ4K::BYTES;
    assert_eq!(src.len(), rows * rb, "Q4_Kx16: source length");
    assert_eq!(dst.len(), nb * STEP_BYTES, "Q4_Kx16: destination length");
    assert!(g * ROWS < rows.max(1), "Q4_Kx16: row group out of range");
    for x in dst.iter_mut() {
        *x = 0;
    }
    for r in 0..ROWS {
        let row = g * ROWS + r;
        if row >= rows {
            break;
        }
        for s in 0..nb {
            let at = row * rb + s * BlockQ4K::BYTES;
            let b = BlockQ4K::read(&src[at..at + BlockQ4K::BYTES]);
            let step = &mut dst[s * STEP_BYTES..(s + 1) * STEP_BYTES];
            step[2 * r..2 * r + 2].copy_from_slice(&b.d.to_le_bytes());
            step[32 + 2 * r..34 + 2 * r].copy_from_slice(&b.dmin.to_le_bytes());
            for j in 0..8 {
                let (sc, mn) = scale_min_k4(j, &b.scales);
                step[64 + 16 * j + r] = sc;
                step[192 + 16 * j + r] = mn;
                // Sub-block j: ggml's chunk j/2, low nibbles for even j, high for odd.
                let chunk = &b.qs[32 * (j / 2)..32 * (j / 2) + 32];
                let q = |e: usize| {
                    if j % 2 == 0 {
                        chunk[e] & 0x0f
                    } else {
                        chunk[e] >> 4
                    }
                };
                for p in 0..4 {
                    for i in 0..4 {
                        let e = 4 * p + i;
                        step[320 + 256 * j + 64 * p + 4 * r + i] = q(e) | q(e + 16) << 4;
                    }
                }
            }
        }
    }
}

/// Rearranges one Q8_K row (`q8k`, `cols` elements, as `quantize_row_q8_k` writes it) into the
/// Q8_Kx16 activation layout (`dst`, `steps(cols)·ACT_STEP` long).
pub fn pack_activations(q8k: &[u8], cols: usize, dst: &mut [u8]) {
    let nb = check::<BlockQ8K>(cols, q8k.len());
    assert_eq!(dst.len(), nb * ACT_STEP, "Q8_Kx16: destination length");
    for (s, out) in dst.chunks_exact_mut(ACT_STEP).enumerate() {
        let blk = &q8k[s * BlockQ8K::BYTES..(s + 1) * BlockQ8K::BYTES];
        let qs = &blk[4..260];
        out[..256].copy_from_slice(qs);
        // Q8_K already carries the sums of its 16-element groups (`bsums`, i16 after the quants).
        let sum16 =
            |s: usize| -> i32 { i16::from_le_bytes([blk[260 + 2 * s], blk[261 + 2 * s]]) as i32 };
        for j in 0..8 {
            let sum = (sum16(2 * j) + sum16(2 * j + 1)) as f32;
            out[ACT_SUMS + 4 * j..ACT_SUMS + 4 * j + 4].copy_from_slice(&sum.to_le_bytes());
        }
        for s in 0..16 {
            let bias = -32 * sum16(s);
            out[ACT_BIAS16 + 4 * s..ACT_BIAS16 + 4 * s + 4].copy_from_slice(&bias.to_le_bytes());
        }
        out[ACT_D..ACT_D + 4].copy_from_slice(&blk[..4]);
        for x in &mut out[ACT_D + 4..] {
            *x = 0;
        }
    }
}

fn rd_f32(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn rd_f16(b: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// The scalar reference microkernel for Q4_Kx16 (a `PackedGemmFn`): integer sums per
/// super-block as ggml forms them, one f32 scaling per super-block.
pub fn gemm_ref(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(Layout::Q4_Kx16, w, a, a_stride, ntok, out);
    for t in 0..ntok {
        for r in 0..ROWS {
            let mut acc = 0.0f32;
            for s in 0..steps {
                let ws = &w[s * STEP_BYTES..(s + 1) * STEP_BYTES];
                let at = &a[t * a_stride + s * ACT_STEP..t * a_stride + (s + 1) * ACT_STEP];
                let (mut dot, mut mins) = (0i32, 0i32);
                for j in 0..8 {
                    let mut sub = 0i32;
                    for e in 0..32 {
                        let (p, i, high) = ((e % 16) / 4, e % 4, e >= 16);
                        let byte = ws[320 + 256 * j + 64 * p + 4 * r + i];
                        let q = if high { byte >> 4 } else { byte & 0x0f };
                        sub += q as i32 * at[32 * j + e] as i8 as i32;
                    }
                    dot += ws[64 + 16 * j + r] as i32 * sub;
                    mins += ws[192 + 16 * j + r] as i32 * rd_f32(at, ACT_SUMS + 4 * j) as i32;
                }
                let da = rd_f32(at, ACT_D);
                acc += da * (rd_f16(ws, 2 * r) * dot as f32 - rd_f16(ws, 32 + 2 * r) * mins as f32);
            }
            out[t * ROWS + r] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::packed::{test_support, Layout};
    use crate::testutil::Rng;

    /// The reference equals ggml's Q4_K × Q8_K dot product on the unpacked rows.
    #[test]
    fn reference_matches_vec_dot() {
        let shapes = [(16, 256), (6, 512), (1, 768), (35, 2048)];
        test_support::reference_matches_vec_dot(Layout::Q4_Kx16, &shapes, &mut Rng::new(11), 1e-5);
    }
}
