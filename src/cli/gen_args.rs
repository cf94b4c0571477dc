//! The generation flags `run` and `chat` share: prompt input, length and context, sampling,
//! stop strings, control tokens, JSON output, KV cache types, llama.cpp's escape processing and
//! constrained output (`--grammar`, `--grammar-file`, `-j/--json-schema`, `--json-schema-file`).
use super::common::{count_or_all, SamplingArgs};
use super::Exit;
use crate::attn::paged::{KvType, KvTypes};
use crate::grammar::{json_schema_to_gbnf, Grammar};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct GenArgs {
    /// Prompt text (chat: the first user message). `\n`-style escapes are processed unless
    /// --no-escape.
    #[arg(short = 'p', long = "prompt", conflicts_with = "file")]
    pub prompt: Option<String>,
    /// Read the prompt (chat: the first user message) from a file.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Tokens to generate (run: in all; chat: per reply); -1 = until end of generation or a
    /// full context.
    #[arg(short = 'n', long = "n-predict", visible_alias = "predict", default_value_t = -1, value_parser = count_or_all)]
    pub n_predict: i64,
    /// Context size (default 4096; 0 = the model's training context); capped at the model's
    /// context.
    #[arg(short = 'c', long = "ctx-size")]
    pub ctx_size: Option<usize>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Stop when this text is generated (repeatable; not printed; escapes processed).
    #[arg(long = "stop", visible_alias = "reverse-prompt", short = 'r')]
    pub stop: Vec<String>,
    /// Keep generating past end-of-generation tokens.
    #[arg(long = "ignore-eos")]
    pub ignore_eos: bool,
    /// Print control tokens (otherwise never printed).
    #[arg(long = "special")]
    pub special: bool,
    /// Print nothing while generating, then one JSON object (chat: one per reply, one per line).
    #[arg(long = "json")]
    pub json: bool,
    /// KV cache type for keys (-ctk): f16 or q8_0.
    #[arg(long = "cache-type-k", default_value = "f16", value_parser = parse_kv_type)]
    pub cache_type_k: KvType,
    /// KV cache type for values (-ctv): f16 or q8_0.
    #[arg(long = "cache-type-v", default_value = "f16", value_parser = parse_kv_type)]
    pub cache_type_v: KvType,
    /// Process escapes (\n \r \t \' \" \\ \xHH) in -p, --stop, -sys, --in-prefix and
    /// --in-suffix (the default, as llama.cpp).
    #[arg(short = 'e', long = "escape", overrides_with = "no_escape")]
    pub escape: bool,
    /// Take -p, --stop, -sys, --in-prefix and --in-suffix literally.
    #[arg(long = "no-escape")]
    pub no_escape: bool,
    /// Constrain the output to a GBNF grammar (llama.cpp's dialect; the rule `root` starts).
    #[arg(long = "grammar", conflicts_with_all = ["grammar_file", "json_schema", "json_schema_file"])]
    pub grammar: Option<String>,
    /// Constrain the output to the GBNF grammar in FILE.
    #[arg(long = "grammar-file", conflicts_with_all = ["json_schema", "json_schema_file"])]
    pub grammar_file: Option<PathBuf>,
    /// Constrain the output to JSON matching this JSON schema (`{}` for any JSON object).
    #[arg(short = 'j', long = "json-schema", conflicts_with = "json_schema_file")]
    pub json_schema: Option<String>,
    /// Constrain the output to JSON matching the JSON schema in FILE.
    #[arg(long = "json-schema-file")]
    pub json_schema_file: Option<PathBuf>,
}

/// clap value parser for `-ctk/-ctv`.
pub fn parse_kv_type(s: &str) -> Result<KvType, String> {
    KvType::parse(s).ok_or_else(|| format!("'{s}' is not a KV cache type (expected f16 or q8_0)"))
}

impl GenArgs {
    pub fn escapes(&self) -> bool {
        !self.no_escape
    }

    /// Apply llama.cpp's escape processing when it is on.
    pub fn text(&self, s: &str) -> String {
        if self.escapes() {
            process_escapes(s)
        } else {
            s.to_string()
        }
    }

    /// The stop strings, escapes processed; an empty one is a usage error.
    pub fn stops(&self) -> Result<Vec<String>, Exit> {
        self.stop
            .iter()
            .map(|s| {
                let t = self.text(s);
                if t.is_empty() {
                    Err(Exit::Usage("--stop needs a non-empty string".into()))
                } else {
                    Ok(t)
                }
            })
            .collect()
    }

    pub fn kv_types(&self) -> KvTypes {
        KvTypes {
            k: self.cache_type_k,
            v: self.cache_type_v,
        }
    }

    /// `-p` (escapes processed) or the `-f` file's text.
    pub fn prompt_arg(&self) -> Result<Option<String>, Exit> {
        if let Some(p) = &self.prompt {
            return Ok(Some(self.text(p)));
        }
        match &self.file {
            Some(f) => super::common::read_text_file(f, "prompt file").map(Some),
            None => Ok(None),
        }
    }

    /// The grammar asked for, compiled: a usage error (with line and column) when it does not
    /// parse.
    pub fn grammar(&self) -> Result<Option<Grammar>, Exit> {
        let (source, what) = if let Some(g) = &self.grammar {
            (g.clone(), "--grammar".to_string())
        } else if let Some(f) = &self.grammar_file {
            (
                super::common::read_text_file(f, "grammar file")?,
                f.display().to_string(),
            )
        } else if let Some(s) = &self.json_schema {
            (schema_grammar(s, "-j")?, "the grammar of -j".to_string())
        } else if let Some(f) = &self.json_schema_file {
            let text = super::common::read_text_file(f, "JSON schema file")?;
            (
                schema_grammar(&text, &f.display().to_string())?,
                "the grammar of the schema".to_string(),
            )
        } else {
            return Ok(None);
        };
        Grammar::parse(&source)
            .map(Some)
            .map_err(|e| Exit::Usage(format!("{what}: {e}")))
    }
}

fn schema_grammar(schema: &str, what: &str) -> Result<String, Exit> {
    let value: serde_json::Value = serde_json::from_str(schema)
        .map_err(|e| Exit::Usage(format!("{what}: not valid JSON: {e}")))?;
    json_schema_to_gbnf(&value).map_err(|e| Exit::Usage(format!("{what}: {e}")))
}

/// llama.cpp's `string_process_escapes`: `\n \r \t \' \" \\ \xHH`; any other backslash pair
/// is kept as written.
pub fn process_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('x') => {
                chars.next();
                let hex: String = chars.clone().take(2).collect();
                match (hex.len() == 2)
                    .then(|| u8::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .filter(|b| b.is_ascii())
                {
                    Some(b) => {
                        out.push(b as char);
                        chars.next();
                        chars.next();
                    }
                    None => out.push_str("\\x"),
                }
                continue;
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::process_escapes;

    #[test]
    fn escapes_follow_llamacpp() {
        assert_eq!(
            process_escapes(r#"a\nb\tc\\d\'\"\x41\q"#),
            "a\nb\tc\\d'\"A\\q"
        );
        assert_eq!(process_escapes(r"end\"), "end\\");
        assert_eq!(process_escapes(r"\xZZ"), "\\xZZ");
    }
}
