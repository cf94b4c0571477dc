//! A grammar applied to a vocabulary: which tokens may come next, and the state after one.
//! Matcher states are interned and their byte transitions memoised (a lazily built DFA over the
//! states this generation reaches), so checking a token is a few table lookups; a full mask
//! walks the vocabulary's byte trie, where tokens sharing a prefix share its work and a refused
//! prefix prunes every token under it. End-of-generation tokens are allowed exactly when the
//! output so far is a complete sentence; other tokens with no text (control tokens) never are.
use super::{Grammar, State};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// The vocabulary as the grammar sees it (built once per model and shared).
pub struct Vocab {
    /// Each token's bytes as printed (control tokens: empty).
    pieces: Vec<Vec<u8>>,
    trie: Trie,
    eog: Vec<u32>,
}

/// The pieces' byte trie: node 0 is the root (the empty prefix).
struct Trie {
    /// Per node: its children as a range of `edges`, and the tokens ending there as a range of
    /// `tokens`.
    nodes: Vec<TrieNode>,
    edges: Vec<(u8, u32)>,
    tokens: Vec<u32>,
}

#[derive(Clone, Copy, Default)]
struct TrieNode {
    edges: (u32, u32),
    tokens: (u32, u32),
}

impl Trie {
    fn new(pieces: &[Vec<u8>]) -> Trie {
        let mut sorted: Vec<u32> = (0..pieces.len() as u32)
            .filter(|&t| !pieces[t as usize].is_empty())
            .collect();
        sorted.sort_unstable_by(|&a, &b| pieces[a as usize].cmp(&pieces[b as usize]));
        let mut trie = Trie {
            nodes: vec![TrieNode::default()],
            edges: Vec::new(),
            tokens: Vec::new(),
        };
        // Breadth-first over (node, ids sharing its prefix, depth), so each node's edges and
        // tokens are contiguous.
        let mut queue = std::collections::VecDeque::from([(0u32, 0usize, sorted.len(), 0usize)]);
        while let Some((node, lo, hi, depth)) = queue.pop_front() {
            let ids = &sorted[lo..hi];
            let mut i = 0;
            let t0 = trie.tokens.len() as u32;
            while i < ids.len() && pieces[ids[i] as usize].len() == depth {
                trie.tokens.push(ids[i]);
                i += 1;
            }
            let e0 = trie.edges.len() as u32;
            while i < ids.len() {
                let b = pieces[ids[i] as usize][depth];
                let mut j = i + 1;
                while j < ids.len() && pieces[ids[j] as usize][depth] == b {
                    j += 1;
                }
                let child = trie.nodes.len() as u32;
                trie.nodes.push(TrieNode::default());
                trie.edges.push((b, child));
                queue.push_back((child, lo + i, lo + j, depth + 1));
                i = j;
            }
            trie.nodes[node as usize] = TrieNode {
                edges: (e0, trie.edges.len() as u32),
                tokens: (t0, trie.tokens.len() as u32),
            };
        }
        trie
    }
}

impl Vocab {
    pub fn new(pieces: Vec<Vec<u8>>, eog: Vec<u32>) -> Vocab {
        let trie = Trie::new(&pieces);
        Vocab { pieces, trie, eog }
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

/// Transition not computed yet / refused.
const UNKNOWN: u32 = u32::MAX;
const DEAD: u32 = u32::MAX - 1;
/// Interned states kept before the cache starts over (each costs a 1 KiB transition row); one
/// mask may add as many again before it gives up on the cache.
const MAX_STATES: usize = 16_384;

/// Interned matcher states and their memoised byte transitions.
#[derive(Clone, Default)]
struct Dfa {
    states: Vec<State>,
    ids: HashMap<State, u32>,
    next: Vec<[u32; 256]>,
}

impl Dfa {
    fn intern(&mut self, s: &State) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.states.len() as u32;
        self.states.push(s.clone());
        self.ids.insert(s.clone(), id);
        self.next.push([UNKNOWN; 256]);
        id
    }

    /// Start over when full (only between uses, so no caller holds an id).
    fn trim(&mut self) {
        if self.states.len() >= MAX_STATES {
            *self = Dfa::default();
        }
    }

    /// The state after byte `b` from state `id`, or DEAD.
    fn step(&mut self, g: &Grammar, id: u32, b: u8) -> u32 {
        let t = self.next[id as usize][b as usize];
        if t != UNKNOWN {
            return t;
        }
        let t = match g.advance_byte(&self.states[id as usize], b) {
            None => DEAD,
            Some(s) => self.intern(&s),
        };
        self.next[id as usize][b as usize] = t;
        t
    }
}

/// A grammar's progress through one generation.
#[derive(Clone)]
pub struct Constraint {
    grammar: Arc<Grammar>,
    vocab: Arc<Vocab>,
    state: State,
    dfa: RefCell<Dfa>,
    /// Full masks by state: a state comes back often (inside a string, between list items).
    masks: RefCell<HashMap<State, Arc<Vec<bool>>>>,
}

/// Masks kept (each is one flag per token).
const MAX_MASKS: usize = 64;

impl Constraint {
    pub fn new(grammar: Arc<Grammar>, vocab: Arc<Vocab>) -> Constraint {
        let state = grammar.start();
        Constraint {
            grammar,
            vocab,
            state,
            dfa: RefCell::new(Dfa::default()),
            masks: RefCell::new(HashMap::new()),
        }
    }

    /// `grammar` over the vocabulary of `tok`.
    pub fn for_tokenizer(grammar: Grammar, tok: &crate::tokenizer::Tokenizer) -> Constraint {
        Constraint::new(Arc::new(grammar), Arc::new(Vocab::from_tokenizer(tok)))
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

    /// The state id after `bytes` from the current state, or DEAD.
    fn run(&self, bytes: &[u8]) -> u32 {
        let mut dfa = self.dfa.borrow_mut();
        dfa.trim();
        let mut id = dfa.intern(&self.state);
        for &b in bytes {
            id = dfa.step(&self.grammar, id, b);
            if id == DEAD {
                break;
            }
        }
        id
    }

    /// Whether `token` may come next.
    pub fn allows(&self, token: u32) -> bool {
        if self.is_eog(token) {
            return self.state.is_complete();
        }
        match self.vocab.pieces.get(token as usize) {
            Some(p) if !p.is_empty() => self.run(p) != DEAD,
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
        if piece.is_empty() {
            return false;
        }
        let id = self.run(piece);
        if id == DEAD {
            return false;
        }
        self.state = self.dfa.borrow().states[id as usize].clone();
        true
    }

    /// Which tokens may come next, as a flag per token (computed once per state).
    pub fn allowed(&self) -> Arc<Vec<bool>> {
        if let Some(m) = self.masks.borrow().get(&self.state) {
            return m.clone();
        }
        let mask = Arc::new(self.compute_allowed());
        let mut masks = self.masks.borrow_mut();
        if masks.len() >= MAX_MASKS {
            masks.clear();
        }
        masks.insert(self.state.clone(), mask.clone());
        mask
    }

    /// The mask computed afresh (no per-state cache; benchmarks and tests).
    pub fn allowed_uncached(&self) -> Vec<bool> {
        self.compute_allowed()
    }

    fn compute_allowed(&self) -> Vec<bool> {
        let v = &self.vocab;
        let mut allowed = vec![false; v.pieces.len()];
        {
            let mut dfa = self.dfa.borrow_mut();
            dfa.trim();
            let start = dfa.intern(&self.state);
            // Depth-first over trie nodes with the state each prefix reached.
            let mut stack: Vec<(u32, u32)> = vec![(0, start)];
            while let Some((node, sid)) = stack.pop() {
                let n = v.trie.nodes[node as usize];
                if node != 0 {
                    for &t in &v.trie.tokens[n.tokens.0 as usize..n.tokens.1 as usize] {
                        allowed[t as usize] = true;
                    }
                }
                for &(b, child) in &v.trie.edges[n.edges.0 as usize..n.edges.1 as usize] {
                    let next = dfa.step(&self.grammar, sid, b);
                    if next != DEAD {
                        stack.push((child, next));
                    }
                }
                if dfa.states.len() > 2 * MAX_STATES {
                    // A grammar whose state follows every prefix: finish without the cache.
                    *dfa = Dfa::default();
                    drop(dfa);
                    return self.allowed_slow();
                }
            }
        }
        let complete = self.state.is_complete();
        for &e in &v.eog {
            if let Some(a) = allowed.get_mut(e as usize) {
                *a = complete;
            }
        }
        allowed
    }

    /// The mask without the cache (after it overflowed mid-walk): each token on its own.
    fn allowed_slow(&self) -> Vec<bool> {
        let complete = self.state.is_complete();
        (0..self.vocab.pieces.len() as u32)
            .map(|t| {
                if self.is_eog(t) {
                    complete
                } else {
                    let p = &self.vocab.pieces[t as usize];
                    !p.is_empty() && self.grammar.advance_bytes(&self.state, p).is_some()
                }
            })
            .collect()
    }

    /// Set the logits of refused tokens to −∞.
    pub fn mask(&self, logits: &mut [f32]) {
        for (l, &ok) in logits.iter_mut().zip(self.allowed().iter()) {
            if !ok {
                *l = f32::NEG_INFINITY;
            }
        }
    }
}
