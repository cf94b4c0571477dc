//! Model hyperparameters, read from GGUF keys (`{arch}.embedding_length`, …) or a Hugging Face
//! `config.json`, into one `Config` that the forward pass uses.
use super::ModelError;
use crate::format::gguf::Gguf;
use crate::format::hf_config::{HfArch, HfConfig};

/// Architecture families brisk runs. Each has its own forward file reusing the shared verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Llama 2/3, TinyLlama, Mistral, SmolLM: no biases.
    Llama,
    /// Qwen2: q/k/v biases, NeoX RoPE.
    Qwen2,
}

impl Arch {
    pub fn from_name(name: &str) -> Option<Arch> {
        match name {
            "llama" | "mistral" => Some(Arch::Llama),
            "qwen2" => Some(Arch::Qwen2),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }
}

/// Which element pairs RoPE rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (x[2i], x[2i+1]): GGUF `llama` files, whose Q/K rows the converter permuted.
    Adjacent,
    /// Half-split pairs (x[i], x[i + d/2]): qwen2-family GGUF files and unpermuted HF checkpoints.
    NeoX,
}

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
    pub rope_base: f32,
    /// Multiplies positions (1 / linear scaling factor).
    pub rope_freq_scale: f32,
    /// Leading dimensions of each head that RoPE rotates.
    pub rope_dim: usize,
    pub rope_style: RopeStyle,
}

/// Sanity limits: anything above these in a header is corrupt, not a model.
const MAX_DIM: u64 = 1 << 20;
const MAX_LAYERS: u64 = 4096;

impl Config {
    pub fn from_gguf(g: &Gguf) -> Result<Config, ModelError> {
        let arch_name = g
            .get_str("general.architecture")
            .ok_or_else(|| ModelError::Metadata("missing general.architecture".into()))?;
        let arch = Arch::from_name(arch_name).ok_or_else(|| {
            ModelError::Unsupported(format!(
                "architecture '{arch_name}' is not supported (supported: llama, mistral, qwen2)"
            ))
        })?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let req = |k: &str| -> Result<usize, ModelError> {
            let full = key(k);
            let v = g.get_u64(&full).ok_or_else(|| {
                ModelError::Metadata(format!("missing or non-integer key {full}"))
            })?;
            bounded(
                &full,
                v,
                if k == "block_count" {
                    MAX_LAYERS
                } else {
                    MAX_DIM
                },
            )
        };
        let opt = |k: &str, default: usize| -> Result<usize, ModelError> {
            match g.get_u64(&key(k)) {
                Some(v) => bounded(&key(k), v, MAX_DIM),
                None => Ok(default),
            }
        };
        let n_embd = req("embedding_length")?;
        let n_head = req("attention.head_count")?;
        let n_layer = req("block_count")?;
        let n_ff = req("feed_forward_length")?;
        let n_head_kv = opt("attention.head_count_kv", n_head)?;
        let head_dim = opt("attention.key_length", n_embd / n_head.max(1))?;
        let head_dim_v = opt("attention.value_length", head_dim)?;
        let rope_dim = opt("rope.dimension_count", head_dim)?;
        let n_ctx_train = opt("context_length", 2048)?;
        let n_vocab = match g.get_array("tokenizer.ggml.tokens") {
            Some(tokens) => tokens.len(),
            None => match g.get_u64(&key("vocab_size")) {
                Some(v) => bounded("vocab_size", v, 1 << 24)?,
                None => g
                    .tensor_info("token_embd.weight")
                    .and_then(|t| t.dims.get(1).copied())
                    .ok_or_else(|| ModelError::Metadata("cannot tell the vocabulary size".into()))?
                    as usize,
            },
        };
        let rms_eps = g
            .get_f64(&key("attention.layer_norm_rms_epsilon"))
            .unwrap_or(1e-5) as f32;
        let rope_base = g.get_f64(&key("rope.freq_base")).unwrap_or(10000.0) as f32;
        let rope_freq_scale = match g.get_str(&key("rope.scaling.type")) {
            None | Some("none") => 1.0,
            Some("linear") => {
                let factor = g.get_f64(&key("rope.scaling.factor")).unwrap_or(1.0);
                if factor > 0.0 {
                    (1.0 / factor) as f32
                } else {
                    1.0
                }
            }
            Some(other) => {
                return Err(ModelError::Unsupported(format!(
                    "rope scaling type '{other}' is not supported yet"
                )))
            }
        };
        let rope_style = match arch {
            Arch::Llama => RopeStyle::Adjacent,
            Arch::Qwen2 => RopeStyle::NeoX,
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
            rope_base,
            rope_freq_scale,
            rope_dim,
            rope_style,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Hyperparameters of a Hugging Face checkpoint. Its Q/K rows are not permuted the way
    /// llama.cpp's converter permutes `llama` GGUF files, so every family rotates half-split
    /// (NeoX) pairs here.
    pub fn from_hf(h: &HfConfig) -> Result<Config, ModelError> {
        let arch = match h.arch {
            HfArch::Llama | HfArch::Mistral => Arch::Llama,
            HfArch::Qwen2 => Arch::Qwen2,
        };
        let rope_freq_scale = match &h.rope_scaling {
            None => 1.0,
            Some(r) => match r.rope_type.as_deref() {
                Some("linear") => r
                    .factor
                    .filter(|&f| f > 0.0)
                    .map_or(1.0, |f| (1.0 / f) as f32),
                None | Some("default") => 1.0,
                Some(other) => {
                    return Err(ModelError::Unsupported(format!(
                        "rope scaling type '{other}' is not supported yet"
                    )))
                }
            },
        };
        let head_dim = h.head_size();
        let cfg = Config {
            arch,
            n_vocab: h.vocab_size,
            n_embd: h.hidden_size,
            n_layer: h.num_hidden_layers,
            n_head: h.num_attention_heads,
            n_head_kv: h.num_key_value_heads,
            head_dim,
            head_dim_v: head_dim,
            n_ff: h.intermediate_size,
            n_ctx_train: h.max_position_embeddings,
            rms_eps: h.rms_norm_eps as f32,
            rope_base: h.rope_theta as f32,
            rope_freq_scale,
            rope_dim: head_dim,
            rope_style: RopeStyle::NeoX,
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
        if self.rope_dim > self.head_dim || !self.rope_dim.is_multiple_of(2) {
            return bad(format!(
                "rope dimension {} must be even and at most the head width {}",
                self.rope_dim, self.head_dim
            ));
        }
        if self.n_vocab == 0 {
            return bad("empty vocabulary".into());
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

fn bounded(key: &str, v: u64, max: u64) -> Result<usize, ModelError> {
    if v > max {
        return Err(ModelError::Metadata(format!(
            "{key} = {v} is implausibly large"
        )));
    }
    Ok(v as usize)
}
