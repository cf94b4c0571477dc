//! `QuantType` and its traits table: every per-type fact (ggml id, name, block geometry,
//! activation partner, scalar dequantize / quantize / dot) in one row per type.

/// A tensor element type, with the same ids and block layouts as ggml (`ggml_type`).
///
/// F32, F16 and BF16 are "blocks" of one element. The quantized types group 32 (legacy) or
/// 256 (K-quants) elements per block; see [`crate::blocks`] for the byte layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
#[repr(u8)]
pub enum QuantType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    IQ1_M,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

/// Elements per legacy block (`QK4_0`, `QK8_0`, ...).
pub const QK: usize = 32;
/// Elements per K-quant super-block (`QK_K`).
pub const QK_K: usize = 256;

/// Decodes a row of whole blocks to f32.
pub type DequantizeRowFn = fn(src: &[u8], dst: &mut [f32]);

/// Everything brisk knows about one type, in one place (ggml's `type_traits`): name, id, block
/// geometry, the activation type its dot products take, and the scalar reference functions.
/// SIMD tables ([`crate::Kernels`]) override the dot products and activation quantizers only.
#[derive(Clone, Copy)]
pub struct TypeTraits {
    pub ty: QuantType,
    /// The name as ggml prints it (upper-cased the way llama.cpp shows it).
    pub name: &'static str,
    /// `GGML_TYPE_*`, as stored in GGUF tensor infos.
    pub ggml_id: u32,
    /// Elements per block: 1 for F32/F16/BF16, 32 for the legacy types, 256 for K-quants.
    pub block_len: usize,
    /// Bytes per block (`ggml_type_size`).
    pub block_bytes: usize,
    /// The type activations are quantized to before a dot product with weights of this type
    /// (ggml's `vec_dot_type`, except that F16/BF16 weights meet **f32** activations).
    pub vec_dot_type: QuantType,
    /// Scalar reference decode of whole blocks.
    pub dequantize: DequantizeRowFn,
    /// The quantizer whose bytes equal `ggml_quantize_chunk`'s without an importance matrix
    /// (F16/BF16: round to nearest even); `None` for the types ggml quantizes only with an
    /// importance matrix (IQ2_XXS, IQ2_XS, IQ1_S: see [`crate::scalar::weighted`]).
    pub quantize: Option<crate::kernels::QuantizeRowFn>,
    /// Scalar reference dot with `vec_dot_type` activations; `None` for the activation-only
    /// types (Q8_1, Q8_K), which are never weights.
    pub vec_dot: Option<crate::kernels::VecDotFn>,
}

/// One row of [`TRAITS`]: `imatrix_only` for types without an unweighted quantizer,
/// `activation` for the activation-only types (no dot product).
macro_rules! traits {
    (@row $ty:ident, $id:expr, $len:expr, $bytes:expr, $act:ident, $deq:expr, $q:expr, $dot:expr) => {
        TypeTraits {
            ty: QuantType::$ty,
            name: stringify!($ty),
            ggml_id: $id,
            block_len: $len,
            block_bytes: $bytes,
            vec_dot_type: QuantType::$act,
            dequantize: $deq,
            quantize: $q,
            vec_dot: $dot,
        }
    };
    ($ty:ident, $id:expr, $len:expr, $bytes:expr, $act:ident, $deq:expr, imatrix_only, $dot:expr) => {
        traits!(@row $ty, $id, $len, $bytes, $act, $deq, None, Some($dot))
    };
    ($ty:ident, $id:expr, $len:expr, $bytes:expr, $act:ident, $deq:expr, $q:expr, activation) => {
        traits!(@row $ty, $id, $len, $bytes, $act, $deq, Some($q), None)
    };
    ($ty:ident, $id:expr, $len:expr, $bytes:expr, $act:ident, $deq:expr, $q:expr, $dot:expr) => {
        traits!(@row $ty, $id, $len, $bytes, $act, $deq, Some($q), Some($dot))
    };
}

/// The traits of every type, in [`QuantType::ALL`] order (checked by a test): type, ggml id,
/// block length, block bytes, activation partner, dequantize, quantize (`imatrix_only`: only weighted), dot.
#[rustfmt::skip]
static TRAITS: [TypeTraits; QuantType::COUNT] = {
    use crate::blocks::*;
    use crate::iq_blocks::*;
    use crate::scalar::{dot, floats as fl, iquants as iq, kquants_dequant as kd};
    use crate::scalar::{iq1_quant as iq1, iq_grid_quant as igq, iquants_quant as iqq, kquants_quant as kq, legacy as lg};
    use core::mem::size_of;
    [
        traits!(F32, 0, 1, 4, F32, fl::dequantize_f32, fl::quantize_f32, dot::vec_dot_f32_f32),
        traits!(F16, 1, 1, 2, F32, fl::dequantize_f16, fl::quantize_f16, dot::vec_dot_f16_f32),
        traits!(BF16, 30, 1, 2, F32, fl::dequantize_bf16, fl::quantize_bf16, dot::vec_dot_bf16_f32),
        traits!(Q4_0, 2, QK, size_of::<BlockQ4_0>(), Q8_0, lg::dequantize_q4_0, lg::quantize_q4_0, dot::vec_dot_q4_0_q8_0),
        traits!(Q4_1, 3, QK, size_of::<BlockQ4_1>(), Q8_1, lg::dequantize_q4_1, lg::quantize_q4_1, dot::vec_dot_q4_1_q8_1),
        traits!(Q5_0, 6, QK, size_of::<BlockQ5_0>(), Q8_0, lg::dequantize_q5_0, lg::quantize_q5_0, dot::vec_dot_q5_0_q8_0),
        traits!(Q5_1, 7, QK, size_of::<BlockQ5_1>(), Q8_1, lg::dequantize_q5_1, lg::quantize_q5_1, dot::vec_dot_q5_1_q8_1),
        traits!(Q8_0, 8, QK, size_of::<BlockQ8_0>(), Q8_0, lg::dequantize_q8_0, lg::quantize_q8_0, dot::vec_dot_q8_0_q8_0),
        traits!(Q8_1, 9, QK, size_of::<BlockQ8_1>(), Q8_1, lg::dequantize_q8_1, lg::quantize_q8_1, activation),
        traits!(Q2_K, 10, QK_K, size_of::<BlockQ2K>(), Q8_K, kd::dequantize_q2_k, kq::quantize_q2_k, dot::vec_dot_q2_k_q8_k),
        traits!(Q3_K, 11, QK_K, size_of::<BlockQ3K>(), Q8_K, kd::dequantize_q3_k, kq::quantize_q3_k, dot::vec_dot_q3_k_q8_k),
        traits!(Q4_K, 12, QK_K, size_of::<BlockQ4K>(), Q8_K, kd::dequantize_q4_k, kq::quantize_q4_k, dot::vec_dot_q4_k_q8_k),
        traits!(Q5_K, 13, QK_K, size_of::<BlockQ5K>(), Q8_K, kd::dequantize_q5_k, kq::quantize_q5_k, dot::vec_dot_q5_k_q8_k),
        traits!(Q6_K, 14, QK_K, size_of::<BlockQ6K>(), Q8_K, kd::dequantize_q6_k, kq::quantize_q6_k, dot::vec_dot_q6_k_q8_k),
        traits!(Q8_K, 15, QK_K, size_of::<BlockQ8K>(), Q8_K, kd::dequantize_q8_k, kq::quantize_q8_k, activation),
        traits!(IQ2_XXS, 16, QK_K, IQ2XXS_BYTES, Q8_K, iq::dequantize_iq2_xxs, imatrix_only, iq::vec_dot_iq2_xxs_q8_k),
        traits!(IQ2_XS, 17, QK_K, IQ2XS_BYTES, Q8_K, iq::dequantize_iq2_xs, imatrix_only, iq::vec_dot_iq2_xs_q8_k),
        traits!(IQ3_XXS, 18, QK_K, IQ3XXS_BYTES, Q8_K, iq::dequantize_iq3_xxs, igq::quantize_iq3_xxs, iq::vec_dot_iq3_xxs_q8_k),
        traits!(IQ1_S, 19, QK_K, IQ1S_BYTES, Q8_K, iq::dequantize_iq1_s, imatrix_only, iq::vec_dot_iq1_s_q8_k),
        traits!(IQ4_NL, 20, QK, IQ4NL_BYTES, Q8_0, iq::dequantize_iq4_nl, iqq::quantize_iq4_nl, iq::vec_dot_iq4_nl_q8_0),
        traits!(IQ3_S, 21, QK_K, IQ3S_BYTES, Q8_K, iq::dequantize_iq3_s, igq::quantize_iq3_s, iq::vec_dot_iq3_s_q8_k),
        traits!(IQ2_S, 22, QK_K, IQ2S_BYTES, Q8_K, iq::dequantize_iq2_s, igq::quantize_iq2_s, iq::vec_dot_iq2_s_q8_k),
        traits!(IQ4_XS, 23, QK_K, IQ4XS_BYTES, Q8_K, iq::dequantize_iq4_xs, iqq::quantize_iq4_xs, iq::vec_dot_iq4_xs_q8_k),
        traits!(IQ1_M, 29, QK_K, IQ1M_BYTES, Q8_K, iq::dequantize_iq1_m, iq1::quantize_iq1_m, iq::vec_dot_iq1_m_q8_k),
        traits!(TQ1_0, 34, QK_K, TQ1_0_BYTES, Q8_K, iq::dequantize_tq1_0, iqq::quantize_tq1_0, iq::vec_dot_tq1_0_q8_k),
        traits!(TQ2_0, 35, QK_K, TQ2_0_BYTES, Q8_K, iq::dequantize_tq2_0, iqq::quantize_tq2_0, iq::vec_dot_tq2_0_q8_k),
        traits!(MXFP4, 39, QK, MXFP4_BYTES, Q8_0, iq::dequantize_mxfp4, iqq::quantize_mxfp4, iq::vec_dot_mxfp4_q8_0),
    ]
};

impl QuantType {
    /// Number of types.
    pub const COUNT: usize = 27;

    /// Every supported type, in `ggml_type` id order except BF16 (id 30), which follows F16.
    pub const ALL: [QuantType; QuantType::COUNT] = [
        QuantType::F32,
        QuantType::F16,
        QuantType::BF16,
        QuantType::Q4_0,
        QuantType::Q4_1,
        QuantType::Q5_0,
        QuantType::Q5_1,
        QuantType::Q8_0,
        QuantType::Q8_1,
        QuantType::Q2_K,
        QuantType::Q3_K,
        QuantType::Q4_K,
        QuantType::Q5_K,
        QuantType::Q6_K,
        QuantType::Q8_K,
        QuantType::IQ2_XXS,
        QuantType::IQ2_XS,
        QuantType::IQ3_XXS,
        QuantType::IQ1_S,
        QuantType::IQ4_NL,
        QuantType::IQ3_S,
        QuantType::IQ2_S,
        QuantType::IQ4_XS,
        QuantType::IQ1_M,
        QuantType::TQ1_0,
        QuantType::TQ2_0,
        QuantType::MXFP4,
    ];

    /// This type's traits.
    pub fn traits(self) -> &'static TypeTraits {
        &TRAITS[self as usize]
    }

    /// Every type that can be a weight (has a dot product), in [`QuantType::ALL`] order.
    pub fn weights() -> impl Iterator<Item = QuantType> {
        QuantType::ALL
            .into_iter()
            .filter(|t| t.traits().vec_dot.is_some())
    }

    /// Every type with an unweighted quantizer (all but IQ2_XXS, IQ2_XS and IQ1_S, which need an
    /// importance matrix), in [`QuantType::ALL`] order.
    pub fn quantizable() -> impl Iterator<Item = QuantType> {
        QuantType::ALL
            .into_iter()
            .filter(|t| t.traits().quantize.is_some())
    }

    /// The type with ggml id `id` (`GGML_TYPE_*`), or `None` for ids brisk does not support.
    pub fn from_ggml_id(id: u32) -> Option<QuantType> {
        TRAITS.iter().find(|t| t.ggml_id == id).map(|t| t.ty)
    }

    /// The ggml type id (`GGML_TYPE_*`), as stored in GGUF tensor infos.
    pub fn ggml_id(self) -> u32 {
        self.traits().ggml_id
    }

    /// The name as ggml prints it (`ggml_type_name`, upper-cased the way llama.cpp shows it).
    pub fn name(self) -> &'static str {
        self.traits().name
    }

    /// Parses a name case-insensitively (`"q4_k"`, `"Q4_K"`, `"bf16"`).
    pub fn from_name(s: &str) -> Option<QuantType> {
        TRAITS
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(s))
            .map(|t| t.ty)
    }

    /// Elements per block: 1 for F32/F16/BF16, 32 for the legacy types, 256 for K-quants.
    pub fn block_len(self) -> usize {
        self.traits().block_len
    }

    /// Bytes per block (`ggml_type_size`).
    pub fn block_bytes(self) -> usize {
        self.traits().block_bytes
    }

    /// Bytes taken by `n` elements, or `None` if `n` is not a multiple of the block length or
    /// the size overflows `usize`.
    pub fn row_bytes(self, n: usize) -> Option<usize> {
        if n % self.block_len() != 0 {
            return None;
        }
        (n / self.block_len()).checked_mul(self.block_bytes())
    }

    /// The type the activations are quantized to before a dot product with weights of this type
    /// (ggml's `vec_dot_type`).
    ///
    /// Q4_0/Q5_0/Q8_0 → Q8_0, Q4_1/Q5_1 → Q8_1, K-quants → Q8_K, as in ggml. Q8_1 and Q8_K pair
    /// with themselves. F16 and BF16 weights pair with **F32** activations (unlike ggml, which
    /// rounds the activations to F16/BF16 first): simpler and more accurate. F32 pairs with F32.
    pub fn vec_dot_type(self) -> QuantType {
        self.traits().vec_dot_type
    }

    /// True for every block-quantized type (everything except F32, F16 and BF16).
    pub fn is_quantized(self) -> bool {
        self.block_len() > 1
    }
}

impl core::fmt::Display for QuantType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::QuantType;

    #[test]
    fn ids_names_and_sizes_match_ggml() {
        // (type, ggml id, name, block length, block bytes) from ggml-common.h / ggml.c.
        let table: [(QuantType, u32, &str, usize, usize); QuantType::COUNT] = [
            (QuantType::F32, 0, "F32", 1, 4),
            (QuantType::F16, 1, "F16", 1, 2),
            (QuantType::BF16, 30, "BF16", 1, 2),
            (QuantType::Q4_0, 2, "Q4_0", 32, 18),
            (QuantType::Q4_1, 3, "Q4_1", 32, 20),
            (QuantType::Q5_0, 6, "Q5_0", 32, 22),
            (QuantType::Q5_1, 7, "Q5_1", 32, 24),
            (QuantType::Q8_0, 8, "Q8_0", 32, 34),
            (QuantType::Q8_1, 9, "Q8_1", 32, 36),
            (QuantType::Q2_K, 10, "Q2_K", 256, 84),
            (QuantType::Q3_K, 11, "Q3_K", 256, 110),
            (QuantType::Q4_K, 12, "Q4_K", 256, 144),
            (QuantType::Q5_K, 13, "Q5_K", 256, 176),
            (QuantType::Q6_K, 14, "Q6_K", 256, 210),
            (QuantType::Q8_K, 15, "Q8_K", 256, 292),
            (QuantType::IQ2_XXS, 16, "IQ2_XXS", 256, 66),
            (QuantType::IQ2_XS, 17, "IQ2_XS", 256, 74),
            (QuantType::IQ3_XXS, 18, "IQ3_XXS", 256, 98),
            (QuantType::IQ1_S, 19, "IQ1_S", 256, 50),
            (QuantType::IQ4_NL, 20, "IQ4_NL", 32, 18),
            (QuantType::IQ3_S, 21, "IQ3_S", 256, 110),
            (QuantType::IQ2_S, 22, "IQ2_S", 256, 82),
            (QuantType::IQ4_XS, 23, "IQ4_XS", 256, 136),
            (QuantType::IQ1_M, 29, "IQ1_M", 256, 56),
            (QuantType::TQ1_0, 34, "TQ1_0", 256, 54),
            (QuantType::TQ2_0, 35, "TQ2_0", 256, 66),
            (QuantType::MXFP4, 39, "MXFP4", 32, 17),
        ];
        for (i, &(t, id, name, len, bytes)) in table.iter().enumerate() {
            assert_eq!(QuantType::ALL[i], t);
            assert_eq!(t.ggml_id(), id);
            assert_eq!(QuantType::from_ggml_id(id), Some(t));
            assert_eq!(t.name(), name);
            assert_eq!(format!("{}", t), name);
            assert_eq!(QuantType::from_name(name), Some(t));
            assert_eq!(QuantType::from_name(&name.to_lowercase()), Some(t));
            assert_eq!(t.block_len(), len);
            assert_eq!(t.block_bytes(), bytes);
            assert_eq!(t.is_quantized(), len > 1);
        }
        for id in [4u32, 5, 24, 28, 31, 36, 40, u32::MAX] {
            assert_eq!(QuantType::from_ggml_id(id), None);
        }
        assert_eq!(QuantType::from_name("q4_k_m"), None);
        assert_eq!(QuantType::from_name(""), None);
    }

    #[test]
    fn traits_rows_are_in_all_order() {
        for (i, t) in QuantType::ALL.iter().enumerate() {
            assert_eq!(t.traits().ty, *t);
            assert_eq!(*t as usize, i);
        }
        let weights: Vec<QuantType> = QuantType::weights().collect();
        assert!(!weights.contains(&QuantType::Q8_1) && !weights.contains(&QuantType::Q8_K));
        assert_eq!(weights.len(), QuantType::COUNT - 2);
        assert!(QuantType::IQ2_XS.traits().quantize.is_none());
        assert!(QuantType::IQ4_XS.traits().quantize.is_some());
    }

    #[test]
    fn row_bytes_checks_multiples_and_overflow() {
        assert_eq!(QuantType::Q4_0.row_bytes(64), Some(36));
        assert_eq!(QuantType::Q4_0.row_bytes(0), Some(0));
        assert_eq!(QuantType::Q4_0.row_bytes(33), None);
        assert_eq!(QuantType::Q6_K.row_bytes(4096), Some(16 * 210));
        assert_eq!(QuantType::F32.row_bytes(3), Some(12));
        assert_eq!(QuantType::F32.row_bytes(usize::MAX), None);
        assert_eq!(QuantType::Q8_0.row_bytes(usize::MAX / 32 * 32), None);
    }

    #[test]
    fn vec_dot_partners() {
        use QuantType::*;
        let pairs = [
            (F32, F32),
            (F16, F32),
            (BF16, F32),
            (Q4_0, Q8_0),
            (Q5_0, Q8_0),
            (Q8_0, Q8_0),
            (Q4_1, Q8_1),
            (Q5_1, Q8_1),
            (Q8_1, Q8_1),
            (Q2_K, Q8_K),
            (Q3_K, Q8_K),
            (Q4_K, Q8_K),
            (Q5_K, Q8_K),
            (Q6_K, Q8_K),
            (Q8_K, Q8_K),
        ];
        for (w, a) in pairs {
            assert_eq!(w.vec_dot_type(), a);
            assert_eq!(w.block_len() % a.block_len(), 0);
        }
    }
}
