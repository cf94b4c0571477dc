//! llama.cpp's tokenizer test vectors (`ggml-vocab-*.gguf` with `.inp`/`.out`): every string of
//! every vocabulary must tokenize exactly as llama.cpp does (no BOS/EOS, special parsing off).
//! Also: vocabularies without vectors load, and the Hugging Face wrapper agrees with GGUF where
//! the vocabularies are the same. Skips, with a message, when `../shared` is absent.

use brisk::format::gguf::Gguf;
use brisk::tokenizer::Tokenizer;
use std::path::{Path, PathBuf};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared");

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(SHARED).join("fixtures/tokenizers");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} not found", dir.display());
        None
    }
}

fn load_gguf(path: &Path) -> Tokenizer {
    let g = Gguf::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Tokenizer::from_gguf(&g).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The test strings and expected ids, split exactly as llama.cpp's test-tokenizer-0 splits them.
fn read_vectors(vocab: &Path) -> Vec<(String, Vec<u32>)> {
    let inp = std::fs::read_to_string(format!("{}.inp", vocab.display())).expect("read .inp");
    let out = std::fs::read_to_string(format!("{}.out", vocab.display())).expect("read .out");
    let sep = "\n__ggml_vocab_test__\n";
    let mut strings = Vec::new();
    let mut pos = 0;
    while pos < inp.len() {
        match inp[pos..].find(sep) {
            Some(i) => {
                strings.push(inp[pos..pos + i].to_string());
                pos += i + sep.len();
            }
            None => {
                strings.push(inp[pos..].to_string());
                break;
            }
        }
    }
    let expected: Vec<Vec<u32>> = out
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|t| t.parse().expect("token id"))
                .collect()
        })
        .collect();
    assert_eq!(
        strings.len(),
        expected.len(),
        "{}: .inp and .out differ in length",
        vocab.display()
    );
    strings.into_iter().zip(expected).collect()
}

const WITH_VECTORS: &[&str] = &[
    "llama-spm",
    "llama-bpe",
    "qwen2",
    "gpt-2",
    "phi-3",
    "deepseek-llm",
    "starcoder",
    "command-r",
    "mpt",
];

#[test]
fn llama_cpp_vectors() {
    let Some(dir) = fixtures() else { return };
    let mut failures = Vec::new();
    for name in WITH_VECTORS {
        let path = dir.join(format!("gguf/ggml-vocab-{name}.gguf"));
        let tok = load_gguf(&path);
        let vectors = read_vectors(&path);
        let mut passed = 0;
        for (text, want) in &vectors {
            let got = tok.encode(text, false, false);
            if &got == want {
                passed += 1;
            } else {
                let msg = format!("{name}: {text:?}\n  want {want:?}\n  got  {got:?}");
                println!("FAIL {msg}");
                failures.push(msg);
            }
        }
        println!("{name}: {passed}/{} vectors pass", vectors.len());
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn vocabularies_without_vectors_load() {
    let Some(dir) = fixtures() else { return };
    for name in ["gpt-neox", "baichuan", "aquila"] {
        let tok = load_gguf(&dir.join(format!("gguf/ggml-vocab-{name}.gguf")));
        assert!(tok.n_vocab() > 1000, "{name}");
        let ids = tok.encode("Hello world, 123!", false, false);
        assert!(!ids.is_empty(), "{name}");
        assert_eq!(tok.decode(&ids, false), "Hello world, 123!", "{name}");
    }
}

#[test]
fn bos_eos_and_eog() {
    let Some(dir) = fixtures() else { return };
    let t = |n: &str| load_gguf(&dir.join(format!("gguf/ggml-vocab-{n}.gguf")));
    let spm = t("llama-spm");
    assert_eq!(
        (spm.bos(), spm.eos(), spm.add_bos(), spm.add_eos()),
        (Some(1), Some(2), true, false)
    );
    assert_eq!(spm.encode("Hello", true, false)[0], 1);
    assert_eq!(spm.eog_ids(), &[2]);
    // llama-bpe has no add_bos key: llama.cpp turns BOS on for the llama3 pre-tokenizer.
    let l3 = t("llama-bpe");
    assert!(l3.add_bos());
    assert_eq!(l3.bos(), Some(128000));
    let eot = l3.token_id("<|eot_id|>").expect("eot");
    assert!(l3.is_eog(eot) && l3.is_eog(128001) && l3.is_control(eot));
    assert_eq!(l3.eot(), Some(eot));
    // gpt-2: no add_bos key and no llama3-style default → no BOS.
    let g2 = t("gpt-2");
    assert!(!g2.add_bos());
    assert_eq!(
        g2.encode("Hello", true, false),
        g2.encode("Hello", false, false)
    );
    assert!(g2.is_eog(50256));
    let q = t("qwen2");
    let im_end = q.token_id("<|im_end|>").expect("im_end");
    assert!(q.is_eog(im_end) && q.is_eog(151643));
    // Control tokens: parsed only with parse_special; printed only with special.
    let ids = q.encode("<|im_end|>", false, true);
    assert_eq!(ids, [im_end]);
    assert_ne!(q.encode("<|im_end|>", false, false), [im_end]);
    assert!(q.token_to_piece(im_end, false).is_empty());
    assert_eq!(q.token_to_piece(im_end, true), b"<|im_end|>");
}

#[test]
fn decode_round_trips() {
    let Some(dir) = fixtures() else { return };
    for name in WITH_VECTORS {
        let tok = load_gguf(&dir.join(format!("gguf/ggml-vocab-{name}.gguf")));
        let text = "Hello world! This is 🦙.cpp, naïve café 123";
        let ids = tok.encode(text, false, false);
        assert_eq!(tok.decode(&ids, false), text, "{name}");
        // As llama.cpp's common_detokenize: with BOS first, the added space prefix stays.
        let with_bos = tok.encode(text, true, false);
        if ["llama-spm", "phi-3"].contains(name) {
            assert_eq!(tok.decode(&with_bos, false), format!(" {text}"), "{name}");
        }
    }
}

#[test]
fn hf_matches_gguf() {
    let Some(dir) = fixtures() else { return };
    for (hf, gguf) in [("llama2", "llama-spm"), ("gpt2", "gpt-2")] {
        let hf_dir = dir.join("hf").join(hf);
        let cfg = hf_dir.join("tokenizer_config.json");
        let h = Tokenizer::from_hf_files(&hf_dir.join("tokenizer.json"), Some(&cfg))
            .expect("hf tokenizer");
        let path = dir.join(format!("gguf/ggml-vocab-{gguf}.gguf"));
        let g = load_gguf(&path);
        assert_eq!(h.n_vocab(), g.n_vocab(), "{hf}");
        assert_eq!(
            (h.bos(), h.eos(), h.add_bos(), h.add_eos()),
            (g.bos(), g.eos(), g.add_bos(), g.add_eos()),
            "{hf}"
        );
        let mut same = 0;
        let vectors = read_vectors(&path);
        for (text, want) in &vectors {
            let got = h.encode(text, false, false);
            if &got == want {
                same += 1;
            } else {
                println!("{hf}: differs on {text:?}\n  gguf {want:?}\n  hf   {got:?}");
            }
            assert_eq!(
                h.decode(&got, false),
                g.decode(want, false),
                "{hf}: decode {text:?}"
            );
        }
        println!(
            "{hf}: {same}/{} vectors identical to llama.cpp",
            vectors.len()
        );
        assert_eq!(
            h.encode("Hello world", true, false),
            g.encode("Hello world", true, false),
            "{hf}"
        );
        assert!(
            same * 10 >= vectors.len() * 9,
            "{hf}: only {same}/{} identical",
            vectors.len()
        );
    }
}

/// llama.cpp's own tokenizations of the golden prompts (with BOS where the vocabulary adds it),
/// and its detokenization of the greedy continuations.
#[test]
fn golden_prompts() {
    let Some(dir) = fixtures() else { return };
    let fixtures = dir.parent().expect("fixtures dir");
    let mut checked = 0;
    for name in [
        "stories260K",
        "rand-qwen2-gpt2-64-f16",
        "prose-5m",
        "llama2xs",
    ] {
        let model = fixtures.join(format!("models/{name}.gguf"));
        let golden = fixtures.join(format!("golden/{name}.json"));
        let (Ok(json), true) = (std::fs::read_to_string(&golden), model.is_file()) else {
            println!("skipping {name}: fixture missing");
            continue;
        };
        let tok = load_gguf(&model);
        let json: serde_json::Value = serde_json::from_str(&json).expect("golden json");
        for case in json["cases"].as_array().expect("cases") {
            let prompt = case["prompt"].as_str().expect("prompt");
            let ids = |v: &serde_json::Value| -> Vec<u32> {
                v.as_array()
                    .expect("ids")
                    .iter()
                    .map(|x| x.as_u64().expect("id") as u32)
                    .collect()
            };
            assert_eq!(
                tok.encode(prompt, true, false),
                ids(&case["tokens"]),
                "{name}: {prompt:?}"
            );
            let greedy = ids(&case["greedy"]);
            let text = case["greedy_text"].as_str().expect("greedy_text");
            let pieces: Vec<u8> = greedy
                .iter()
                .flat_map(|&id| tok.token_to_piece(id, false))
                .collect();
            assert_eq!(
                String::from_utf8_lossy(&pieces),
                text,
                "{name}: greedy text"
            );
            checked += 1;
        }
    }
    println!("golden prompts: {checked} cases match");
}

#[test]
fn hf_special_tokens_and_defaults() {
    let Some(dir) = fixtures() else { return };
    let hf = |name: &str, cfg: bool| {
        let d = dir.join("hf").join(name);
        let cfg_path = d.join("tokenizer_config.json");
        Tokenizer::from_hf_files(&d.join("tokenizer.json"), cfg.then_some(cfg_path.as_path()))
            .expect("hf")
    };
    let g = load_gguf(&dir.join("gguf/ggml-vocab-llama-spm.gguf"));
    for cfg in [true, false] {
        let h = hf("llama2", cfg);
        // Without a config, BOS comes from the post-processor template.
        assert_eq!(
            (h.bos(), h.eos(), h.add_bos(), h.add_eos()),
            (Some(1), Some(2), true, false),
            "cfg {cfg}"
        );
        assert!(h.is_eog(2) && h.is_control(1));
        let text = "<s>Hello</s> world";
        assert_eq!(h.encode(text, true, false), g.encode(text, true, false));
        // With parse_special the two libraries differ after a special token (llama.cpp adds a
        // space prefix to the following text, tokenizers does not); both split out "<s>".
        assert_eq!(h.encode("<s>", false, true), [1]);
    }
    let h = hf("gpt2", false);
    assert_eq!(
        (h.bos(), h.eos(), h.add_bos()),
        (Some(50256), Some(50256), false)
    );
    let p = hf("phi-3-mini", true);
    assert!(!p.add_bos());
    let end = p.token_id("<|end|>").expect("<|end|>");
    assert!(p.is_eog(end));
    let mut dec = brisk::tokenizer::StreamDecoder::new();
    let mut text = String::new();
    for id in p.encode("naïve 🦙", false, false) {
        text += &dec.push(&p.token_to_piece(id, false));
    }
    text += &dec.finish();
    assert_eq!(text, " naïve 🦙");
}
