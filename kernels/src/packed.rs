//! Repacked ("interleaved") weight and activation layouts for the matmul microkernels, the
//! scalar packers that build them, and the scalar reference microkernel that defines them.
//!
//! # Why
//! A ggml Q4_0/Q8_0 row interleaves a 2-byte scale with every 16/32 bytes of quants, so a SIMD
//! kernel spends most of its time on unaligned loads and one scale conversion per block. Packed,
//! four weight rows share one stream of whole cache lines: the scales of 4 rows × 8 blocks come
//! first (64 bytes, converted with one instruction), then the quants of each row. Activations
//! are packed so that one 512-bit multiply-accumulate covers 4 blocks and the zero-point offset
//! of the weights (−8 for Q4_0, −128 for Q8_0 stored unsigned) is a per-block integer bias that
//! the accumulation starts from, so no extra instruction is needed for it.
//!
//! # Layouts (all little-endian; `S = ceil(cols / 256)` steps of 8 blocks; padding is zeros)
//! A *row group* holds 4 consecutive weight rows (the last group is padded with zero rows).
//! Per step (256 columns, blocks `8s..8s+8`; `b = 4h + k`, `h` the half, `k` 0..4):
//! - Q4_0x4 (576 bytes): `d[r][b]` f16 at `2(8r + b)` (64 bytes), then at `64 + 128r + 64h + 16k`
//!   the 16 ggml quant bytes of block `b` of row `r` (low nibble = element j, high = j + 16).
//! - Q8_0x4 (1088 bytes): the same 64 bytes of scales, then at `64 + 256r + 128h + 64p + 16k`
//!   the 16 quants `q[16p + j] + 128` (stored unsigned) of block `b`, `p` 0 = elements 0..16,
//!   1 = elements 16..32.
//! - Activations (512 bytes per step and token): per half `h` at `256h`: `lo` (64 × i8: elements
//!   0..16 of blocks 4h..4h+4), `hi` (elements 16..32), `bias` (16 × i32: lane `4k` =
//!   −8·Σ q of block k, other lanes 0; Q8_0 weights use 16 × that), `d` (16 × f32: lane l =
//!   scale of block `4h + l/4`). Quants and scales are exactly those of Q8_0 quantization
//!   ([`pack_activations`]).
//! - Q4_Kx16 (16-row groups, its own activation layout): see [`crate::packed_q4k`].
//!
//! The dot product is then, per block, `d_w · d_a · Σ_j (w_j − z) a_j` exactly as ggml's
//! `vec_dot_q4_0_q8_0` / `vec_dot_q8_0_q8_0` (only the f32 summation order differs).

use crate::blocks::{check, Block, BlockQ4_0, BlockQ8_0};
use crate::half::f16_to_f32;
use crate::types::QuantType;

/// Rows per row group of the 4-row layouts (Q4_0x4, Q8_0x4).
pub const ROWS: usize = 4;
/// The most rows any layout's row group has.
pub const MAX_ROWS: usize = 16;
/// Columns per step.
pub const STEP_COLS: usize = 256;
/// Blocks (of 32) per step.
const STEP_BLOCKS: usize = 8;
/// Bytes of packed activations per step and token.
pub const ACT_STEP_BYTES: usize = 512;

/// A packed weight layout (named after ggml's types, hence the underscores).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    Q4_0x4,
    Q8_0x4,
    /// Q4_K in 16-row groups, one row per 32-bit lane ([`crate::packed_q4k`]).
    Q4_Kx16,
}

/// How a layout wants its activations: the quantization and the packed arrangement.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActLayout {
    /// Q8_0 blocks arranged for the 4-row layouts ([`pack_activations`], `ACT_STEP_BYTES`).
    Q8_0x4,
    /// Q8_K super-blocks with per-sub-block sums ([`crate::packed_q4k::pack_activations`]).
    Q8_Kx16,
}

impl ActLayout {
    /// The type activations are quantized to before packing.
    pub fn quant_type(self) -> QuantType {
        match self {
            ActLayout::Q8_0x4 => QuantType::Q8_0,
            ActLayout::Q8_Kx16 => QuantType::Q8_K,
        }
    }

    /// Bytes per step and token.
    pub fn step_bytes(self) -> usize {
        match self {
            ActLayout::Q8_0x4 => ACT_STEP_BYTES,
            ActLayout::Q8_Kx16 => crate::packed_q4k::ACT_STEP,
        }
    }

    /// Bytes of one token's packed activations.
    pub fn bytes(self, cols: usize) -> usize {
        steps(cols) * self.step_bytes()
    }

    /// Rearranges one quantized row (`q`, `cols` elements of [`ActLayout::quant_type`]) into
    /// this layout (`dst`, [`ActLayout::bytes`] long).
    pub fn pack(self, q: &[u8], cols: usize, dst: &mut [u8]) {
        match self {
            ActLayout::Q8_0x4 => pack_activations(q, cols, dst),
            ActLayout::Q8_Kx16 => crate::packed_q4k::pack_activations(q, cols, dst),
        }
    }
}

/// Multiplies one packed row group (`w`: `rows()` weight rows, all steps) by `ntok` packed
/// activation rows (`a`, token t at `t·a_stride`), writing `out[t·rows() + r]`.
/// `ntok ≤ max_tokens()`.
pub type PackedGemmFn = fn(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]);

/// The most tokens one call of a 4-row layout's microkernel takes.
pub const X4_TOKENS: usize = 4;
/// The most tokens any layout's microkernel takes.
pub const MAX_TOKENS: usize = 8;

impl Layout {
    /// The packed layout for a ggml weight type, if there is one.
    pub fn for_type(ty: QuantType) -> Option<Layout> {
        match ty {
            QuantType::Q4_0 => Some(Layout::Q4_0x4),
            QuantType::Q8_0 => Some(Layout::Q8_0x4),
            QuantType::Q4_K => Some(Layout::Q4_Kx16),
            _ => None,
        }
    }

    /// The ggml type it repacks.
    pub fn source_type(self) -> QuantType {
        match self {
            Layout::Q4_0x4 => QuantType::Q4_0,
            Layout::Q8_0x4 => QuantType::Q8_0,
            Layout::Q4_Kx16 => QuantType::Q4_K,
        }
    }

    /// The activations it multiplies.
    pub fn act_layout(self) -> ActLayout {
        match self {
            Layout::Q4_Kx16 => ActLayout::Q8_Kx16,
            _ => ActLayout::Q8_0x4,
        }
    }

    /// Weight rows per row group.
    pub fn rows(self) -> usize {
        match self {
            Layout::Q4_Kx16 => crate::packed_q4k::ROWS16,
            _ => ROWS,
        }
    }

    /// The most tokens one microkernel call takes.
    pub fn max_tokens(self) -> usize {
        match self {
            Layout::Q4_Kx16 => MAX_TOKENS,
            _ => X4_TOKENS,
        }
    }

    /// Bytes of one step of one row group.
    pub fn step_bytes(self) -> usize {
        match self {
            Layout::Q4_0x4 => 64 + ROWS * 128,
            Layout::Q8_0x4 => 64 + ROWS * 256,
            Layout::Q4_Kx16 => crate::packed_q4k::STEP_BYTES,
        }
    }
}

/// Steps covering `cols` columns.
pub fn steps(cols: usize) -> usize {
    (cols + STEP_COLS - 1) / STEP_COLS
}

/// Row groups of `layout` covering `rows` rows.
pub fn row_groups(layout: Layout, rows: usize) -> usize {
    (rows + layout.rows() - 1) / layout.rows()
}

/// Bytes of one packed row group.
pub fn group_bytes(layout: Layout, cols: usize) -> usize {
    steps(cols) * layout.step_bytes()
}

/// Bytes of one token's activations packed for the 4-row layouts.
pub fn act_bytes(cols: usize) -> usize {
    ActLayout::Q8_0x4.bytes(cols)
}

/// Packs row group `g` of a ggml matrix (`src`: `rows` rows of `cols` elements in the layout's
/// source type) into `dst` (`group_bytes` long). Panics on inconsistent lengths.
pub fn pack_group(layout: Layout, src: &[u8], rows: usize, cols: usize, g: usize, dst: &mut [u8]) {
    let ty = layout.source_type();
    if layout == Layout::Q4_Kx16 {
        return crate::packed_q4k::pack_group(src, rows, cols, g, dst);
    }
    let row_bytes = ty
        .row_bytes(cols)
        .expect("cols is a whole number of blocks");
    assert_eq!(src.len(), rows * row_bytes, "pack_group: source length");
    assert_eq!(
        dst.len(),
        group_bytes(layout, cols),
        "pack_group: destination length"
    );
    assert!(
        g < row_groups(layout, rows),
        "pack_group: row group out of range"
    );
    for x in dst.iter_mut() {
        *x = 0;
    }
    let nb = cols / 32;
    let sb = layout.step_bytes();
    for r in 0..ROWS {
        let row = g * ROWS + r;
        if row >= rows {
            break;
        }
        let src_row = &src[row * row_bytes..(row + 1) * row_bytes];
        for b in 0..nb {
            let (s, bi) = (b / STEP_BLOCKS, b % STEP_BLOCKS);
            let (h, k) = (bi / 4, bi % 4);
            let step = &mut dst[s * sb..(s + 1) * sb];
            let d_at = 2 * (STEP_BLOCKS * r + bi);
            match layout {
                Layout::Q4_0x4 => {
                    let blk = &src_row[b * BlockQ4_0::BYTES..(b + 1) * BlockQ4_0::BYTES];
                    step[d_at..d_at + 2].copy_from_slice(&blk[..2]);
                    let at = 64 + 128 * r + 64 * h + 16 * k;
                    step[at..at + 16].copy_from_slice(&blk[2..18]);
                }
                Layout::Q4_Kx16 => unreachable!("handled above"),
                Layout::Q8_0x4 => {
                    let blk = &src_row[b * BlockQ8_0::BYTES..(b + 1) * BlockQ8_0::BYTES];
                    step[d_at..d_at + 2].copy_from_slice(&blk[..2]);
                    for p in 0..2 {
                        let at = 64 + 256 * r + 128 * h + 64 * p + 16 * k;
                        for j in 0..16 {
                            step[at + j] = blk[2 + 16 * p + j] ^ 0x80;
                        }
                    }
                }
            }
        }
    }
}

/// Rearranges one Q8_0 row (`q8`, `cols` elements, as `quantize_row_q8_0` writes it) into the
/// packed activation layout (`dst`, `act_bytes(cols)` long).
pub fn pack_activations(q8: &[u8], cols: usize, dst: &mut [u8]) {
    let nb = check::<BlockQ8_0>(cols, q8.len());
    pack_blocks(nb, cols, dst, |b| {
        let blk = &q8[b * BlockQ8_0::BYTES..(b + 1) * BlockQ8_0::BYTES];
        (
            f16_to_f32(u16::from_le_bytes([blk[0], blk[1]])),
            &blk[2..34],
        )
    })
}

/// Writes `nb` blocks of 32 quants (`block(b)` = scale, quants) in the packed activation layout.
fn pack_blocks<'a>(
    nb: usize,
    cols: usize,
    dst: &mut [u8],
    block: impl Fn(usize) -> (f32, &'a [u8]),
) {
    assert_eq!(
        dst.len(),
        act_bytes(cols),
        "pack_activations: destination length"
    );
    for x in dst.iter_mut() {
        *x = 0;
    }
    for b in 0..nb {
        let (d, qs) = block(b);
        let (s, bi) = (b / STEP_BLOCKS, b % STEP_BLOCKS);
        let (h, k) = (bi / 4, bi % 4);
        let half = &mut dst[s * ACT_STEP_BYTES + 256 * h..s * ACT_STEP_BYTES + 256 * (h + 1)];
        half[16 * k..16 * k + 16].copy_from_slice(&qs[..16]);
        half[64 + 16 * k..64 + 16 * k + 16].copy_from_slice(&qs[16..32]);
        let sum: i32 = qs.iter().map(|&q| q as i8 as i32).sum();
        let bias_at = 128 + 16 * k;
        half[bias_at..bias_at + 4].copy_from_slice(&(-8 * sum).to_le_bytes());
        for l in 0..4 {
            let at = 192 + 4 * (4 * k + l);
            half[at..at + 4].copy_from_slice(&d.to_le_bytes());
        }
    }
}

/// Checks the lengths a microkernel is given; returns the number of steps.
pub fn check_gemm(
    layout: Layout,
    w: &[u8],
    a: &[u8],
    a_stride: usize,
    ntok: usize,
    out: &[f32],
) -> usize {
    let sb = layout.step_bytes();
    assert!(w.len() % sb == 0, "packed gemm: weight length");
    let steps = w.len() / sb;
    let row = steps * layout.act_layout().step_bytes();
    assert!(
        (1..=layout.max_tokens()).contains(&ntok),
        "packed gemm: token count"
    );
    assert!(a_stride >= row, "packed gemm: activation stride");
    assert!(
        a.len() >= (ntok - 1) * a_stride + row,
        "packed gemm: activations"
    );
    assert!(
        out.len() >= ntok * layout.rows(),
        "packed gemm: output length"
    );
    steps
}

fn rd_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn rd_f32(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The scalar reference microkernel: reads the packed layouts exactly as documented above.
pub fn gemm_ref(layout: Layout, w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    if layout == Layout::Q4_Kx16 {
        return crate::packed_q4k::gemm_ref(w, a, a_stride, ntok, out);
    }
    let steps = check_gemm(layout, w, a, a_stride, ntok, out);
    let sb = layout.step_bytes();
    for t in 0..ntok {
        for r in 0..ROWS {
            let mut acc = 0.0f32;
            for s in 0..steps {
                let ws = &w[s * sb..(s + 1) * sb];
                let at = &a[t * a_stride + s * ACT_STEP_BYTES..];
                for bi in 0..STEP_BLOCKS {
                    let (h, k) = (bi / 4, bi % 4);
                    let half = &at[256 * h..256 * (h + 1)];
                    let mut isum = rd_i32(half, 128 + 16 * k);
                    for j in 0..16 {
                        let (wl, wh) = match layout {
                            Layout::Q4_0x4 => {
                                let q = ws[64 + 128 * r + 64 * h + 16 * k + j];
                                ((q & 0x0f) as i32, (q >> 4) as i32)
                            }
                            Layout::Q8_0x4 => {
                                let at = 64 + 256 * r + 128 * h + 16 * k + j;
                                (ws[at] as i32, ws[at + 64] as i32)
                            }
                            Layout::Q4_Kx16 => {
                                panic!("gemm_ref: use the layout's own reference")
                            }
                        };
                        let (al, ah) = (
                            half[16 * k + j] as i8 as i32,
                            half[64 + 16 * k + j] as i8 as i32,
                        );
                        isum += wl * al + wh * ah;
                    }
                    if layout == Layout::Q8_0x4 {
                        // The bias was written for a zero point of 8; Q8_0x4's is 128.
                        isum += 15 * rd_i32(half, 128 + 16 * k);
                    }
                    let d_at = 2 * (STEP_BLOCKS * r + bi);
                    let dw = f16_to_f32(u16::from_le_bytes([ws[d_at], ws[d_at + 1]]));
                    let da = rd_f32(half, 192 + 16 * k);
                    acc += dw * da * isum as f32;
                }
            }
            out[t * ROWS + r] = acc;
        }
    }
}

/// Reference for `Layout::Q4_0x4` (a `PackedGemmFn`).
pub fn gemm_q4_0x4_ref(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    gemm_ref(Layout::Q4_0x4, w, a, a_stride, ntok, out)
}

/// Reference for `Layout::Q8_0x4` (a `PackedGemmFn`).
pub fn gemm_q8_0x4_ref(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    gemm_ref(Layout::Q8_0x4, w, a, a_stride, ntok, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar;
    use crate::testutil::Rng;

    /// The packed reference equals the unpacked ggml dot product (up to f32 summation order).
    #[test]
    fn packed_reference_matches_vec_dot() {
        let mut rng = Rng::new(7);
        for &layout in &[Layout::Q4_0x4, Layout::Q8_0x4] {
            for &(rows, cols) in &[(4, 256), (5, 96), (8, 544), (3, 32), (9, 1024)] {
                let ty = layout.source_type();
                let rb = ty.row_bytes(cols).unwrap();
                let mut w = vec![0u8; rows * rb];
                for r in 0..rows {
                    let x = rng.normals(cols, 1.0);
                    scalar::quantize_row(ty, &x, &mut w[r * rb..(r + 1) * rb]);
                }
                let ntok = 3;
                let ab = act_bytes(cols);
                let mut acts = vec![0u8; ntok * ab];
                let mut q8s = Vec::new();
                for t in 0..ntok {
                    let x = rng.normals(cols, 2.0);
                    let mut q8 = vec![0u8; QuantType::Q8_0.row_bytes(cols).unwrap()];
                    scalar::quantize_row(QuantType::Q8_0, &x, &mut q8);
                    pack_activations(&q8, cols, &mut acts[t * ab..(t + 1) * ab]);
                    q8s.push(q8);
                }
                let gb = group_bytes(layout, cols);
                for g in 0..row_groups(layout, rows) {
                    let mut packed = vec![0u8; gb];
                    pack_group(layout, &w, rows, cols, g, &mut packed);
                    let mut out = [0f32; ROWS * X4_TOKENS];
                    gemm_ref(layout, &packed, &acts, ab, ntok, &mut out);
                    for t in 0..ntok {
                        for r in 0..ROWS {
                            let row = g * ROWS + r;
                            let want = if row < rows {
                                scalar::vec_dot(ty, &w[row * rb..(row + 1) * rb], &q8s[t], cols)
                            } else {
                                0.0
                            };
                            let got = out[t * ROWS + r];
                            assert!(
                                (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                                "{layout:?} {rows}x{cols} row {row} tok {t}: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
