//! The tokenizer of a Hugging Face checkpoint as `tokenizer.ggml.*` keys, the way llama.cpp's
//! converter writes them: the token list, types and scores of a SentencePiece `tokenizer.model`,
//! a byte-fallback `tokenizer.json` (Llama 2 style) or a byte-level BPE `tokenizer.json` (GPT-2,
//! Llama 3, Qwen: with merges and the pre-tokenizer named by the hash of a check text's token
//! ids), then the special tokens, add-BOS/EOS flags and chat template (`special.rs`).
use super::special::{special_keys, SpecialInput};
use super::spm_model::{self, BYTE, CONTROL, NORMAL, UNKNOWN, UNUSED, USER_DEFINED};
use crate::format::gguf::{set_in_place, Value, ValueType};
use crate::format::hf_config::HfArch;
use anyhow::{bail, Context, Result};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// The largest vocabulary a config may ask for (the token list is allocated at that size).
const MAX_VOCAB: usize = 1 << 24;

/// One token as the converter lists it.
struct Token {
    text: String,
    score: f32,
    kind: i32,
}

/// The token list and which tokenizer family it is.
struct Tokens {
    model: &'static str,
    pre: String,
    tokens: Vec<Token>,
    scores: bool,
    merges: Vec<String>,
}

impl Tokens {
    /// A `llama` (SentencePiece-style) list: scores, no merges, the default pre-tokenizer.
    fn llama(tokens: Vec<Token>) -> Tokens {
        Tokens {
            model: "llama",
            pre: "default".into(),
            tokens,
            scores: true,
            merges: Vec::new(),
        }
    }
}

/// The checkpoint's tokenizer files, read once.
pub struct TokenizerFiles {
    pub json: Option<Json>,
    pub config: Option<Json>,
    pub spm: Option<Vec<spm_model::Piece>>,
    pub added_tokens_json: Option<Json>,
}

fn read_json(path: &Path) -> Result<Option<Json>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let v = serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok(Some(v))
}

impl TokenizerFiles {
    pub fn read(dir: &Path) -> Result<TokenizerFiles> {
        let model = dir.join("tokenizer.model");
        let spm = if model.is_file() {
            let bytes = std::fs::read(&model).with_context(|| format!("{}", model.display()))?;
            Some(spm_model::parse(&bytes).with_context(|| format!("{}", model.display()))?)
        } else {
            None
        };
        Ok(TokenizerFiles {
            json: read_json(&dir.join("tokenizer.json"))?,
            config: read_json(&dir.join("tokenizer_config.json"))?,
            spm,
            added_tokens_json: read_json(&dir.join("added_tokens.json"))?,
        })
    }

    /// tokenizer.json's `added_tokens`: (id, content, special).
    pub fn added_tokens(&self) -> Vec<(u32, String, bool)> {
        let list = self
            .json
            .as_ref()
            .and_then(|j| j.get("added_tokens"))
            .and_then(Json::as_array);
        list.map(|l| {
            l.iter()
                .filter_map(|a| {
                    let id = a.get("id")?.as_u64()?;
                    let content = a.get("content")?.as_str()?.to_string();
                    let special = a.get("special").and_then(Json::as_bool).unwrap_or(false);
                    Some((u32::try_from(id).ok()?, content, special))
                })
                .collect()
        })
        .unwrap_or_default()
    }

    fn model(&self) -> Option<&Json> {
        self.json.as_ref()?.get("model")
    }
}

/// The converter's `does_token_look_special`.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<｜") && t.ends_with("｜>"))
        || t.starts_with("<unused")
}

fn pad_token(i: usize) -> Token {
    Token {
        text: format!("[PAD{i}]"),
        score: -10000.0,
        kind: UNUSED,
    }
}

/// `tokenizer.model`, plus `added_tokens.json` and tokenizer_config's `added_tokens_decoder`
/// (`phi3`: Phi-3's variant, which also applies tokenizer.json's added tokens and never renames).
fn sentencepiece(f: &TokenizerFiles, vocab_size: Option<usize>, phi3: bool) -> Result<Tokens> {
    let pieces = f.spm.as_ref().context("no tokenizer.model")?;
    let n = vocab_size.unwrap_or(pieces.len());
    let mut tokens: Vec<Token> = (0..n).map(pad_token).collect();
    for (slot, p) in tokens.iter_mut().zip(pieces) {
        let kind = match p.kind {
            spm_model::UNKNOWN => UNKNOWN,
            spm_model::CONTROL => CONTROL,
            spm_model::UNUSED => UNUSED,
            spm_model::BYTE => BYTE,
            _ => NORMAL,
        };
        *slot = Token {
            text: p.text.clone(),
            score: p.score,
            kind,
        };
    }
    let mut set = |id: usize, text: &str, kind: i32| {
        if let Some(t) = tokens.get_mut(id) {
            *t = Token {
                text: text.to_string(),
                score: -1000.0,
                kind,
            };
        }
    };
    if let Some(Json::Object(added)) = &f.added_tokens_json {
        for (text, id) in added {
            if let Some(id) = id.as_u64() {
                set(id as usize, text, USER_DEFINED);
            }
        }
    }
    let decoder = f
        .config
        .as_ref()
        .and_then(|c| c.get("added_tokens_decoder"))
        .and_then(Json::as_object);
    for (id, data) in decoder.into_iter().flatten() {
        let (Ok(id), Some(content)) = (
            id.parse::<usize>(),
            data.get("content").and_then(Json::as_str),
        ) else {
            continue;
        };
        let special = data.get("special").and_then(Json::as_bool) == Some(true);
        if phi3 {
            set(id, content, if special { CONTROL } else { USER_DEFINED });
        } else if special || looks_special(content) {
            set(id, content, CONTROL);
        } else {
            set(id, &content.replace('\u{2581}', " "), USER_DEFINED);
        }
    }
    if phi3 {
        for (id, content, special) in f.added_tokens() {
            set(
                id as usize,
                &content,
                if special { CONTROL } else { USER_DEFINED },
            );
        }
    }
    Ok(Tokens::llama(tokens))
}

/// `<0xAB>`.
fn is_byte_token(t: &str) -> bool {
    t.len() == 6
        && t.starts_with("<0x")
        && t.ends_with('>')
        && t[3..5].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The model vocabulary of tokenizer.json (text → id), checked to be ids 0..n.
fn model_vocab(f: &TokenizerFiles) -> Result<Vec<String>> {
    let vocab = f
        .model()
        .and_then(|m| m.get("vocab"))
        .and_then(Json::as_object)
        .context("tokenizer.json has no model.vocab")?;
    let mut by_id: Vec<Option<String>> = vec![None; vocab.len()];
    for (text, id) in vocab {
        let id = id
            .as_u64()
            .context("tokenizer.json: a vocab id is not a number")? as usize;
        match by_id.get_mut(id) {
            Some(slot @ None) => *slot = Some(text.clone()),
            _ => bail!("tokenizer.json: vocab ids are not 0..{}", vocab.len()),
        }
    }
    Ok(by_id.into_iter().flatten().collect())
}

/// Whether tokenizer.json is a byte-fallback BPE (the converter's `LlamaHfVocab`).
fn is_llama_hf(f: &TokenizerFiles) -> bool {
    let Some(m) = f.model() else { return false };
    let decoder = f.json.as_ref().and_then(|j| j.get("decoder"));
    m.get("type").and_then(Json::as_str) == Some("BPE")
        && m.get("byte_fallback").and_then(Json::as_bool) == Some(true)
        && decoder.and_then(|d| d.get("type")).and_then(Json::as_str) == Some("Sequence")
}

/// A byte-fallback `tokenizer.json` without `tokenizer.model` (`LlamaHfVocab`): the model's
/// tokens then the added ones, no padding.
fn llama_hf(f: &TokenizerFiles, special_texts: &[String]) -> Result<Tokens> {
    let base = model_vocab(f)?;
    let added = f.added_tokens();
    let special_ids: Vec<u32> = added
        .iter()
        .filter(|(_, c, s)| *s || special_texts.contains(c))
        .map(|(id, _, _)| *id)
        .collect();
    let mut tokens: Vec<Token> = base
        .iter()
        .enumerate()
        .map(|(id, text)| Token {
            text: text.clone(),
            score: -1000.0,
            kind: if is_byte_token(text) {
                BYTE
            } else if special_ids.contains(&(id as u32)) {
                CONTROL
            } else {
                NORMAL
            },
        })
        .collect();
    let mut extra: Vec<&(u32, String, bool)> = added
        .iter()
        .filter(|(id, _, _)| *id as usize >= base.len())
        .collect();
    extra.sort_by_key(|a| a.0);
    for (id, content, special) in extra {
        if *id as usize != tokens.len() {
            bail!("tokenizer.json: added token ids leave a gap before {id}");
        }
        let special = *special || special_texts.contains(content);
        tokens.push(Token {
            text: content.clone(),
            score: -1000.0,
            kind: if special { CONTROL } else { USER_DEFINED },
        });
    }
    Ok(Tokens::llama(tokens))
}

/// The BPE merges as "a b" strings: tokenizer.json's list (pairs joined, spaces inside written
/// as 'Ġ'), else `merges.txt`.
fn merges(f: &TokenizerFiles, dir: &Path) -> Result<Vec<String>> {
    if let Some(list) = f
        .model()
        .and_then(|m| m.get("merges"))
        .and_then(Json::as_array)
    {
        return list
            .iter()
            .map(|m| match m {
                Json::String(s) => Ok(s.clone()),
                Json::Array(p) if p.len() == 2 => {
                    let part = |v: &Json| v.as_str().map(|s| s.replace(' ', "\u{120}"));
                    match (part(&p[0]), part(&p[1])) {
                        (Some(a), Some(b)) => Ok(format!("{a} {b}")),
                        _ => bail!("tokenizer.json: a merge is not two strings"),
                    }
                }
                _ => bail!("tokenizer.json: a merge is neither a string nor a pair"),
            })
            .collect();
    }
    let path = dir.join("merges.txt");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Vec::new());
    };
    Ok(text
        .lines()
        .enumerate()
        .filter(|(i, l)| !(*i == 0 && l.starts_with('#')))
        .filter_map(|(_, l)| {
            let mut w = l.split_whitespace();
            Some(format!("{} {}", w.next()?, w.next()?))
        })
        .collect())
}

/// `tokenizer.ggml.pre`: the name llama.cpp's converter gives the sha256 of the token ids its
/// check text encodes to (special tokens added, ids printed as a Python list).
fn pre_tokenizer(json: &Json) -> Result<String> {
    let mut tk: tokenizers::Tokenizer = json
        .to_string()
        .parse()
        .map_err(|e| anyhow::anyhow!("tokenizer.json: {e}"))?;
    // transformers encodes without the file's saved truncation or padding.
    tk.with_truncation(None)
        .map_err(|e| anyhow::anyhow!("tokenizer.json: {e}"))?;
    tk.with_padding(None);
    let text: String = serde_json::from_str(include_str!("pre_check.json"))?;
    let enc = tk
        .encode(text.as_str(), true)
        .map_err(|e| anyhow::anyhow!("tokenizer.json cannot encode: {e}"))?;
    let ids: Vec<String> = enc.get_ids().iter().map(u32::to_string).collect();
    let repr = format!("[{}]", ids.join(", "));
    let hash: String = Sha256::digest(repr.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let table = include_str!("pre_hashes.txt");
    let name = table
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .rfind(|(h, _)| *h == hash)
        .map(|(_, n)| n.to_string());
    name.with_context(|| {
        format!(
            "tokenizer.json's pre-tokenizer is not one llama.cpp knows (check hash {hash}); \
             llama.cpp could not load the file"
        )
    })
}

/// A byte-level BPE `tokenizer.json` (the converter's `get_vocab_base`): ids up to `vocab_size`,
/// gaps as `[PADi]`, added tokens CONTROL or USER_DEFINED.
fn gpt2(f: &TokenizerFiles, dir: &Path, vocab_size: Option<usize>) -> Result<Tokens> {
    let json = f.json.as_ref().context("no tokenizer.json")?;
    let base = model_vocab(f)?;
    let added = f.added_tokens();
    let mut by_id: HashMap<u32, (String, Option<bool>)> = base
        .into_iter()
        .enumerate()
        .map(|(i, t)| (i as u32, (t, None)))
        .collect();
    for (id, content, special) in &added {
        by_id.insert(*id, (content.clone(), Some(*special)));
    }
    let n = vocab_size.unwrap_or(by_id.len());
    if let Some(id) = by_id.keys().find(|&&id| id as usize >= n) {
        bail!("tokenizer.json has token id {id}, past the vocabulary size {n}");
    }
    let tokens = (0..n)
        .map(|i| match by_id.get(&(i as u32)) {
            None => pad_token(i),
            Some((text, None)) => Token {
                text: text.clone(),
                score: 0.0,
                kind: NORMAL,
            },
            Some((text, Some(special))) if *special || looks_special(text) => Token {
                text: text.clone(),
                score: 0.0,
                kind: CONTROL,
            },
            Some((text, Some(_))) => Token {
                text: text.replace('\u{2581}', " "),
                score: 0.0,
                kind: USER_DEFINED,
            },
        })
        .collect();
    Ok(Tokens {
        model: "gpt2",
        pre: pre_tokenizer(json)?,
        tokens,
        scores: false,
        merges: merges(f, dir)?,
    })
}

/// The `bos/eos/unk/pad` texts tokenizer_config.json names.
fn config_special_texts(f: &TokenizerFiles) -> Vec<String> {
    let Some(c) = &f.config else {
        return Vec::new();
    };
    ["bos_token", "eos_token", "unk_token", "pad_token"]
        .iter()
        .filter_map(|k| match c.get(*k)? {
            Json::String(s) => Some(s.clone()),
            Json::Object(o) => Some(o.get("content")?.as_str()?.to_string()),
            _ => None,
        })
        .collect()
}

fn strings(v: impl Iterator<Item = String>) -> Value {
    Value::Array(ValueType::String, v.map(Value::String).collect())
}

/// Every `tokenizer.*` key for the checkpoint in `dir`, in the converter's order.
pub fn tokenizer_keys(
    dir: &Path,
    arch: HfArch,
    vocab_size: Option<usize>,
    config: &Json,
) -> Result<Vec<(String, Value)>> {
    if let Some(n) = vocab_size.filter(|&n| n > MAX_VOCAB) {
        bail!("vocab_size {n} is implausibly large (at most {MAX_VOCAB})");
    }
    let f = TokenizerFiles::read(dir)?;
    if f.json.is_none() && f.spm.is_none() {
        bail!(
            "{}: no tokenizer.json or tokenizer.model beside the weights",
            dir.display()
        );
    }
    let mut keys: Vec<(String, Value)> = Vec::new();
    let llama_family = matches!(arch, HfArch::Llama | HfArch::Mistral | HfArch::Mixtral);
    if llama_family {
        let prefix = f.config.as_ref().and_then(|c| c.get("add_prefix_space"));
        if let Some(Json::Bool(b)) = prefix {
            keys.push(("tokenizer.ggml.add_space_prefix".into(), Value::Bool(*b)));
        }
    }
    let gpt2_class = f
        .config
        .as_ref()
        .and_then(|c| c.get("tokenizer_class"))
        .and_then(Json::as_str)
        == Some("GPT2Tokenizer");
    let tokens = match arch {
        HfArch::Phi3 if gpt2_class => gpt2(&f, dir, vocab_size)?,
        HfArch::Phi3 if f.spm.is_some() => sentencepiece(&f, vocab_size, true)?,
        _ if f.spm.is_some() => sentencepiece(&f, vocab_size, false)?,
        _ if is_llama_hf(&f) => llama_hf(&f, &config_special_texts(&f))?,
        _ => gpt2(&f, dir, vocab_size)?,
    };
    let n_vocab = tokens.tokens.len();
    keys.push((
        "tokenizer.ggml.model".into(),
        Value::String(tokens.model.into()),
    ));
    keys.push(("tokenizer.ggml.pre".into(), Value::String(tokens.pre)));
    keys.push((
        "tokenizer.ggml.tokens".into(),
        strings(tokens.tokens.iter().map(|t| t.text.clone())),
    ));
    if tokens.scores {
        keys.push((
            "tokenizer.ggml.scores".into(),
            Value::Array(
                ValueType::F32,
                tokens.tokens.iter().map(|t| Value::F32(t.score)).collect(),
            ),
        ));
    }
    keys.push((
        "tokenizer.ggml.token_type".into(),
        Value::Array(
            ValueType::I32,
            tokens.tokens.iter().map(|t| Value::I32(t.kind)).collect(),
        ),
    ));
    if !tokens.merges.is_empty() {
        keys.push((
            "tokenizer.ggml.merges".into(),
            strings(tokens.merges.into_iter()),
        ));
    }
    let input = SpecialInput {
        files: &f,
        dir,
        config,
        n_vocab: (tokens.model != "gpt2").then_some(n_vocab),
    };
    keys.extend(special_keys(&input)?);
    let smollm_sized = vocab_size == Some(49152) && llama_family;
    if smollm_sized {
        set_in_place(
            &mut keys,
            "tokenizer.ggml.add_bos_token",
            Value::Bool(false),
        );
    }
    let spm_gemma = matches!(arch, HfArch::Gemma2) || (arch == HfArch::Gemma3 && f.spm.is_some());
    if spm_gemma {
        set_in_place(
            &mut keys,
            "tokenizer.ggml.add_space_prefix",
            Value::Bool(false),
        );
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_looking_tokens() {
        for t in ["<|im_end|>", "<pad>", "<unused12>", "<｜end▁of▁sentence｜>"] {
            assert!(looks_special(t), "{t}");
        }
        for t in ["<s>", "hello", "<|", "|>"] {
            assert!(!looks_special(t), "{t}");
        }
        assert!(is_byte_token("<0x0A>") && !is_byte_token("<0xZZ>") && !is_byte_token("<0x0A"));
    }
}
