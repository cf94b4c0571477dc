//! A grammar applied to a vocabulary: which tokens may come next, and the state after one.
//! Checking a token walks its bytes through the matcher; a full mask walks the vocabulary
//! sorted by bytes, so tokens sharing a prefix share its work and a refused prefix prunes every
//! token under it. End-of-generation tokens are allowed exactly when the output so far is a
//! complete sentence; other tokens with no text (control tokens) never are.
use super::{Grammar, State};
use std::sync::Arc;

/// The vocabulary as the grammar sees it (built once per model and shared).
pub struct Vocab {
    /// Each token's bytes as printed (control tokens: empty).
    pieces: Vec<Vec<u8>>,
    /// Token ids sorted by their bytes (empty pieces first).
    sorted: Vec<u32>,
    eog: Vec<u32>,
}

impl Vocab {
    pub fn new(pieces: Vec<Vec<u8>>, eog: Vec<u32>) -> Vocab {
        let mut sorted: Vec<u32> = (0..pieces.len() as u32).collect();
        sorted.sort_unstable_by(|&a, &b| pieces[a as usize].cmp(&pieces[b as usize]));
        Vocab {
            pieces,
            sorted,
            eog,
        }
    }

    pub fn from_tokenizer(tok: &crate::tokenizer::Tokenizer) -> Vocab {
        let pieces = (0..tok.n_vocab() as u32)
            .map(|id| tok.token_to_piece(id, false))
            .collect();
        Vocab::new(pieces, tok.eog_ids().to_vec())
    }

    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }
}

/// A grammar's progress through one generation.
#[derive(Clone)]
pub struct Constraint {
    grammar: Arc<Grammar>,
    vocab: Arc<Vocab>,
    state: State,
}

impl Constraint {
    pub fn new(grammar: Arc<Grammar>, vocab: Arc<Vocab>) -> Constraint {
        let state = grammar.start();
        Constraint {
            grammar,
            vocab,
            state,
        }
    }

    /// Back to the start (a new reply).
    pub fn reset(&mut self) {
        self.state = self.grammar.start();
    }

    pub fn is_complete(&self) -> bool {
        self.state.is_complete()
    }

    /// Nothing but end of generation may follow.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }

    fn is_eog(&self, token: u32) -> bool {
        self.vocab.eog.contains(&token)
    }

    /// Whether `token` may come next.
    pub fn allows(&self, token: u32) -> bool {
        if self.is_eog(token) {
            return self.state.is_complete();
        }
        match self.vocab.pieces.get(token as usize) {
            Some(p) if !p.is_empty() => self.grammar.advance_bytes(&self.state, p).is_some(),
            _ => false,
        }
    }

    /// Take `token` as generated; false (state unchanged) when the grammar refuses it.
    pub fn accept(&mut self, token: u32) -> bool {
        if self.is_eog(token) {
            return self.state.is_complete();
        }
        let Some(piece) = self.vocab.pieces.get(token as usize) else {
            return false;
        };
        match self.grammar.advance_bytes(&self.state, piece) {
            Some(s) if !piece.is_empty() => {
                self.state = s;
                true
            }
            _ => false,
        }
    }

    /// Which tokens may come next, as a flag per token.
    pub fn allowed(&self) -> Vec<bool> {
        let v = &self.vocab;
        let mut allowed = vec![false; v.pieces.len()];
        self.walk(&self.state, &v.sorted, 0, &mut allowed);
        let complete = self.state.is_complete();
        for &e in &v.eog {
            if let Some(a) = allowed.get_mut(e as usize) {
                *a = complete;
            }
        }
        allowed
    }

    /// Set the logits of refused tokens to −∞.
    pub fn mask(&self, logits: &mut [f32]) {
        for (l, ok) in logits.iter_mut().zip(self.allowed()) {
            if !ok {
                *l = f32::NEG_INFINITY;
            }
        }
    }

    /// `ids` all share their first `depth` bytes and `state` took them.
    fn walk(&self, state: &State, ids: &[u32], depth: usize, allowed: &mut [bool]) {
        let pieces = &self.vocab.pieces;
        let mut i = 0;
        while i < ids.len() && pieces[ids[i] as usize].len() == depth {
            if depth > 0 {
                allowed[ids[i] as usize] = true;
            }
            i += 1;
        }
        while i < ids.len() {
            let b = pieces[ids[i] as usize][depth];
            let mut j = i + 1;
            while j < ids.len() && pieces[ids[j] as usize][depth] == b {
                j += 1;
            }
            if let Some(next) = self.grammar.advance_byte(state, b) {
                self.walk(&next, &ids[i..j], depth + 1, allowed);
            }
            i = j;
        }
    }
}
