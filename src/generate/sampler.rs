//! Token sampling with llama.cpp's flags and defaults: repetition/presence/frequency penalties
//! over the last N tokens, then top-k, top-p, min-p, temperature, and a seeded draw; a
//! temperature ≤ 0 is greedy (argmax after penalties).
use super::rng::Rng;
use crate::grammar::Constraint;
use std::collections::{HashMap, VecDeque};

#[derive(Clone, Debug)]
pub struct SamplerParams {
    pub temp: f32,
    /// ≤ 0 keeps every token.
    pub top_k: i32,
    /// ≥ 1 keeps every token.
    pub top_p: f32,
    /// ≤ 0 keeps every token.
    pub min_p: f32,
    /// 1.0 disables.
    pub repeat_penalty: f32,
    /// Tokens of history the penalties look at; 0 disables, −1 means the whole context.
    pub repeat_last_n: i32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temp: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: 0,
        }
    }
}

pub struct Sampler {
    params: SamplerParams,
    rng: Rng,
    history: VecDeque<u32>,
    history_len: usize,
}

/// Index of the largest value (the first one on ties, as llama.cpp's greedy sampler picks).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

impl Sampler {
    pub fn new(params: SamplerParams, n_ctx: usize) -> Sampler {
        let history_len = match params.repeat_last_n {
            n if n < 0 => n_ctx,
            n => n as usize,
        };
        Sampler {
            rng: Rng::new(params.seed),
            params,
            history: VecDeque::new(),
            history_len,
        }
    }

    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// Record a token (prompt or generated) for the penalties.
    pub fn accept(&mut self, token: u32) {
        if self.history_len == 0 {
            return;
        }
        if self.history.len() == self.history_len {
            self.history.pop_front();
        }
        self.history.push_back(token);
    }

    pub fn reset(&mut self) {
        self.history.clear();
    }

    fn apply_penalties(&self, logits: &mut [f32]) {
        let p = &self.params;
        if self.history.is_empty()
            || (p.repeat_penalty == 1.0 && p.presence_penalty == 0.0 && p.frequency_penalty == 0.0)
        {
            return;
        }
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for &t in &self.history {
            *counts.entry(t).or_default() += 1;
        }
        for (&tok, &count) in &counts {
            let Some(l) = logits.get_mut(tok as usize) else {
                continue;
            };
            if *l <= 0.0 {
                *l *= p.repeat_penalty;
            } else {
                *l /= p.repeat_penalty;
            }
            *l -= count as f32 * p.frequency_penalty + p.presence_penalty;
        }
    }

    /// Choose the next token from `logits` (modified in place by the penalties).
    pub fn sample(&mut self, logits: &mut [f32]) -> u32 {
        self.sample_constrained(logits, None)
            .expect("an unconstrained draw always has a candidate")
    }

    /// Choose the next token among those `constraint` allows, as if every other token's logit
    /// were −∞ before top-k (so the result is the masked distribution's, exactly); `None`
    /// when it allows none. Only the best candidates are checked unless top-k is off.
    pub fn sample_constrained(
        &mut self,
        logits: &mut [f32],
        constraint: Option<&Constraint>,
    ) -> Option<u32> {
        let dist = self.distribution(logits, constraint)?;
        Some(self.draw(&dist))
    }

    /// The distribution the next token is drawn from after every sampler (penalties, the
    /// constraint, top-k, top-p, min-p, temperature), best first; `None` when the constraint
    /// allows no token. Greedy: the argmax with probability 1. `logits` are modified in place
    /// by the penalties.
    pub fn distribution(
        &mut self,
        logits: &mut [f32],
        constraint: Option<&Constraint>,
    ) -> Option<Dist> {
        self.apply_penalties(logits);
        let p = &self.params;
        let mut cands = match constraint {
            None if p.temp <= 0.0 => return Some(Dist::greedy(argmax(logits))),
            None => {
                let mut cands: Vec<(u32, f32)> = logits
                    .iter()
                    .enumerate()
                    .map(|(i, &l)| (i as u32, l))
                    .collect();
                let by_logit =
                    |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
                if p.top_k > 0 && (p.top_k as usize) < cands.len() {
                    // Only the best k need sorting (the order is total, so this is the full
                    // sort's prefix).
                    let k = p.top_k as usize;
                    cands.select_nth_unstable_by(k - 1, by_logit);
                    cands.truncate(k);
                }
                cands.sort_unstable_by(by_logit);
                cands
            }
            Some(c) => {
                let need = if p.temp <= 0.0 {
                    1
                } else if p.top_k > 0 {
                    p.top_k as usize
                } else {
                    usize::MAX
                };
                let cands = allowed_candidates(logits, c, need);
                if cands.is_empty() {
                    return None;
                }
                if p.temp <= 0.0 {
                    return Some(Dist::greedy(cands[0].0));
                }
                cands
            }
        };
        if p.top_p < 1.0 {
            let probs = softmax_of(&cands, 1.0);
            let mut cum = 0.0;
            let mut keep = cands.len();
            for (i, pr) in probs.iter().enumerate() {
                cum += pr;
                if cum >= p.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            cands.truncate(keep.max(1));
        }
        if p.min_p > 0.0 {
            // Keep tokens whose probability is at least min_p × the best one's.
            let threshold = cands[0].1 + p.min_p.ln();
            let keep = cands.iter().take_while(|c| c.1 >= threshold).count();
            cands.truncate(keep.max(1));
        }
        let probs = softmax_of(&cands, p.temp);
        Some(Dist {
            items: cands.iter().map(|c| c.0).zip(probs).collect(),
            greedy: false,
        })
    }

    /// Draw a token from `dist` (a greedy one takes no random number).
    pub fn draw(&mut self, dist: &Dist) -> u32 {
        if dist.greedy {
            return dist.items[0].0;
        }
        draw_from(&dist.items, self.rng.next_f64())
    }

    /// A uniform number in [0, 1) from the sampler's seeded stream (speculative acceptance).
    pub fn uniform(&mut self) -> f64 {
        self.rng.next_f64()
    }
}

/// A token distribution: `(token, probability)` best first, probabilities summing to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Dist {
    pub items: Vec<(u32, f64)>,
    /// From a greedy sampler: one token, drawn without a random number.
    pub greedy: bool,
}

impl Dist {
    pub fn greedy(token: u32) -> Dist {
        Dist {
            items: vec![(token, 1.0)],
            greedy: true,
        }
    }

    /// The probability of `token` (0 when it is not a candidate).
    pub fn prob(&self, token: u32) -> f64 {
        self.items
            .iter()
            .find(|c| c.0 == token)
            .map_or(0.0, |c| c.1)
    }
}

/// The token at cumulative probability `r` ∈ [0, 1) of `items` (the last one when rounding
/// leaves `r` past the sum).
pub fn draw_from(items: &[(u32, f64)], r: f64) -> u32 {
    let mut cum = 0.0;
    for &(t, pr) in items {
        cum += pr;
        if r < cum {
            return t;
        }
    }
    items[items.len() - 1].0
}

/// Candidates checked before falling back to the full vocabulary mask.
const CHECK_FIRST: usize = 256;

/// The `need` best tokens `constraint` allows (all of them when fewer), best first, ties by id.
fn allowed_candidates(logits: &[f32], constraint: &Constraint, need: usize) -> Vec<(u32, f32)> {
    let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if need == 1 {
        // Greedy: the model's own choice is usually allowed.
        let best = argmax(logits);
        if logits[best as usize] > f32::NEG_INFINITY && constraint.allows(best) {
            return vec![(best, logits[best as usize])];
        }
    }
    let mut all: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l))
        .collect();
    if need <= CHECK_FIRST / 4 && all.len() > CHECK_FIRST {
        // Usually the grammar allows some of the best few: check those first.
        all.select_nth_unstable_by(CHECK_FIRST - 1, by_logit);
        let mut top = all[..CHECK_FIRST].to_vec();
        top.sort_unstable_by(by_logit);
        let ok: Vec<(u32, f32)> = top
            .into_iter()
            .filter(|c| c.1 > f32::NEG_INFINITY && constraint.allows(c.0))
            .take(need)
            .collect();
        if ok.len() == need {
            return ok;
        }
    }
    let allowed = constraint.allowed();
    let mut ok: Vec<(u32, f32)> = all
        .into_iter()
        .filter(|c| allowed.get(c.0 as usize).copied().unwrap_or(false) && c.1 > f32::NEG_INFINITY)
        .collect();
    ok.sort_unstable_by(by_logit);
    ok.truncate(need);
    ok
}

/// Softmax of candidate logits divided by `temp`, in f64.
fn softmax_of(cands: &[(u32, f32)], temp: f32) -> Vec<f64> {
    let max = cands[0].1 as f64 / temp as f64;
    let exps: Vec<f64> = cands
        .iter()
        .map(|c| (c.1 as f64 / temp as f64 - max).exp())
        .collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temp: f32) -> SamplerParams {
        SamplerParams {
            temp,
            seed: 7,
            ..Default::default()
        }
    }

    #[test]
    fn greedy_picks_first_maximum() {
        let mut s = Sampler::new(params(0.0), 16);
        assert_eq!(s.sample(&mut [0.1, 3.0, 3.0, -1.0]), 1);
    }

    #[test]
    fn repeat_penalty_divides_positive_and_multiplies_negative() {
        let mut p = params(0.0);
        p.repeat_penalty = 2.0;
        let mut s = Sampler::new(p, 16);
        s.accept(0);
        s.accept(2);
        let mut logits = [4.0, 3.0, -1.0];
        assert_eq!(s.sample(&mut logits), 1);
        assert_eq!(logits, [2.0, 3.0, -2.0]);
    }

    #[test]
    fn presence_and_frequency_penalties_subtract() {
        let mut p = params(0.0);
        p.presence_penalty = 0.5;
        p.frequency_penalty = 0.25;
        let mut s = Sampler::new(p, 16);
        for t in [1, 1, 1] {
            s.accept(t);
        }
        let mut logits = [0.0, 2.0];
        s.sample(&mut logits);
        assert_eq!(logits, [0.0, 2.0 - 0.75 - 0.5]);
    }

    #[test]
    fn history_window_forgets_old_tokens() {
        let mut p = params(0.0);
        p.repeat_penalty = 10.0;
        p.repeat_last_n = 2;
        let mut s = Sampler::new(p, 16);
        for t in [0, 1, 1] {
            s.accept(t);
        }
        let mut logits = [5.0, 5.0];
        assert_eq!(s.sample(&mut logits), 0, "token 0 fell out of the window");
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_respects_top_k() {
        let logits: Vec<f32> = (0..50).map(|i| (i % 7) as f32 * 0.3).collect();
        let draw = |seed| {
            let mut p = params(1.0);
            p.seed = seed;
            p.top_k = 3;
            p.min_p = 0.0;
            let mut s = Sampler::new(p, 16);
            (0..40)
                .map(|_| s.sample(&mut logits.clone()))
                .collect::<Vec<_>>()
        };
        let a = draw(1);
        assert_eq!(a, draw(1));
        assert_ne!(a, draw(2));
        // The top 3 logits (1.8) are at ids 6, 13, 20.
        assert!(a.iter().all(|t| [6, 13, 20].contains(t)), "{a:?}");
    }

    #[test]
    fn min_p_drops_unlikely_tokens() {
        let mut p = params(1.0);
        p.top_k = 0;
        p.top_p = 1.0;
        p.min_p = 0.5;
        let mut s = Sampler::new(p, 16);
        // p(1)/p(0) = e^-3 < 0.5, so only token 0 survives.
        for _ in 0..20 {
            assert_eq!(s.sample(&mut [3.0, 0.0]), 0);
        }
    }

    #[test]
    fn constrained_draw_equals_masking_then_drawing() {
        use crate::grammar::constraint::Vocab;
        use crate::grammar::Grammar;
        use std::sync::Arc;
        // 600 tokens: letters and letter pairs; the grammar takes a-m only.
        let pieces: Vec<Vec<u8>> = (0..600u32)
            .map(|i| {
                let a = b'a' + (i % 26) as u8;
                if i < 26 {
                    vec![a]
                } else {
                    vec![a, b'a' + ((i / 26) % 26) as u8]
                }
            })
            .collect();
        let vocab = Arc::new(Vocab::new(pieces, vec![]));
        let g = Arc::new(Grammar::parse("root ::= [a-m]+").unwrap());
        let c = crate::grammar::Constraint::new(g, vocab);
        let mut rng = Rng::new(3);
        for (temp, top_k) in [(0.0, 40), (0.8, 40), (0.8, 3), (1.2, 0)] {
            for seed in 0..20 {
                let logits: Vec<f32> = (0..600).map(|_| rng.next_f64() as f32 * 8.0).collect();
                let mut masked = logits.clone();
                c.mask(&mut masked);
                let p = SamplerParams {
                    temp,
                    top_k,
                    seed,
                    ..Default::default()
                };
                let a =
                    Sampler::new(p.clone(), 16).sample_constrained(&mut logits.clone(), Some(&c));
                let b = Sampler::new(p, 16).sample(&mut masked);
                assert_eq!(a, Some(b), "temp {temp} top-k {top_k} seed {seed}");
                assert!(c.allows(b));
            }
        }
    }
}
