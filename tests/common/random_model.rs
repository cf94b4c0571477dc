//! A small random-weight Llama written with brisk's own GGUF writer, carrying a real vocabulary
//! and a real chat template in `tokenizer.chat_template`, for chat tests that need no trained
//! weights. The output rows of control tokens are zero, so greedy decoding never picks one (no
//! early end of turn): replies run until `-n`, a full context, or Ctrl-C.
use brisk::format::gguf::{Gguf, GgufWriter, Value};
use brisk::tokenizer::Tokenizer;
use brisk_kernels::QuantType;
use std::path::Path;

const D: usize = 64;
const N_HEAD: usize = 4;
const N_HEAD_KV: usize = 2;
const FF: usize = 128;
const LAYERS: usize = 2;
const CTX: usize = 4096;

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

struct Lcg(u64);
impl Lcg {
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0) * scale
            })
            .collect()
    }
}

/// What a test may change about the model (hardening tests write broken ones).
pub struct Options {
    pub ctx: usize,
    pub rms_eps: f32,
    /// A value planted in `output_norm.weight` (NaN, ∞) when set.
    pub norm_value: Option<f32>,
    /// A value planted in the first layer's query matrix when set.
    pub matrix_value: Option<f32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ctx: CTX,
            rms_eps: 1e-5,
            norm_value: None,
            matrix_value: None,
        }
    }
}

/// Write the model to `out` with the vocabulary of `vocab_gguf` and the template text `template`.
pub fn write(vocab_gguf: &Path, template: &str, out: &Path) {
    write_with(vocab_gguf, template, out, &Options::default())
}

/// `write`, with `opts`.
pub fn write_with(vocab_gguf: &Path, template: &str, out: &Path, opts: &Options) {
    let vocab = Gguf::open(vocab_gguf).expect("vocab file");
    let tok = Tokenizer::from_gguf(&vocab).expect("vocab tokenizer");
    let n_vocab = tok.n_vocab();
    let mut g = GgufWriter::new();
    g.set("general.architecture", Value::String("llama".into()));
    for (k, v) in vocab.metadata() {
        if k.starts_with("tokenizer.") {
            g.set(k, v.clone());
        }
    }
    g.set("tokenizer.chat_template", Value::String(template.into()));
    for (k, v) in [
        ("llama.context_length", opts.ctx),
        ("llama.embedding_length", D),
        ("llama.block_count", LAYERS),
        ("llama.feed_forward_length", FF),
        ("llama.attention.head_count", N_HEAD),
        ("llama.attention.head_count_kv", N_HEAD_KV),
        ("llama.rope.dimension_count", D / N_HEAD),
    ] {
        g.set(k, Value::U32(v as u32));
    }
    g.set(
        "llama.attention.layer_norm_rms_epsilon",
        Value::F32(opts.rms_eps),
    );
    g.set("llama.rope.freq_base", Value::F32(10000.0));
    let mut rng = Lcg(11);
    let kv = N_HEAD_KV * (D / N_HEAD);
    let mut add = |name: &str, dims: &[u64], values: Vec<f32>| {
        g.add_tensor(name, dims, QuantType::F32, f32_bytes(&values))
            .unwrap();
    };
    add(
        "token_embd.weight",
        &[D as u64, n_vocab as u64],
        rng.vec(n_vocab * D, 0.5),
    );
    let mut norm = vec![1.0; D];
    if let Some(v) = opts.norm_value {
        norm[3] = v;
    }
    add("output_norm.weight", &[D as u64], norm);
    let mut output = rng.vec(n_vocab * D, 0.3);
    for id in 0..n_vocab as u32 {
        if tok.is_control(id) || tok.is_eog(id) {
            output[id as usize * D..(id as usize + 1) * D].fill(0.0);
        }
    }
    add("output.weight", &[D as u64, n_vocab as u64], output);
    for l in 0..LAYERS {
        let p = |s: &str| format!("blk.{l}.{s}.weight");
        add(&p("attn_norm"), &[D as u64], vec![1.0; D]);
        add(&p("ffn_norm"), &[D as u64], vec![1.0; D]);
        let mut q = rng.vec(D * D, 0.3);
        if let (0, Some(v)) = (l, opts.matrix_value) {
            q[5] = v;
        }
        add(&p("attn_q"), &[D as u64, D as u64], q);
        add(&p("attn_k"), &[D as u64, kv as u64], rng.vec(kv * D, 0.3));
        add(&p("attn_v"), &[D as u64, kv as u64], rng.vec(kv * D, 0.3));
        add(
            &p("attn_output"),
            &[D as u64, D as u64],
            rng.vec(D * D, 0.2),
        );
        add(&p("ffn_gate"), &[D as u64, FF as u64], rng.vec(FF * D, 0.2));
        add(&p("ffn_up"), &[D as u64, FF as u64], rng.vec(FF * D, 0.2));
        add(&p("ffn_down"), &[FF as u64, D as u64], rng.vec(D * FF, 0.2));
    }
    g.write(out).expect("write the random model");
}
