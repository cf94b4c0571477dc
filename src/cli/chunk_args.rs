//! What `perplexity` and `imatrix` share, as llama.cpp's two tools share it: the text and chunk
//! flags, reading the text (one trailing newline dropped), tokenizing it with BOS, and
//! evaluating one chunk with Ctrl-C and failures turned into exit codes.
use super::common::read_text_file;
use super::Exit;
use crate::eval::chunks::Chunks;
use crate::generate::SessionError;
use crate::interrupt;
use crate::model::Model;
use crate::tokenizer::Tokenizer;
use anyhow::anyhow;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ChunkArgs {
    /// The text (UTF-8; one trailing newline is dropped, as llama.cpp's tools do).
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Chunk length in tokens; each chunk is evaluated from an empty context.
    #[arg(short = 'c', long = "ctx-size", default_value_t = 512)]
    pub ctx: usize,
    /// Tokens per forward batch (capped at the chunk length).
    #[arg(short = 'b', long = "batch-size", default_value_t = 2048)]
    pub batch: usize,
    /// Use at most N chunks (negative: all).
    #[arg(long = "chunks", allow_negative_numbers = true)]
    pub chunks: Option<i64>,
}

impl ChunkArgs {
    /// `-c` and `-b` as `tool` needs them (usage errors otherwise).
    pub fn check(&self, tool: &str) -> Result<(), Exit> {
        if self.ctx < 4 {
            return Err(Exit::Usage(format!(
                "{tool} needs -c of at least 4 tokens (the chunk length), not {}",
                self.ctx
            )));
        }
        if self.batch == 0 {
            return Err(Exit::Usage("-b must be at least 1".into()));
        }
        Ok(())
    }

    /// `--chunks`, negative meaning all.
    pub fn max_chunks(&self) -> Option<usize> {
        self.chunks.and_then(|c| usize::try_from(c).ok())
    }

    /// The `-f` text, less one trailing newline (`None` without `-f`).
    pub fn read_text(&self) -> Result<Option<String>, Exit> {
        let Some(f) = &self.file else { return Ok(None) };
        let mut text = read_text_file(f, "text file")?;
        if text.ends_with('\n') {
            text.pop();
        }
        Ok(Some(text))
    }
}

/// The whole text as llama.cpp's tools tokenize it (special tokens added, BOS first); a
/// tokenizer that appends EOS is refused, as they refuse it.
pub fn tokenize(tok: &Tokenizer, text: &str, parse_special: bool) -> Result<Vec<u32>, Exit> {
    if tok.add_eos() {
        return Err(Exit::Runtime(anyhow!(
            "this model's tokenizer appends EOS to every text; llama.cpp's perplexity and \
             imatrix refuse such a model too"
        )));
    }
    Ok(tok.encode(text, true, parse_special))
}

/// The token each chunk starts with, when the vocabulary adds BOS.
pub fn chunk_bos(tok: &Tokenizer) -> Option<u32> {
    tok.add_bos().then(|| tok.bos()).flatten()
}

/// Chunk `c`'s logits from position `from` (see `Chunks::logits`), Ctrl-C checked between
/// layers: exit 130 when it came, exit 1 on any other failure.
pub fn chunk_logits(
    chunks: &Chunks,
    model: &Model,
    tokens: &[u32],
    c: usize,
    n_batch: usize,
    from: usize,
) -> Result<Vec<f32>, Exit> {
    chunks
        .logits(model, tokens, c, n_batch, Some(interrupt::requested), from)
        .map_err(|e| match e {
            SessionError::Interrupted => Exit::Interrupted,
            e => Exit::Runtime(anyhow!(e)),
        })
}
