//! The file types `brisk quantize` accepts (llama.cpp's `llama_ftype` and llama-quantize's
//! QUANT_OPTIONS table): names, numbers, the default tensor type of each, and which brisk can
//! write today.
use brisk_kernels::QuantType;

/// A `llama_ftype`, by its number as stored in `general.file_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileType(pub u32);

/// One row of llama-quantize's table of types.
pub struct FileTypeOption {
    pub name: &'static str,
    pub ftype: FileType,
    pub desc: &'static str,
}

macro_rules! ftypes {
    ($($c:ident = $n:expr),* $(,)?) => {
        impl FileType { $(pub const $c: FileType = FileType($n);)* }
    };
}

ftypes! {
    ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2, MOSTLY_Q4_1 = 3, MOSTLY_Q8_0 = 7,
    MOSTLY_Q5_0 = 8, MOSTLY_Q5_1 = 9, MOSTLY_Q2_K = 10, MOSTLY_Q3_K_S = 11, MOSTLY_Q3_K_M = 12,
    MOSTLY_Q3_K_L = 13, MOSTLY_Q4_K_S = 14, MOSTLY_Q4_K_M = 15, MOSTLY_Q5_K_S = 16,
    MOSTLY_Q5_K_M = 17, MOSTLY_Q6_K = 18, MOSTLY_IQ2_XXS = 19, MOSTLY_IQ2_XS = 20,
    MOSTLY_Q2_K_S = 21, MOSTLY_IQ3_XS = 22, MOSTLY_IQ3_XXS = 23, MOSTLY_IQ1_S = 24,
    MOSTLY_IQ4_NL = 25, MOSTLY_IQ3_S = 26, MOSTLY_IQ3_M = 27, MOSTLY_IQ2_S = 28,
    MOSTLY_IQ2_M = 29, MOSTLY_IQ4_XS = 30, MOSTLY_IQ1_M = 31, MOSTLY_BF16 = 32,
    MOSTLY_TQ1_0 = 36, MOSTLY_TQ2_0 = 37, MOSTLY_MXFP4_MOE = 38,
}

/// llama-quantize's table, in its order (its `--help` lists them so). `COPY` is F32's number
/// with "copy every tensor as it is".
pub const OPTIONS: &[FileTypeOption] = &[
    opt(
        "Q4_0",
        FileType::MOSTLY_Q4_0,
        " 4.34G, +0.4685 ppl @ Llama-3-8B",
    ),
    opt(
        "Q4_1",
        FileType::MOSTLY_Q4_1,
        " 4.78G, +0.4511 ppl @ Llama-3-8B",
    ),
    opt("MXFP4_MOE", FileType::MOSTLY_MXFP4_MOE, " MXFP4 MoE"),
    opt(
        "Q5_0",
        FileType::MOSTLY_Q5_0,
        " 5.21G, +0.1316 ppl @ Llama-3-8B",
    ),
    opt(
        "Q5_1",
        FileType::MOSTLY_Q5_1,
        " 5.65G, +0.1062 ppl @ Llama-3-8B",
    ),
    opt(
        "IQ2_XXS",
        FileType::MOSTLY_IQ2_XXS,
        " 2.06 bpw quantization",
    ),
    opt("IQ2_XS", FileType::MOSTLY_IQ2_XS, " 2.31 bpw quantization"),
    opt("IQ2_S", FileType::MOSTLY_IQ2_S, " 2.5  bpw quantization"),
    opt("IQ2_M", FileType::MOSTLY_IQ2_M, " 2.7  bpw quantization"),
    opt("IQ1_S", FileType::MOSTLY_IQ1_S, " 1.56 bpw quantization"),
    opt("IQ1_M", FileType::MOSTLY_IQ1_M, " 1.75 bpw quantization"),
    opt("TQ1_0", FileType::MOSTLY_TQ1_0, " 1.69 bpw ternarization"),
    opt("TQ2_0", FileType::MOSTLY_TQ2_0, " 2.06 bpw ternarization"),
    opt(
        "Q2_K",
        FileType::MOSTLY_Q2_K,
        " 2.96G, +3.5199 ppl @ Llama-3-8B",
    ),
    opt(
        "Q2_K_S",
        FileType::MOSTLY_Q2_K_S,
        " 2.96G, +3.1836 ppl @ Llama-3-8B",
    ),
    opt(
        "IQ3_XXS",
        FileType::MOSTLY_IQ3_XXS,
        " 3.06 bpw quantization",
    ),
    opt("IQ3_S", FileType::MOSTLY_IQ3_S, " 3.44 bpw quantization"),
    opt(
        "IQ3_M",
        FileType::MOSTLY_IQ3_M,
        " 3.66 bpw quantization mix",
    ),
    opt("Q3_K", FileType::MOSTLY_Q3_K_M, "alias for Q3_K_M"),
    opt("IQ3_XS", FileType::MOSTLY_IQ3_XS, " 3.3 bpw quantization"),
    opt(
        "Q3_K_S",
        FileType::MOSTLY_Q3_K_S,
        " 3.41G, +1.6321 ppl @ Llama-3-8B",
    ),
    opt(
        "Q3_K_M",
        FileType::MOSTLY_Q3_K_M,
        " 3.74G, +0.6569 ppl @ Llama-3-8B",
    ),
    opt(
        "Q3_K_L",
        FileType::MOSTLY_Q3_K_L,
        " 4.03G, +0.5562 ppl @ Llama-3-8B",
    ),
    opt(
        "IQ4_NL",
        FileType::MOSTLY_IQ4_NL,
        " 4.50 bpw non-linear quantization",
    ),
    opt(
        "IQ4_XS",
        FileType::MOSTLY_IQ4_XS,
        " 4.25 bpw non-linear quantization",
    ),
    opt("Q4_K", FileType::MOSTLY_Q4_K_M, "alias for Q4_K_M"),
    opt(
        "Q4_K_S",
        FileType::MOSTLY_Q4_K_S,
        " 4.37G, +0.2689 ppl @ Llama-3-8B",
    ),
    opt(
        "Q4_K_M",
        FileType::MOSTLY_Q4_K_M,
        " 4.58G, +0.1754 ppl @ Llama-3-8B",
    ),
    opt("Q5_K", FileType::MOSTLY_Q5_K_M, "alias for Q5_K_M"),
    opt(
        "Q5_K_S",
        FileType::MOSTLY_Q5_K_S,
        " 5.21G, +0.1049 ppl @ Llama-3-8B",
    ),
    opt(
        "Q5_K_M",
        FileType::MOSTLY_Q5_K_M,
        " 5.33G, +0.0569 ppl @ Llama-3-8B",
    ),
    opt(
        "Q6_K",
        FileType::MOSTLY_Q6_K,
        " 6.14G, +0.0217 ppl @ Llama-3-8B",
    ),
    opt(
        "Q8_0",
        FileType::MOSTLY_Q8_0,
        " 7.96G, +0.0026 ppl @ Llama-3-8B",
    ),
    opt(
        "F16",
        FileType::MOSTLY_F16,
        "14.00G, +0.0020 ppl @ Mistral-7B",
    ),
    opt(
        "BF16",
        FileType::MOSTLY_BF16,
        "14.00G, -0.0050 ppl @ Mistral-7B",
    ),
    opt("F32", FileType::ALL_F32, "26.00G              @ 7B"),
    opt(
        "COPY",
        FileType::ALL_F32,
        "only copy tensors, no quantizing",
    ),
];

const fn opt(name: &'static str, ftype: FileType, desc: &'static str) -> FileTypeOption {
    FileTypeOption { name, ftype, desc }
}

/// What the user asked for: a file type (by its canonical name) or `COPY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub ftype: FileType,
    /// The name from the table (`Q4_K` for `q4_k`, `Q4_K_M` for `15`).
    pub name: &'static str,
    pub copy_only: bool,
}

/// Parses a TYPE argument as llama-quantize does: a name (any case) or a number.
pub fn parse_target(s: &str) -> Option<Target> {
    let by_name = OPTIONS.iter().find(|o| o.name.eq_ignore_ascii_case(s));
    let by_number = || {
        let n: u32 = s.trim().parse().ok()?;
        OPTIONS.iter().find(|o| o.ftype.0 == n)
    };
    let o = by_name.or_else(by_number)?;
    Some(Target {
        ftype: o.ftype,
        name: o.name,
        copy_only: o.name == "COPY",
    })
}

impl FileType {
    /// The tensor type most tensors get (`llama_ftype_get_default_type`); `None` for the
    /// numbers llama.cpp does not define.
    pub fn default_type(self) -> Option<QuantType> {
        use QuantType::*;
        Some(match self.0 {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            7 => Q8_0,
            8 => Q5_0,
            9 => Q5_1,
            10 | 21 => Q2_K,
            11..=13 => Q3_K,
            14 | 15 => Q4_K,
            16 | 17 => Q5_K,
            18 => Q6_K,
            19 => IQ2_XXS,
            20 | 28 => IQ2_XS,
            22 | 26 | 27 => IQ3_S,
            23 => IQ3_XXS,
            24 => IQ1_S,
            25 => IQ4_NL,
            29 => IQ2_S,
            30 => IQ4_XS,
            31 => IQ1_M,
            32 => BF16,
            36 => TQ1_0,
            37 => TQ2_0,
            38 => MXFP4,
            _ => return None,
        })
    }

    /// The guess llama.cpp's loader makes for a file without `general.file_type`: the type
    /// most of its tensors have, marked `LLAMA_FTYPE_GUESSED` (1024).
    pub fn guess_from(most_common: QuantType) -> FileType {
        use QuantType::*;
        FileType(
            1024 | match most_common {
                F32 => 0,
                F16 => 1,
                BF16 => 32,
                Q4_0 => 2,
                Q4_1 => 3,
                Q5_0 => 8,
                Q5_1 => 9,
                Q8_0 => 7,
                Q2_K => 10,
                Q3_K => 12,
                Q4_K => 15,
                Q5_K => 17,
                Q6_K => 18,
                IQ2_XXS => 19,
                IQ2_XS => 20,
                IQ2_S => 28,
                IQ3_XXS => 23,
                IQ1_S => 24,
                IQ1_M => 31,
                IQ4_NL => 25,
                IQ4_XS => 30,
                IQ3_S => 26,
                TQ1_0 => 36,
                TQ2_0 => 37,
                MXFP4 | Q8_1 | Q8_K => 0,
            },
        )
    }
}

/// Parses a ggml type name as `--output-tensor-type` and friends take it (any case).
pub fn parse_tensor_type(s: &str) -> Option<QuantType> {
    QuantType::ALL
        .iter()
        .copied()
        .find(|t| t.name().eq_ignore_ascii_case(s))
}

/// Whether brisk can write tensors of this type, given an importance matrix for the tensor or
/// not (everything but the activation types; IQ2_XXS, IQ2_XS and IQ1_S only with importance).
pub fn can_write(ty: QuantType, with_importance: bool) -> bool {
    use brisk_kernels::scalar::weighted::requires_importance;
    let unweighted =
        ty.traits().quantize.is_some() && !matches!(ty, QuantType::Q8_1 | QuantType::Q8_K);
    unweighted || (with_importance && requires_importance(ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_parse_like_llama_quantize() {
        assert_eq!(parse_target("q4_k_m").unwrap().ftype, FileType(15));
        assert_eq!(parse_target("Q4_K").unwrap().name, "Q4_K");
        // As llama-quantize: the first row with that number (the alias comes first).
        assert_eq!(parse_target("15").unwrap().name, "Q4_K");
        assert_eq!(parse_target("14").unwrap().name, "Q4_K_S");
        let zero = parse_target("0").unwrap();
        assert_eq!((zero.name, zero.copy_only), ("F32", false));
        assert!(parse_target("COPY").unwrap().copy_only);
        assert!(parse_target("Q9_9").is_none());
        assert!(parse_target("out.gguf").is_none());
    }

    #[test]
    fn every_listed_type_has_a_default_tensor_type() {
        for o in OPTIONS {
            assert!(o.ftype.default_type().is_some(), "{}", o.name);
        }
    }
}
