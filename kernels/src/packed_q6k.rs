//! The Q6_Kx16 packed layout: Q6_K weights in 16-row groups, one row per 32-bit lane (the
//! design of [`crate::packed_q4k`]), multiplied by the same Q8_Kx16 activations.
//!
//! Per row group, `S = cols/256` steps of [`STEP_BYTES`] (one super-block of each of the 16
//! rows; rows past the matrix are zeros). With `q[r][e]` the unsigned 6-bit quant (0..64) of
//! element `e` and `c` a 32-element chunk:
//! - at `2r`: `d[r]` f16;
//! - at `32 + 16s + r`: the i8 scale of the 16 elements `16s..16s+16` of row `r`;
//! - at `288 + 256c + 64p + 4r + i` (`p`, `i` in 0..4): low nibble = the low 4 bits of
//!   `q[r][32c + 4p + i]`, high nibble = those of `q[r][32c + 16 + 4p + i]`;
//! - at `2336 + 128c + 64h + 4r + i` (`h` in 0..2): the top 2 bits of 4 quants, for `u` in 0..4
//!   those of vector `k = 4h + u` (element `32c + 4k + i` for `k < 4`, `32c + 16 + 4(k−4) + i`
//!   otherwise) at bits `[4, 6, 0, 2][u]`, so that one 16-bit shift (none for `u = 0`) puts
//!   them at bits 4..6 of every byte.
//!
//! Row `r` of a step is ggml's `vec_dot_q6_K_q8_K` with the same integers:
//! `d·d_a·Σ_s sc_s·(Σ_i q_i a_i − 32·Σ a)`, the `−32·Σ a` being the activation's per-16 bias.

use crate::blocks::{Block, BlockQ6K};
use crate::half::f16_to_f32;
use crate::packed::{check_gemm, Layout, ROWS};
use crate::packed_q4k::{ACT_BIAS16, ACT_D, ACT_STEP};

/// Weight bytes per step of a row group: 32 of scales `d`, 256 of sub-block scales, 2048 of
/// low bits, 1024 of high bits.
pub const STEP_BYTES: usize = 32 + 256 + 2048 + 1024;
/// Offset of the low 4 bits in a step.
pub const LOW: usize = 288;
/// Offset of the high 2 bits in a step.
pub const HIGH: usize = 2336;
/// Bit position of the top 2 bits of vector `4h + u` in its byte.
const HIGH_POS: [u32; 4] = [4, 6, 0, 2];

/// The 256 unsigned 6-bit quants of a Q6_K block, in element order (ggml's
/// `dequantize_row_q6_K` bit layout).
fn quants(b: &BlockQ6K) -> [u8; 256] {
    let mut q = [0u8; 256];
    for n in 0..2 {
        let (ql, qh) = (&b.ql[64 * n..64 * n + 64], &b.qh[32 * n..32 * n + 32]);
        for l in 0..32 {
            let y = &mut q[128 * n..128 * n + 128];
            y[l] = (ql[l] & 0x0f) | ((qh[l] & 3) << 4);
            y[l + 32] = (ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4);
            y[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            y[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
    q
}

/// Element (within its 32-chunk) of lane byte `i` of weight vector `k`.
fn element(k: usize, i: usize) -> usize {
    if k < 4 {
        4 * k + i
    } else {
        16 + 4 * (k - 4) + i
    }
}

/// Packs row group `g` (rows `16g..16g+16`) of a Q6_K matrix (`src`: `rows` rows of `cols`
/// elements) into `dst`.
pub fn pack_group(src: &[u8], rows: usize, cols: usize, g: usize, dst: &mut [u8]) {
    assert!(cols % 256 == 0, "Q6_Kx16: cols is whole super-blocks");
    let nb = cols / 256;
    let rb = nb * BlockQ6K::BYTES;
    assert_eq!(src.len(), rows * rb, "Q6_Kx16: source length");
    assert_eq!(dst.len(), nb * STEP_BYTES, "Q6_Kx16: destination length");
    assert!(g * ROWS < rows.max(1), "Q6_Kx16: row group out of range");
    for x in dst.iter_mut() {
        *x = 0;
    }
    for r in 0..ROWS {
        let row = g * ROWS + r;
        if row >= rows {
            break;
        }
        for s in 0..nb {
            let at = row * rb + s * BlockQ6K::BYTES;
            let b = BlockQ6K::read(&src[at..at + BlockQ6K::BYTES]);
            let q = quants(&b);
            let step = &mut dst[s * STEP_BYTES..(s + 1) * STEP_BYTES];
            step[2 * r..2 * r + 2].copy_from_slice(&b.d.to_le_bytes());
            for (sb, &sc) in b.scales.iter().enumerate() {
                step[32 + 16 * sb + r] = sc as u8;
            }
            for c in 0..8 {
                let chunk = &q[32 * c..32 * c + 32];
                for p in 0..4 {
                    for i in 0..4 {
                        let (lo, hi) = (chunk[4 * p + i] & 0x0f, chunk[16 + 4 * p + i] & 0x0f);
                        step[LOW + 256 * c + 64 * p + 4 * r + i] = lo | hi << 4;
                    }
                }
                for h in 0..2 {
                    for i in 0..4 {
                        let mut byte = 0u8;
                        for (u, &pos) in HIGH_POS.iter().enumerate() {
                            byte |= (chunk[element(4 * h + u, i)] >> 4) << pos;
                        }
                        step[HIGH + 128 * c + 64 * h + 4 * r + i] = byte;
                    }
                }
            }
        }
    }
}

fn rd_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The scalar reference microkernel for Q6_Kx16 (a `PackedGemmFn`): integer sums per
/// super-block as ggml forms them, one f32 scaling per super-block.
pub fn gemm_ref(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(Layout::Q6_Kx16, w, a, a_stride, ntok, out);
    for t in 0..ntok {
        for r in 0..ROWS {
            let mut acc = 0.0f32;
            for s in 0..steps {
                let ws = &w[s * STEP_BYTES..(s + 1) * STEP_BYTES];
                let at = &a[t * a_stride + s * ACT_STEP..t * a_stride + (s + 1) * ACT_STEP];
                let mut dot = 0i32;
                for c in 0..8 {
                    for k in 0..8 {
                        let sb = 2 * c + k / 4;
                        let mut sub = if k % 4 == 0 {
                            rd_i32(at, ACT_BIAS16 + 4 * sb)
                        } else {
                            0
                        };
                        for i in 0..4 {
                            let e = element(k, i);
                            let low = ws[LOW + 256 * c + 64 * (k % 4) + 4 * r + i];
                            let low = if k < 4 { low & 0x0f } else { low >> 4 };
                            let high = ws[HIGH + 128 * c + 64 * (k / 4) + 4 * r + i];
                            let high = (high >> HIGH_POS[k % 4]) & 3;
                            let q = (low | high << 4) as i32;
                            sub += q * at[32 * c + e] as i8 as i32;
                        }
                        dot += ws[32 + 16 * sb + r] as i8 as i32 * sub;
                    }
                }
                let d = f16_to_f32(u16::from_le_bytes([ws[2 * r], ws[2 * r + 1]]));
                let da =
                    f32::from_le_bytes([at[ACT_D], at[ACT_D + 1], at[ACT_D + 2], at[ACT_D + 3]]);
                acc += d * da * dot as f32;
            }
            out[t * ROWS + r] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::packed::{test_support, Layout};
    use crate::testutil::Rng;

    /// The reference equals ggml's Q6_K × Q8_K dot product on the unpacked rows.
    #[test]
    fn reference_matches_vec_dot() {
        let shapes = [(16, 256), (6, 512), (1, 768), (35, 2048)];
        test_support::reference_matches_vec_dot(Layout::Q6_Kx16, &shapes, &mut Rng::new(13), 1e-5);
    }
}
