//! Model hyperparameters, read from GGUF keys (`{arch}.embedding_length`, …) or a Hugging Face
//! `config.json`, into one `Config` that the forward pass uses: sizes, the RoPE of global and
//! local layers, attention scale and soft-caps, and which layers attend in a sliding window.
use super::arch::{Arch, SwaLayers};
use super::ModelError;
use crate::backend::rope::{RopeScaling, RopeSpec};
use crate::format::gguf::{Gguf, Value};
use crate::format::hf_config::{HfArch, HfConfig};

pub use crate::backend::rope::RopeStyle;

#[derive(Clone, Debug)]
pub struct Config {
    pub arch: Arch,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Per-head width of Q and K (`attention.key_length`, default n_embd / n_head).
    pub head_dim: usize,
    /// Per-head width of V (`attention.value_length`, default head_dim).
    pub head_dim_v: usize,
    pub n_ff: usize,
    pub n_ctx_train: usize,
    pub rms_eps: f32,
    /// RoPE of the global layers (frequency factors come from tensors at bind time).
    pub rope: RopeSpec,
    /// RoPE of sliding-window layers (Gemma 3: its own base, no scaling).
    pub rope_swa: RopeSpec,
    /// Longrope (Phi-3): contexts above this use `rope_factors_long`, others the short ones.
    pub n_ctx_orig: usize,
    /// Longrope `(short, long)` factors from `config.json` (GGUF files carry them as tensors).
    pub longrope: Option<(Vec<f32>, Vec<f32>)>,
    /// Multiplies Q before attention (1/√head_dim for most models).
    pub attn_scale: f32,
    /// `cap · tanh(s / cap)` on attention scores (Gemma 2).
    pub attn_softcap: Option<f32>,
    /// `cap · tanh(l / cap)` on the output logits (Gemma 2).
    pub final_softcap: Option<f32>,
    /// Keys a local layer's query sees: positions `p − window + 1 ..= p`.
    pub sliding_window: Option<usize>,
    /// Per layer: whether it is a sliding-window (local) layer.
    pub swa_layers: Vec<bool>,
    /// Mixture-of-experts feed-forward (every layer), when the model has experts.
    pub moe: Option<MoeConfig>,
    /// Norm weights are stored as `w` for a scale of `1 + w` (Gemma checkpoints; llama.cpp's
    /// converter adds the 1, so GGUF files never need this).
    pub norm_plus_one: bool,
}

/// Expert counts of a mixture-of-experts model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoeConfig {
    pub n_expert: usize,
    /// Experts routed per token.
    pub n_used: usize,
    /// Feed-forward width of one expert.
    pub n_ff_exp: usize,
}

/// Sanity limits: anything above these in a header is corrupt, not a model.
const MAX_DIM: u64 = 1 << 20;
/// The longest training context a file may claim (GGUF keys are bounded by `MAX_DIM` already;
/// this bounds config.json's `max_position_embeddings` too).
const MAX_CTX: u64 = 1 << 24;
const MAX_LAYERS: u64 = 4096;

/// The typed GGUF keys of one architecture (`{arch}.{key}`), with range checks.
struct Keys<'a> {
    g: &'a Gguf,
    arch: &'a str,
}

impl Keys<'_> {
    fn full(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }
    fn req(&self, k: &str, max: u64) -> Result<usize, ModelError> {
        let full = self.full(k);
        let v = self
            .g
            .get_u64(&full)
            .ok_or_else(|| ModelError::Metadata(format!("missing or non-integer key {full}")))?;
        bounded(&full, v, max)
    }
    fn opt(&self, k: &str, default: usize) -> Result<usize, ModelError> {
        match self.g.get_u64(&self.full(k)) {
            Some(v) => bounded(&self.full(k), v, MAX_DIM),
            None => Ok(default),
        }
    }
    /// A float key; present but not finite is an error.
    fn f32(&self, k: &str) -> Result<Option<f32>, ModelError> {
        match self.g.get_f64(&self.full(k)) {
            None => Ok(None),
            Some(v) if v.is_finite() => Ok(Some(v as f32)),
            Some(v) => Err(ModelError::Metadata(format!("{} = {v}", self.full(k)))),
        }
    }
    fn str(&self, k: &str) -> Option<&str> {
        self.g.get_str(&self.full(k))
    }
}

/// RoPE scaling from the GGUF keys llama.cpp reads (`rope.scaling.*`), in the form ggml applies
/// it; `attn_factor` is the cos/sin magnitude before YaRN's own `1 + 0.1·ln(factor)`.
fn gguf_rope_scaling(k: &Keys, n_ctx_train: usize) -> Result<(RopeScaling, f32), ModelError> {
    let factor = k
        .f32("rope.scaling.factor")?
        .or(k.f32("rope.scale_linear")?)
        .filter(|&f| f != 0.0)
        .unwrap_or(1.0);
    if factor <= 0.0 {
        return Err(ModelError::Metadata(format!(
            "rope scaling factor {factor} is not positive"
        )));
    }
    let mut attn_factor = k.f32("rope.scaling.attn_factor")?.unwrap_or(1.0);
    let scaling = match k.str("rope.scaling.type").unwrap_or("linear") {
        "none" => RopeScaling::None,
        // Phi-3's longrope: its factors are tensors, positions are not interpolated.
        "longrope" => RopeScaling::None,
        "linear" if factor == 1.0 => RopeScaling::None,
        "linear" => RopeScaling::Linear { factor },
        "yarn" => {
            let ext_factor = k.f32("rope.scaling.yarn_ext_factor")?.unwrap_or(1.0);
            let log_mul = k.f32("rope.scaling.yarn_log_multiplier")?.unwrap_or(0.0);
            // llama.cpp's context setup: with a log multiplier the magnitude is
            // mscale(f, 1) / mscale(f, log_mul), and ggml's YaRN multiplies by mscale(f, 1) again.
            let mscale = |m: f32| {
                if factor <= 1.0 {
                    1.0
                } else {
                    0.1 * m * factor.ln() + 1.0
                }
            };
            if ext_factor != 0.0 && log_mul != 0.0 {
                attn_factor *= mscale(1.0) / mscale(log_mul) / (1.0 + 0.1 * factor.ln());
            }
            RopeScaling::Yarn {
                factor,
                orig_ctx: k.opt("rope.scaling.original_context_length", n_ctx_train)?,
                ext_factor,
                beta_fast: k.f32("rope.scaling.yarn_beta_fast")?.unwrap_or(32.0),
                beta_slow: k.f32("rope.scaling.yarn_beta_slow")?.unwrap_or(1.0),
            }
        }
        other => {
            return Err(ModelError::Unsupported(format!(
                "rope scaling type '{other}' is not supported"
            )))
        }
    };
    Ok((scaling, attn_factor))
}

/// Which layers are local: the GGUF pattern key (a period or a per-layer list), else the
/// architecture's default period.
fn gguf_swa_layers(k: &Keys, default: SwaLayers, n_layer: usize) -> Result<Vec<bool>, ModelError> {
    let key = k.full("attention.sliding_window_pattern");
    let period = match k.g.get(&key) {
        Some(Value::Array(_, items)) => {
            if items.len() != n_layer {
                return Err(ModelError::Metadata(format!(
                    "{key} lists {} layers, the model has {n_layer}",
                    items.len()
                )));
            }
            return items
                .iter()
                .map(|v| match v {
                    Value::Bool(b) => Ok(*b),
                    _ => Err(ModelError::Metadata(format!(
                        "{key} is not a list of booleans"
                    ))),
                })
                .collect();
        }
        Some(_) => Some(
            k.g.get_u64(&key)
                .ok_or_else(|| ModelError::Metadata(format!("{key} is not an integer")))?
                as usize,
        ),
        None => match default {
            SwaLayers::Period(p) => Some(p),
            SwaLayers::None => None,
        },
    };
    Ok(match period {
        None => vec![false; n_layer],
        // llama.cpp's set_swa_pattern: 0 makes every layer local.
        Some(0) => vec![true; n_layer],
        Some(p) => (0..n_layer).map(|il| il % p < p - 1).collect(),
    })
}

impl Config {
    pub fn from_gguf(g: &Gguf) -> Result<Config, ModelError> {
        let arch_name = g
            .get_str("general.architecture")
            .ok_or_else(|| ModelError::Metadata("missing general.architecture".into()))?;
        let arch = Arch::from_name(arch_name).ok_or_else(|| {
            ModelError::Unsupported(format!(
                "architecture '{arch_name}' is not supported (supported: {})",
                Arch::supported()
            ))
        })?;
        let spec = arch.spec();
        let k = Keys { g, arch: arch_name };
        let n_embd = k.req("embedding_length", MAX_DIM)?;
        let n_head = k.req("attention.head_count", MAX_DIM)?;
        let n_layer = k.req("block_count", MAX_LAYERS)?;
        let moe = match k.opt("expert_count", 0)? {
            0 if spec.moe => {
                return Err(ModelError::Metadata(format!(
                    "{arch_name} needs {arch_name}.expert_count"
                )))
            }
            0 => None,
            n_expert => {
                if !spec.moe && arch != Arch::Llama {
                    return Err(ModelError::Unsupported(format!(
                        "mixture-of-experts {arch_name} models are not supported"
                    )));
                }
                let n_used = k.req("expert_used_count", MAX_DIM)?;
                if n_used == 0 || n_used > n_expert {
                    return Err(ModelError::Metadata(format!(
                        "expert_used_count {n_used} must be 1..={n_expert}"
                    )));
                }
                let n_ff_exp = match spec.moe {
                    true => k.req("expert_feed_forward_length", MAX_DIM)?,
                    false => k.req("feed_forward_length", MAX_DIM)?,
                };
                Some(MoeConfig {
                    n_expert,
                    n_used,
                    n_ff_exp,
                })
            }
        };
        let n_ff = match moe {
            Some(m) => k.opt("feed_forward_length", m.n_ff_exp)?,
            None => k.req("feed_forward_length", MAX_DIM)?,
        };
        let n_head_kv = k.opt("attention.head_count_kv", n_head)?;
        let head_dim = k.opt("attention.key_length", n_embd / n_head.max(1))?;
        let head_dim_v = k.opt("attention.value_length", head_dim)?;
        let rope_dim = k.opt("rope.dimension_count", head_dim)?;
        let n_ctx_train = k.opt("context_length", 2048)?;
        let n_vocab = match g.get_array("tokenizer.ggml.tokens") {
            Some(tokens) => tokens.len(),
            None => match g.get_u64(&k.full("vocab_size")) {
                Some(v) => bounded("vocab_size", v, 1 << 24)?,
                None => g
                    .tensor_info("token_embd.weight")
                    .and_then(|t| t.dims.get(1).copied())
                    .ok_or_else(|| ModelError::Metadata("cannot tell the vocabulary size".into()))?
                    as usize,
            },
        };
        let rms_eps = k.f32("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5);
        let rope_base = k.f32("rope.freq_base")?.unwrap_or(10000.0);
        let (scaling, attn_factor) = gguf_rope_scaling(&k, n_ctx_train)?;
        let rope = RopeSpec {
            style: spec.rope_style,
            dim: rope_dim,
            base: rope_base,
            scaling,
            freq_factors: None,
            attn_factor,
        };
        // Local layers: Gemma 2 keeps the global RoPE unless a local base is given; Gemma 3's
        // local layers default to base 10000 and are never scaled (llama.cpp's hparams).
        let rope_swa = match arch {
            Arch::Gemma3 => RopeSpec {
                base: k.f32("rope.freq_base_swa")?.unwrap_or(10000.0),
                scaling: RopeScaling::None,
                ..rope.clone()
            },
            _ => RopeSpec {
                base: k.f32("rope.freq_base_swa")?.unwrap_or(rope_base),
                ..rope.clone()
            },
        };
        let window = match arch {
            Arch::Gemma2 => Some(k.opt("attention.sliding_window", 4096)?),
            Arch::Gemma3 => Some(k.opt("attention.sliding_window", 0)?).filter(|&w| w > 0),
            _ => None,
        };
        let swa_layers = match window {
            Some(_) => gguf_swa_layers(&k, spec.swa, n_layer)?,
            None => vec![false; n_layer],
        };
        let cap = |key: &str, default: f32| -> Result<Option<f32>, ModelError> {
            Ok(Some(k.f32(key)?.unwrap_or(default)).filter(|&c| c != 0.0))
        };
        let (attn_softcap, final_softcap) = match arch {
            Arch::Gemma2 => (
                cap("attn_logit_softcapping", 50.0)?,
                cap("final_logit_softcapping", 30.0)?,
            ),
            Arch::Gemma3 => (None, cap("final_logit_softcapping", 0.0)?),
            _ => (None, None),
        };
        let cfg = Config {
            arch,
            n_vocab,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            head_dim_v,
            n_ff,
            n_ctx_train,
            rms_eps,
            rope,
            rope_swa,
            n_ctx_orig: k.opt("rope.scaling.original_context_length", n_ctx_train)?,
            attn_scale: gemma_attn_scale(arch, n_layer, n_embd, n_head, head_dim),
            attn_softcap,
            final_softcap,
            sliding_window: window.filter(|_| swa_layers.contains(&true)),
            swa_layers,
            moe,
            longrope: None,
            norm_plus_one: false,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Hyperparameters of a Hugging Face checkpoint. Its Q/K rows are not permuted the way
    /// llama.cpp's converter permutes `llama` GGUF files, so every family rotates half-split
    /// (NeoX) pairs here. Gemma's norms are stored as `w` for `1 + w` (`norm_plus_one`).
    pub fn from_hf(h: &HfConfig) -> Result<Config, ModelError> {
        let arch = match h.arch {
            HfArch::Llama | HfArch::Mistral | HfArch::Mixtral => Arch::Llama,
            HfArch::Qwen2 => Arch::Qwen2,
            HfArch::Qwen3 => Arch::Qwen3,
            HfArch::Qwen3Moe => Arch::Qwen3Moe,
            HfArch::Gemma2 => Arch::Gemma2,
            HfArch::Gemma3 => Arch::Gemma3,
            HfArch::Phi3 => Arch::Phi3,
        };
        let head_dim = h.head_size();
        let n_layer = h.num_hidden_layers;
        let mut rope = RopeSpec::plain(RopeStyle::NeoX, head_dim, h.rope_theta as f32);
        let mut longrope = None;
        let mut n_ctx_orig = h.max_position_embeddings;
        if let Some(r) = &h.rope_scaling {
            match r.rope_type.as_deref() {
                None | Some("default") => {}
                Some("linear") => {
                    if let Some(factor) = r.factor.filter(|&f| f > 0.0 && f != 1.0) {
                        rope.scaling = RopeScaling::Linear {
                            factor: factor as f32,
                        };
                    }
                }
                Some("llama3") => rope.freq_factors = Some(llama3_factors(r, &rope)?),
                Some("longrope") => {
                    let orig = h
                        .original_max_position_embeddings
                        .or(r.original_max_position_embeddings.map(|v| v as usize))
                        .ok_or_else(|| {
                            ModelError::Metadata(
                                "longrope needs original_max_position_embeddings".into(),
                            )
                        })?;
                    let factors = |key: &str| -> Result<Vec<f32>, ModelError> {
                        let list = r.raw.get(key).and_then(|v| v.as_array());
                        let f: Option<Vec<f32>> = list.map(|l| {
                            l.iter()
                                .filter_map(|x| x.as_f64().map(|x| x as f32))
                                .collect()
                        });
                        match f {
                            Some(f) if f.len() == head_dim / 2 => Ok(f),
                            _ => Err(ModelError::Metadata(format!(
                                "longrope {key} must list {} numbers",
                                head_dim / 2
                            ))),
                        }
                    };
                    longrope = Some((factors("short_factor")?, factors("long_factor")?));
                    // Phi-3's attention factor, as llama.cpp's converter computes it.
                    let scale = h.max_position_embeddings as f64 / orig as f64;
                    if scale > 1.0 {
                        rope.attn_factor = (1.0 + scale.ln() / (orig as f64).ln()).sqrt() as f32;
                    }
                    n_ctx_orig = orig;
                }
                Some(other) => {
                    return Err(ModelError::Unsupported(format!(
                        "rope scaling type '{other}' is not supported"
                    )))
                }
            }
        }
        let gemma = matches!(arch, Arch::Gemma2 | Arch::Gemma3);
        let swa_layers: Vec<bool> = match (arch, &h.layer_types) {
            (Arch::Gemma2 | Arch::Gemma3, Some(types)) if types.len() == n_layer => {
                types.iter().map(|t| t == "sliding_attention").collect()
            }
            (Arch::Gemma2, _) => (0..n_layer).map(|il| il % 2 == 0).collect(),
            (Arch::Gemma3, _) => {
                let p = h.sliding_window_pattern.unwrap_or(6).max(1);
                (0..n_layer).map(|il| (il + 1) % p != 0).collect()
            }
            _ => vec![false; n_layer],
        };
        let window = match arch {
            Arch::Gemma2 => Some(h.sliding_window.unwrap_or(4096)),
            Arch::Gemma3 => h.sliding_window,
            _ => None,
        };
        let rope_swa = match arch {
            Arch::Gemma3 => RopeSpec {
                base: h.rope_local_base_freq.unwrap_or(10000.0) as f32,
                scaling: RopeScaling::None,
                ..rope.clone()
            },
            _ => rope.clone(),
        };
        let cap = |v: Option<f64>| v.filter(|&c| c != 0.0).map(|c| c as f32);
        let (attn_softcap, final_softcap) = match arch {
            Arch::Gemma2 => (
                cap(h.attn_logit_softcapping.or(Some(50.0))),
                cap(h.final_logit_softcapping.or(Some(30.0))),
            ),
            Arch::Gemma3 => (None, cap(h.final_logit_softcapping)),
            _ => (None, None),
        };
        let attn_scale = match h.query_pre_attn_scalar.filter(|_| gemma) {
            Some(q) if q > 0.0 => 1.0 / (q as f32).sqrt(),
            _ => 1.0 / (head_dim as f32).sqrt(),
        };
        let moe = match (h.num_experts, h.num_experts_per_tok) {
            (Some(n_expert), Some(n_used)) if n_expert > 0 => Some(MoeConfig {
                n_expert,
                n_used,
                n_ff_exp: h.moe_intermediate_size.unwrap_or(h.intermediate_size),
            }),
            _ if arch.spec().moe => {
                return Err(ModelError::Metadata(
                    "a mixture-of-experts config needs num_experts and num_experts_per_tok".into(),
                ))
            }
            _ => None,
        };
        let cfg = Config {
            arch,
            n_vocab: h.vocab_size,
            n_embd: h.hidden_size,
            n_layer,
            n_head: h.num_attention_heads,
            n_head_kv: h.num_key_value_heads,
            head_dim,
            head_dim_v: head_dim,
            n_ff: h.intermediate_size,
            n_ctx_train: h.max_position_embeddings,
            rms_eps: h.rms_norm_eps as f32,
            rope_swa,
            rope,
            longrope,
            n_ctx_orig,
            attn_scale,
            attn_softcap,
            final_softcap,
            sliding_window: window.filter(|_| swa_layers.contains(&true)),
            swa_layers,
            moe,
            norm_plus_one: h.arch.norm_plus_one(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the relations the forward pass relies on.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Metadata(m));
        if self.n_head == 0
            || self.n_head_kv == 0
            || self.n_layer == 0
            || self.n_embd == 0
            || self.head_dim == 0
            || self.head_dim_v == 0
            || self.n_ff == 0
        {
            return bad("zero heads, head width, layers, feed-forward or embedding width".into());
        }
        if !self.n_head.is_multiple_of(self.n_head_kv) {
            return bad(format!(
                "head_count {} is not a multiple of head_count_kv {}",
                self.n_head, self.n_head_kv
            ));
        }
        for r in [&self.rope, &self.rope_swa] {
            if r.dim > self.head_dim || !r.dim.is_multiple_of(2) || r.dim == 0 {
                return bad(format!(
                    "rope dimension {} must be even, non-zero and at most the head width {}",
                    r.dim, self.head_dim
                ));
            }
            if !(r.base.is_finite() && r.base > 0.0) {
                return bad(format!("rope base {} is not a positive number", r.base));
            }
        }
        if self.n_vocab == 0 {
            return bad("empty vocabulary".into());
        }
        if self.n_ctx_train == 0 || self.n_ctx_train as u64 > MAX_CTX {
            return bad(format!(
                "context length {} is not between 1 and {MAX_CTX}",
                self.n_ctx_train
            ));
        }
        if !(self.rms_eps.is_finite() && self.rms_eps > 0.0 && self.rms_eps < 1.0) {
            return bad(format!(
                "norm epsilon {} is not a small positive number",
                self.rms_eps
            ));
        }
        if self.swa_layers.len() != self.n_layer {
            return bad("sliding-window layer list does not match the layer count".into());
        }
        if let Some(m) = self.moe {
            if m.n_expert == 0 || m.n_used == 0 || m.n_used > m.n_expert || m.n_ff_exp == 0 {
                return bad(format!(
                    "bad expert counts: {} experts, {} used per token, feed-forward width {}",
                    m.n_expert, m.n_used, m.n_ff_exp
                ));
            }
        }
        if self.sliding_window == Some(0) {
            return bad("sliding window of 0".into());
        }
        for cap in [self.attn_softcap, self.final_softcap]
            .into_iter()
            .flatten()
        {
            if !(cap.is_finite() && cap > 0.0) {
                return bad(format!("soft-cap {cap} is not a positive number"));
            }
        }
        Ok(())
    }

    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
    pub fn v_dim(&self) -> usize {
        self.n_head_kv * self.head_dim_v
    }
}

/// llama.cpp's attention scale for Gemma (gemma_pytorch's `query_pre_attn_scalar`): the 27B
/// models scale by 1/√(n_embd / n_head), every other model by 1/√head_dim.
fn gemma_attn_scale(arch: Arch, n_layer: usize, n_embd: usize, n_head: usize, hd: usize) -> f32 {
    let is_27b = matches!((arch, n_layer), (Arch::Gemma2, 46) | (Arch::Gemma3, 62));
    if is_27b {
        1.0 / ((n_embd / n_head) as f32).sqrt()
    } else {
        1.0 / (hd as f32).sqrt()
    }
}

/// Llama 3.1's frequency factors from `rope_scaling` (`rope_type: llama3`), computed as
/// llama.cpp's converter computes `rope_freqs.weight` — in f32 (torch float32) arithmetic, so a
/// checkpoint run directly and the GGUF converted from it hold the same bits: wavelengths
/// shorter than `orig / high_freq_factor` keep their frequency, longer than
/// `orig / low_freq_factor` are divided by `factor`, and the band between is interpolated.
fn llama3_factors(
    r: &crate::format::hf_config::RopeScaling,
    rope: &RopeSpec,
) -> Result<Vec<f32>, ModelError> {
    let factor = r.factor.unwrap_or(8.0) as f32;
    let low = r.low_freq_factor.unwrap_or(1.0) as f32;
    let high = r.high_freq_factor.unwrap_or(4.0) as f32;
    let orig = r.original_max_position_embeddings.unwrap_or(8192) as f32;
    if !(factor > 0.0 && low > 0.0 && high > low && orig > 0.0) {
        return Err(ModelError::Metadata(format!(
            "llama3 rope scaling: factor {factor}, low_freq_factor {low}, high_freq_factor \
             {high}, original_max_position_embeddings {orig} are not consistent"
        )));
    }
    let (low_wavelen, high_wavelen) = (orig / low, orig / high);
    Ok((0..rope.dim / 2)
        .map(|i| {
            let freq = 1.0 / rope.base.powf((2 * i) as f32 / rope.dim as f32);
            let wavelen = 2.0 * std::f32::consts::PI / freq;
            if wavelen < high_wavelen {
                1.0
            } else if wavelen > low_wavelen {
                factor
            } else {
                let smooth = (orig / wavelen - low) / (high - low);
                1.0 / ((1.0 - smooth) / factor + smooth)
            }
        })
        .collect())
}

fn bounded(key: &str, v: u64, max: u64) -> Result<usize, ModelError> {
    if v > max {
        return Err(ModelError::Metadata(format!(
            "{key} = {v} is implausibly large"
        )));
    }
    Ok(v as usize)
}
