//! Repacked weight and activation layouts for the matmul microkernels: what they have in
//! common (row groups, steps, length checks) and the dispatch to each layout's packer and
//! scalar reference microkernel, which define the layouts.
//!
//! # Why
//! A ggml row interleaves a block's scale with its quants, so a SIMD kernel over one row
//! spends its time on unaligned loads, per-block scale conversions and horizontal sums. Packed,
//! 16 weight rows share one stream of whole cache lines, one row per 32-bit lane: 4 quants of
//! each of the 16 rows fill one 512-bit register, and one `vpdpbusd` against 4 activation bytes
//! broadcast to every lane advances all 16 rows at once. A lane then sums a whole block (or
//! Q4_K sub-block) of its row in integers, exactly as ggml's dot product does, before one
//! convert and FMA apply the scales; with AVX-512, 16 rows × up to 8 tokens per call reuse
//! every unpacked weight vector 8 times (AVX2: 8 rows × up to 4 tokens per pass). The outputs of a call are 16 consecutive rows, stored as one vector
//! per token. No horizontal sum is ever needed.
//!
//! # Layouts
//! A *row group* holds 16 consecutive weight rows (the last group is padded with zero rows); a
//! *step* is 256 columns (padded with zeros).
//! - Q4_0x16, Q8_0x16: [`crate::packed_x16`]; activations [`ActLayout::Q8_0x16`]. Q5_0x16 is
//!   Q5_0 stored as Q8_0x16 (a 5-bit quant minus 16 is a Q8_0 quant, the scale unchanged):
//!   the same integers as ggml's Q5_0 dot, through the Q8_0x16 microkernel.
//! - Q4_Kx16: [`crate::packed_q4k`], Q6_Kx16: [`crate::packed_q6k`]; activations
//!   [`ActLayout::Q8_Kx16`].

use crate::types::QuantType;

/// Rows per row group.
pub const ROWS: usize = 16;
/// Columns per step.
pub const STEP_COLS: usize = 256;
/// The most tokens one microkernel call takes.
pub const MAX_TOKENS: usize = 8;

/// A packed weight layout (named after ggml's types, hence the underscores).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    Q4_0x16,
    Q5_0x16,
    Q8_0x16,
    Q4_Kx16,
    Q6_Kx16,
}

/// How a layout wants its activations: the quantization and the packed arrangement.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActLayout {
    /// Q8_0 blocks with their zero-point biases and scales ([`crate::packed_x16`]).
    Q8_0x16,
    /// Q8_K super-blocks with per-sub-block sums ([`crate::packed_q4k`]).
    Q8_Kx16,
}

impl ActLayout {
    /// The type activations are quantized to before packing.
    pub fn quant_type(self) -> QuantType {
        match self {
            ActLayout::Q8_0x16 => QuantType::Q8_0,
            ActLayout::Q8_Kx16 => QuantType::Q8_K,
        }
    }

    /// Bytes per step and token.
    pub fn step_bytes(self) -> usize {
        match self {
            ActLayout::Q8_0x16 => crate::packed_x16::ACT_STEP,
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
            ActLayout::Q8_0x16 => crate::packed_x16::pack_activations(q, cols, dst),
            ActLayout::Q8_Kx16 => crate::packed_q4k::pack_activations(q, cols, dst),
        }
    }
}

/// Multiplies one packed row group (`w`: 16 weight rows, all steps) by `ntok` packed
/// activation rows (`a`, token t at `t·a_stride`), writing `out[t·16 + r]`.
/// `1 ≤ ntok ≤ MAX_TOKENS`.
pub type PackedGemmFn = fn(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]);

impl Layout {
    /// The packed layout for a ggml weight type, if there is one.
    pub fn for_type(ty: QuantType) -> Option<Layout> {
        match ty {
            QuantType::Q4_0 => Some(Layout::Q4_0x16),
            QuantType::Q5_0 => Some(Layout::Q5_0x16),
            QuantType::Q8_0 => Some(Layout::Q8_0x16),
            QuantType::Q4_K => Some(Layout::Q4_Kx16),
            QuantType::Q6_K => Some(Layout::Q6_Kx16),
            _ => None,
        }
    }

    /// The ggml type it repacks.
    pub fn source_type(self) -> QuantType {
        match self {
            Layout::Q4_0x16 => QuantType::Q4_0,
            Layout::Q5_0x16 => QuantType::Q5_0,
            Layout::Q8_0x16 => QuantType::Q8_0,
            Layout::Q4_Kx16 => QuantType::Q4_K,
            Layout::Q6_Kx16 => QuantType::Q6_K,
        }
    }

    /// The activations it multiplies.
    pub fn act_layout(self) -> ActLayout {
        match self {
            Layout::Q4_Kx16 | Layout::Q6_Kx16 => ActLayout::Q8_Kx16,
            Layout::Q4_0x16 | Layout::Q5_0x16 | Layout::Q8_0x16 => ActLayout::Q8_0x16,
        }
    }

    /// Bytes of one step of one row group.
    pub fn step_bytes(self) -> usize {
        match self {
            Layout::Q4_Kx16 => crate::packed_q4k::STEP_BYTES,
            Layout::Q6_Kx16 => crate::packed_q6k::STEP_BYTES,
            Layout::Q4_0x16 | Layout::Q5_0x16 | Layout::Q8_0x16 => {
                crate::packed_x16::step_bytes(self)
            }
        }
    }
}

/// Steps covering `cols` columns.
pub fn steps(cols: usize) -> usize {
    (cols + STEP_COLS - 1) / STEP_COLS
}

/// Row groups covering `rows` rows.
pub fn row_groups(rows: usize) -> usize {
    (rows + ROWS - 1) / ROWS
}

/// Bytes of one packed row group.
pub fn group_bytes(layout: Layout, cols: usize) -> usize {
    steps(cols) * layout.step_bytes()
}

/// Packs row group `g` of a ggml matrix (`src`: `rows` rows of `cols` elements in the layout's
/// source type) into `dst` (`group_bytes` long). Panics on inconsistent lengths.
pub fn pack_group(layout: Layout, src: &[u8], rows: usize, cols: usize, g: usize, dst: &mut [u8]) {
    match layout {
        Layout::Q4_Kx16 => crate::packed_q4k::pack_group(src, rows, cols, g, dst),
        Layout::Q6_Kx16 => crate::packed_q6k::pack_group(src, rows, cols, g, dst),
        Layout::Q4_0x16 | Layout::Q5_0x16 | Layout::Q8_0x16 => {
            crate::packed_x16::pack_group(layout, src, rows, cols, g, dst)
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
    assert!((1..=MAX_TOKENS).contains(&ntok), "packed gemm: token count");
    assert!(a_stride >= row, "packed gemm: activation stride");
    assert!(
        a.len() >= (ntok - 1) * a_stride + row,
        "packed gemm: activations"
    );
    assert!(out.len() >= ntok * ROWS, "packed gemm: output length");
    steps
}

/// The scalar reference microkernel of `layout` (a `PackedGemmFn` given the layout): reads the
/// packed layouts exactly as documented in their modules.
pub fn gemm_ref(layout: Layout, w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    match layout {
        Layout::Q4_Kx16 => crate::packed_q4k::gemm_ref(w, a, a_stride, ntok, out),
        Layout::Q6_Kx16 => crate::packed_q6k::gemm_ref(w, a, a_stride, ntok, out),
        Layout::Q4_0x16 | Layout::Q5_0x16 | Layout::Q8_0x16 => {
            crate::packed_x16::gemm_ref(layout, w, a, a_stride, ntok, out)
        }
    }
}

/// Test support: a layout's scalar reference against ggml's `vec_dot` on the unpacked rows.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::scalar;
    use crate::testutil::Rng;

    /// For each `(rows, cols)`: random weight rows of the layout's source type and
    /// `MAX_TOKENS` random activation rows, packed; every output of `gemm_ref` (padding rows
    /// included, which must be 0) must equal `vec_dot` within `tol·(1 + |want|)`.
    pub(crate) fn reference_matches_vec_dot(
        layout: Layout,
        shapes: &[(usize, usize)],
        rng: &mut Rng,
        tol: f32,
    ) {
        let ty = layout.source_type();
        let act = layout.act_layout();
        let at = act.quant_type();
        for &(rows, cols) in shapes {
            let rb = ty.row_bytes(cols).unwrap();
            let mut w = vec![0u8; rows * rb];
            for r in 0..rows {
                let x = rng.normals(cols, 1.0);
                scalar::quantize_row(ty, &x, &mut w[r * rb..(r + 1) * rb]);
            }
            let ab = act.bytes(cols);
            let mut acts = vec![0u8; MAX_TOKENS * ab];
            let mut q8s = Vec::new();
            for t in 0..MAX_TOKENS {
                let x = rng.normals(cols, 2.0);
                let mut q8 = vec![0u8; at.row_bytes(cols).unwrap()];
                scalar::quantize_row(at, &x, &mut q8);
                act.pack(&q8, cols, &mut acts[t * ab..(t + 1) * ab]);
                q8s.push(q8);
            }
            for g in 0..row_groups(rows) {
                let mut p = vec![0u8; group_bytes(layout, cols)];
                pack_group(layout, &w, rows, cols, g, &mut p);
                let mut out = [0f32; ROWS * MAX_TOKENS];
                gemm_ref(layout, &p, &acts, ab, MAX_TOKENS, &mut out);
                for (t, q8) in q8s.iter().enumerate() {
                    for r in 0..ROWS {
                        let row = g * ROWS + r;
                        let want = if row < rows {
                            scalar::vec_dot(ty, &w[row * rb..(row + 1) * rb], q8, cols)
                        } else {
                            0.0
                        };
                        let got = out[t * ROWS + r];
                        assert!(
                            (got - want).abs() <= tol * (1.0 + want.abs()),
                            "{layout:?} {rows}x{cols} row {row} tok {t}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}
