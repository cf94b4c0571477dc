//! The `general.*` and architecture keys llama.cpp's converter writes for a Hugging Face
//! `config.json`, in its order (`set_gguf_parameters` of each model class): sizes, heads, RoPE
//! base and scaling, norms' epsilon, experts, Gemma's soft-caps and window, Phi-3's rotary
//! width and longrope keys.
use crate::format::gguf::{set_in_place, Value};
use crate::format::hf_config::{HfArch, HfConfig};
use crate::model::config::Config;
use serde_json::Value as Json;

/// Keys in write order; writing a key again keeps its first position (gguf-py's rule).
#[derive(Default)]
pub struct Keys(pub Vec<(String, Value)>);

impl Keys {
    pub fn set(&mut self, key: impl AsRef<str>, v: Value) {
        set_in_place(&mut self.0, key.as_ref(), v);
    }
}

fn u32_of(v: usize) -> Value {
    Value::U32(u32::try_from(v).unwrap_or(u32::MAX))
}

/// `general.name` from the checkpoint's directory name, the converter's title rule: dashes
/// become spaces, all-lowercase words that are not versions or numbers get a capital.
pub fn model_name(dir_name: &str) -> String {
    dir_name
        .replace('-', " ")
        .split_whitespace()
        .map(|w| {
            let version =
                w.starts_with('v') && w[1..].chars().next().is_some_and(|c| c.is_ascii_digit());
            let number = w.chars().next().is_some_and(|c| c.is_ascii_digit());
            if w.chars().all(|c| !c.is_uppercase()) && !version && !number {
                title(w)
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `str.title()`: a letter after a non-letter is upper-cased, others lower-cased.
fn title(w: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in w.chars() {
        if prev_letter {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        prev_letter = c.is_alphabetic();
    }
    out
}

/// The RoPE scaling keys of `TextModel.set_gguf_parameters`.
fn rope_scaling(k: &mut Keys, arch: &str, h: &HfConfig) {
    let Some(r) = &h.rope_scaling else { return };
    let f32_of = |key: &str| r.raw.get(key).and_then(Json::as_f64);
    match r.rope_type.as_deref() {
        Some("linear") if r.factor.is_some() => {
            k.set(
                format!("{arch}.rope.scaling.type"),
                Value::String("linear".into()),
            );
            k.set(
                format!("{arch}.rope.scaling.factor"),
                Value::F32(r.factor.unwrap_or(1.0) as f32),
            );
        }
        Some("yarn") if r.factor.is_some() => {
            k.set(
                format!("{arch}.rope.scaling.type"),
                Value::String("yarn".into()),
            );
            k.set(
                format!("{arch}.rope.scaling.factor"),
                Value::F32(r.factor.unwrap_or(1.0) as f32),
            );
            let orig = r
                .original_max_position_embeddings
                .unwrap_or(h.max_position_embeddings as u64);
            k.set(
                format!("{arch}.rope.scaling.original_context_length"),
                Value::U32(orig as u32),
            );
            for (src, dst) in [
                ("extrapolation_factor", "yarn_ext_factor"),
                ("attention_factor", "yarn_attn_factor"),
                ("attn_factor", "yarn_attn_factor"),
                ("beta_fast", "yarn_beta_fast"),
                ("beta_slow", "yarn_beta_slow"),
            ] {
                if let Some(v) = f32_of(src) {
                    k.set(format!("{arch}.rope.scaling.{dst}"), Value::F32(v as f32));
                }
            }
        }
        Some("su" | "longrope") => {
            k.set(
                format!("{arch}.rope.scaling.type"),
                Value::String("longrope".into()),
            );
        }
        _ => {}
    }
}

/// `TextModel.set_gguf_parameters`: the keys every transformer shares.
fn text_model(k: &mut Keys, arch: &str, h: &HfConfig, file_type: u32, head_dim_given: bool) {
    k.set(format!("{arch}.block_count"), u32_of(h.num_hidden_layers));
    k.set(
        format!("{arch}.context_length"),
        u32_of(h.max_position_embeddings),
    );
    k.set(format!("{arch}.embedding_length"), u32_of(h.hidden_size));
    k.set(
        format!("{arch}.feed_forward_length"),
        u32_of(h.intermediate_size),
    );
    k.set(
        format!("{arch}.attention.head_count"),
        u32_of(h.num_attention_heads),
    );
    k.set(
        format!("{arch}.attention.head_count_kv"),
        u32_of(h.num_key_value_heads),
    );
    rope_scaling(k, arch, h);
    k.set(
        format!("{arch}.rope.freq_base"),
        Value::F32(h.rope_theta as f32),
    );
    if let Some(local) = h.rope_local_base_freq {
        k.set(
            format!("{arch}.rope.freq_base_swa"),
            Value::F32(local as f32),
        );
    }
    k.set(
        format!("{arch}.attention.layer_norm_rms_epsilon"),
        Value::F32(h.rms_norm_eps as f32),
    );
    if let Some(n) = h.num_experts {
        k.set(format!("{arch}.expert_count"), u32_of(n));
    }
    if let Some(n) = h.num_experts_per_tok {
        k.set(format!("{arch}.expert_used_count"), u32_of(n));
    }
    if head_dim_given {
        k.set(
            format!("{arch}.attention.key_length"),
            u32_of(h.head_size()),
        );
        k.set(
            format!("{arch}.attention.value_length"),
            u32_of(h.head_size()),
        );
    }
    k.set("general.file_type", Value::U32(file_type));
}

/// Every key before the tokenizer's: `general.*`, the architecture's, the quantization version.
/// `file_type` is the GGUF file type of the tensors as stored (F32 0, F16 1, BF16 32).
/// `cfg` is the model configuration brisk derives from `h` (its computed RoPE values are the
/// ones the converter writes).
pub fn model_keys(h: &HfConfig, cfg: &Config, raw: &Json, dir_name: &str, file_type: u32) -> Keys {
    let arch = h.arch.gguf_arch();
    let mut k = Keys::default();
    k.set("general.architecture", Value::String(arch.into()));
    // Phi-3's longrope attention factor lands right after the architecture, as the converter
    // writes it while preparing the factor tensors (the same value the model computes).
    if h.arch == HfArch::Phi3 && cfg.longrope.is_some() {
        k.set(
            "phi3.rope.scaling.attn_factor",
            Value::F32(cfg.rope.attn_factor),
        );
    }
    k.set("general.type", Value::String("model".into()));
    k.set("general.name", Value::String(model_name(dir_name)));
    let given = raw.get("head_dim").is_some_and(|v| !v.is_null());
    match h.arch {
        HfArch::Gemma2 => {
            k.set("gemma2.context_length", u32_of(h.max_position_embeddings));
            k.set("gemma2.embedding_length", u32_of(h.hidden_size));
            k.set("gemma2.block_count", u32_of(h.num_hidden_layers));
            k.set("gemma2.feed_forward_length", u32_of(h.intermediate_size));
            k.set("gemma2.attention.head_count", u32_of(h.num_attention_heads));
            k.set(
                "gemma2.attention.head_count_kv",
                u32_of(h.num_key_value_heads),
            );
            k.set(
                "gemma2.attention.layer_norm_rms_epsilon",
                Value::F32(h.rms_norm_eps as f32),
            );
            k.set("gemma2.attention.key_length", u32_of(h.head_size()));
            k.set("gemma2.attention.value_length", u32_of(h.head_size()));
            k.set("general.file_type", Value::U32(file_type));
            let cap = |v: Option<f64>, d: f64| Value::F32(v.unwrap_or(d) as f32);
            k.set(
                "gemma2.attn_logit_softcapping",
                cap(h.attn_logit_softcapping, 50.0),
            );
            k.set(
                "gemma2.final_logit_softcapping",
                cap(h.final_logit_softcapping, 30.0),
            );
            k.set(
                "gemma2.attention.sliding_window",
                u32_of(h.sliding_window.unwrap_or(4096)),
            );
        }
        HfArch::Gemma3 => {
            let mut h3 = h.clone();
            h3.rope_local_base_freq = Some(h.rope_local_base_freq.unwrap_or(10000.0));
            text_model(&mut k, arch, &h3, file_type, true);
            if let Some(c) = h.final_logit_softcapping.filter(|&c| c != 0.0) {
                k.set("gemma3.final_logit_softcapping", Value::F32(c as f32));
            }
            if h.sliding_window_pattern != Some(1) {
                k.set(
                    "gemma3.attention.sliding_window",
                    u32_of(h.sliding_window.unwrap_or(4096)),
                );
            }
        }
        HfArch::Phi3 => {
            let partial = raw
                .get("partial_rotary_factor")
                .and_then(Json::as_f64)
                .unwrap_or(1.0);
            let rope_dims = (partial * h.hidden_size as f64) as usize / h.num_attention_heads;
            // transformers' Phi3Config default when config.json gives none.
            let orig = h
                .original_max_position_embeddings
                .or(h
                    .rope_scaling
                    .as_ref()
                    .and_then(|r| r.original_max_position_embeddings.map(|v| v as usize)))
                .unwrap_or(4096);
            k.set("phi3.context_length", u32_of(h.max_position_embeddings));
            k.set("phi3.rope.scaling.original_context_length", u32_of(orig));
            k.set("phi3.embedding_length", u32_of(h.hidden_size));
            k.set("phi3.feed_forward_length", u32_of(h.intermediate_size));
            k.set("phi3.block_count", u32_of(h.num_hidden_layers));
            k.set("phi3.attention.head_count", u32_of(h.num_attention_heads));
            k.set(
                "phi3.attention.head_count_kv",
                u32_of(h.num_key_value_heads),
            );
            k.set(
                "phi3.attention.layer_norm_rms_epsilon",
                Value::F32(h.rms_norm_eps as f32),
            );
            k.set("phi3.rope.dimension_count", u32_of(rope_dims));
            k.set("phi3.rope.freq_base", Value::F32(h.rope_theta as f32));
            k.set("general.file_type", Value::U32(file_type));
            let window = raw
                .get("sliding_window")
                .and_then(Json::as_u64)
                .unwrap_or(0);
            k.set("phi3.attention.sliding_window", Value::U32(window as u32));
        }
        _ => {
            // transformers fills `head_dim` in for these classes, so the converter writes it.
            let filled = matches!(
                h.arch,
                HfArch::Llama | HfArch::Mistral | HfArch::Qwen3 | HfArch::Qwen3Moe
            );
            text_model(&mut k, arch, h, file_type, given || filled);
            match h.arch {
                HfArch::Llama | HfArch::Mistral | HfArch::Mixtral => {
                    k.set("llama.vocab_size", u32_of(h.vocab_size));
                    k.set("llama.rope.dimension_count", u32_of(h.head_size()));
                }
                HfArch::Qwen3Moe => {
                    if let Some(n) = h.moe_intermediate_size {
                        k.set("qwen3moe.expert_feed_forward_length", u32_of(n));
                    }
                }
                _ => {}
            }
        }
    }
    k.set("general.quantization_version", Value::U32(2));
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_converters_title_rule() {
        assert_eq!(model_name("Llama-3.2-1B-Instruct"), "Llama 3.2 1B Instruct");
        assert_eq!(model_name("gemma-3-1b-it"), "Gemma 3 1b It");
        assert_eq!(model_name("tiny-llama-v1.0"), "Tiny Llama v1.0");
        assert_eq!(model_name("abc1def"), "Abc1Def");
    }
}
