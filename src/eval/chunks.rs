//! llama-perplexity's chunking: the whole text tokenized once, split into ⌊tokens / n_ctx⌋
//! chunks (the tail dropped), each evaluated from an empty cache with its first token replaced
//! by BOS when the vocabulary adds one; positions n_ctx/2 … n_ctx−2 predict the next token, so
//! n_ctx − 1 − n_ctx/2 tokens of each chunk are scored.
use super::EvalError;
use crate::attn::paged::KvType;
use crate::generate::{Session, SessionError};
use crate::model::{Logits, Model};

/// How a token sequence is cut into scored chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunks {
    pub n_ctx: usize,
    pub n_chunk: usize,
    /// The first position whose logits are scored (n_ctx / 2).
    pub first: usize,
    /// Replaces each chunk's first token when the vocabulary adds BOS.
    pub bos: Option<u32>,
}

impl Chunks {
    /// Chunks of `n_ctx` over `n_tokens` tokens, at most `max_chunks` of them. Like
    /// llama-perplexity, the text must hold two whole chunks even when fewer are asked for.
    pub fn plan(
        n_tokens: usize,
        n_ctx: usize,
        max_chunks: Option<usize>,
        bos: Option<u32>,
    ) -> Result<Chunks, EvalError> {
        let need = 2 * n_ctx;
        if n_ctx < 2 || n_tokens < need {
            return Err(EvalError::TooShort {
                have: n_tokens,
                need: need.max(4),
                n_ctx,
            });
        }
        let max = n_tokens / n_ctx;
        Ok(Chunks {
            n_ctx,
            n_chunk: max_chunks.map_or(max, |c| c.min(max)),
            first: n_ctx / 2,
            bos,
        })
    }

    /// Tokens scored per chunk.
    pub fn scored(&self) -> usize {
        self.n_ctx - 1 - self.first
    }

    /// The tokens chunk `c` is evaluated on (its first one BOS when the vocabulary adds it).
    pub fn input(&self, tokens: &[u32], c: usize) -> Vec<u32> {
        let mut v = tokens[c * self.n_ctx..(c + 1) * self.n_ctx].to_vec();
        if let Some(b) = self.bos {
            v[0] = b;
        }
        v
    }

    /// The tokens chunk `c`'s scored logit rows predict (row r predicts `targets[r]`).
    pub fn targets<'t>(&self, tokens: &'t [u32], c: usize) -> &'t [u32] {
        let start = c * self.n_ctx + self.first + 1;
        &tokens[start..(c + 1) * self.n_ctx]
    }

    /// Chunk `c`'s logits from position `from` on (`n_ctx − from` rows of `n_vocab`; from
    /// `first`, the scored rows and one past the chunk), from a fresh cache, in batches of
    /// `n_batch`, checking `cancel` between layers.
    pub fn logits(
        &self,
        model: &Model,
        tokens: &[u32],
        c: usize,
        n_batch: usize,
        cancel: Option<fn() -> bool>,
        from: usize,
    ) -> Result<Vec<f32>, SessionError> {
        let mut s = Session::with_kv_types(model, self.n_ctx, KvType::F16.into())?;
        s.set_batch(n_batch);
        if let Some(f) = cancel {
            s.set_cancel(f);
        }
        s.eval(&self.input(tokens, c), Logits::From(from))
    }
}

/// The negative log-likelihood of `tok` under `logits`, as llama-perplexity computes it:
/// the f32 difference to the largest logit, less the f64 log of the f64 sum of f32 exps.
pub fn nll(logits: &[f32], tok: usize) -> f64 {
    let max = logits.iter().copied().fold(logits[0], f32::max);
    let mut sum = 0.0f64;
    for &l in logits {
        sum += (l - max).exp() as f64;
    }
    -(((logits[tok] - max) as f64) - sum.ln())
}

/// The NLL of each target (`targets[r]` under logit row `skip + r` of `logits`), on the
/// backend's threads, in target order.
pub fn nlls(
    be: &crate::backend::Cpu,
    logits: &[f32],
    skip: usize,
    targets: &[u32],
    n_vocab: usize,
) -> Vec<f64> {
    super::par_map(be, targets.len(), &|r| {
        let row = &logits[(skip + r) * n_vocab..(skip + r + 1) * n_vocab];
        nll(row, targets[r] as usize)
    })
}

/// Running sums of per-token NLL: the perplexity and its uncertainty.
#[derive(Clone, Copy, Debug, Default)]
pub struct NllSums {
    pub sum: f64,
    pub sum2: f64,
    pub count: usize,
}

impl NllSums {
    pub fn add(&mut self, v: f64) {
        self.sum += v;
        self.sum2 += v * v;
        self.count += 1;
    }

    /// exp(mean NLL).
    pub fn ppl(&self) -> f64 {
        (self.sum / self.count as f64).exp()
    }

    /// `(PPL, ±)` with ± = PPL·√(var / (N − 1)), as llama-perplexity's final estimate; `None`
    /// when the variance is not positive (it then prints no estimate).
    pub fn estimate(&self) -> Option<(f64, f64)> {
        let n = self.count as f64;
        let mean = self.sum / n;
        let var = self.sum2 / n - mean * mean;
        let ppl = mean.exp();
        (var > 0.0).then(|| (ppl, (var / (n - 1.0)).sqrt() * ppl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_follows_llama_perplexity() {
        let c = Chunks::plan(1100, 512, None, Some(1)).unwrap();
        assert_eq!((c.n_chunk, c.first, c.scored()), (2, 256, 255));
        assert_eq!(Chunks::plan(1100, 512, Some(1), None).unwrap().n_chunk, 1);
        assert!(matches!(
            Chunks::plan(1000, 512, Some(1), None),
            Err(EvalError::TooShort { have: 1000, .. })
        ));
        let toks: Vec<u32> = (0..1100).collect();
        assert_eq!(c.input(&toks, 1)[..2], [1, 513]);
        let t = c.targets(&toks, 1);
        assert_eq!((t.len(), t[0], t[254]), (255, 512 + 257, 1023));
    }

    #[test]
    fn nll_is_the_log_softmax() {
        let l = [1.0f32, 2.0, 3.0];
        let z: f64 = l.iter().map(|&x| (x as f64).exp()).sum();
        assert!((nll(&l, 0) - (z.ln() - 1.0)).abs() < 1e-6);
        let mut s = NllSums::default();
        for v in [1.0, 2.0, 3.0] {
            s.add(v);
        }
        let (ppl, err) = s.estimate().unwrap();
        assert!((ppl - 2f64.exp()).abs() < 1e-12);
        // var = 2/3, √(var / 2) · e².
        assert!((err - (1.0f64 / 3.0).sqrt() * 2f64.exp()).abs() < 1e-12);
    }
}
