//! Special tokens, add-BOS/EOS flags and the chat template of a Hugging Face checkpoint, as
//! gguf-py's `SpecialVocab` finds and writes them: the post-processor of tokenizer.json decides
//! the add flags first, tokenizer_config.json names the tokens (looked up among tokenizer.json's
//! added tokens) and the template, config.json's `*_token_id` fill what is still unset; the
//! first value found for a key wins and keys are written in the order they were found.
use super::vocab::TokenizerFiles;
use crate::format::gguf::{Value, ValueType};
use anyhow::Result;
use serde_json::Value as Json;
use std::path::Path;

pub struct SpecialInput<'a> {
    pub files: &'a TokenizerFiles,
    pub dir: &'a Path,
    /// config.json as written.
    pub config: &'a Json,
    /// Ids at or past this are ignored (`None`: not checked, as for byte-level BPE).
    pub n_vocab: Option<usize>,
}

const TYPES: [&str; 7] = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"];

#[derive(Default)]
struct Found {
    ids: Vec<(&'static str, u32)>,
    add: Vec<(&'static str, bool)>,
}

impl Found {
    fn set_id(&mut self, typ: &'static str, id: Option<i64>, n_vocab: Option<usize>) {
        let Some(id) = id.filter(|&i| i >= 0) else {
            return;
        };
        if n_vocab.is_some_and(|n| id as usize >= n) || self.ids.iter().any(|(t, _)| *t == typ) {
            return;
        }
        if let Ok(id) = u32::try_from(id) {
            self.ids.push((typ, id));
        }
    }
    fn set_add(&mut self, typ: &'static str, on: bool) {
        match self.add.iter_mut().find(|(t, _)| *t == typ) {
            Some((_, v)) => *v = on,
            None => self.add.push((typ, on)),
        }
    }
    fn add_default(&mut self, typ: &'static str, on: bool) {
        if !self.add.iter().any(|(t, _)| *t == typ) {
            self.add.push((typ, on));
        }
    }
}

/// `"<s>"` or `{"content": "<s>", …}`.
fn token_text(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Object(o) => Some(o.get("content")?.as_str()?.to_string()),
        _ => None,
    }
}

/// The SpecialToken at one end of a TemplateProcessing `single` template.
fn special_at(single: &[Json], first: bool) -> Option<String> {
    let item = if first { single.first() } else { single.last() }?;
    Some(item.get("SpecialToken")?.get("id")?.as_str()?.to_string())
}

/// tokenizer_config's chat template: a string, or a list of `{name, template}`; else
/// `chat_template.jinja`, else `chat_template.json`.
fn chat_template(cfg: Option<&Json>, dir: &Path) -> Vec<(String, String)> {
    match cfg.and_then(|c| c.get("chat_template")) {
        Some(Json::String(s)) => return vec![("default".into(), s.clone())],
        Some(Json::Array(list)) => {
            return list
                .iter()
                .filter_map(|e| {
                    let name = e.get("name")?.as_str()?;
                    let t = e.get("template")?.as_str()?;
                    Some((name.to_string(), t.to_string()))
                })
                .collect()
        }
        _ => {}
    }
    if let Ok(t) = std::fs::read_to_string(dir.join("chat_template.jinja")) {
        return vec![("default".into(), t)];
    }
    let json = std::fs::read_to_string(dir.join("chat_template.json")).ok();
    let t = json
        .and_then(|s| serde_json::from_str::<Json>(&s).ok())
        .and_then(|j| j.get("chat_template")?.as_str().map(str::to_string));
    t.map(|t| vec![("default".into(), t)]).unwrap_or_default()
}

pub fn special_keys(input: &SpecialInput) -> Result<Vec<(String, Value)>> {
    let f = input.files;
    let cfg = f
        .config
        .as_ref()
        .filter(|c| c.as_object().is_some_and(|o| !o.is_empty()));
    let mut texts: Vec<(&'static str, Option<String>)> = TYPES
        .iter()
        .map(|t| {
            (
                *t,
                token_text(cfg.and_then(|c| c.get(format!("{t}_token")))),
            )
        })
        .collect();
    let text = |texts: &[(&str, Option<String>)], typ: &str| {
        texts
            .iter()
            .find(|(t, _)| *t == typ)
            .and_then(|(_, v)| v.clone())
    };
    let mut found = Found::default();

    // (1) tokenizer.json's post-processor.
    if let Some(pp) = f.json.as_ref().and_then(|j| j.get("post_processor")) {
        let list: Vec<&Json> = match pp.get("processors").and_then(Json::as_array) {
            Some(l) => l.iter().collect(),
            None => vec![pp],
        };
        for p in list {
            match p.get("type").and_then(Json::as_str) {
                Some("ByteLevel") => {
                    found.add_default("bos", false);
                    found.add_default("eos", false);
                }
                Some("RobertaProcessing") => {
                    for t in ["bos", "eos", "sep"] {
                        found.set_add(t, true);
                    }
                }
                Some("TemplateProcessing") => {
                    let single = p.get("single").and_then(Json::as_array);
                    let Some(single) = single.filter(|s| s.len() > 1) else {
                        continue;
                    };
                    if let Some(tok) = special_at(single, true) {
                        let (bos, cls) = (text(&texts, "bos"), text(&texts, "cls"));
                        if bos.is_none() && cls.is_none() {
                            texts[0].1 = Some(tok.clone());
                        }
                        let bos = text(&texts, "bos");
                        let on = bos.as_deref() == Some(&tok) || cls.as_deref() == Some(&tok);
                        found.set_add("bos", on);
                    }
                    if let Some(tok) = special_at(single, false) {
                        if text(&texts, "eos").is_none() {
                            texts[1].1 = Some(tok.clone());
                        }
                        let on = text(&texts, "eos").as_deref() == Some(&tok);
                        found.set_add("eos", on);
                    }
                }
                _ => {}
            }
        }
    }

    // (2) tokenizer_config.json: add flags, token texts (ids from tokenizer.json's added tokens).
    let added = f.added_tokens();
    if let Some(c) = cfg {
        for typ in TYPES {
            if let Some(Json::Bool(b)) = c.get(format!("add_{typ}_token")) {
                found.add_default(typ, *b);
            }
            if let Some(t) = text(&texts, typ) {
                let id = added.iter().find(|a| a.1 == t).map(|a| a.0 as i64);
                found.set_id(typ, id, input.n_vocab);
            }
        }
    }
    // (3) config.json's `*_token_id` (integers only: a list of EOS ids is not one id).
    for typ in TYPES {
        let id = input.config.get(format!("{typ}_token_id"));
        found.set_id(typ, id.and_then(Json::as_i64), input.n_vocab);
    }

    let mut keys = Vec::new();
    for (typ, id) in &found.ids {
        let key = match *typ {
            "bos" => "bos_token_id",
            "eos" => "eos_token_id",
            "unk" => "unknown_token_id",
            "sep" => "seperator_token_id",
            "pad" => "padding_token_id",
            "mask" => "mask_token_id",
            _ => continue,
        };
        keys.push((format!("tokenizer.ggml.{key}"), Value::U32(*id)));
    }
    for (typ, on) in &found.add {
        if matches!(*typ, "bos" | "eos" | "sep") {
            keys.push((format!("tokenizer.ggml.add_{typ}_token"), Value::Bool(*on)));
        }
    }
    // Without a tokenizer_config.json the converter writes no template.
    let templates = match cfg {
        Some(_) => chat_template(cfg, input.dir),
        None => Vec::new(),
    };
    let mut names = Vec::new();
    for (name, t) in templates {
        if t.is_empty() {
            continue;
        }
        if name == "default" {
            keys.push(("tokenizer.chat_template".into(), Value::String(t)));
        } else {
            let name: String = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            keys.push((format!("tokenizer.chat_template.{name}"), Value::String(t)));
            names.push(Value::String(name));
        }
    }
    if !names.is_empty() {
        keys.push((
            "tokenizer.chat_templates".into(),
            Value::Array(ValueType::String, names),
        ));
    }
    Ok(keys)
}
