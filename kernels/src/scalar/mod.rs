//! The scalar reference: the specification every SIMD kernel is tested against.
//!
//! Written for clarity, in safe code: blocks are parsed field by field from byte slices (no
//! alignment needed). Lengths are preconditions (callers validate tensor shapes); a mismatch is
//! a bug and panics with a message, valid input never panics.

pub mod attn;
pub mod dot;
pub mod floats;
pub mod iq1_quant;
pub mod iq_grid_quant;
pub(crate) mod iq_lattice;
pub mod iquants;
pub mod iquants_quant;
pub mod kquants_dequant;
pub mod kquants_quant;
pub mod legacy;
pub(crate) mod quant_search;
pub mod stream;
pub mod vecops;
pub mod weighted;

pub use dot::{dot_bf16_f32, dot_f16_f32, dot_f32};
pub use vecops::{add, rms_norm, scale, silu, silu_mul, softmax};

use crate::types::QuantType;

fn expect_bytes(ty: QuantType, n: usize, bytes: usize) {
    match ty.row_bytes(n) {
        Some(b) if b == bytes => {}
        _ => panic!(
            "{}: {} elements do not fit {} bytes (block length {}, block bytes {})",
            ty.name(),
            n,
            bytes,
            ty.block_len(),
            ty.block_bytes()
        ),
    }
}

/// Decodes `dst.len()` elements of type `ty` from `src`.
///
/// Precondition: `dst.len()` is a multiple of `ty.block_len()` and
/// `src.len() == ty.row_bytes(dst.len())`.
pub fn dequantize_row(ty: QuantType, src: &[u8], dst: &mut [f32]) {
    expect_bytes(ty, dst.len(), src.len());
    (ty.traits().dequantize)(src, dst)
}

/// Encodes `src` as type `ty` into `dst` with ggml's reference quantizer for that type
/// (F16/BF16: round to nearest even; F32: the little-endian bytes; IQ4_NL/IQ4_XS: the scale
/// search `ggml_quantize_chunk` runs). Panics for the types ggml quantizes only with an
/// importance matrix (`traits().quantize` is `None`: IQ2_XXS, IQ2_XS, IQ1_S; use
/// [`weighted::quantize_row_weighted`]).
///
/// Precondition: `src.len()` is a multiple of `ty.block_len()` and
/// `dst.len() == ty.row_bytes(src.len())`.
pub fn quantize_row(ty: QuantType, src: &[f32], dst: &mut [u8]) {
    expect_bytes(ty, src.len(), dst.len());
    match ty.traits().quantize {
        Some(q) => q(src, dst),
        None => panic!(
            "{}: ggml quantizes this type only with an importance matrix",
            ty.name()
        ),
    }
}

/// The scalar dot-product function for weights of type `ty` against activations of type
/// `ty.vec_dot_type()`, both given as bytes, over `n` elements. Panics for the activation-only
/// types (Q8_1, Q8_K), which are never weights.
pub fn vec_dot_fn(ty: QuantType) -> crate::kernels::VecDotFn {
    match ty.traits().vec_dot {
        Some(f) => f,
        None => panic!("{} is an activation type, not a weight type", ty.name()),
    }
}

/// Dot product of `n` weights of type `ty` (`w`) with `n` activations of type
/// `ty.vec_dot_type()` (`a`, e.g. from [`quantize_row`]).
///
/// Precondition: `w.len() == ty.row_bytes(n)` and `a.len() == ty.vec_dot_type().row_bytes(n)`.
pub fn vec_dot(ty: QuantType, w: &[u8], a: &[u8], n: usize) -> f32 {
    expect_bytes(ty, n, w.len());
    expect_bytes(ty.vec_dot_type(), n, a.len());
    vec_dot_fn(ty)(w, a, n)
}
