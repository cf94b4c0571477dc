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
