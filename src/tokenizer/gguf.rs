//! Loading a tokenizer from GGUF `tokenizer.*` metadata with llama.cpp's defaults: special ids per
//! tokenizer type, add_bos/add_eos per type and pre-tokenizer (the file's keys win), and which
//! pre-tokenizer regexes a BPE vocabulary uses.

use super::bpe::Bpe;
use super::pretokenize::{pre_config, PreLookup, PreTokenizer};
use super::vocab::{self, attr_from_type, SpecialIds, TokenData, Vocab, ATTR_NORMAL};
use super::{Model, PieceStyle, Tokenizer, TokenizerError};
use crate::format::gguf::{Gguf, Value};

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TYPES: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";

fn bad(key: &str, msg: impl Into<String>) -> TokenizerError {
    TokenizerError::BadKey {
        key: key.to_string(),
        msg: msg.into(),
    }
}

fn opt_str<'a>(g: &'a Gguf, key: &str) -> Result<Option<&'a str>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| bad(key, "expected a string")),
    }
}

fn opt_bool(g: &Gguf, key: &str) -> Result<Option<bool>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .ok_or_else(|| bad(key, "expected a bool")),
    }
}

fn array<'a>(
    g: &'a Gguf,
    key: &str,
    min_len: usize,
) -> Result<Option<&'a [Value]>, TokenizerError> {
    match g.get(key) {
        None => Ok(None),
        Some(v) => {
            let a = v.as_array().ok_or_else(|| bad(key, "expected an array"))?;
            if a.len() < min_len {
                return Err(bad(
                    key,
                    format!("has {} entries, fewer than the {min_len} tokens", a.len()),
                ));
            }
            Ok(Some(a))
        }
    }
}

/// Read a special-token id key into `slot`: ids outside the vocabulary keep the default.
fn read_id(
    g: &Gguf,
    key: &str,
    n_vocab: usize,
    slot: &mut Option<u32>,
) -> Result<(), TokenizerError> {
    let Some(v) = g.get(key) else { return Ok(()) };
    let id = v
        .as_i64()
        .ok_or_else(|| bad(key, "expected an integer token id"))?;
    if id >= 0 && (id as u64) < n_vocab as u64 {
        *slot = Some(id as u32);
    } else if id == -1 || id == u32::MAX as i64 {
        // Converters write -1 (as u32 or i32) for "no such token".
        *slot = None;
    } else {
        eprintln!("brisk: warning: {key} = {id} is outside the vocabulary ({n_vocab} tokens); keeping the default");
    }
    Ok(())
}

pub fn load(g: &Gguf) -> Result<Tokenizer, TokenizerError> {
    let model_name =
        opt_str(g, KEY_MODEL)?.ok_or_else(|| TokenizerError::MissingKey(KEY_MODEL.into()))?;
    let pre_name = opt_str(g, KEY_PRE)?.unwrap_or("");

    let texts =
        array(g, KEY_TOKENS, 0)?.ok_or_else(|| TokenizerError::MissingKey(KEY_TOKENS.into()))?;
    let n = texts.len();
    let scores = array(g, KEY_SCORES, n)?;
    let types = array(g, KEY_TYPES, n)?;
    let mut tokens = Vec::with_capacity(n);
    for (i, t) in texts.iter().enumerate() {
        let text = t
            .as_str()
            .ok_or_else(|| bad(KEY_TOKENS, format!("entry {i} is not a string")))?;
        let score = match scores {
            Some(s) => s[i]
                .as_f64()
                .ok_or_else(|| bad(KEY_SCORES, format!("entry {i} is not a number")))?
                as f32,
            None => 0.0,
        };
        let attr = match types {
            Some(t) => attr_from_type(
                t[i].as_i64()
                    .ok_or_else(|| bad(KEY_TYPES, format!("entry {i} is not an integer")))?,
            ),
            None => ATTR_NORMAL,
        };
        tokens.push(TokenData {
            text: text.to_string(),
            score,
            attr,
        });
    }
    let mut vocab = Vocab::new(tokens);

    let mut ids = SpecialIds::default();
    let (model, style, mut add_bos, mut add_space_prefix, clean_spaces) = match model_name {
        "llama" => {
            ids.bos = Some(1);
            ids.eos = Some(2);
            ids.unk = Some(0);
            (Model::Spm, PieceStyle::Spm, true, true, false)
        }
        "gpt2" => {
            let cfg = match pre_config(pre_name) {
                PreLookup::Found(c) => c,
                PreLookup::Unsupported => {
                    return Err(TokenizerError::UnsupportedPre(pre_name.into()))
                }
                PreLookup::Unknown => return Err(TokenizerError::UnknownPre(pre_name.into())),
            };
            if pre_name.is_empty() {
                eprintln!("brisk: warning: {KEY_PRE} is missing; using the default pre-tokenizer (generation quality may suffer; consider regenerating the model)");
            }
            let merges = array(g, KEY_MERGES, 0)?
                .ok_or_else(|| TokenizerError::MissingKey(KEY_MERGES.into()))?;
            let mut merge_strs = Vec::with_capacity(merges.len());
            for (i, m) in merges.iter().enumerate() {
                merge_strs.push(
                    m.as_str()
                        .ok_or_else(|| bad(KEY_MERGES, format!("entry {i} is not a string")))?,
                );
            }
            let pre = PreTokenizer::new(&cfg.regexes).map_err(|e| bad(KEY_PRE, e))?;
            let bpe = Bpe::new(pre, cfg.ignore_merges, merge_strs.into_iter());
            if !cfg.no_default_bos {
                ids.bos = Some(11);
            }
            ids.eos = Some(11);
            (
                Model::Bpe(Box::new(bpe)),
                PieceStyle::ByteLevel,
                cfg.add_bos,
                false,
                cfg.clean_spaces,
            )
        }
        other => return Err(TokenizerError::UnsupportedModel(other.into())),
    };
    if let Some(v) = opt_bool(g, "tokenizer.ggml.add_space_prefix")? {
        add_space_prefix = v;
    }

    // Defaults outside the vocabulary are disabled; keys inside it override.
    for slot in [&mut ids.bos, &mut ids.eos, &mut ids.unk] {
        if slot.is_some_and(|id| id as usize >= n) {
            *slot = None;
        }
    }
    let keys: [(&str, &mut Option<u32>); 14] = [
        ("tokenizer.ggml.bos_token_id", &mut ids.bos),
        ("tokenizer.ggml.eos_token_id", &mut ids.eos),
        ("tokenizer.ggml.eot_token_id", &mut ids.eot),
        ("tokenizer.ggml.eom_token_id", &mut ids.eom),
        ("tokenizer.ggml.unknown_token_id", &mut ids.unk),
        ("tokenizer.ggml.seperator_token_id", &mut ids.sep),
        ("tokenizer.ggml.padding_token_id", &mut ids.pad),
        ("tokenizer.ggml.mask_token_id", &mut ids.mask),
        ("tokenizer.ggml.fim_pre_token_id", &mut ids.fim_pre),
        ("tokenizer.ggml.fim_suf_token_id", &mut ids.fim_suf),
        ("tokenizer.ggml.fim_mid_token_id", &mut ids.fim_mid),
        ("tokenizer.ggml.fim_pad_token_id", &mut ids.fim_pad),
        ("tokenizer.ggml.fim_rep_token_id", &mut ids.fim_rep),
        ("tokenizer.ggml.fim_sep_token_id", &mut ids.fim_sep),
    ];
    for (key, slot) in keys {
        read_id(g, key, n, slot)?;
    }
    // Deprecated spellings, read after (and so winning over) the fim_* keys, as llama.cpp does.
    read_id(g, "tokenizer.ggml.prefix_token_id", n, &mut ids.fim_pre)?;
    read_id(g, "tokenizer.ggml.suffix_token_id", n, &mut ids.fim_suf)?;
    read_id(g, "tokenizer.ggml.middle_token_id", n, &mut ids.fim_mid)?;
    if let Some(v) = opt_bool(g, "tokenizer.ggml.add_bos_token")? {
        add_bos = v;
    }
    let add_eos = opt_bool(g, "tokenizer.ggml.add_eos_token")?.unwrap_or(false);

    let general_name = opt_str(g, "general.name").ok().flatten().unwrap_or("");
    let derived = vocab::derive(&mut vocab, &mut ids, general_name);
    Ok(Tokenizer {
        vocab,
        model,
        style,
        bos: ids.bos,
        eos: ids.eos,
        eot: ids.eot,
        add_bos,
        add_eos,
        add_space_prefix,
        clean_spaces,
        eog: derived.eog,
        special_cache: derived.special_cache,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::gguf::{GgufWriter, ValueType};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Write `meta` to a temporary GGUF file, open it and build a tokenizer.
    fn build(meta: &[(&str, Value)]) -> Result<Tokenizer, TokenizerError> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "brisk-tok-test-{}-{}.gguf",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut w = GgufWriter::new();
        w.set("general.architecture", Value::String("llama".into()));
        for (k, v) in meta {
            w.set(k, v.clone());
        }
        w.write(&path).expect("write temp gguf");
        let g = Gguf::open(&path).expect("open temp gguf");
        let t = load(&g);
        drop(g);
        let _ = std::fs::remove_file(&path);
        t
    }

    fn ints(v: &[i32]) -> Value {
        Value::Array(ValueType::I32, v.iter().map(|&x| Value::I32(x)).collect())
    }

    fn floats(v: &[f32]) -> Value {
        Value::Array(ValueType::F32, v.iter().map(|&x| Value::F32(x)).collect())
    }

    /// A tiny SentencePiece vocabulary: <unk> <s> </s>, byte tokens for 'a'..'c' and 0xE2 0x82 0xAC,
    /// then pieces.
    fn spm_meta() -> Vec<(&'static str, Value)> {
        let tokens = [
            "<unk>", "<s>", "</s>", "<0x61>", "<0xE2>", "<0x82>", "<0xAC>", "▁", "a", "b", "ab",
            "▁ab", "<ud>",
        ];
        let types = [2, 3, 3, 6, 6, 6, 6, 1, 1, 1, 1, 1, 4];
        let scores = [
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -2.0, -1.5, -0.5, 0.0,
        ];
        vec![
            ("tokenizer.ggml.model", Value::String("llama".into())),
            ("tokenizer.ggml.tokens", Value::string_array(tokens)),
            ("tokenizer.ggml.token_type", ints(&types)),
            ("tokenizer.ggml.scores", floats(&scores)),
        ]
    }

    fn bpe_meta(pre: Option<&str>) -> Vec<(&'static str, Value)> {
        let mut m = vec![
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            (
                "tokenizer.ggml.tokens",
                Value::string_array(["a", "b", "Ġ", "ab", "Ġab", "<|endoftext|>", "<|im_end|>"]),
            ),
            ("tokenizer.ggml.token_type", ints(&[1, 1, 1, 1, 1, 3, 3])),
            (
                "tokenizer.ggml.merges",
                Value::string_array(["a b", "Ġ ab"]),
            ),
        ];
        if let Some(p) = pre {
            m.push(("tokenizer.ggml.pre", Value::String(p.into())));
        }
        m
    }

    #[test]
    fn spm_defaults_and_byte_fallback() {
        let t = build(&spm_meta()).expect("spm");
        assert_eq!(
            (t.bos(), t.eos(), t.add_bos(), t.add_eos()),
            (Some(1), Some(2), true, false)
        );
        // "ab" → "▁ab" (space prefix); "c€" has no pieces → '▁' then bytes (c has no byte token).
        assert_eq!(t.encode("ab", true, false), [1, 11]);
        assert_eq!(t.encode("ab €", false, false), [11, 7, 4, 5, 6]);
        assert_eq!(t.decode(&[11, 7, 4, 5, 6], false), "ab €");
        // User-defined tokens split the text even without parse_special; the text after gets a
        // fresh space prefix.
        assert_eq!(t.encode("ab<ud>ab", false, false), [11, 12, 11]);
        // Control tokens only with parse_special.
        assert_eq!(t.encode("<s>", false, true), [1]);
        assert_ne!(t.encode("<s>", false, false), [1]);
        assert_eq!(t.token_to_piece(1, false), b"");
        assert_eq!(t.token_to_piece(1, true), b"<s>");
        assert_eq!(t.token_to_piece(4, false), [0xE2]);
        assert!(t.is_eog(2) && !t.is_eog(1));
        assert!(t.is_control(1) && !t.is_control(11));
        assert_eq!(t.token_text(11), Some("▁ab"));
    }

    #[test]
    fn add_bos_key_overrides_default() {
        let mut m = spm_meta();
        m.push(("tokenizer.ggml.add_bos_token", Value::Bool(false)));
        m.push(("tokenizer.ggml.add_eos_token", Value::Bool(true)));
        let t = build(&m).expect("spm");
        assert!(!t.add_bos() && t.add_eos());
        assert_eq!(t.encode("ab", true, false), [11, 2]);
    }

    #[test]
    fn bpe_add_bos_defaults_per_pre_tokenizer() {
        let g2 = build(&bpe_meta(Some("gpt-2"))).expect("gpt-2");
        assert!(!g2.add_bos());
        assert_eq!(g2.encode(" ab", false, false), [4]);
        assert_eq!(g2.decode(&[4], false), " ab");
        let l3 = build(&bpe_meta(Some("llama-bpe"))).expect("llama-bpe");
        assert!(l3.add_bos());
        // Without a bos key the BPE default id 11 is outside this vocabulary: no BOS.
        assert_eq!(l3.bos(), None);
        let mut m = bpe_meta(Some("llama-bpe"));
        m.push(("tokenizer.ggml.bos_token_id", Value::U32(5)));
        m.push(("tokenizer.ggml.add_bos_token", Value::Bool(false)));
        let t = build(&m).expect("bos key");
        assert_eq!((t.bos(), t.add_bos()), (Some(5), false));
        // Missing pre: default regexes (with a warning).
        assert!(build(&bpe_meta(None)).is_ok());
        // EOG by text: <|endoftext|> and <|im_end|>.
        assert_eq!(g2.eog_ids(), &[5, 6]);
    }

    #[test]
    fn bad_metadata_is_an_error_naming_the_key() {
        let err = |m: &[(&str, Value)]| build(m).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(&[]).contains("tokenizer.ggml.model"));
        assert!(err(&bpe_meta(Some("no-such-pre"))).contains("no-such-pre"));
        let mut m = spm_meta();
        m.retain(|(k, _)| *k != "tokenizer.ggml.tokens");
        assert!(err(&m).contains("tokenizer.ggml.tokens"));
        let mut m = spm_meta();
        m.push(("tokenizer.ggml.token_type", ints(&[1, 2])));
        assert!(err(&m).contains("tokenizer.ggml.token_type"));
        let mut m = spm_meta();
        m.push(("tokenizer.ggml.bos_token_id", Value::String("x".into())));
        assert!(err(&m).contains("tokenizer.ggml.bos_token_id"));
        let mut m = bpe_meta(Some("gpt-2"));
        m.retain(|(k, _)| *k != "tokenizer.ggml.merges");
        assert!(err(&m).contains("tokenizer.ggml.merges"));
        let mut m = spm_meta();
        m[0].1 = Value::String("rwkv".into());
        assert!(err(&m).contains("rwkv"));
    }
}
