//! `brisk tokenize`, mirroring llama-tokenize: one `ID -> 'piece'` line per token, or `--ids`
//! for a `[1, 2, 3]` list.
use super::common::{read_stdin, Log};
use super::output::Out;
use super::{CliResult, Exit};
use crate::format::gguf::Gguf;
use crate::model::loader;
use crate::tokenizer::Tokenizer;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// The model (or a vocabulary-only GGUF file) whose tokenizer to use.
    #[command(flatten)]
    pub source: super::model_ref::ModelSource,
    /// Text to tokenize.
    #[arg(short = 'p', long = "prompt", conflicts_with_all = ["file", "stdin"])]
    pub prompt: Option<String>,
    /// Read the text from a file.
    #[arg(short = 'f', long = "file", conflicts_with = "stdin")]
    pub file: Option<PathBuf>,
    /// Read the text from standard input.
    #[arg(long = "stdin")]
    pub stdin: bool,
    /// Print only the ids, as [1, 2, 3].
    #[arg(long = "ids")]
    pub ids: bool,
    /// Add no BOS/EOS tokens.
    #[arg(long = "no-bos")]
    pub no_bos: bool,
    /// Treat special-token text as plain text.
    #[arg(long = "no-parse-special")]
    pub no_parse_special: bool,
    /// Log nothing to stderr but errors.
    #[arg(long = "quiet")]
    pub quiet: bool,
}

fn open_tokenizer(path: &std::path::Path) -> anyhow::Result<Tokenizer> {
    // A GGUF file needs only its metadata: vocabulary-only files have no weights to bind.
    let is_gguf = path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    if is_gguf {
        let g = Gguf::open(path)?;
        return Tokenizer::from_gguf(&g).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    Ok(loader::load(path, 1)
        .with_context(|| format!("cannot load model {}", path.display()))?
        .tokenizer)
}

pub fn main(a: TokenizeArgs) -> CliResult {
    let text = if let Some(p) = &a.prompt {
        p.clone()
    } else if let Some(f) = &a.file {
        let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{} is not valid UTF-8", f.display()))?
    } else if a.stdin {
        read_stdin()?
    } else {
        return Err(Exit::Usage(
            "no text: give -p TEXT, -f FILE or --stdin".into(),
        ));
    };
    let log = Log {
        quiet: a.quiet,
        verbose: false,
    };
    let path = a
        .source
        .resolve(a.quiet)
        .map_err(super::models::interrupted)?;
    let tok = open_tokenizer(&path)?;
    log.info(format!("brisk: vocabulary of {} tokens", tok.n_vocab()));
    let ids = tok.encode(&text, !a.no_bos, !a.no_parse_special);
    let mut out = Out::new();
    if a.ids {
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        out.write(format!("[{}]\n", list.join(", ")).as_bytes())?;
        return Ok(());
    }
    for id in ids {
        let mut line = format!("{id:6} -> '").into_bytes();
        line.extend_from_slice(&tok.token_to_piece(id, true));
        line.extend_from_slice(b"'\n");
        if !out.write(&line)? {
            break;
        }
    }
    Ok(())
}
