//! Float weights (F32, F16, BF16) times f32 activations for several tokens at once: the
//! operation, its scalar reference, and the contract the SIMD versions keep.
//!
//! A SIMD version converts each weight vector once and multiplies it into every token of a
//! block (4 rows × up to 6 tokens with AVX-512), so a batch reads and converts the weights once
//! instead of once per token — what makes verifying a speculative draft, or a prompt, cost
//! little more than one token on a float model. Every output is a single accumulator over
//! its row's columns in order, then one horizontal sum: the result for a (row, token) is the
//! same bits whatever `rows` and `ntok` are, so one token decoded alone and the same token
//! verified inside a batch get identical logits (greedy speculative decoding relies on it).

use crate::half::{bf16_to_f32, f16_to_f32};
use crate::types::QuantType;

/// The weight element types this operation takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatType {
    F32,
    F16,
    BF16,
}

impl FloatType {
    pub fn of(ty: QuantType) -> Option<FloatType> {
        match ty {
            QuantType::F32 => Some(FloatType::F32),
            QuantType::F16 => Some(FloatType::F16),
            QuantType::BF16 => Some(FloatType::BF16),
            _ => None,
        }
    }

    /// Bytes per weight.
    pub fn bytes(self) -> usize {
        match self {
            FloatType::F32 => 4,
            FloatType::F16 | FloatType::BF16 => 2,
        }
    }

    /// Weight `i` of `w` (little-endian).
    pub fn get(self, w: &[u8], i: usize) -> f32 {
        match self {
            FloatType::F32 => {
                f32::from_le_bytes([w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]])
            }
            FloatType::F16 => f16_to_f32(u16::from_le_bytes([w[2 * i], w[2 * i + 1]])),
            FloatType::BF16 => bf16_to_f32(u16::from_le_bytes([w[2 * i], w[2 * i + 1]])),
        }
    }
}

/// `out[t·rows + r] = Σ_c w[r][c]·x[t][c]`: `rows` weight rows of `cols` elements of `ty`
/// (`w`, row-major little-endian bytes), `ntok` activation rows (`x`, `ntok·cols`).
pub type FloatGemmFn =
    fn(ty: FloatType, w: &[u8], rows: usize, cols: usize, x: &[f32], ntok: usize, out: &mut [f32]);

/// The lengths every version checks (panics on a mismatch, as the scalar reference does).
pub fn check(
    ty: FloatType,
    w: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    ntok: usize,
    out: &[f32],
) {
    assert_eq!(
        w.len(),
        rows * cols * ty.bytes(),
        "float_gemm: weight length"
    );
    assert_eq!(x.len(), ntok * cols, "float_gemm: activation length");
    assert_eq!(out.len(), ntok * rows, "float_gemm: output length");
}

/// One block of a SIMD version's work: `nr` rows × `nt` tokens, the weights of its first row at
/// `w` (`row_bytes` apart), its first token's activations at `x` (`cols` apart), its output at
/// `out` (`out[t·out_stride + r]`).
// Used by the x86 versions only (NEON has none yet).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct Block {
    pub nr: usize,
    pub nt: usize,
    pub w: *const u8,
    pub row_bytes: usize,
    pub x: *const f32,
    pub cols: usize,
    pub out: *mut f32,
    pub out_stride: usize,
}

/// What every SIMD version shares: checks the lengths, then cuts the product into blocks of at
/// most `r` rows × `t` tokens, sweeping the rows once per tile of `token_tile` tokens (whose
/// activations stay in L2), and hands each to `block`. Every block lies inside the checked
/// slices.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn run_blocks(
    ty: FloatType,
    w: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    ntok: usize,
    out: &mut [f32],
    (r, t, token_tile): (usize, usize, usize),
    mut block: impl FnMut(&Block),
) {
    check(ty, w, rows, cols, x, ntok, out);
    let row_bytes = cols * ty.bytes();
    for t0 in (0..ntok).step_by(token_tile) {
        let t_end = (t0 + token_tile).min(ntok);
        for r0 in (0..rows).step_by(r) {
            for t1 in (t0..t_end).step_by(t) {
                block(&Block {
                    nr: r.min(rows - r0),
                    nt: t.min(t_end - t1),
                    w: w[r0 * row_bytes..].as_ptr(),
                    row_bytes,
                    x: x[t1 * cols..].as_ptr(),
                    cols,
                    out: out[t1 * rows + r0..].as_mut_ptr(),
                    out_stride: rows,
                });
            }
        }
    }
}

/// Scalar reference: each output summed in f64, in column order.
pub fn float_gemm(
    ty: FloatType,
    w: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    ntok: usize,
    out: &mut [f32],
) {
    check(ty, w, rows, cols, x, ntok, out);
    let row_bytes = cols * ty.bytes();
    for t in 0..ntok {
        let xt = &x[t * cols..(t + 1) * cols];
        for r in 0..rows {
            let wr = &w[r * row_bytes..(r + 1) * row_bytes];
            let mut sum = 0.0f64;
            for (c, &v) in xt.iter().enumerate() {
                sum += (ty.get(wr, c) * v) as f64;
            }
            out[t * rows + r] = sum as f32;
        }
    }
}
