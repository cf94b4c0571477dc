//! The Q4_0x16 and Q8_0x16 (and Q5_0x16, stored as Q8_0x16) packed layouts: 16-row groups of 32-element blocks for the
//! microkernel that holds one weight row per 32-bit lane (as [`crate::packed_q4k`] does for
//! Q4_K), and their activation layout.
//!
//! Per row group, `S = ceil(cols/256)` steps of 8 blocks (rows past the matrix and blocks past
//! `cols` are zeros):
//! - at `2(16j + r)`: `d[r][j]` f16, the scale of block `j` of row `r` (256 bytes);
//! - Q4_0x16, at `256 + 256j + 64p + 4r + i` (`p`, `i` in 0..4): ggml's quant byte `4p + i` of
//!   the block (low nibble = element `4p + i`, high = element `16 + 4p + i`);
//! - Q8_0x16, at `256 + 512j + 64k + 4r + i` (`k` in 0..8): element `4k + i` of the block + 128
//!   (stored unsigned). Q5_0x16 is the same bytes, element `q − 16` for Q5_0's 5-bit `q`.
//!
//! Activations ([`ACT_STEP`] bytes per step and token), from one Q8_0 row: the 256 quants at 0,
//! at `256 + 4j` the i32 `−8·Σ a` of block `j` (the Q4_0 zero point times the block sum; Q8_0's
//! is 16 times that), at `288 + 4j` the f32 scale of block `j`. Each block's dot is then
//! `d_w·d_a·(bias + Σ q·a)`, exactly ggml's `vec_dot_q4_0_q8_0` / `vec_dot_q8_0_q8_0` integers.

use crate::blocks::{check, Block, BlockQ4_0, BlockQ5_0, BlockQ8_0};
use crate::half::f16_to_f32;
use crate::packed::{check_gemm, Layout, ROWS};

/// Activation bytes per step and token.
pub const ACT_STEP: usize = 320;

/// Bytes per step of a row group.
pub fn step_bytes(layout: Layout) -> usize {
    match layout {
        Layout::Q8_0x16 | Layout::Q5_0x16 => 256 + 8 * 512,
        _ => 256 + 8 * 256,
    }
}

/// Element `e` of a Q5_0 block as a Q8_0 quant (`q − 16`).
fn q5_0_element(blk: &[u8], e: usize) -> i8 {
    let qh = u32::from_le_bytes([blk[2], blk[3], blk[4], blk[5]]);
    let nibble = if e < 16 {
        blk[6 + e] & 0x0f
    } else {
        blk[6 + e - 16] >> 4
    };
    let high = ((qh >> e) & 1) as u8;
    ((nibble | (high << 4)) as i8) - 16
}

/// Packs row group `g` (rows `16g..16g+16`) of a Q4_0, Q5_0 or Q8_0 matrix (`src`: `rows` rows of
/// `cols` elements) into `dst` (`group_bytes` long).
pub fn pack_group(layout: Layout, src: &[u8], rows: usize, cols: usize, g: usize, dst: &mut [u8]) {
    let q5 = layout == Layout::Q5_0x16;
    let q8 = layout == Layout::Q8_0x16 || q5;
    let bb = match layout {
        Layout::Q4_0x16 => BlockQ4_0::BYTES,
        Layout::Q5_0x16 => BlockQ5_0::BYTES,
        Layout::Q8_0x16 => BlockQ8_0::BYTES,
        _ => panic!("pack_group: {layout:?}"),
    };
    assert!(cols % 32 == 0, "{layout:?}: cols is whole blocks");
    let nb = cols / 32;
    let sb = step_bytes(layout);
    assert_eq!(src.len(), rows * nb * bb, "{layout:?}: source length");
    assert_eq!(
        dst.len(),
        crate::packed::steps(cols) * sb,
        "{layout:?}: destination length"
    );
    assert!(g * ROWS < rows.max(1), "{layout:?}: row group out of range");
    for x in dst.iter_mut() {
        *x = 0;
    }
    for r in 0..ROWS {
        let row = g * ROWS + r;
        if row >= rows {
            break;
        }
        for b in 0..nb {
            let blk = &src[(row * nb + b) * bb..(row * nb + b + 1) * bb];
            let (s, j) = (b / 8, b % 8);
            let step = &mut dst[s * sb..(s + 1) * sb];
            step[2 * (16 * j + r)..2 * (16 * j + r) + 2].copy_from_slice(&blk[..2]);
            for k in 0..if q8 { 8 } else { 4 } {
                for i in 0..4 {
                    let e = 4 * k + i;
                    if q5 {
                        step[256 + 512 * j + 64 * k + 4 * r + i] =
                            q5_0_element(blk, e) as u8 ^ 0x80;
                    } else if q8 {
                        step[256 + 512 * j + 64 * k + 4 * r + i] = blk[2 + e] ^ 0x80;
                    } else {
                        step[256 + 256 * j + 64 * k + 4 * r + i] = blk[2 + e];
                    }
                }
            }
        }
    }
}

/// Rearranges one Q8_0 row (`q8`, `cols` elements) into the x16 activation layout (`dst`,
/// `steps(cols)·ACT_STEP` long).
pub fn pack_activations(q8: &[u8], cols: usize, dst: &mut [u8]) {
    let nb = check::<BlockQ8_0>(cols, q8.len());
    assert_eq!(
        dst.len(),
        crate::packed::steps(cols) * ACT_STEP,
        "Q8_0x16: destination length"
    );
    for x in dst.iter_mut() {
        *x = 0;
    }
    for b in 0..nb {
        let blk = &q8[b * BlockQ8_0::BYTES..(b + 1) * BlockQ8_0::BYTES];
        let (s, j) = (b / 8, b % 8);
        let step = &mut dst[s * ACT_STEP..(s + 1) * ACT_STEP];
        step[32 * j..32 * j + 32].copy_from_slice(&blk[2..34]);
        let sum: i32 = blk[2..34].iter().map(|&q| q as i8 as i32).sum();
        step[256 + 4 * j..260 + 4 * j].copy_from_slice(&(-8 * sum).to_le_bytes());
        let d = f16_to_f32(u16::from_le_bytes([blk[0], blk[1]]));
        step[288 + 4 * j..292 + 4 * j].copy_from_slice(&d.to_le_bytes());
    }
}

fn rd_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The scalar reference microkernel for Q4_0x16 and Q8_0x16: the block integers as ggml forms
/// them, one f32 scaling per block.
pub fn gemm_ref(layout: Layout, w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(layout, w, a, a_stride, ntok, out);
    let (q8, sb) = (layout != Layout::Q4_0x16, step_bytes(layout));
    for t in 0..ntok {
        for r in 0..ROWS {
            let mut acc = 0.0f32;
            for s in 0..steps {
                let ws = &w[s * sb..(s + 1) * sb];
                let at = &a[t * a_stride + s * ACT_STEP..t * a_stride + (s + 1) * ACT_STEP];
                for j in 0..8 {
                    let bias = rd_i32(at, 256 + 4 * j);
                    let mut isum = if q8 { 16 * bias } else { bias };
                    for e in 0..32 {
                        let q = if q8 {
                            ws[256 + 512 * j + 64 * (e / 4) + 4 * r + e % 4] as i32
                        } else {
                            let byte = ws[256 + 256 * j + 64 * ((e % 16) / 4) + 4 * r + e % 4];
                            (if e < 16 { byte & 0x0f } else { byte >> 4 }) as i32
                        };
                        isum += q * at[32 * j + e] as i8 as i32;
                    }
                    let dw = f16_to_f32(u16::from_le_bytes([
                        ws[2 * (16 * j + r)],
                        ws[2 * (16 * j + r) + 1],
                    ]));
                    let da = f32::from_le_bytes([
                        at[288 + 4 * j],
                        at[289 + 4 * j],
                        at[290 + 4 * j],
                        at[291 + 4 * j],
                    ]);
                    acc += dw * da * isum as f32;
                }
            }
            out[t * ROWS + r] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::packed::{test_support, Layout};
    use crate::testutil::Rng;

    /// The reference equals ggml's dot product on the unpacked rows (up to f32 summation
    /// order), including widths that leave a step partly padded.
    #[test]
    fn reference_matches_vec_dot() {
        let mut rng = Rng::new(5);
        let shapes = [(16, 256), (5, 96), (17, 544), (3, 32), (33, 1024)];
        for layout in [Layout::Q4_0x16, Layout::Q5_0x16, Layout::Q8_0x16] {
            test_support::reference_matches_vec_dot(layout, &shapes, &mut rng, 1e-4);
        }
    }
}
