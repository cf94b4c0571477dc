//! Hugging Face `config.json` of the architectures brisk runs (Llama, Mistral, Mixtral, Qwen2,
//! Qwen3, Qwen3-MoE, Gemma 2, Gemma 3, Phi-3): hyperparameters parsed with serde, defaults
//! applied as transformers applies them, and checked for consistency.
use super::error::{FormatError, Result};
use serde::Deserialize;
use std::path::Path;

/// The architectures brisk reads from safetensors checkpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HfArch {
    Llama,
    Mistral,
    Mixtral,
    Qwen2,
    Qwen3,
    Qwen3Moe,
    Gemma2,
    Gemma3,
    Phi3,
}

const ARCHES: &[(HfArch, &str, &str)] = &[
    (HfArch::Llama, "LlamaForCausalLM", "llama"),
    (HfArch::Mistral, "MistralForCausalLM", "mistral"),
    (HfArch::Mixtral, "MixtralForCausalLM", "mixtral"),
    (HfArch::Qwen2, "Qwen2ForCausalLM", "qwen2"),
    (HfArch::Qwen3, "Qwen3ForCausalLM", "qwen3"),
    (HfArch::Qwen3Moe, "Qwen3MoeForCausalLM", "qwen3_moe"),
    (HfArch::Gemma2, "Gemma2ForCausalLM", "gemma2"),
    (HfArch::Gemma3, "Gemma3ForCausalLM", "gemma3_text"),
    (HfArch::Phi3, "Phi3ForCausalLM", "phi3"),
];

impl HfArch {
    /// The transformers class name (`LlamaForCausalLM`, …).
    pub fn class_name(self) -> &'static str {
        ARCHES.iter().find(|a| a.0 == self).map_or("", |a| a.1)
    }

    /// The `model_type` in config.json (`llama`, …).
    pub fn model_type(self) -> &'static str {
        ARCHES.iter().find(|a| a.0 == self).map_or("", |a| a.2)
    }

    /// The GGUF `general.architecture` llama.cpp's converter writes for it (Mistral is `llama`).
    pub fn gguf_arch(self) -> &'static str {
        match self {
            HfArch::Llama | HfArch::Mistral | HfArch::Mixtral => "llama",
            HfArch::Qwen2 => "qwen2",
            HfArch::Qwen3 => "qwen3",
            HfArch::Qwen3Moe => "qwen3moe",
            HfArch::Gemma2 => "gemma2",
            HfArch::Gemma3 => "gemma3",
            HfArch::Phi3 => "phi3",
        }
    }

    /// Gemma's RMSNorm multiplies by `1 + w`; llama.cpp's converter stores `w + 1`.
    pub fn norm_plus_one(self) -> bool {
        matches!(self, HfArch::Gemma2 | HfArch::Gemma3)
    }
}

/// A token id field that may be one id or a list (Llama 3.1 lists several EOS ids).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }

    /// The first id (the one a single-id consumer should use).
    pub fn first(&self) -> Option<u32> {
        match self {
            TokenIds::One(id) => Some(*id),
            TokenIds::Many(ids) => ids.first().copied(),
        }
    }
}

/// `rope_scaling`: `rope_type` (older files say `type`): `linear`, `dynamic`, `yarn`, `llama3`, ….
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RopeScaling {
    pub rope_type: Option<String>,
    pub factor: Option<f64>,
    pub original_max_position_embeddings: Option<u64>,
    /// Llama 3 frequency-band factors.
    pub low_freq_factor: Option<f64>,
    pub high_freq_factor: Option<f64>,
    /// Every field as written (for the rarer keys: `beta_fast`, `attention_factor`, …).
    pub raw: serde_json::Map<String, serde_json::Value>,
}

/// The parts of `config.json` brisk uses, defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct HfConfig {
    pub arch: HfArch,
    pub architectures: Vec<String>,
    pub model_type: String,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Defaults to `num_attention_heads` (no grouped-query attention).
    pub num_key_value_heads: usize,
    /// As written; see [`HfConfig::head_size`] for the value to use.
    pub head_dim: Option<usize>,
    pub rms_norm_eps: f64,
    /// Defaults to 10000.
    pub rope_theta: f64,
    pub rope_scaling: Option<RopeScaling>,
    pub max_position_embeddings: usize,
    pub vocab_size: usize,
    /// Defaults to false; when true the checkpoint has no `lm_head.weight` (reuse the embedding).
    /// As written (absent: the model class's default).
    pub tie_word_embeddings: Option<bool>,
    pub bos_token_id: Option<TokenIds>,
    pub eos_token_id: Option<TokenIds>,
    /// `torch_dtype` (newer transformers write `dtype`): `bfloat16`, `float16`, `float32`.
    pub torch_dtype: Option<String>,
    /// Sliding-window attention span, when the model uses one (Mistral v0.1; Qwen2 only with
    /// `use_sliding_window: true`; Gemma 2/3).
    pub sliding_window: Option<usize>,
    /// Gemma: the attention scale is `query_pre_attn_scalar^−½`.
    pub query_pre_attn_scalar: Option<f64>,
    /// Gemma 3: local layers' RoPE base.
    pub rope_local_base_freq: Option<f64>,
    /// Gemma 3: of every N layers the last is global (`sliding_window_pattern`).
    pub sliding_window_pattern: Option<usize>,
    /// Per layer: `sliding_attention` or `full_attention` (newer transformers).
    pub layer_types: Option<Vec<String>>,
    pub attn_logit_softcapping: Option<f64>,
    pub final_logit_softcapping: Option<f64>,
    /// Mixture of experts: experts, experts per token, expert width (Qwen3-MoE).
    pub num_experts: Option<usize>,
    pub num_experts_per_tok: Option<usize>,
    pub moe_intermediate_size: Option<usize>,
    /// Phi-3 longrope: the training context the factors extend.
    pub original_max_position_embeddings: Option<usize>,
}

#[derive(Deserialize)]
struct RawRopeScaling {
    rope_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    factor: Option<f64>,
    original_max_position_embeddings: Option<u64>,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    architectures: Option<Vec<String>>,
    model_type: Option<String>,
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<serde_json::Map<String, serde_json::Value>>,
    /// transformers ≥ 5 moves `rope_theta` (and the scaling) here.
    rope_parameters: Option<serde_json::Map<String, serde_json::Value>>,
    max_position_embeddings: Option<usize>,
    vocab_size: Option<usize>,
    tie_word_embeddings: Option<bool>,
    bos_token_id: Option<TokenIds>,
    eos_token_id: Option<TokenIds>,
    torch_dtype: Option<String>,
    dtype: Option<String>,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
    query_pre_attn_scalar: Option<f64>,
    rope_local_base_freq: Option<f64>,
    sliding_window_pattern: Option<usize>,
    layer_types: Option<Vec<String>>,
    attn_logit_softcapping: Option<f64>,
    final_logit_softcapping: Option<f64>,
    num_experts: Option<usize>,
    num_local_experts: Option<usize>,
    num_experts_per_tok: Option<usize>,
    moe_intermediate_size: Option<usize>,
    original_max_position_embeddings: Option<usize>,
}

fn required(v: Option<usize>, key: &str) -> std::result::Result<usize, String> {
    match v {
        Some(0) => Err(format!("{key} is 0")),
        Some(v) => Ok(v),
        None => Err(format!("missing {key}")),
    }
}

fn parse_rope_scaling(
    map: serde_json::Map<String, serde_json::Value>,
) -> std::result::Result<RopeScaling, String> {
    let raw: RawRopeScaling = serde_json::from_value(serde_json::Value::Object(map.clone()))
        .map_err(|e| format!("rope_scaling: {e}"))?;
    Ok(RopeScaling {
        rope_type: raw.rope_type.or(raw.kind),
        factor: raw.factor,
        original_max_position_embeddings: raw.original_max_position_embeddings,
        low_freq_factor: raw.low_freq_factor,
        high_freq_factor: raw.high_freq_factor,
        raw: map,
    })
}

impl HfConfig {
    /// Parse `config.json` text.
    pub fn from_json(text: &str) -> std::result::Result<HfConfig, String> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| format!("not valid: {e}"))?;
        let architectures = raw.architectures.unwrap_or_default();
        let model_type = raw.model_type.unwrap_or_default();
        let arch = ARCHES
            .iter()
            .find(|a| architectures.iter().any(|c| c == a.1))
            .or_else(|| {
                // Only the model type is trusted when no class is named at all.
                ARCHES
                    .iter()
                    .find(|a| architectures.is_empty() && a.2 == model_type)
            })
            .map(|a| a.0)
            .ok_or_else(|| {
                format!(
                    "unsupported architecture {architectures:?} (model_type '{model_type}'); \
                     brisk reads {}",
                    ARCHES.iter().map(|a| a.1).collect::<Vec<_>>().join(", ")
                )
            })?;
        let hidden_size = required(raw.hidden_size, "hidden_size")?;
        let num_attention_heads = required(raw.num_attention_heads, "num_attention_heads")?;
        let num_key_value_heads = match raw.num_key_value_heads {
            None => num_attention_heads,
            Some(n) => required(Some(n), "num_key_value_heads")?,
        };
        if !num_attention_heads.is_multiple_of(num_key_value_heads) {
            return Err(format!(
                "num_attention_heads {num_attention_heads} is not a multiple of \
                 num_key_value_heads {num_key_value_heads}"
            ));
        }
        match raw.head_dim {
            Some(0) => return Err("head_dim is 0".into()),
            None if !hidden_size.is_multiple_of(num_attention_heads) => {
                return Err(format!(
                    "hidden_size {hidden_size} is not a multiple of num_attention_heads \
                     {num_attention_heads} and no head_dim is given"
                ))
            }
            _ => {}
        }
        let rope_params = raw.rope_parameters.unwrap_or_default();
        let rope_theta = raw
            .rope_theta
            .or_else(|| rope_params.get("rope_theta").and_then(|v| v.as_f64()))
            .unwrap_or(10000.0);
        if !(rope_theta.is_finite() && rope_theta > 0.0) {
            return Err(format!("rope_theta {rope_theta} is not a positive number"));
        }
        let rope_scaling = match raw.rope_scaling {
            Some(map) => Some(parse_rope_scaling(map)?),
            // In transformers ≥ 5 `rope_parameters` carries the scaling; "default" means none.
            None => match rope_params.get("rope_type").and_then(|v| v.as_str()) {
                Some(t) if t != "default" => Some(parse_rope_scaling(rope_params.clone())?),
                _ => None,
            },
        };
        let rms_norm_eps = raw.rms_norm_eps.unwrap_or(1e-6);
        if !(rms_norm_eps.is_finite() && rms_norm_eps >= 0.0) {
            return Err(format!(
                "rms_norm_eps {rms_norm_eps} is not a non-negative number"
            ));
        }
        let sliding_window = match (arch, raw.use_sliding_window) {
            (_, Some(false)) | (HfArch::Qwen2 | HfArch::Qwen3 | HfArch::Qwen3Moe, None) => None,
            (HfArch::Llama, _) => None,
            _ => raw.sliding_window.filter(|&w| w > 0),
        };
        Ok(HfConfig {
            arch,
            architectures,
            model_type,
            hidden_size,
            intermediate_size: required(raw.intermediate_size, "intermediate_size")?,
            num_hidden_layers: required(raw.num_hidden_layers, "num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim: raw.head_dim,
            rms_norm_eps,
            rope_theta,
            rope_scaling,
            max_position_embeddings: required(
                raw.max_position_embeddings,
                "max_position_embeddings",
            )?,
            vocab_size: required(raw.vocab_size, "vocab_size")?,
            tie_word_embeddings: raw.tie_word_embeddings,
            bos_token_id: raw.bos_token_id,
            eos_token_id: raw.eos_token_id,
            torch_dtype: raw.torch_dtype.or(raw.dtype),
            sliding_window,
            query_pre_attn_scalar: raw.query_pre_attn_scalar,
            rope_local_base_freq: raw.rope_local_base_freq,
            sliding_window_pattern: raw.sliding_window_pattern,
            layer_types: raw.layer_types,
            attn_logit_softcapping: raw.attn_logit_softcapping,
            final_logit_softcapping: raw.final_logit_softcapping,
            num_experts: raw.num_experts.or(raw.num_local_experts),
            num_experts_per_tok: raw.num_experts_per_tok,
            moe_intermediate_size: raw.moe_intermediate_size,
            original_max_position_embeddings: raw.original_max_position_embeddings,
        })
    }

    /// Read and parse a `config.json` file.
    pub fn from_file(path: &Path) -> Result<HfConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| FormatError::io(path, e))?;
        HfConfig::from_json(&text).map_err(|msg| FormatError::invalid(path, msg))
    }

    /// Dimension of one attention head: `head_dim` if given, else `hidden_size / heads`.
    pub fn head_size(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }
}
