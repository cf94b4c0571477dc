//! `QuantType`: the one `match` over tensor element types (ggml ids, names, block geometry).

/// A tensor element type, with the same ids and block layouts as ggml (`ggml_type`).
///
/// F32, F16 and BF16 are "blocks" of one element. The quantized types group 32 (legacy) or
/// 256 (K-quants) elements per block; see [`crate::blocks`] for the byte layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
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
}

/// Elements per legacy block (`QK4_0`, `QK8_0`, ...).
pub const QK: usize = 32;
/// Elements per K-quant super-block (`QK_K`).
pub const QK_K: usize = 256;

impl QuantType {
    /// Every supported type, in `ggml_type` id order except BF16 (id 30) which follows F16.
    pub const ALL: [QuantType; 15] = [
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
    ];

    /// The type with ggml id `id` (`GGML_TYPE_*`), or `None` for ids brisk does not support.
    pub fn from_ggml_id(id: u32) -> Option<QuantType> {
        QuantType::ALL.iter().copied().find(|t| t.ggml_id() == id)
    }

    /// The ggml type id (`GGML_TYPE_*`), as stored in GGUF tensor infos.
    pub fn ggml_id(self) -> u32 {
        match self {
            QuantType::F32 => 0,
            QuantType::F16 => 1,
            QuantType::Q4_0 => 2,
            QuantType::Q4_1 => 3,
            QuantType::Q5_0 => 6,
            QuantType::Q5_1 => 7,
            QuantType::Q8_0 => 8,
            QuantType::Q8_1 => 9,
            QuantType::Q2_K => 10,
            QuantType::Q3_K => 11,
            QuantType::Q4_K => 12,
            QuantType::Q5_K => 13,
            QuantType::Q6_K => 14,
            QuantType::Q8_K => 15,
            QuantType::BF16 => 30,
        }
    }

    /// The name as ggml prints it (`ggml_type_name`, upper-cased the way llama.cpp shows it).
    pub fn name(self) -> &'static str {
        match self {
            QuantType::F32 => "F32",
            QuantType::F16 => "F16",
            QuantType::BF16 => "BF16",
            QuantType::Q4_0 => "Q4_0",
            QuantType::Q4_1 => "Q4_1",
            QuantType::Q5_0 => "Q5_0",
            QuantType::Q5_1 => "Q5_1",
            QuantType::Q8_0 => "Q8_0",
            QuantType::Q8_1 => "Q8_1",
            QuantType::Q2_K => "Q2_K",
            QuantType::Q3_K => "Q3_K",
            QuantType::Q4_K => "Q4_K",
            QuantType::Q5_K => "Q5_K",
            QuantType::Q6_K => "Q6_K",
            QuantType::Q8_K => "Q8_K",
        }
    }

    /// Parses a name case-insensitively (`"q4_k"`, `"Q4_K"`, `"bf16"`).
    pub fn from_name(s: &str) -> Option<QuantType> {
        QuantType::ALL
            .iter()
            .copied()
            .find(|t| t.name().eq_ignore_ascii_case(s))
    }

    /// Elements per block: 1 for F32/F16/BF16, 32 for the legacy types, 256 for K-quants.
    pub fn block_len(self) -> usize {
        match self {
            QuantType::F32 | QuantType::F16 | QuantType::BF16 => 1,
            QuantType::Q4_0
            | QuantType::Q4_1
            | QuantType::Q5_0
            | QuantType::Q5_1
            | QuantType::Q8_0
            | QuantType::Q8_1 => QK,
            QuantType::Q2_K
            | QuantType::Q3_K
            | QuantType::Q4_K
            | QuantType::Q5_K
            | QuantType::Q6_K
            | QuantType::Q8_K => QK_K,
        }
    }

    /// Bytes per block (`ggml_type_size`).
    pub fn block_bytes(self) -> usize {
        use crate::blocks::*;
        use core::mem::size_of;
        match self {
            QuantType::F32 => 4,
            QuantType::F16 | QuantType::BF16 => 2,
            QuantType::Q4_0 => size_of::<BlockQ4_0>(),
            QuantType::Q4_1 => size_of::<BlockQ4_1>(),
            QuantType::Q5_0 => size_of::<BlockQ5_0>(),
            QuantType::Q5_1 => size_of::<BlockQ5_1>(),
            QuantType::Q8_0 => size_of::<BlockQ8_0>(),
            QuantType::Q8_1 => size_of::<BlockQ8_1>(),
            QuantType::Q2_K => size_of::<BlockQ2K>(),
            QuantType::Q3_K => size_of::<BlockQ3K>(),
            QuantType::Q4_K => size_of::<BlockQ4K>(),
            QuantType::Q5_K => size_of::<BlockQ5K>(),
            QuantType::Q6_K => size_of::<BlockQ6K>(),
            QuantType::Q8_K => size_of::<BlockQ8K>(),
        }
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
        match self {
            QuantType::F32 | QuantType::F16 | QuantType::BF16 => QuantType::F32,
            QuantType::Q4_0 | QuantType::Q5_0 | QuantType::Q8_0 => QuantType::Q8_0,
            QuantType::Q4_1 | QuantType::Q5_1 | QuantType::Q8_1 => QuantType::Q8_1,
            QuantType::Q2_K
            | QuantType::Q3_K
            | QuantType::Q4_K
            | QuantType::Q5_K
            | QuantType::Q6_K
            | QuantType::Q8_K => QuantType::Q8_K,
        }
    }

    /// True for every block-quantized type (everything except F32, F16 and BF16).
    pub fn is_quantized(self) -> bool {
        !matches!(self, QuantType::F32 | QuantType::F16 | QuantType::BF16)
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
        let table: [(QuantType, u32, &str, usize, usize); 15] = [
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
        for id in [4u32, 5, 16, 20, 29, 31, 39, u32::MAX] {
            assert_eq!(QuantType::from_ggml_id(id), None);
        }
        assert_eq!(QuantType::from_name("q4_k_m"), None);
        assert_eq!(QuantType::from_name(""), None);
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
