//! Hugging Face checkpoint → GGUF, as llama.cpp's converter writes it: every architecture
//! fixture (a GGUF in llama.cpp's layout) written back as the checkpoint the converter reads
//! must convert to the same tensors, bytes and vocabulary, quantize from the checkpoint directly,
//! and generate llama.cpp's golden tokens; the tokenizer keys of real HF tokenizers must equal
//! those of llama.cpp's own vocabulary files made from them.
mod common;

use brisk::convert::vocab::tokenizer_keys;
use brisk::convert::HfGguf;
use brisk::format::gguf::{Gguf, Value};
use brisk::format::hf_config::HfArch;
use common::arch_checkpoint::{convert, f32s, ARCH_FIXTURES};
use common::process::brisk;
use serde_json::json;
use std::path::PathBuf;

/// A scratch directory; under `$BRISK_KEEP_CONVERTED` (kept, for `scripts/convert-check.sh`)
/// when that is set.
fn temp_dir(tag: &str) -> PathBuf {
    let d = match std::env::var_os("BRISK_KEEP_CONVERTED") {
        Some(root) => PathBuf::from(root).join(tag),
        None => std::env::temp_dir().join(format!("brisk-convert-{tag}-{}", std::process::id())),
    };
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cleanup(dir: &std::path::Path) {
    if std::env::var_os("BRISK_KEEP_CONVERTED").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Every tensor of `a` is in `b` with the same shape, type and bytes.
fn assert_same_tensors(a: &Gguf, b: &Gguf) {
    for t in a.tensors() {
        let c = b
            .tensor_info(&t.name)
            .unwrap_or_else(|| panic!("no {}", t.name));
        assert_eq!((&c.dims, c.ty), (&t.dims, t.ty), "{}", t.name);
        assert!(
            a.tensor_bytes(t).as_bytes() == b.tensor_bytes(c).as_bytes(),
            "{}: bytes differ",
            t.name
        );
    }
}

/// `brisk quantize CHECKPOINT OUT TYPE`, which must succeed.
fn quantize_checkpoint(dir: &std::path::Path, out: &std::path::Path, ty: &str) {
    let r = brisk(
        &["quantize", dir.to_str().unwrap(), out.to_str().unwrap(), ty],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}: {}", dir.display(), r.stderr);
}

fn key<'a>(meta: &'a [(String, Value)], k: &str) -> Option<&'a Value> {
    meta.iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

#[test]
fn checkpoints_convert_back_to_the_gguf_they_came_from() {
    let tmp = temp_dir("tensors");
    for name in ARCH_FIXTURES {
        let gguf_path = common::arch_fixtures().join(format!("{name}.gguf"));
        let dir = tmp.join(name);
        assert!(convert(&gguf_path, &dir), "{name}");
        let g = Gguf::open(&gguf_path).unwrap();
        let hf = HfGguf::open(&dir).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let mut want: Vec<&str> = g.tensors().iter().map(|t| t.name.as_str()).collect();
        let mut got: Vec<&str> = hf.tensors().iter().map(|t| t.name.as_str()).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{name}: tensor names");
        for t in g.tensors() {
            let c = hf.tensors().iter().find(|c| c.name == t.name).unwrap();
            assert_eq!((&c.dims, c.ty), (&t.dims, t.ty), "{name}: {}", t.name);
            let a = f32s(g.tensor_bytes(t).as_bytes());
            let b = f32s(hf.tensor_bytes(&t.name).unwrap().as_bytes());
            // Gemma's norms went through w − 1 and back (+1 in f32); Llama 3's rope factors are
            // computed again; every other tensor is the same bytes.
            let recomputed = t.name.ends_with("norm.weight") && name.contains("gemma")
                || t.name == "rope_freqs.weight";
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                if recomputed {
                    assert!(
                        (x - y).abs() <= 1e-6 * x.abs().max(1.0),
                        "{name}: {}[{i}]",
                        t.name
                    );
                } else {
                    assert_eq!(x.to_bits(), y.to_bits(), "{name}: {}[{i}]", t.name);
                }
            }
        }
        // The SentencePiece vocabulary, as the GGUF holds it.
        for k in [
            "tokenizer.ggml.model",
            "tokenizer.ggml.tokens",
            "tokenizer.ggml.scores",
            "tokenizer.ggml.token_type",
            "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id",
        ] {
            assert_eq!(key(&hf.metadata, k), g.get(k), "{name}: {k}");
        }
        let arch = g.get_str("general.architecture").unwrap();
        assert_eq!(
            key(&hf.metadata, "general.architecture"),
            Some(&Value::String(arch.into()))
        );
    }
    cleanup(&tmp);
}

/// The prompt and greedy tokens of the fixture's llama.cpp golden (its second case).
fn golden_case(name: &str) -> (String, Vec<u64>) {
    let path = common::arch_fixtures().join(format!("{name}.json"));
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = &golden["cases"][1];
    let greedy = case["greedy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    (
        case["prompt"].as_str().unwrap_or_default().to_string(),
        greedy,
    )
}

#[test]
fn quantizing_a_checkpoint_gives_llama_cpps_greedy_tokens() {
    let tmp = temp_dir("quantize");
    for name in ARCH_FIXTURES {
        let gguf_path = common::arch_fixtures().join(format!("{name}.gguf"));
        let dir = tmp.join(name);
        assert!(convert(&gguf_path, &dir), "{name}");
        let out = tmp.join(format!("{name}.gguf"));
        quantize_checkpoint(&dir, &out, "F32");
        let (prompt, greedy) = golden_case(name);
        let run = |model: &str| {
            let r = brisk(
                &[
                    "run",
                    "-m",
                    model,
                    "-p",
                    &prompt,
                    "-n",
                    &greedy.len().to_string(),
                    "--temp",
                    "0",
                    "--json",
                    "--ignore-eos",
                ],
                b"",
            );
            assert_eq!(r.code, Some(0), "{name}: {}", r.stderr);
            let j: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
            j["text"].as_str().unwrap_or_default().to_string()
        };
        let from_file = run(out.to_str().unwrap());
        let from_original = run(gguf_path.to_str().unwrap());
        assert_eq!(from_file, from_original, "{name}: converted vs original");
    }
    cleanup(&tmp);
}

/// tokenizer.* keys of an HF tokenizer directory against llama.cpp's vocabulary file.
fn compare_vocab(hf: &str, arch: HfArch, vocab_size: usize, gguf: &str, keys: &[&str]) {
    let Some(fx) = common::fixtures() else { return };
    let dir = fx.join("tokenizers/hf").join(hf);
    let config = json!({"vocab_size": vocab_size});
    let got = tokenizer_keys(&dir, arch, Some(vocab_size), &config)
        .unwrap_or_else(|e| panic!("{hf}: {e:#}"));
    let want = Gguf::open(fx.join("tokenizers/gguf").join(gguf)).unwrap();
    for k in keys {
        assert!(want.get(k).is_some(), "{gguf} has no {k}");
        assert_eq!(key(&got, k), want.get(k), "{hf}: {k}");
    }
}

#[test]
fn byte_level_bpe_vocabulary_equals_llama_cpps() {
    compare_vocab(
        "gpt2",
        HfArch::Qwen2,
        50257,
        "ggml-vocab-gpt-2.gguf",
        &[
            "tokenizer.ggml.model",
            "tokenizer.ggml.pre",
            "tokenizer.ggml.tokens",
            "tokenizer.ggml.token_type",
            "tokenizer.ggml.merges",
            "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id",
        ],
    );
}

#[test]
fn sentencepiece_vocabulary_equals_llama_cpps() {
    compare_vocab(
        "llama2",
        HfArch::Llama,
        32000,
        "ggml-vocab-llama-spm.gguf",
        &[
            "tokenizer.ggml.model",
            "tokenizer.ggml.pre",
            "tokenizer.ggml.tokens",
            "tokenizer.ggml.scores",
            "tokenizer.ggml.token_type",
            "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.unknown_token_id",
            "tokenizer.ggml.add_bos_token",
            "tokenizer.ggml.add_eos_token",
        ],
    );
}

#[test]
fn byte_level_bpe_checkpoint_quantizes_back_to_its_gguf() {
    let Some(fx) = common::fixtures() else { return };
    let original = fx.join("models/rand-qwen2-gpt2-64-f16.gguf");
    let tmp = temp_dir("gpt2");
    let dir = tmp.join("ckpt");
    assert!(convert(&original, &dir));
    let out = tmp.join("f16.gguf");
    quantize_checkpoint(&dir, &out, "F16");
    let (a, b) = (Gguf::open(&original).unwrap(), Gguf::open(&out).unwrap());
    // The F16 weights went to F32 in the checkpoint and back: the same bytes, tensor by tensor.
    assert_same_tensors(&a, &b);
    assert_eq!(a.tensors().len(), b.tensors().len());
    for k in [
        "tokenizer.ggml.model",
        "tokenizer.ggml.pre",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.merges",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "qwen2.embedding_length",
        "qwen2.block_count",
        "qwen2.attention.head_count_kv",
        "qwen2.rope.freq_base",
    ] {
        assert_eq!(b.get(k), a.get(k), "{k}");
    }
    let run = |m: &std::path::Path| {
        let r = brisk(
            &[
                "run",
                "-m",
                m.to_str().unwrap(),
                "-p",
                "Hello world",
                "-n",
                "12",
                "--temp",
                "0",
            ],
            b"",
        );
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        r.stdout
    };
    assert_eq!(run(&out), run(&original));
    cleanup(&tmp);
}

#[test]
fn a_broken_checkpoint_gives_one_line_and_no_file() {
    let tmp = temp_dir("bad");
    let out = tmp.join("out.gguf");
    let o = out.to_str().unwrap();
    // No config.json.
    let empty = tmp.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let r = brisk(&["quantize", empty.to_str().unwrap(), o, "Q8_0"], b"");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("config.json"), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    // A tokenizer.json llama.cpp's converter would not know.
    let ckpt = tmp.join("ckpt");
    assert!(convert(
        &common::arch_fixtures().join("rand-qwen3.gguf"),
        &ckpt
    ));
    std::fs::remove_file(ckpt.join("tokenizer.model")).unwrap();
    std::fs::write(
        ckpt.join("tokenizer.json"),
        r#"{"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}"#,
    )
    .unwrap();
    let r = brisk(&["quantize", ckpt.to_str().unwrap(), o, "Q8_0"], b"");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("pre-tokenizer"), "{}", r.stderr);
    // A config asking for four billion tokens is refused before anything is allocated.
    let cfg = ckpt.join("config.json");
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    c["vocab_size"] = json!(4_000_000_000u64);
    std::fs::write(&cfg, c.to_string()).unwrap();
    let r = brisk(&["quantize", ckpt.to_str().unwrap(), o, "Q8_0"], b"");
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(!out.exists(), "no output file is left");
    cleanup(&tmp);
}

#[test]
fn convert_writes_the_converters_types_and_key_order() {
    let Some(fx) = common::fixtures() else { return };
    let original = fx.join("models/rand-qwen2-gpt2-64-f16.gguf");
    let tmp = temp_dir("convert");
    let dir = tmp.join("ckpt");
    assert!(convert(&original, &dir));
    let out = tmp.join("f16.gguf");
    let o = out.to_str().unwrap();
    let r = brisk(
        &["convert", dir.to_str().unwrap(), o, "--outtype", "f16"],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let (a, b) = (Gguf::open(&original).unwrap(), Gguf::open(&out).unwrap());
    assert_same_tensors(&a, &b);
    // The converter's order: general.file_type among the architecture keys, then the
    // quantization version, then the tokenizer.
    let keys: Vec<&str> = b.metadata().iter().map(|(k, _)| k.as_str()).collect();
    let at = |k: &str| {
        keys.iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    assert_eq!(keys[0], "general.architecture");
    assert!(at("qwen2.block_count") < at("general.file_type"));
    assert_eq!(
        at("general.file_type") + 1,
        at("general.quantization_version")
    );
    assert!(at("general.quantization_version") < at("tokenizer.ggml.model"));
    assert_eq!(b.get("general.file_type"), Some(&Value::U32(1)));

    // auto: an all-F32 checkpoint becomes F16, as with the converter; q8_0 quantizes matrices.
    let auto = tmp.join("auto.gguf");
    let r = brisk(
        &[
            "convert",
            "--quiet",
            dir.to_str().unwrap(),
            auto.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        Gguf::open(&auto).unwrap().get("general.file_type"),
        Some(&Value::U32(1))
    );
    let q8 = tmp.join("q8.gguf");
    let r = brisk(
        &[
            "convert",
            dir.to_str().unwrap(),
            q8.to_str().unwrap(),
            "--outtype",
            "q8_0",
        ],
        b"",
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let g = Gguf::open(&q8).unwrap();
    for t in g.tensors() {
        let matrix = t.dims.len() >= 2 && t.dims[1] > 1;
        let want = if matrix { "Q8_0" } else { "F32" };
        assert_eq!(t.ty.name(), want, "{}", t.name);
    }
    // A GGUF file is not a checkpoint.
    let r = brisk(&["convert", original.to_str().unwrap(), o], b"");
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("brisk quantize"), "{}", r.stderr);
    cleanup(&tmp);
}
