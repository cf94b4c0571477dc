//! Architecture fixtures (`tests/fixtures/arch`, llama.cpp's GGUF layout) written back as the
//! Hugging Face checkpoint llama.cpp's converter would have read: HF tensor names, Llama's Q/K
//! rows un-permuted, Gemma's norms stored as `w` for `1 + w`, experts as one tensor each, the
//! config fields of each family, a WordLevel `tokenizer.json` over the GGUF's tokens, and a
//! SentencePiece `tokenizer.model` (with `tokenizer_config.json`) holding its tokens, scores and
//! types, so the converter's SentencePiece path sees the vocabulary the GGUF has (a GPT-2
//! vocabulary gets the real GPT-2 `tokenizer.json` it came from). F16 weights are written as F32.
use super::hf_checkpoint::{permute_qk_rows, write_safetensors, Tensor};
use brisk::format::gguf::{Gguf, Value};
use brisk_kernels::QuantType;
use serde_json::json;
use std::path::Path;

/// The fixtures (in `tests/fixtures/arch`) an HF checkpoint can express, one per family.
pub const ARCH_FIXTURES: [&str; 7] = [
    "rand-llama3",
    "rand-qwen3",
    "rand-qwen3moe",
    "rand-mixtral",
    "rand-gemma2",
    "rand-gemma3",
    "rand-phi3",
];

/// Little-endian f32 values.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The HF name of a GGUF tensor of `arch` (`None`: not stored in HF, e.g. `rope_freqs`).
fn hf_name(arch: &str, gguf: &str) -> Option<String> {
    let gemma = arch.starts_with("gemma");
    match gguf {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        "rope_freqs.weight" | "rope_factors_long.weight" | "rope_factors_short.weight" => {
            return None
        }
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (module, kind) = rest.rsplit_once('.')?;
    let m = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" if gemma => "pre_feedforward_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "post_attention_norm" => "post_attention_layernorm",
        "post_ffw_norm" => "post_feedforward_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_qkv" => "self_attn.qkv_proj",
        "attn_output" => "self_attn.o_proj",
        "attn_q_norm" => "self_attn.q_norm",
        "attn_k_norm" => "self_attn.k_norm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" if arch == "phi3" => "mlp.gate_up_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        "ffn_gate_inp" if arch == "llama" => "block_sparse_moe.gate",
        "ffn_gate_inp" => "mlp.gate",
        other => panic!("no HF name for {other}"),
    };
    Some(format!("model.layers.{layer}.{m}.{kind}"))
}

/// Expert stacks `[cols, rows, n]` as one HF tensor per expert.
fn split_experts(arch: &str, gguf: &str, dims: &[u64], v: &[f32]) -> Vec<Tensor> {
    let (layer, rest) = gguf.strip_prefix("blk.").unwrap().split_once('.').unwrap();
    let (cols, rows, n) = (dims[0] as usize, dims[1] as usize, dims[2] as usize);
    let (moe_prefix, m) = match (arch, rest) {
        ("llama", "ffn_gate_exps.weight") => ("block_sparse_moe", "w1"),
        ("llama", "ffn_up_exps.weight") => ("block_sparse_moe", "w3"),
        ("llama", "ffn_down_exps.weight") => ("block_sparse_moe", "w2"),
        (_, "ffn_gate_exps.weight") => ("mlp", "gate_proj"),
        (_, "ffn_up_exps.weight") => ("mlp", "up_proj"),
        (_, "ffn_down_exps.weight") => ("mlp", "down_proj"),
        _ => panic!("not an expert stack: {gguf}"),
    };
    (0..n)
        .map(|e| {
            (
                format!("model.layers.{layer}.{moe_prefix}.experts.{e}.{m}.weight"),
                vec![rows as u64, cols as u64],
                v[e * rows * cols..(e + 1) * rows * cols].to_vec(),
            )
        })
        .collect()
}

fn u(g: &Gguf, key: &str) -> Option<u64> {
    g.get_u64(key)
}

fn f(g: &Gguf, key: &str) -> Option<f64> {
    g.get_f64(key)
}

/// config.json for the GGUF's hyperparameters, as the converter read them.
fn config_json(g: &Gguf, arch: &str, n_vocab: usize, has_output: bool) -> serde_json::Value {
    let k = |s: &str| format!("{arch}.{s}");
    let n_head = u(g, &k("attention.head_count")).unwrap();
    let n_embd = u(g, &k("embedding_length")).unwrap();
    let head_dim = u(g, &k("attention.key_length")).unwrap_or(n_embd / n_head);
    let n_ctx = u(g, &k("context_length")).unwrap();
    let experts = u(g, &k("expert_count")).filter(|&n| n > 0);
    let (class, model_type) = match (arch, experts) {
        ("llama", Some(_)) => ("MixtralForCausalLM", "mixtral"),
        ("llama", None) => ("LlamaForCausalLM", "llama"),
        ("qwen2", _) => ("Qwen2ForCausalLM", "qwen2"),
        ("qwen3", _) => ("Qwen3ForCausalLM", "qwen3"),
        ("qwen3moe", _) => ("Qwen3MoeForCausalLM", "qwen3_moe"),
        ("gemma2", _) => ("Gemma2ForCausalLM", "gemma2"),
        ("gemma3", _) => ("Gemma3ForCausalLM", "gemma3_text"),
        ("phi3", _) => ("Phi3ForCausalLM", "phi3"),
        _ => panic!("no HF class for {arch}"),
    };
    let mut c = json!({
        "architectures": [class], "model_type": model_type,
        "hidden_size": n_embd,
        "intermediate_size": u(g, &k("feed_forward_length")).unwrap_or(1),
        "num_hidden_layers": u(g, &k("block_count")).unwrap(),
        "num_attention_heads": n_head,
        "num_key_value_heads": u(g, &k("attention.head_count_kv")).unwrap_or(n_head),
        "head_dim": head_dim,
        "rms_norm_eps": f(g, &k("attention.layer_norm_rms_epsilon")).unwrap_or(1e-5),
        "rope_theta": f(g, &k("rope.freq_base")).unwrap_or(10000.0),
        "max_position_embeddings": n_ctx,
        "vocab_size": n_vocab,
        "tie_word_embeddings": !has_output,
        "torch_dtype": "float32",
        "bos_token_id": u(g, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": u(g, "tokenizer.ggml.eos_token_id"),
    });
    let o = c.as_object_mut().unwrap();
    if let Some(n) = experts {
        let key = if arch == "llama" {
            "num_local_experts"
        } else {
            "num_experts"
        };
        o.insert(key.into(), json!(n));
        o.insert(
            "num_experts_per_tok".into(),
            json!(u(g, &k("expert_used_count")).unwrap()),
        );
        if let Some(w) = u(g, &k("expert_feed_forward_length")) {
            o.insert("moe_intermediate_size".into(), json!(w));
        }
    }
    if arch.starts_with("gemma") {
        o.insert("query_pre_attn_scalar".into(), json!(head_dim));
        o.insert(
            "sliding_window".into(),
            json!(u(g, &k("attention.sliding_window")).unwrap()),
        );
        for cap in ["attn_logit_softcapping", "final_logit_softcapping"] {
            o.insert(cap.into(), json!(f(g, &k(cap))));
        }
        if arch == "gemma3" {
            o.insert(
                "rope_local_base_freq".into(),
                json!(f(g, &k("rope.freq_base_swa")).unwrap_or(10000.0)),
            );
            o.insert("sliding_window_pattern".into(), json!(6));
        }
    }
    if let Some(orig) = u(g, &k("rope.scaling.original_context_length")) {
        if g.get_str(&k("rope.scaling.type")) == Some("yarn") {
            return serde_json::Value::Null; // HF YaRN is not read from safetensors yet.
        }
        if arch == "phi3" {
            let fac = |name: &str| -> Vec<f32> {
                f32s(
                    g.tensor_views()
                        .iter()
                        .find(|t| t.name == name)
                        .unwrap()
                        .bytes
                        .as_bytes(),
                )
            };
            o.insert("original_max_position_embeddings".into(), json!(orig));
            o.insert(
                "rope_scaling".into(),
                json!({"type": "longrope",
                       "short_factor": fac("rope_factors_short.weight"),
                       "long_factor": fac("rope_factors_long.weight")}),
            );
        }
    }
    c
}

/// The llama3 `rope_scaling` the fixture's `rope_freqs` came from (factor 8, low 1, high 4,
/// original context 64: `scripts/make_arch_gguf.py`).
fn llama3_scaling() -> serde_json::Value {
    json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
           "high_freq_factor": 4.0, "original_max_position_embeddings": 64})
}

/// A WordLevel tokenizer over the GGUF's own token strings (the logits are compared on ids).
fn tokenizer_json(g: &Gguf) -> serde_json::Value {
    let tokens = g.get_array("tokenizer.ggml.tokens").unwrap();
    let mut vocab = serde_json::Map::new();
    for (i, t) in tokens.iter().enumerate() {
        if let Value::String(s) = t {
            vocab.entry(s.clone()).or_insert(json!(i));
        }
    }
    json!({"version": "1.0", "added_tokens": [], "normalizer": null, "pre_tokenizer": null,
           "post_processor": null, "decoder": null,
           "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}})
}

/// Writes the checkpoint of `gguf_path` into `out`; `false` for a fixture HF cannot express.
pub fn convert(gguf_path: &Path, out: &Path) -> bool {
    let g = Gguf::open(gguf_path).unwrap();
    let arch = g.get_str("general.architecture").unwrap().to_string();
    let n_head = u(&g, &format!("{arch}.attention.head_count")).unwrap() as usize;
    let n_head_kv = u(&g, &format!("{arch}.attention.head_count_kv")).unwrap_or(n_head as u64);
    let n_vocab = g.get_array("tokenizer.ggml.tokens").unwrap().len();
    let views = g.tensor_views();
    let has_output = views.iter().any(|t| t.name == "output.weight");
    let mut config = config_json(&g, &arch, n_vocab, has_output);
    if config.is_null() {
        return false;
    }
    if views.iter().any(|t| t.name == "rope_freqs.weight") {
        config["rope_scaling"] = llama3_scaling();
    }
    let mut hf: Vec<Tensor> = Vec::new();
    for t in &views {
        let v = match t.ty {
            QuantType::F16 => t
                .bytes
                .as_bytes()
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            _ => f32s(t.bytes.as_bytes()),
        };
        if t.dims.len() == 3 {
            hf.extend(split_experts(&arch, &t.name, &t.dims, &v));
            continue;
        }
        let Some(name) = hf_name(&arch, &t.name) else {
            continue;
        };
        let shape: Vec<u64> = t.dims.iter().rev().copied().collect();
        let cols = t.dims[0] as usize;
        let v = match t.name.rsplit('.').nth(1) {
            Some("attn_q") if arch == "llama" => permute_qk_rows(&v, n_head, cols, false),
            Some("attn_k") if arch == "llama" => {
                permute_qk_rows(&v, n_head_kv as usize, cols, false)
            }
            Some(m) if arch.starts_with("gemma") && m.ends_with("norm") => {
                v.iter().map(|x| x - 1.0).collect()
            }
            _ => v,
        };
        hf.push((name, shape, v));
    }
    std::fs::create_dir_all(out).unwrap();
    write_safetensors(&out.join("model.safetensors"), &hf);
    std::fs::write(out.join("config.json"), config.to_string()).unwrap();
    if g.get_str("tokenizer.ggml.model") == Some("gpt2") {
        // The GPT-2 vocabulary the fixture was made with: its real HF tokenizer files.
        let hf = super::fixtures()
            .expect("../shared")
            .join("tokenizers/hf/gpt2");
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            std::fs::copy(hf.join(f), out.join(f)).unwrap();
        }
        return true;
    }
    std::fs::write(out.join("tokenizer.json"), tokenizer_json(&g).to_string()).unwrap();
    std::fs::write(out.join("tokenizer.model"), sentencepiece_model(&g)).unwrap();
    std::fs::write(
        out.join("tokenizer_config.json"),
        tokenizer_config(&g).to_string(),
    )
    .unwrap();
    true
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(no: u64, body: &[u8], out: &mut Vec<u8>) {
    varint((no << 3) | 2, out);
    varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// A SentencePiece `ModelProto` with the GGUF's pieces (text, score, type) and nothing else.
fn sentencepiece_model(g: &Gguf) -> Vec<u8> {
    let tokens = g.get_array("tokenizer.ggml.tokens").unwrap();
    let scores = g.get_array("tokenizer.ggml.scores").unwrap();
    let types = g.get_array("tokenizer.ggml.token_type").unwrap();
    let mut model = Vec::new();
    for ((t, s), k) in tokens.iter().zip(scores).zip(types) {
        let (Value::String(t), Value::F32(s), Value::I32(k)) = (t, s, k) else {
            panic!("unexpected vocabulary value types");
        };
        let mut piece = Vec::new();
        bytes_field(1, t.as_bytes(), &mut piece);
        piece.push((2 << 3) | 5);
        piece.extend_from_slice(&s.to_le_bytes());
        piece.push(3 << 3);
        varint(*k as u64, &mut piece);
        bytes_field(1, &piece, &mut model);
    }
    model
}

/// tokenizer_config.json naming the GGUF's BOS/EOS/UNK tokens and its add-BOS/EOS flags.
fn tokenizer_config(g: &Gguf) -> serde_json::Value {
    let tokens = g.get_array("tokenizer.ggml.tokens").unwrap();
    let text = |key: &str| {
        let id = g.get_u64(key)? as usize;
        match &tokens[id] {
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    };
    let flag = |key: &str| match g.get(key) {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    };
    json!({
        "bos_token": text("tokenizer.ggml.bos_token_id"),
        "eos_token": text("tokenizer.ggml.eos_token_id"),
        "unk_token": text("tokenizer.ggml.unknown_token_id"),
        "add_bos_token": flag("tokenizer.ggml.add_bos_token"),
        "add_eos_token": flag("tokenizer.ggml.add_eos_token"),
    })
}
