//! Prompt lookup (llama.cpp's `lookup` idea): propose what followed the most recent earlier
//! occurrence of the context's last n tokens (the longest n that matches, from `ngram_max`
//! down to `ngram_min`). Costs no model; pays on text that copies the prompt or itself — code
//! edits, quotes, names in a summary.
use super::{Drafted, Drafter, Proposal};
use crate::generate::{SamplerParams, SessionError};

pub struct Lookup {
    pub ngram_min: usize,
    pub ngram_max: usize,
}

impl Default for Lookup {
    fn default() -> Self {
        Lookup {
            ngram_min: 2,
            ngram_max: 4,
        }
    }
}

impl Lookup {
    /// Start of the latest earlier occurrence of `context`'s last `n` tokens (not the suffix
    /// itself), if any.
    fn latest_match(context: &[u32], n: usize) -> Option<usize> {
        if n == 0 || context.len() <= n {
            return None;
        }
        let suffix = &context[context.len() - n..];
        (0..context.len() - n)
            .rev()
            .find(|&i| &context[i..i + n] == suffix)
    }

    /// The proposal for `context`: the tokens after the match, up to `max`.
    pub fn lookup(&self, context: &[u32], max: usize) -> Vec<u32> {
        for n in (self.ngram_min.max(1)..=self.ngram_max).rev() {
            if let Some(i) = Self::latest_match(context, n) {
                let from = i + n;
                let to = (from + max).min(context.len());
                return context[from..to].to_vec();
            }
        }
        Vec::new()
    }
}

impl Drafter for Lookup {
    fn name(&self) -> &'static str {
        "lookup"
    }

    fn draft(
        &mut self,
        context: &[u32],
        max: usize,
        _params: &SamplerParams,
        _p_min: f32,
    ) -> Result<Drafted, SessionError> {
        Ok(Drafted {
            proposals: self
                .lookup(context, max)
                .into_iter()
                .map(|token| Proposal { token, q: None })
                .collect(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proposes_what_followed_the_latest_longest_match() {
        let l = Lookup::default();
        // "1 2 3 4 5 ... 1 2 3" → 4 5 (the 3-gram 1 2 3 matched).
        assert_eq!(l.lookup(&[1, 2, 3, 4, 5, 9, 1, 2, 3], 2), vec![4, 5]);
        // The latest occurrence wins: "7 8 1 ... 7 8 2 ... 7 8" → 2.
        assert_eq!(l.lookup(&[7, 8, 1, 0, 7, 8, 2, 0, 7, 8], 1), vec![2]);
        // A longer match beats a later shorter one.
        assert_eq!(l.lookup(&[5, 6, 7, 1, 0, 6, 7, 2, 0, 5, 6, 7], 1), vec![1]);
        // The continuation stops at the end of the context.
        assert_eq!(l.lookup(&[1, 2, 3, 1, 2], 10), vec![3, 1, 2]);
        // No repeated bigram: nothing.
        assert!(l.lookup(&[1, 2, 3, 4], 4).is_empty());
        assert!(l.lookup(&[], 4).is_empty());
        assert!(
            l.lookup(&[1, 1], 4).is_empty(),
            "a 1-gram is below ngram_min"
        );
    }
}
