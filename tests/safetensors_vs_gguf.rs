//! A Hugging Face checkpoint and the GGUF converted from it are the same model: a random-weight
//! Llama is written both ways — safetensors with config.json and the real Llama 2 tokenizer.json
//! (HF layout: Q/K rows in half-split RoPE order), and GGUF with the Llama 2 SentencePiece vocab
//! (Q/K rows permuted the way llama.cpp's converter permutes them) — and both must tokenize the
//! same and give the same logits.
mod common;

use brisk::format::gguf::{Gguf, GgufWriter, Value};
use brisk::generate::Session;
use brisk::model::{loader, Logits};
use brisk_kernels::QuantType;
use common::hf_checkpoint::{permute_qk_rows, write_safetensors};

const D: usize = 64;
const N_HEAD: usize = 4;
const N_HEAD_KV: usize = 2;
const HEAD_DIM: usize = D / N_HEAD;
const FF: usize = 96;
const LAYERS: usize = 2;
const CTX: usize = 256;

/// Deterministic pseudo-random weights with a chosen standard-deviation-ish scale.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn safetensors_checkpoint_matches_its_gguf() {
    let Some(fx) = common::fixtures() else { return };
    let dir = std::env::temp_dir().join(format!("brisk-st-vs-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hf_tok = fx.join("tokenizers/hf/llama2");
    let vocab = Gguf::open(fx.join("tokenizers/gguf/ggml-vocab-llama-spm.gguf")).unwrap();
    let n_vocab = vocab.get_array("tokenizer.ggml.tokens").unwrap().len();

    let mut rng = Lcg(7);
    let kv = N_HEAD_KV * HEAD_DIM;
    let embd = rng.vec(n_vocab * D, 0.5);
    let mut hf: Vec<(String, Vec<u64>, Vec<f32>)> = vec![
        (
            "model.embed_tokens.weight".into(),
            vec![n_vocab as u64, D as u64],
            embd,
        ),
        (
            "model.norm.weight".into(),
            vec![D as u64],
            rng.vec(D, 0.2).iter().map(|x| 1.0 + x).collect(),
        ),
        (
            "lm_head.weight".into(),
            vec![n_vocab as u64, D as u64],
            rng.vec(n_vocab * D, 0.2),
        ),
    ];
    let mut gguf = GgufWriter::new();
    gguf.set("general.architecture", Value::String("llama".into()));
    for (k, v) in vocab.metadata() {
        if k.starts_with("tokenizer.") {
            gguf.set(k, v.clone());
        }
    }
    let arch_keys = [
        ("llama.context_length", CTX),
        ("llama.embedding_length", D),
        ("llama.block_count", LAYERS),
        ("llama.feed_forward_length", FF),
        ("llama.attention.head_count", N_HEAD),
        ("llama.attention.head_count_kv", N_HEAD_KV),
        ("llama.rope.dimension_count", HEAD_DIM),
    ];
    for (k, v) in arch_keys {
        gguf.set(k, Value::U32(v as u32));
    }
    gguf.set("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5));
    gguf.set("llama.rope.freq_base", Value::F32(10000.0));

    for l in 0..LAYERS {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        let norm1: Vec<f32> = rng.vec(D, 0.2).iter().map(|x| 1.0 + x).collect();
        let norm2: Vec<f32> = rng.vec(D, 0.2).iter().map(|x| 1.0 + x).collect();
        hf.push((p("input_layernorm.weight"), vec![D as u64], norm1));
        hf.push((p("post_attention_layernorm.weight"), vec![D as u64], norm2));
        hf.push((
            p("self_attn.q_proj.weight"),
            vec![D as u64, D as u64],
            rng.vec(D * D, 0.3),
        ));
        hf.push((
            p("self_attn.k_proj.weight"),
            vec![kv as u64, D as u64],
            rng.vec(kv * D, 0.3),
        ));
        hf.push((
            p("self_attn.v_proj.weight"),
            vec![kv as u64, D as u64],
            rng.vec(kv * D, 0.3),
        ));
        hf.push((
            p("self_attn.o_proj.weight"),
            vec![D as u64, D as u64],
            rng.vec(D * D, 0.2),
        ));
        hf.push((
            p("mlp.gate_proj.weight"),
            vec![FF as u64, D as u64],
            rng.vec(FF * D, 0.2),
        ));
        hf.push((
            p("mlp.up_proj.weight"),
            vec![FF as u64, D as u64],
            rng.vec(FF * D, 0.2),
        ));
        hf.push((
            p("mlp.down_proj.weight"),
            vec![D as u64, FF as u64],
            rng.vec(D * FF, 0.2),
        ));
    }
    for (name, shape, values) in &hf {
        let gname = brisk::format::hf_names::gguf_tensor_name(
            name,
            brisk::format::hf_config::HfArch::Llama,
        )
        .expect("mapped name");
        let dims: Vec<u64> = shape.iter().rev().copied().collect();
        let values = if name.contains("q_proj") {
            permute_qk_rows(values, N_HEAD, D, true)
        } else if name.contains("k_proj") {
            permute_qk_rows(values, N_HEAD_KV, D, true)
        } else {
            values.clone()
        };
        gguf.add_tensor(&gname, &dims, QuantType::F32, f32_bytes(&values))
            .unwrap();
    }
    let gguf_path = dir.join("model.gguf");
    gguf.write(&gguf_path).unwrap();

    let st_dir = dir.join("hf");
    std::fs::create_dir_all(&st_dir).unwrap();
    write_safetensors(&st_dir.join("model.safetensors"), &hf);
    let config = serde_json::json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": D, "intermediate_size": FF, "num_hidden_layers": LAYERS,
        "num_attention_heads": N_HEAD, "num_key_value_heads": N_HEAD_KV,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": CTX,
        "vocab_size": n_vocab, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": "float32"
    });
    std::fs::write(st_dir.join("config.json"), config.to_string()).unwrap();
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(hf_tok.join(f), st_dir.join(f)).unwrap();
    }

    let a = loader::load(&gguf_path, 1).expect("load gguf");
    let b = loader::load(&st_dir, 1).expect("load safetensors");
    let prompt = "The quick brown fox jumps over the lazy dog. Once upon a time";
    let ta = a.tokenizer.encode(prompt, true, true);
    let tb = b.tokenizer.encode(prompt, true, true);
    assert_eq!(ta, tb, "both tokenizers agree");
    assert_eq!(ta[0], 1, "BOS first");

    let la = Session::new(&a.model, CTX).eval(&ta, Logits::All).unwrap();
    let lb = Session::new(&b.model, CTX).eval(&tb, Logits::All).unwrap();
    let scale = la.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let worst = la
        .iter()
        .zip(&lb)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    // Same weights and arithmetic, only the RoPE pairing differs in where the numbers sit:
    // differences are f32 rounding in a different summation order.
    assert!(
        worst <= 1e-4 * scale.max(1.0),
        "max |Δlogit| {worst} (scale {scale})"
    );

    // `brisk perplexity` takes the checkpoint directory as it takes the GGUF file.
    let text = fx.join("text/wiki.test.raw");
    let ppl = |m: &std::path::Path| {
        let args = [
            "perplexity",
            "-m",
            m.to_str().unwrap(),
            "-f",
            text.to_str().unwrap(),
            "-c",
            "64",
            "--chunks",
            "2",
            "--json",
        ];
        let r = common::process::brisk(&args, b"");
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
        j["ppl"].as_f64().unwrap()
    };
    let (pa, pb) = (ppl(&gguf_path), ppl(&st_dir));
    assert!(
        (pa - pb).abs() <= 1e-4 * pa,
        "PPL {pa} (GGUF) vs {pb} (safetensors)"
    );
    std::fs::remove_dir_all(&dir).ok();
}
