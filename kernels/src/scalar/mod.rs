//! The scalar reference: the specification every SIMD kernel is tested against.
//!
//! Written for clarity, in safe code: blocks are parsed field by field from byte slices (no
//! alignment needed). Lengths are preconditions (callers validate tensor shapes); a mismatch is
//! a bug and panics with a message, valid input never panics.

pub mod attn;
pub mod dot;
pub mod kquants_dequant;
pub mod kquants_quant;
pub mod legacy;
pub mod stream;
pub mod vecops;

pub use dot::{dot_bf16_f32, dot_f16_f32, dot_f32};
pub use vecops::{add, rms_norm, scale, silu, silu_mul, softmax};

use crate::half::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16};
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
    match ty {
        QuantType::F32 => {
            for (v, b) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        QuantType::F16 => {
            for (v, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *v = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            }
        }
        QuantType::BF16 => {
            for (v, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *v = bf16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            }
        }
        QuantType::Q4_0 => legacy::dequantize_q4_0(src, dst),
        QuantType::Q4_1 => legacy::dequantize_q4_1(src, dst),
        QuantType::Q5_0 => legacy::dequantize_q5_0(src, dst),
        QuantType::Q5_1 => legacy::dequantize_q5_1(src, dst),
        QuantType::Q8_0 => legacy::dequantize_q8_0(src, dst),
        QuantType::Q8_1 => legacy::dequantize_q8_1(src, dst),
        QuantType::Q2_K => kquants_dequant::dequantize_q2_k(src, dst),
        QuantType::Q3_K => kquants_dequant::dequantize_q3_k(src, dst),
        QuantType::Q4_K => kquants_dequant::dequantize_q4_k(src, dst),
        QuantType::Q5_K => kquants_dequant::dequantize_q5_k(src, dst),
        QuantType::Q6_K => kquants_dequant::dequantize_q6_k(src, dst),
        QuantType::Q8_K => kquants_dequant::dequantize_q8_k(src, dst),
    }
}

/// Encodes `src` as type `ty` into `dst` with ggml's reference quantizer for that type
/// (F16/BF16: round to nearest even; F32: the little-endian bytes).
///
/// Precondition: `src.len()` is a multiple of `ty.block_len()` and
/// `dst.len() == ty.row_bytes(src.len())`.
pub fn quantize_row(ty: QuantType, src: &[f32], dst: &mut [u8]) {
    expect_bytes(ty, src.len(), dst.len());
    match ty {
        QuantType::F32 => {
            for (b, &v) in dst.chunks_exact_mut(4).zip(src) {
                b.copy_from_slice(&v.to_le_bytes());
            }
        }
        QuantType::F16 => {
            for (b, &v) in dst.chunks_exact_mut(2).zip(src) {
                b.copy_from_slice(&f32_to_f16(v).to_le_bytes());
            }
        }
        QuantType::BF16 => {
            for (b, &v) in dst.chunks_exact_mut(2).zip(src) {
                b.copy_from_slice(&f32_to_bf16(v).to_le_bytes());
            }
        }
        QuantType::Q4_0 => legacy::quantize_q4_0(src, dst),
        QuantType::Q4_1 => legacy::quantize_q4_1(src, dst),
        QuantType::Q5_0 => legacy::quantize_q5_0(src, dst),
        QuantType::Q5_1 => legacy::quantize_q5_1(src, dst),
        QuantType::Q8_0 => legacy::quantize_q8_0(src, dst),
        QuantType::Q8_1 => legacy::quantize_q8_1(src, dst),
        QuantType::Q2_K => kquants_quant::quantize_q2_k(src, dst),
        QuantType::Q3_K => kquants_quant::quantize_q3_k(src, dst),
        QuantType::Q4_K => kquants_quant::quantize_q4_k(src, dst),
        QuantType::Q5_K => kquants_quant::quantize_q5_k(src, dst),
        QuantType::Q6_K => kquants_quant::quantize_q6_k(src, dst),
        QuantType::Q8_K => kquants_quant::quantize_q8_k(src, dst),
    }
}

/// The scalar dot-product function for weights of type `ty` against activations of type
/// `ty.vec_dot_type()`, both given as bytes, over `n` elements.
pub fn vec_dot_fn(ty: QuantType) -> fn(&[u8], &[u8], usize) -> f32 {
    match ty {
        QuantType::F32 => dot::vec_dot_f32_f32,
        QuantType::F16 => dot::vec_dot_f16_f32,
        QuantType::BF16 => dot::vec_dot_bf16_f32,
        QuantType::Q4_0 => dot::vec_dot_q4_0_q8_0,
        QuantType::Q4_1 => dot::vec_dot_q4_1_q8_1,
        QuantType::Q5_0 => dot::vec_dot_q5_0_q8_0,
        QuantType::Q5_1 => dot::vec_dot_q5_1_q8_1,
        QuantType::Q8_0 => dot::vec_dot_q8_0_q8_0,
        QuantType::Q8_1 => dot::vec_dot_q8_1_q8_1,
        QuantType::Q2_K => dot::vec_dot_q2_k_q8_k,
        QuantType::Q3_K => dot::vec_dot_q3_k_q8_k,
        QuantType::Q4_K => dot::vec_dot_q4_k_q8_k,
        QuantType::Q5_K => dot::vec_dot_q5_k_q8_k,
        QuantType::Q6_K => dot::vec_dot_q6_k_q8_k,
        QuantType::Q8_K => dot::vec_dot_q8_k_q8_k,
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
