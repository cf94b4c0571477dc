//! `config.json` parsing: real-world shapes of Llama 2/3.1, Mistral and Qwen2 configs, defaults,
//! and clear errors for unsupported or inconsistent ones.
mod common;

use brisk::format::hf_config::{HfArch, HfConfig, TokenIds};

const LLAMA31: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.0.dev0", "use_cache": true, "vocab_size": 128256
}"#;

const MISTRAL: &str = r#"{
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
  "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 32000
}"#;

const QWEN2: &str = r#"{
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
}"#;

/// An old Llama 2 style config: no kv heads, no rope_theta, linear scaling under `type`.
const LLAMA2_OLD: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
  "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8,
  "max_position_embeddings": 2048, "vocab_size": 512, "rms_norm_eps": 1e-5,
  "rope_scaling": {"type": "linear", "factor": 2.0}, "head_dim": null
}"#;

#[test]
fn llama31() {
    let c = HfConfig::from_json(LLAMA31).unwrap();
    assert_eq!(c.arch, HfArch::Llama);
    assert_eq!(c.arch.gguf_arch(), "llama");
    assert_eq!(c.model_type, "llama");
    assert_eq!((c.hidden_size, c.intermediate_size), (4096, 14336));
    assert_eq!((c.num_hidden_layers, c.num_attention_heads), (32, 32));
    assert_eq!(c.num_key_value_heads, 8);
    assert_eq!(c.head_size(), 128);
    assert_eq!(c.rms_norm_eps, 1e-5);
    assert_eq!(c.rope_theta, 500000.0);
    let rs = c.rope_scaling.as_ref().unwrap();
    assert_eq!(rs.rope_type.as_deref(), Some("llama3"));
    assert_eq!(rs.factor, Some(8.0));
    assert_eq!(rs.original_max_position_embeddings, Some(8192));
    assert_eq!(
        (rs.low_freq_factor, rs.high_freq_factor),
        (Some(1.0), Some(4.0))
    );
    assert_eq!(c.max_position_embeddings, 131072);
    assert_eq!(c.vocab_size, 128256);
    assert_ne!(c.tie_word_embeddings, Some(true));
    assert_eq!(c.bos_token_id, Some(TokenIds::One(128000)));
    let eos = c.eos_token_id.as_ref().unwrap();
    assert_eq!(eos.to_vec(), [128001, 128008, 128009]);
    assert_eq!(eos.first(), Some(128001));
    assert_eq!(c.torch_dtype.as_deref(), Some("bfloat16"));
    assert_eq!(c.sliding_window, None);
}

#[test]
fn mistral_and_qwen2() {
    let m = HfConfig::from_json(MISTRAL).unwrap();
    assert_eq!(m.arch, HfArch::Mistral);
    assert_eq!(m.arch.gguf_arch(), "llama");
    assert_eq!(m.sliding_window, Some(4096));
    assert_eq!(m.rope_scaling, None);

    let q = HfConfig::from_json(QWEN2).unwrap();
    assert_eq!(q.arch, HfArch::Qwen2);
    assert_eq!(q.arch.gguf_arch(), "qwen2");
    assert_eq!(q.arch.class_name(), "Qwen2ForCausalLM");
    assert_eq!(q.tie_word_embeddings, Some(true));
    assert_eq!(q.head_size(), 64);
    assert_eq!(q.rope_theta, 1e6);
    assert_eq!(q.sliding_window, None, "use_sliding_window is false");
}

#[test]
fn defaults() {
    let c = HfConfig::from_json(LLAMA2_OLD).unwrap();
    assert_eq!(c.num_key_value_heads, 8);
    assert_eq!(c.rope_theta, 10000.0);
    assert_eq!(c.head_dim, None);
    assert_eq!(c.head_size(), 8);
    assert_ne!(c.tie_word_embeddings, Some(true));
    assert_eq!(c.bos_token_id, None);
    let rs = c.rope_scaling.unwrap();
    assert_eq!(rs.rope_type.as_deref(), Some("linear"));
    assert_eq!(rs.factor, Some(2.0));

    // Only a model type; an explicit head_dim that differs from hidden/heads; `dtype`.
    let c = HfConfig::from_json(
        r#"{"model_type": "qwen2", "hidden_size": 1024, "intermediate_size": 3072,
            "num_hidden_layers": 2, "num_attention_heads": 16, "num_key_value_heads": 8,
            "head_dim": 128, "max_position_embeddings": 40960, "vocab_size": 10,
            "dtype": "float16", "eos_token_id": null,
            "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}}"#,
    )
    .unwrap();
    assert_eq!(c.arch, HfArch::Qwen2);
    assert_eq!(c.head_size(), 128);
    assert_eq!(c.torch_dtype.as_deref(), Some("float16"));
    assert_eq!(c.rope_theta, 1e6);
    assert_eq!(c.rope_scaling, None);
    assert_eq!(c.eos_token_id, None);
}

#[test]
fn errors() {
    let cases = [
        (
            LLAMA31.replace("LlamaForCausalLM", "GPT2LMHeadModel"),
            "unsupported architecture",
        ),
        (
            r#"{"model_type": "gpt2", "hidden_size": 8}"#.to_string(),
            "model_type 'gpt2'",
        ),
        (
            LLAMA31.replace("\"hidden_size\": 4096,", ""),
            "missing hidden_size",
        ),
        (
            LLAMA31.replace("\"vocab_size\": 128256", "\"vocab_size\": 0"),
            "vocab_size is 0",
        ),
        (
            LLAMA31.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5"),
            "not a multiple of num_key_value_heads 5",
        ),
        (
            LLAMA2_OLD.replace("\"num_attention_heads\": 8", "\"num_attention_heads\": 7"),
            "hidden_size 64 is not a multiple of num_attention_heads 7",
        ),
        (
            LLAMA31.replace("\"hidden_size\": 4096", "\"hidden_size\": -1"),
            "not valid",
        ),
        (
            LLAMA31.replace("\"rope_theta\": 500000.0", "\"rope_theta\": -1.0"),
            "rope_theta -1 is not a positive number",
        ),
        (
            LLAMA31.replace("\"factor\": 8.0", "\"factor\": \"big\""),
            "rope_scaling",
        ),
        ("[1, 2]".to_string(), "not valid"),
        ("".to_string(), "not valid"),
    ];
    for (text, needle) in cases {
        let err = HfConfig::from_json(&text).err().unwrap();
        common::assert_plain_message(&err.to_string());
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

#[test]
fn implausible_numbers_in_config_json_are_refused() {
    use brisk::model::config::Config;
    let base: serde_json::Value = serde_json::from_str(MISTRAL).unwrap();
    for (key, value, says) in [
        (
            "max_position_embeddings",
            serde_json::json!(1u64 << 40),
            "context length",
        ),
        (
            "max_position_embeddings",
            serde_json::json!(0),
            "max_position_embeddings",
        ),
        ("rms_norm_eps", serde_json::json!(-1e-5), "rms_norm_eps"),
        ("rms_norm_eps", serde_json::json!(0.0), "epsilon"),
    ] {
        let mut v = base.clone();
        v[key] = value.clone();
        let result = HfConfig::from_json(&v.to_string())
            .and_then(|h| Config::from_hf(&h).map(|_| ()).map_err(|e| e.to_string()));
        let err = result.expect_err(&format!("{key} = {value} accepted"));
        assert!(err.contains(says), "{key} = {value}: {err}");
        common::assert_plain_message(&err);
    }
}
