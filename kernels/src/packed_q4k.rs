//! The Q4_Kx4 packed layout: Q4_K weights in 4-row groups that the Q4_0x4 microkernel's
//! `vpdpbusd` path multiplies, with each 32-element sub-block treated as a block whose scale is
//! `d·sc_j` and whose min `dmin·m_j` meets the activation's per-block sum.
//!
//! Per row group of `S = cols/256` steps (one super-block per row each): first the quants of
//! every step (`512·S` bytes, 64-byte aligned), then the scales of every step (`80·S`).
//! - Quants of step `s` at `512s + 128r + 64h + 16k`: the 16 bytes of sub-block `b = 4h + k`
//!   of row `r` in Q4_0 order (byte i: element i in the low nibble, i + 16 in the high one).
//! - Scales of step `s` at `512S + 80s`: `d[4]` f16, `dmin[4]` f16, `sc[r][j]` (32 bytes),
//!   `m[r][j]` (32 bytes), the 6-bit values of ggml's packed scales as plain bytes.
//!
//! Activations are the Q4_0x4 ones ([`crate::packed::pack_activations`]: Q8_0 quantization,
//! with the per-block sums `−d_a·Σa` after each step), so the dot product is
//! `Σ_j d·sc_j·d_a·Σ q·a − dmin·m_j·d_a·Σ a`, with the activations rounded per 32 elements
//! instead of ggml's per 256 (Q8_K).

use crate::blocks::{Block, BlockQ4K};
use crate::half::f16_to_f32;
use crate::packed::{check_gemm, Layout, ACT_STEP_BYTES, ROWS};
use crate::scalar::kquants_dequant::scale_min_k4;

/// Quant bytes per step (4 rows × 256 elements).
pub const QS_STEP: usize = 512;
/// Scale bytes per step.
pub const META_STEP: usize = 80;

/// Packs row group `g` of a Q4_K matrix (`src`: `rows` rows of `cols` elements) into `dst`.
pub fn pack_group_q4_kx4(src: &[u8], rows: usize, cols: usize, g: usize, dst: &mut [u8]) {
    assert!(
        cols % 256 == 0,
        "Q4_Kx4: cols is a whole number of super-blocks"
    );
    let nb = cols / 256;
    let rb = nb * BlockQ4K::BYTES;
    assert_eq!(src.len(), rows * rb, "Q4_Kx4: source length");
    assert_eq!(
        dst.len(),
        nb * (QS_STEP + META_STEP),
        "Q4_Kx4: destination length"
    );
    for x in dst.iter_mut() {
        *x = 0;
    }
    let (qs, meta) = dst.split_at_mut(nb * QS_STEP);
    for r in 0..ROWS {
        let row = g * ROWS + r;
        if row >= rows {
            break;
        }
        for s in 0..nb {
            let at = row * rb + s * BlockQ4K::BYTES;
            let b = BlockQ4K::read(&src[at..at + BlockQ4K::BYTES]);
            let m = &mut meta[s * META_STEP..(s + 1) * META_STEP];
            m[2 * r..2 * r + 2].copy_from_slice(&b.d.to_le_bytes());
            m[8 + 2 * r..8 + 2 * r + 2].copy_from_slice(&b.dmin.to_le_bytes());
            for j in 0..8 {
                let (sc, mn) = scale_min_k4(j, &b.scales);
                m[16 + 8 * r + j] = sc;
                m[48 + 8 * r + j] = mn;
                // Sub-block j: ggml's chunk j/2, low nibbles for even j, high for odd.
                let chunk = &b.qs[32 * (j / 2)..32 * (j / 2) + 32];
                let q = |e: usize| {
                    if j % 2 == 0 {
                        chunk[e] & 0x0f
                    } else {
                        chunk[e] >> 4
                    }
                };
                let out = s * QS_STEP + 128 * r + 16 * j;
                for i in 0..16 {
                    qs[out + i] = q(i) | q(i + 16) << 4;
                }
            }
        }
    }
}

fn rd_f32(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The scalar reference microkernel for Q4_Kx4 (a `PackedGemmFn`).
pub fn gemm_q4_kx4_ref(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(Layout::Q4_Kx4, w, a, a_stride, ntok, out);
    let (qs, meta) = w.split_at(steps * QS_STEP);
    for t in 0..ntok {
        for r in 0..ROWS {
            let mut acc = 0.0f32;
            for s in 0..steps {
                let m = &meta[s * META_STEP..(s + 1) * META_STEP];
                let d = f16_to_f32(u16::from_le_bytes([m[2 * r], m[2 * r + 1]]));
                let dmin = f16_to_f32(u16::from_le_bytes([m[8 + 2 * r], m[9 + 2 * r]]));
                let at = &a[t * a_stride + s * ACT_STEP_BYTES..];
                for j in 0..8 {
                    let (h, k) = (j / 4, j % 4);
                    let half = &at[256 * h..256 * (h + 1)];
                    let mut isum = 0i32;
                    for i in 0..16 {
                        let q = qs[s * QS_STEP + 128 * r + 16 * j + i];
                        let (al, ah) = (
                            half[16 * k + i] as i8 as i32,
                            half[64 + 16 * k + i] as i8 as i32,
                        );
                        isum += (q & 0x0f) as i32 * al + (q >> 4) as i32 * ah;
                    }
                    // −d_a·Σa of block j, stored after the halves.
                    let neg_sum = rd_f32(at, 512 + 4 * j);
                    let da = rd_f32(half, 192 + 16 * k);
                    let sc = d * m[16 + 8 * r + j] as f32;
                    let mn = dmin * m[48 + 8 * r + j] as f32;
                    acc += sc * da * isum as f32 + mn * neg_sum;
                }
            }
            out[t * ROWS + r] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packed::{act_bytes, pack_activations, row_groups, MAX_TOKENS};
    use crate::scalar;
    use crate::testutil::Rng;
    use crate::types::QuantType;

    /// The reference equals the f64 dot of the dequantized Q4_K weights with the dequantized
    /// Q8_0 activations.
    #[test]
    fn reference_matches_dequantized_dot() {
        let mut rng = Rng::new(11);
        for &(rows, cols) in &[(4usize, 256usize), (6, 512), (1, 768), (9, 2048)] {
            let rb = QuantType::Q4_K.row_bytes(cols).unwrap();
            let mut w = vec![0u8; rows * rb];
            for r in 0..rows {
                let x = rng.normals(cols, 1.0);
                scalar::quantize_row(QuantType::Q4_K, &x, &mut w[r * rb..(r + 1) * rb]);
            }
            let ab = act_bytes(cols);
            let mut acts = vec![0u8; MAX_TOKENS * ab];
            let mut deq_a = Vec::new();
            for t in 0..MAX_TOKENS {
                let x = rng.normals(cols, 2.0);
                let mut q8 = vec![0u8; QuantType::Q8_0.row_bytes(cols).unwrap()];
                scalar::quantize_row(QuantType::Q8_0, &x, &mut q8);
                pack_activations(&q8, cols, &mut acts[t * ab..(t + 1) * ab]);
                let mut y = vec![0f32; cols];
                scalar::dequantize_row(QuantType::Q8_0, &q8, &mut y);
                deq_a.push(y);
            }
            let gb = crate::packed::group_bytes(Layout::Q4_Kx4, cols);
            for g in 0..row_groups(rows) {
                let mut p = vec![0u8; gb];
                pack_group_q4_kx4(&w, rows, cols, g, &mut p);
                let mut out = [0f32; ROWS * MAX_TOKENS];
                gemm_q4_kx4_ref(&p, &acts, ab, MAX_TOKENS, &mut out);
                for t in 0..MAX_TOKENS {
                    for r in 0..ROWS {
                        let row = g * ROWS + r;
                        let (want, mag) = if row < rows {
                            let mut x = vec![0f32; cols];
                            scalar::dequantize_row(
                                QuantType::Q4_K,
                                &w[row * rb..(row + 1) * rb],
                                &mut x,
                            );
                            let dot: f64 = x
                                .iter()
                                .zip(&deq_a[t])
                                .map(|(a, b)| *a as f64 * *b as f64)
                                .sum();
                            let mag: f64 = x
                                .iter()
                                .zip(&deq_a[t])
                                .map(|(a, b)| (*a as f64 * *b as f64).abs())
                                .sum();
                            (dot, mag)
                        } else {
                            (0.0, 0.0)
                        };
                        let got = out[t * ROWS + r] as f64;
                        assert!(
                            (got - want).abs() <= 1e-5 * (mag + 1.0),
                            "{rows}x{cols} row {row} tok {t}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
