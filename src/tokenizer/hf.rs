//! Hugging Face `tokenizer.json` (safetensors models) through the `tokenizers` crate, behind the
//! same interface as the GGUF tokenizers. BOS/EOS and whether to add them come from
//! `tokenizer_config.json` when given, otherwise from what the file's post-processor adds.

use super::vocab::{
    self, SpecialIds, TokenData, Vocab, ATTR_BYTE, ATTR_CONTROL, ATTR_NORMAL, ATTR_USER_DEFINED,
};
use super::{parse_byte_token, Model, PieceStyle, Tokenizer, TokenizerError};
use serde_json::Value as Json;
use std::path::Path;

pub struct Hf {
    /// Splits special added tokens out of the text (parse_special on).
    parsing: tokenizers::Tokenizer,
    /// Treats special added tokens as plain text (parse_special off).
    plain: tokenizers::Tokenizer,
}

impl Hf {
    pub fn encode(&self, text: &str, parse_special: bool, out: &mut Vec<u32>) {
        let tk = if parse_special {
            &self.parsing
        } else {
            &self.plain
        };
        match tk.encode_fast(text, false) {
            Ok(enc) => out.extend_from_slice(enc.get_ids()),
            Err(e) => eprintln!("brisk: warning: tokenizers failed to encode text: {e}"),
        }
    }
}

fn file_err(path: &Path, msg: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::HfFile {
        path: path.display().to_string(),
        msg: msg.to_string(),
    }
}

/// `"bos_token": "<s>"` or `{"content": "<s>", …}`.
fn token_field<'a>(cfg: &'a Json, key: &str) -> Option<&'a str> {
    match cfg.get(key)? {
        Json::String(s) => Some(s),
        Json::Object(o) => o.get("content")?.as_str(),
        _ => None,
    }
}

/// Older files (Llama 2's among them) list merges as "a b" strings where some halves contain
/// spaces, which current `tokenizers` rejects. Rewrite such a list as pairs, splitting at the
/// space that leaves both halves and their concatenation in the vocabulary (else at the first
/// space after the first character, llama.cpp's rule). Returns whether anything changed.
fn fix_merges(json: &mut Json) -> bool {
    let Some(model) = json.get_mut("model").and_then(Json::as_object_mut) else {
        return false;
    };
    let vocab: std::collections::HashSet<String> = model
        .get("vocab")
        .and_then(Json::as_object)
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default();
    let Some(Json::Array(merges)) = model.get_mut("merges") else {
        return false;
    };
    let ambiguous = |m: &Json| m.as_str().is_some_and(|s| s.matches(' ').count() != 1);
    if !merges.iter().any(ambiguous) {
        return false;
    }
    for m in merges.iter_mut() {
        let Some(s) = m.as_str() else { continue };
        let spaces: Vec<usize> = s
            .char_indices()
            .skip(1)
            .filter(|&(_, c)| c == ' ')
            .map(|(p, _)| p)
            .collect();
        let split = |p: usize| (&s[..p], &s[p + 1..]);
        let known = |p: &usize| {
            let (l, r) = split(*p);
            vocab.contains(l) && vocab.contains(r) && vocab.contains(&format!("{l}{r}"))
        };
        let (l, r) = match spaces.iter().find(|p| known(p)).or(spaces.first()) {
            Some(&p) => split(p),
            None => (s, ""),
        };
        *m = Json::Array(vec![
            Json::String(l.to_string()),
            Json::String(r.to_string()),
        ]);
    }
    true
}

pub fn load(json_path: &Path, config_path: Option<&Path>) -> Result<Tokenizer, TokenizerError> {
    let raw = std::fs::read_to_string(json_path).map_err(|e| file_err(json_path, e))?;
    let mut json: Json = serde_json::from_str(&raw).map_err(|e| file_err(json_path, e))?;
    let parsing = if fix_merges(&mut json) {
        json.to_string().parse::<tokenizers::Tokenizer>()
    } else {
        raw.parse::<tokenizers::Tokenizer>()
    }
    .map_err(|e| file_err(json_path, e))?;
    // A saved truncation/padding setting (GPT-2's file truncates at 50) is not the tokenizer's.
    let mut parsing = parsing;
    parsing
        .with_truncation(None)
        .map_err(|e| file_err(json_path, e))?;
    parsing.with_padding(None);
    let mut plain = parsing.clone();
    plain.set_encode_special_tokens(true);
    let decoder = json
        .get("decoder")
        .map(|d| d.to_string())
        .unwrap_or_default();
    let pre = json
        .get("pre_tokenizer")
        .map(|d| d.to_string())
        .unwrap_or_default();
    let style = if decoder.contains("ByteLevel") || pre.contains("ByteLevel") {
        PieceStyle::ByteLevel
    } else {
        PieceStyle::Spm
    };
    let add_space_prefix = style == PieceStyle::Spm && decoder.contains("\"Strip\"");

    let cfg: Option<Json> = match config_path {
        Some(p) => {
            let s = std::fs::read_to_string(p).map_err(|e| file_err(p, e))?;
            Some(serde_json::from_str(&s).map_err(|e| file_err(p, e))?)
        }
        None => None,
    };

    // Vocabulary with llama.cpp-style attributes.
    let n = parsing.get_vocab_size(true);
    let added = parsing.get_added_tokens_decoder();
    let mut tokens = Vec::with_capacity(n);
    for id in 0..n as u32 {
        let (text, attr) = match (added.get(&id), parsing.id_to_token(id)) {
            (Some(a), _) => (
                a.content.clone(),
                if a.special {
                    ATTR_CONTROL
                } else {
                    ATTR_USER_DEFINED
                },
            ),
            (None, Some(t)) => {
                let byte = style == PieceStyle::Spm && parse_byte_token(&t).is_some();
                (t, if byte { ATTR_BYTE } else { ATTR_NORMAL })
            }
            (None, None) => (String::new(), 0),
        };
        tokens.push(TokenData {
            text,
            score: 0.0,
            attr,
        });
    }
    let mut vocab = Vocab::new(tokens);

    // BOS/EOS: what the post-processor puts around a text, unless the config says otherwise.
    let bare = plain
        .encode_fast("a", false)
        .map_err(|e| file_err(json_path, e))?;
    let with = plain
        .encode_fast("a", true)
        .map_err(|e| file_err(json_path, e))?;
    let (bare, with) = (bare.get_ids(), with.get_ids());
    let (proc_bos, proc_eos) = match with.windows(bare.len().max(1)).position(|w| w == bare) {
        Some(pos) => (
            with[..pos].first().copied(),
            with[pos + bare.len()..].last().copied(),
        ),
        None => (None, None),
    };

    let mut ids = SpecialIds::default();
    let cfg_bos = cfg
        .as_ref()
        .and_then(|c| token_field(c, "bos_token"))
        .and_then(|t| vocab.get(t));
    let cfg_eos = cfg
        .as_ref()
        .and_then(|c| token_field(c, "eos_token"))
        .and_then(|t| vocab.get(t));
    let guess = |texts: &[&str]| texts.iter().find_map(|t| vocab.get(t));
    ids.bos = cfg_bos.or(proc_bos).or_else(|| {
        guess(&[
            "<s>",
            "<|begin_of_text|>",
            "<bos>",
            "<|startoftext|>",
            "<|endoftext|>",
        ])
    });
    ids.eos = cfg_eos.or(proc_eos).or_else(|| {
        guess(&[
            "</s>",
            "<|end_of_text|>",
            "<|endoftext|>",
            "<eos>",
            "<|im_end|>",
        ])
    });
    let cfg_bool = |key: &str| {
        cfg.as_ref()
            .and_then(|c| c.get(key))
            .and_then(Json::as_bool)
    };
    let add_bos = cfg_bool("add_bos_token").unwrap_or(proc_bos.is_some());
    let add_eos = cfg_bool("add_eos_token").unwrap_or(proc_eos.is_some());
    let clean_spaces = cfg_bool("clean_up_tokenization_spaces").unwrap_or(false);

    let derived = vocab::derive(&mut vocab, &mut ids, "");
    Ok(Tokenizer {
        vocab,
        model: Model::Hf(Box::new(Hf { parsing, plain })),
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
