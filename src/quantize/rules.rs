//! Which type each tensor gets: llama.cpp's `tensor_allows_quantization`,
//! `llama_tensor_get_type` (user overrides, then the k-quant mixture rules by category, layer,
//! GQA and expert count) and `tensor_type_fallback` (rows that the block size does not divide).
//! The rules are stateful, exactly as llama.cpp's: attn_v and ffn_* counters advance in tensor
//! order, so tensors must be planned in the order they are written.
use super::ftype::FileType;
use brisk_kernels::QuantType;

/// Broad tensor roles (`tensor_category`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    TokenEmbd,
    AttentionQ,
    AttentionV,
    AttentionK,
    AttentionQkv,
    AttentionKvB,
    AttentionOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
}

impl Category {
    pub fn of(name: &str) -> Category {
        use Category::*;
        if name == "output.weight" {
            return Output;
        }
        if is_token_embd(name) {
            return TokenEmbd;
        }
        let table: [(&str, Category); 10] = [
            ("attn_qkv.weight", AttentionQkv),
            ("attn_kv_b.weight", AttentionKvB),
            ("attn_v.weight", AttentionV),
            ("attn_k.weight", AttentionK),
            ("attn_q.weight", AttentionQ),
            ("attn_output.weight", AttentionOutput),
            ("ffn_up", FfnUp),
            ("ffn_gate", FfnGate),
            ("ffn_down", FfnDown),
            ("", Other),
        ];
        table
            .iter()
            .find(|(pat, _)| name.contains(pat))
            .map_or(Other, |&(_, c)| c)
    }

    fn is_attn_v(self) -> bool {
        matches!(
            self,
            Category::AttentionV | Category::AttentionQkv | Category::AttentionKvB
        )
    }
}

fn is_token_embd(name: &str) -> bool {
    name == "token_embd.weight" || name == "per_layer_token_embd.weight"
}

/// The model facts the rules read (from the GGUF metadata).
#[derive(Clone, Debug, Default)]
pub struct ModelFacts {
    pub arch: String,
    pub n_layer: usize,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub n_expert: u64,
}

impl ModelFacts {
    fn n_gqa(&self) -> u64 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }

    /// llama.cpp's `LLM_TYPE_70B` for the architectures whose 80-layer size is called so.
    fn is_70b(&self) -> bool {
        self.n_layer == 80
            && match self.arch.as_str() {
                "llama" => self.n_head != self.n_head_kv,
                "qwen2" => true,
                _ => false,
            }
    }

    fn falcon(&self) -> bool {
        self.arch == "falcon"
    }
}

/// The options of `llama_model_quantize_params` that choose types.
#[derive(Clone, Debug, Default)]
pub struct TypeOptions {
    pub only_copy: bool,
    pub pure: bool,
    pub quantize_output_tensor: bool,
    pub output_tensor_type: Option<QuantType>,
    pub token_embedding_type: Option<QuantType>,
    /// `--tensor-type` patterns (lowercased, ECMAScript-style regex searched in the name).
    pub tensor_types: Vec<(fancy_regex::Regex, QuantType)>,
}

/// Substrings that keep a tensor as it is (`tensor_allows_quantization`).
const NEVER_QUANTIZED: &[&str] = &[
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
];

/// Whether a tensor may change type at all: 2-D or more, named `*weight`, and not one of the
/// small or sensitive tensors llama.cpp keeps.
pub fn allows_quantization(opts: &TypeOptions, name: &str, n_dims: usize) -> bool {
    if opts.only_copy || n_dims < 2 || !name.ends_with("weight") {
        return false;
    }
    if !opts.quantize_output_tensor && name == "output.weight" {
        return false;
    }
    if name == "position_embd.weight" || name == "token_types.weight" {
        return false;
    }
    !NEVER_QUANTIZED.iter().any(|s| name.contains(s))
}

/// Whether llama.cpp refuses to write `ty` for this tensor without an importance matrix.
pub fn requires_imatrix(name: &str, ty: QuantType, ftype: FileType) -> bool {
    if is_token_embd(name) || name == "output.weight" {
        return false;
    }
    use QuantType::*;
    match ty {
        IQ3_XXS | IQ2_XXS | IQ2_XS | IQ2_S | IQ1_M | IQ1_S => true,
        Q2_K => ftype == FileType::MOSTLY_Q2_K_S,
        _ => false,
    }
}

/// The layer number of a `blk.N.` name, as `sscanf("blk.%d.")` reads it.
pub fn layer_of(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("blk.")?;
    let (sign, digits) = match rest.as_bytes().first() {
        Some(b'-') => (-1, &rest[1..]),
        Some(b'+') => (1, &rest[1..]),
        _ => (1, rest),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().ok().map(|v| sign * v)
}

/// Type selection with llama.cpp's counters.
pub struct TypeRules<'a> {
    pub facts: &'a ModelFacts,
    pub opts: &'a TypeOptions,
    pub ftype: FileType,
    pub has_imatrix: bool,
    pub has_tied_embeddings: bool,
    pub n_attention_wv: usize,
    i_attention_wv: usize,
    i_ffn_down: usize,
    i_ffn_gate: usize,
    i_ffn_up: usize,
    /// Tensors that fell back to another type because of their row length.
    pub n_fallback: usize,
    /// One line per fallback (llama.cpp's warnings).
    pub notes: Vec<String>,
}

impl<'a> TypeRules<'a> {
    /// Counters initialised from every tensor name, as `init_quantize_state_counters`.
    pub fn new(
        facts: &'a ModelFacts,
        opts: &'a TypeOptions,
        ftype: FileType,
        has_imatrix: bool,
        names: &[&str],
    ) -> Self {
        let cats: Vec<Category> = names.iter().map(|n| Category::of(n)).collect();
        TypeRules {
            facts,
            opts,
            ftype,
            has_imatrix,
            has_tied_embeddings: !cats.contains(&Category::Output),
            n_attention_wv: cats.iter().filter(|c| c.is_attn_v()).count(),
            i_attention_wv: 0,
            i_ffn_down: 0,
            i_ffn_gate: 0,
            i_ffn_up: 0,
            n_fallback: 0,
            notes: Vec::new(),
        }
    }

    /// The type for one tensor (`llama_tensor_get_type`); `current` is its type in the input.
    /// Errors name the tensor (a layer number out of range, a type with no fallback).
    pub fn choose(
        &mut self,
        name: &str,
        dims: &[u64],
        current: QuantType,
        default: QuantType,
    ) -> Result<QuantType, String> {
        let n_dims = dims.len();
        if !allows_quantization(self.opts, name, n_dims) {
            return Ok(current);
        }
        let cat = Category::of(name);
        if let (Some(t), Category::TokenEmbd) = (self.opts.token_embedding_type, cat) {
            let named = name == "per_layer_token_embd.weight"
                && self
                    .opts
                    .tensor_types
                    .iter()
                    .any(|(re, _)| re.is_match(name).unwrap_or(false));
            if !named {
                return Ok(t);
            }
        }
        if let (Some(t), Category::Output) = (self.opts.output_tensor_type, cat) {
            return Ok(t);
        }
        let mut ty = default;
        if !default.is_quantized() {
            return Ok(ty);
        }
        let manual = self
            .opts
            .tensor_types
            .iter()
            .find(|(re, _)| re.is_match(name).unwrap_or(false));
        if let Some(&(_, t)) = manual {
            ty = t;
        } else if !self.opts.pure {
            ty = self.mixture(name, dims, ty, cat)?;
        }
        Ok(self.fallback(name, dims[0], ty))
    }

    fn layer(&self, counter: usize, name: &str) -> Result<(usize, usize), String> {
        let n_layer = self.facts.n_layer;
        if self.facts.n_expert <= 1 {
            return Ok((counter, n_layer));
        }
        match layer_of(name) {
            Some(i) if i >= 0 && (i as usize) < n_layer => Ok((i as usize, n_layer)),
            Some(i) => Err(format!(
                "bad layer {i} for tensor {name}: must be in [0, {n_layer})"
            )),
            None => Err(format!("cannot determine the layer of tensor {name}")),
        }
    }

    /// `llama_tensor_get_type_impl` for the types brisk writes (the IQ-only branches are kept
    /// so that an IQ file type plans as llama.cpp plans it). Branches with equal bodies are
    /// kept apart so each reads as the llama.cpp condition it mirrors.
    #[allow(clippy::if_same_then_else)]
    fn mixture(
        &mut self,
        name: &str,
        dims: &[u64],
        mut ty: QuantType,
        cat: Category,
    ) -> Result<QuantType, String> {
        use QuantType::*;
        let f = self.ftype;
        let facts = self.facts;
        let use_more_bits = |i: usize, n: usize| {
            let (i, n) = (i as i64, n as i64);
            i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
        };
        let is = |list: &[FileType]| list.contains(&f);
        let iq_low = [
            FileType::MOSTLY_IQ2_XXS,
            FileType::MOSTLY_IQ2_XS,
            FileType::MOSTLY_IQ3_XXS,
            FileType::MOSTLY_IQ1_S,
            FileType::MOSTLY_IQ2_S,
            FileType::MOSTLY_IQ2_M,
            FileType::MOSTLY_IQ1_M,
        ];
        let iq2_s_m = [FileType::MOSTLY_IQ2_S, FileType::MOSTLY_IQ2_M];
        if cat == Category::Output || (self.has_tied_embeddings && cat == Category::TokenEmbd) {
            if let Some(t) = self.opts.output_tensor_type {
                return Ok(t);
            }
            let nx = dims[0];
            if f == FileType::MOSTLY_MXFP4_MOE
                || facts.falcon()
                || !nx.is_multiple_of(ty.block_len() as u64)
            {
                ty = Q8_0;
            } else if is(&iq_low) {
                ty = Q5_K;
            } else if ty != Q8_0 {
                ty = Q6_K;
            }
        } else if f == FileType::MOSTLY_MXFP4_MOE {
            ty = if dims.get(2).copied().unwrap_or(1) > 1 {
                MXFP4
            } else {
                Q8_0
            };
        } else if cat == Category::TokenEmbd {
            if let Some(t) = self.opts.token_embedding_type {
                ty = t;
            } else if is(&[
                FileType::MOSTLY_IQ2_XXS,
                FileType::MOSTLY_IQ2_XS,
                FileType::MOSTLY_IQ1_S,
                FileType::MOSTLY_IQ1_M,
            ]) {
                ty = Q2_K;
            } else if is(&iq2_s_m) || f == FileType::MOSTLY_IQ3_XXS {
                ty = IQ3_S;
            } else if is(&[FileType::MOSTLY_TQ1_0, FileType::MOSTLY_TQ2_0]) {
                ty = Q4_K;
            }
        } else if is(&[
            FileType::MOSTLY_IQ2_XXS,
            FileType::MOSTLY_IQ2_XS,
            FileType::MOSTLY_IQ1_S,
            FileType::MOSTLY_IQ2_S,
            FileType::MOSTLY_IQ2_M,
            FileType::MOSTLY_IQ1_M,
        ]) {
            if cat.is_attn_v() {
                ty = if facts.n_gqa() >= 4 || facts.n_expert >= 4 {
                    Q4_K
                } else if is(&iq2_s_m) {
                    IQ3_S
                } else {
                    Q2_K
                };
                self.i_attention_wv += 1;
            } else if facts.n_expert == 8 && cat == Category::AttentionK {
                ty = Q4_K;
            } else if cat == Category::FfnDown {
                if self.i_ffn_down < facts.n_layer / 8 {
                    ty = if is(&iq2_s_m) { IQ3_S } else { Q2_K };
                }
                self.i_ffn_down += 1;
            } else if cat == Category::AttentionOutput {
                if facts.n_expert == 8 {
                    ty = Q5_K;
                } else if is(&[FileType::MOSTLY_IQ1_S, FileType::MOSTLY_IQ1_M]) {
                    ty = IQ2_XXS;
                } else if is(&iq2_s_m) {
                    ty = IQ3_S;
                }
            }
        } else if cat.is_attn_v() {
            let gqa4 = facts.n_gqa() >= 4;
            let i = self.i_attention_wv;
            if f == FileType::MOSTLY_Q2_K {
                ty = if gqa4 { Q4_K } else { Q3_K };
            } else if f == FileType::MOSTLY_Q2_K_S && gqa4 {
                ty = Q4_K;
            } else if f == FileType::MOSTLY_IQ3_XXS {
                ty = if gqa4 {
                    Q4_K
                } else if !self.has_imatrix {
                    IQ3_S
                } else {
                    IQ3_XXS
                };
            } else if is(&[FileType::MOSTLY_IQ3_XS, FileType::MOSTLY_IQ3_S]) && gqa4 {
                ty = Q4_K;
            } else if f == FileType::MOSTLY_IQ3_M {
                ty = Q4_K;
            } else if f == FileType::MOSTLY_Q3_K_M {
                ty = if i < 2 { Q5_K } else { Q4_K };
            } else if f == FileType::MOSTLY_Q3_K_L {
                ty = Q5_K;
            } else if is(&[FileType::MOSTLY_IQ4_NL, FileType::MOSTLY_IQ4_XS]) && gqa4 {
                ty = Q5_K;
            } else if is(&[FileType::MOSTLY_Q4_K_M, FileType::MOSTLY_Q5_K_M])
                && use_more_bits(i, self.n_attention_wv)
            {
                ty = Q6_K;
            } else if f == FileType::MOSTLY_Q4_K_S && i < 4 {
                ty = Q5_K;
            }
            if facts.is_70b() && matches!(ty, Q3_K | Q4_K) {
                ty = Q5_K;
            }
            if facts.n_expert == 8 {
                ty = Q8_0;
            }
            self.i_attention_wv += 1;
        } else if cat == Category::AttentionK {
            if facts.n_expert == 8 {
                ty = Q8_0;
            } else if f == FileType::MOSTLY_IQ3_XS {
                ty = IQ3_XXS;
            } else if f == FileType::MOSTLY_IQ3_XXS {
                ty = IQ2_S;
            }
        } else if cat == Category::AttentionQ {
            if f == FileType::MOSTLY_IQ3_XS {
                ty = IQ3_XXS;
            } else if f == FileType::MOSTLY_IQ3_XXS {
                ty = IQ2_S;
            }
        } else if cat == Category::FfnDown {
            let (i, n) = self.layer(self.i_ffn_down, name)?;
            if f == FileType::MOSTLY_Q2_K {
                ty = Q3_K;
            } else if f == FileType::MOSTLY_Q2_K_S {
                if i < n / 8 {
                    ty = Q4_K;
                }
            } else if f == FileType::MOSTLY_IQ3_XXS && !self.has_imatrix {
                ty = if i < n / 8 { Q4_K } else { Q3_K };
            } else if f == FileType::MOSTLY_Q3_K_M {
                ty = if i < n / 16 {
                    Q5_K
                } else if !facts.falcon() || use_more_bits(i, n) {
                    Q4_K
                } else {
                    Q3_K
                };
            } else if f == FileType::MOSTLY_IQ3_M
                && (i < n / 8 || (facts.n_expert == 8 && use_more_bits(i, n)))
            {
                ty = Q4_K;
            } else if f == FileType::MOSTLY_Q3_K_L {
                ty = if facts.falcon() { Q4_K } else { Q5_K };
            } else if f == FileType::MOSTLY_Q4_K_M {
                if facts.falcon() {
                    ty = if i < n / 16 {
                        Q6_K
                    } else if use_more_bits(i, n) {
                        Q5_K
                    } else {
                        Q4_K
                    };
                } else if use_more_bits(i, n) {
                    ty = Q6_K;
                }
            } else if i < n / 8
                && is(&[FileType::MOSTLY_IQ4_NL, FileType::MOSTLY_IQ4_XS])
                && !self.has_imatrix
            {
                ty = Q5_K;
            } else if f == FileType::MOSTLY_Q5_K_M && use_more_bits(i, n) {
                ty = Q6_K;
            } else if f == FileType::MOSTLY_Q4_K_S && !facts.falcon() && i < n / 8 {
                ty = Q5_K;
            } else if is(&[FileType::MOSTLY_Q4_0, FileType::MOSTLY_Q5_0])
                && self.has_imatrix
                && i < n / 8
            {
                ty = if f == FileType::MOSTLY_Q4_0 {
                    Q4_1
                } else {
                    Q5_1
                };
            }
            self.i_ffn_down += 1;
        } else if cat == Category::AttentionOutput {
            if !facts.falcon() {
                if facts.n_expert == 8 {
                    if is(&[
                        FileType::MOSTLY_Q2_K,
                        FileType::MOSTLY_IQ3_XS,
                        FileType::MOSTLY_IQ3_XXS,
                        FileType::MOSTLY_Q3_K_S,
                        FileType::MOSTLY_Q3_K_M,
                        FileType::MOSTLY_IQ4_NL,
                        FileType::MOSTLY_Q4_K_S,
                        FileType::MOSTLY_Q4_K_M,
                        FileType::MOSTLY_IQ3_S,
                        FileType::MOSTLY_IQ3_M,
                        FileType::MOSTLY_IQ4_XS,
                    ]) {
                        ty = Q5_K;
                    }
                } else if f == FileType::MOSTLY_Q2_K {
                    ty = Q3_K;
                } else if f == FileType::MOSTLY_IQ3_XXS {
                    ty = IQ3_S;
                } else if f == FileType::MOSTLY_Q3_K_M || f == FileType::MOSTLY_IQ3_M {
                    ty = Q4_K;
                } else if f == FileType::MOSTLY_Q3_K_L {
                    ty = Q5_K;
                }
            } else if f == FileType::MOSTLY_Q3_K_L {
                ty = Q4_K;
            }
        } else if cat == Category::AttentionQkv {
            if is(&[
                FileType::MOSTLY_Q3_K_M,
                FileType::MOSTLY_Q3_K_L,
                FileType::MOSTLY_IQ3_M,
            ]) {
                ty = Q4_K;
            } else if f == FileType::MOSTLY_Q4_K_M {
                ty = Q5_K;
            } else if f == FileType::MOSTLY_Q5_K_M {
                ty = Q6_K;
            }
        } else if cat == Category::FfnGate || cat == Category::FfnUp {
            let counter = if cat == Category::FfnGate {
                self.i_ffn_gate
            } else {
                self.i_ffn_up
            };
            let (i, n) = self.layer(counter, name)?;
            if f == FileType::MOSTLY_IQ3_XS && i >= n / 8 && i < 7 * n / 8 {
                ty = IQ3_XXS;
            }
            if cat == Category::FfnGate {
                self.i_ffn_gate += 1;
            } else {
                self.i_ffn_up += 1;
            }
        }
        Ok(ty)
    }

    /// `tensor_type_fallback`: a row length the block size does not divide gets the nearest
    /// type whose block does, and F16 when even that does not fit.
    fn fallback(&mut self, name: &str, ncols: u64, target: QuantType) -> QuantType {
        use QuantType::*;
        let blck = target.block_len() as u64;
        if ncols.is_multiple_of(blck) {
            return target;
        }
        self.n_fallback += 1;
        let mut ty = match target {
            IQ1_S | IQ1_M | IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S | IQ4_XS => IQ4_NL,
            Q2_K | Q3_K | TQ1_0 | TQ2_0 => Q4_0,
            Q4_K => Q5_0,
            Q5_K => Q5_1,
            Q6_K => Q8_0,
            other => other,
        };
        if !ncols.is_multiple_of(ty.block_len() as u64) {
            ty = F16;
        }
        self.notes.push(format!(
            "{name}: {ncols} columns are not a multiple of {blck} (required by {}); using {}",
            target.name(),
            ty.name()
        ));
        ty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_parse_as_sscanf_does() {
        assert_eq!(layer_of("blk.12.attn_v.weight"), Some(12));
        assert_eq!(layer_of("blk.3"), Some(3));
        assert_eq!(layer_of("output.weight"), None);
        assert_eq!(layer_of("blk.x.attn"), None);
    }

    #[test]
    fn norms_vectors_and_gates_stay_as_they_are() {
        let opts = TypeOptions {
            quantize_output_tensor: true,
            ..Default::default()
        };
        assert!(!allows_quantization(&opts, "blk.0.attn_norm.weight", 2));
        assert!(!allows_quantization(&opts, "blk.0.ffn_gate_inp.weight", 2));
        assert!(!allows_quantization(&opts, "blk.0.attn_q.bias", 2));
        assert!(!allows_quantization(&opts, "blk.0.attn_q.weight", 1));
        assert!(allows_quantization(&opts, "blk.0.attn_q.weight", 2));
        assert!(allows_quantization(&opts, "output.weight", 2));
    }

    fn plan(ftype: FileType, n_layer: usize) -> Vec<(String, QuantType)> {
        let facts = ModelFacts {
            arch: "llama".into(),
            n_layer,
            n_head: 8,
            n_head_kv: 8,
            n_expert: 0,
        };
        let opts = TypeOptions {
            quantize_output_tensor: true,
            ..Default::default()
        };
        let mut names = vec!["output.weight".to_string(), "token_embd.weight".to_string()];
        for l in 0..n_layer {
            for t in ["attn_v", "ffn_down"] {
                names.push(format!("blk.{l}.{t}.weight"));
            }
        }
        let refs: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let mut rules = TypeRules::new(&facts, &opts, ftype, false, &refs);
        let default = ftype.default_type().unwrap();
        names
            .iter()
            .map(|n| {
                let t = rules
                    .choose(n, &[256, 256], QuantType::F32, default)
                    .unwrap();
                (n.clone(), t)
            })
            .collect()
    }

    #[test]
    fn q4_k_m_gives_more_bits_to_the_first_and_last_eighth_and_every_third() {
        let p = plan(FileType::MOSTLY_Q4_K_M, 16);
        let ty = |n: &str| p.iter().find(|(m, _)| m == n).unwrap().1;
        assert_eq!(ty("output.weight"), QuantType::Q6_K);
        assert_eq!(ty("token_embd.weight"), QuantType::Q4_K);
        // use_more_bits(i, 16): i < 2, i >= 14, or (i - 2) % 3 == 2.
        let more = [0, 1, 4, 7, 10, 13, 14, 15];
        for l in 0..16 {
            let want = if more.contains(&l) {
                QuantType::Q6_K
            } else {
                QuantType::Q4_K
            };
            assert_eq!(ty(&format!("blk.{l}.ffn_down.weight")), want, "layer {l}");
            assert_eq!(ty(&format!("blk.{l}.attn_v.weight")), want, "layer {l}");
        }
    }

    #[test]
    fn rows_the_block_does_not_divide_fall_back() {
        let facts = ModelFacts::default();
        let opts = TypeOptions {
            quantize_output_tensor: true,
            pure: true,
            ..Default::default()
        };
        let mut rules = TypeRules::new(&facts, &opts, FileType::MOSTLY_Q4_K_M, false, &[]);
        let t = |r: &mut TypeRules, cols| {
            r.choose(
                "blk.0.attn_q.weight",
                &[cols, 4],
                QuantType::F32,
                QuantType::Q4_K,
            )
            .unwrap()
        };
        assert_eq!(t(&mut rules, 256), QuantType::Q4_K);
        assert_eq!(t(&mut rules, 96), QuantType::Q5_0);
        assert_eq!(t(&mut rules, 40), QuantType::F16);
        assert_eq!(rules.n_fallback, 2);
    }
}
