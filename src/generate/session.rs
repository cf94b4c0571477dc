//! A generation session: one sequence's tokens and KV cache, evaluated in batches. `run`,
//! `tokenize`'s checks, and later chat/bench/perplexity/speculate all drive the model through it.
use crate::attn::flash::PagedSeqCache;
use crate::attn::paged::{KvError, KvTypes};
use crate::model::{Logits, Model};

/// Shortest run of cached tokens worth moving by a context shift rather than recomputing.
const MIN_SHIFT_REUSE: usize = 4;

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
    /// The cancel check said stop during prompt processing (the tokens of finished batches
    /// stay in the session).
    #[error("interrupted")]
    Interrupted,
    /// The model computed NaN: its weights or numbers are corrupt.
    #[error("the model computed NaN logits (corrupt weights or metadata in the file?)")]
    NanLogits,
}

pub struct Session<'m> {
    model: &'m Model,
    kv: PagedSeqCache,
    tokens: Vec<u32>,
    batch: usize,
    /// Tokens run through the model since creation (prompt and generated): counters for tests
    /// and statistics.
    pub evaluated: usize,
    /// Tokens moved by context shifts instead of being recomputed.
    pub shifted: usize,
    /// Checked between layers while a prompt is processed (Ctrl-C).
    cancel: Option<fn() -> bool>,
}

impl<'m> Session<'m> {
    pub fn new(model: &'m Model, n_ctx: usize) -> Session<'m> {
        Session {
            model,
            kv: model.new_kv_cache(n_ctx),
            tokens: Vec::new(),
            batch: DEFAULT_BATCH,
            evaluated: 0,
            shifted: 0,
            cancel: None,
        }
    }

    /// Stop prompt processing between layers when `f` says so (`eval` then returns
    /// `SessionError::Interrupted`).
    pub fn set_cancel(&mut self, f: fn() -> bool) {
        self.cancel = Some(f);
    }

    /// Evaluate prompts in batches of at most `n` tokens (`-b`; at least 1).
    pub fn set_batch(&mut self, n: usize) {
        self.batch = n.max(1);
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
            shifted: 0,
            cancel: None,
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

    /// The KV cache (for inspection; the session alone writes it).
    pub fn kv(&self) -> &PagedSeqCache {
        &self.kv
    }

    pub fn remaining(&self) -> usize {
        self.kv.remaining()
    }

    /// Forget everything.
    pub fn reset(&mut self) {
        self.truncate(0);
    }

    /// Forget every token from `len` on (a no-op when `len` is at or past the end).
    pub fn truncate(&mut self, len: usize) {
        // Truncating the session's own sequence cannot fail.
        let _ = self.kv.truncate(len);
        self.tokens.truncate(len);
    }

    /// Tokens at the start of `tokens` that the session already holds.
    pub fn common_prefix(&self, tokens: &[u32]) -> usize {
        self.tokens
            .iter()
            .zip(tokens)
            .take_while(|(a, b)| a == b)
            .count()
    }

    /// Drop the held tokens `start..start + n` and move the later ones down (StreamingLLM
    /// context shift: their cached keys are re-rotated, nothing is recomputed).
    pub fn shift(&mut self, start: usize, n: usize) {
        let start = start.min(self.tokens.len());
        let n = n.min(self.tokens.len() - start);
        if n == 0 {
            return;
        }
        let n_ctx = self.kv.n_ctx();
        #[cfg(feature = "wgpu")]
        self.model.shift_device_kv(&mut self.kv, start, n);
        let layers = &self.model.weights.layers;
        if self
            .kv
            .shift_down(start, n, |l| layers[l].rope.for_ctx(n_ctx))
            .is_err()
        {
            // Positions of the session's own sequence are always readable; should the cache
            // refuse anyway, fall back to recomputing from `start`.
            self.truncate(start);
            return;
        }
        self.tokens.drain(start..start + n);
        self.shifted += self.tokens.len() - start;
    }

    /// Prepare to continue with `tokens` (a whole re-rendered prompt): keep the common prefix and
    /// truncate whatever else differs. With `shift`, when the held tokens after the common
    /// prefix reappear later in `tokens` less some dropped range (old turns removed to make
    /// room), they are shifted into place instead of being recomputed. Returns how many tokens
    /// of `tokens` are held; the caller evaluates the rest. At least the last token is always
    /// left to evaluate, so that it has logits.
    pub fn reuse_prefix(&mut self, tokens: &[u32], shift: bool) -> usize {
        let p = self.common_prefix(tokens);
        let (d, m) = if shift {
            self.best_shift(p, &tokens[p.min(tokens.len())..])
        } else {
            (0, 0)
        };
        if m >= MIN_SHIFT_REUSE {
            self.shift(p, d);
            self.truncate(p + m);
        } else {
            self.truncate(p);
        }
        let held = self.tokens.len().min(tokens.len().saturating_sub(1));
        self.truncate(held);
        held
    }

    /// The drop `d` after position `p` that lines up the most held tokens with `rest`, and how
    /// many (`m`) then match.
    fn best_shift(&self, p: usize, rest: &[u32]) -> (usize, usize) {
        let mut best = (0usize, 0usize);
        if p >= self.tokens.len() || rest.is_empty() {
            return best;
        }
        for d in 1..self.tokens.len() - p {
            let old = &self.tokens[p + d..];
            if old.len() <= best.1.max(MIN_SHIFT_REUSE - 1) {
                break;
            }
            if old[0] != rest[0] {
                continue;
            }
            let m = old.iter().zip(rest).take_while(|(a, b)| a == b).count();
            if m > best.1 {
                best = (d, m);
                if m == old.len() || m == rest.len() {
                    break;
                }
            }
        }
        best
    }

    /// Append `tokens` to the context and return their logits (`Last`: the final token's;
    /// `All`: one row of `n_vocab` per token; `From(k)`: rows for `tokens[k..]`).
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
        // Only prompt processing (many tokens) is worth checking between layers.
        let cancel = self.cancel.filter(|_| tokens.len() > 1);
        let cancelled = move || cancel.is_some_and(|f| f());
        let mut offset = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            // `From(k)` counts from the first token of `tokens`; each batch gets its own start.
            let batch_want = match want {
                Logits::From(k) if offset + chunk.len() <= k => Logits::Last,
                Logits::From(k) => Logits::From(k.saturating_sub(offset)),
                w => w,
            };
            let logits = self
                .model
                .forward_until(chunk, &mut self.kv, batch_want, &cancelled)
                .ok_or(SessionError::Interrupted)?;
            match (want, batch_want) {
                (Logits::All, _) | (Logits::From(_), Logits::From(_)) => out.extend(logits),
                (Logits::Last, _) if last => out = logits,
                _ => {}
            }
            offset += chunk.len();
            self.tokens.extend_from_slice(chunk);
            self.evaluated += chunk.len();
        }
        // A NaN would make every sampler pick token 0 or nothing: say so instead.
        if out.iter().any(|x| x.is_nan()) {
            return Err(SessionError::NanLogits);
        }
        Ok(out)
    }
}
