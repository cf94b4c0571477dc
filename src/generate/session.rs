//! A generation session: one sequence's tokens and KV cache, evaluated in batches. `run`,
//! `tokenize`'s checks, and later chat/bench/perplexity/speculate all drive the model through it.
use crate::attn::flash::PagedSeqCache;
use crate::attn::paged::{KvError, KvTypes};
use crate::model::{Logits, Model};

/// Tokens evaluated per forward call during prompt processing (bounds scratch memory).
pub const DEFAULT_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the prompt and output need {needed} tokens but the context holds {n_ctx} (raise -c)")]
    ContextFull { needed: usize, n_ctx: usize },
    #[error("token id {0} is outside the vocabulary")]
    BadToken(u32),
    #[error(transparent)]
    Kv(#[from] KvError),
}

pub struct Session<'m> {
    model: &'m Model,
    kv: PagedSeqCache,
    tokens: Vec<u32>,
    batch: usize,
    /// Tokens run through the model since creation (prompt and generated): counters for tests
    /// and statistics.
    pub evaluated: usize,
}

impl<'m> Session<'m> {
    pub fn new(model: &'m Model, n_ctx: usize) -> Session<'m> {
        Session {
            model,
            kv: model.new_kv_cache(n_ctx),
            tokens: Vec::new(),
            batch: DEFAULT_BATCH,
            evaluated: 0,
        }
    }

    /// A session whose KV cache stores keys and values as `types` (`-ctk/-ctv`).
    pub fn with_kv_types(
        model: &'m Model,
        n_ctx: usize,
        types: KvTypes,
    ) -> Result<Session<'m>, SessionError> {
        Ok(Session {
            model,
            kv: model.new_kv_cache_typed(n_ctx, types)?,
            tokens: Vec::new(),
            batch: DEFAULT_BATCH,
            evaluated: 0,
        })
    }

    pub fn model(&self) -> &'m Model {
        self.model
    }

    pub fn n_ctx(&self) -> usize {
        self.kv.n_ctx()
    }

    /// Tokens in the context so far.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    pub fn remaining(&self) -> usize {
        self.kv.remaining()
    }

    /// Forget everything.
    pub fn reset(&mut self) {
        // Truncating to zero frees every block; it cannot fail for the session's own sequence.
        let _ = self.kv.truncate(0);
        self.tokens.clear();
    }

    /// Append `tokens` to the context and return their logits (`Last`: the final token's;
    /// `All`: one row of `n_vocab` per token).
    pub fn eval(&mut self, tokens: &[u32], want: Logits) -> Result<Vec<f32>, SessionError> {
        let n_vocab = self.model.config.n_vocab;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(SessionError::BadToken(bad));
        }
        if tokens.len() > self.kv.remaining() {
            return Err(SessionError::ContextFull {
                needed: self.kv.len() + tokens.len(),
                n_ctx: self.kv.n_ctx(),
            });
        }
        let mut out = Vec::new();
        let chunks: Vec<&[u32]> = tokens.chunks(self.batch).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            match want {
                Logits::All => out.extend(self.model.forward(chunk, &mut self.kv, Logits::All)),
                Logits::Last if last => out = self.model.forward(chunk, &mut self.kv, Logits::Last),
                Logits::Last => {
                    self.model.forward(chunk, &mut self.kv, Logits::Last);
                }
            }
            self.tokens.extend_from_slice(chunk);
            self.evaluated += chunk.len();
        }
        Ok(out)
    }
}
