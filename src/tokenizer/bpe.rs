//! Byte-level BPE (`tokenizer.ggml.model = gpt2`): pre-tokenize into words, spell each word in
//! GPT-2's byte alphabet, then repeatedly merge the adjacent pair with the lowest merge rank
//! (ties: leftmost) and look the resulting pieces up in the vocabulary.

use super::pretokenize::PreTokenizer;
use super::unicode::byte_to_char;
use super::vocab::{FastMap, Vocab};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

pub struct Bpe {
    pre: PreTokenizer,
    ignore_merges: bool,
    /// Interned merge halves.
    parts: FastMap<String, u32>,
    /// (left part, right part) → rank (first occurrence in the merge list wins).
    ranks: FastMap<(u32, u32), u32>,
}

#[derive(PartialEq, Eq)]
struct Bigram {
    rank: u32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// Max-heap order: lowest rank first, then the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        Reverse((self.rank, self.left)).cmp(&Reverse((other.rank, other.left)))
    }
}

struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Bpe {
    /// `merges` are "left right" strings in rank order.
    pub fn new<'a>(
        pre: PreTokenizer,
        ignore_merges: bool,
        merges: impl Iterator<Item = &'a str>,
    ) -> Bpe {
        let mut parts: FastMap<String, u32> = FastMap::default();
        let mut ranks: FastMap<(u32, u32), u32> = FastMap::default();
        let intern = |s: &str, parts: &mut FastMap<String, u32>| {
            let n = parts.len() as u32;
            *parts.entry(s.to_string()).or_insert(n)
        };
        for (rank, m) in merges.enumerate() {
            // Split at the first space after the first byte (llama.cpp: find(' ', 1)); a line
            // without one stands for the pair ("", "").
            let (l, r) = match m.bytes().skip(1).position(|b| b == b' ') {
                Some(p) => (&m[..p + 1], &m[p + 2..]),
                None => ("", ""),
            };
            let key = (intern(l, &mut parts), intern(r, &mut parts));
            ranks.entry(key).or_insert(rank as u32);
        }
        Bpe {
            pre,
            ignore_merges,
            parts,
            ranks,
        }
    }

    fn rank(&self, left: &str, right: &str) -> Option<u32> {
        let l = *self.parts.get(left)?;
        let r = *self.parts.get(right)?;
        self.ranks.get(&(l, r)).copied()
    }

    pub fn tokenize(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        for word in self.pre.split(text) {
            let encoded: String = word.bytes().map(byte_to_char).collect();
            self.tokenize_word(vocab, &encoded, out);
        }
    }

    fn tokenize_word(&self, vocab: &Vocab, word: &str, out: &mut Vec<u32>) {
        if self.ignore_merges {
            if let Some(id) = vocab.get(word) {
                out.push(id);
                return;
            }
        }
        let mut symbols: Vec<Symbol> = Vec::with_capacity(word.len());
        for (i, (start, c)) in word.char_indices().enumerate() {
            let len = c.len_utf8();
            symbols.push(Symbol {
                start,
                len,
                prev: i.checked_sub(1),
                next: (start + len < word.len()).then_some(i + 1),
            });
        }
        let text = |s: &Symbol| &word[s.start..s.start + s.len];
        let mut heap = BinaryHeap::new();
        let try_add = |symbols: &[Symbol],
                       heap: &mut BinaryHeap<Bigram>,
                       left: Option<usize>,
                       right: Option<usize>| {
            let (Some(left), Some(right)) = (left, right) else {
                return;
            };
            let (l, r) = (&symbols[left], &symbols[right]);
            if let Some(rank) = self.rank(text(l), text(r)) {
                heap.push(Bigram {
                    rank,
                    left,
                    right,
                    size: l.len + r.len,
                });
            }
        };
        for i in 1..symbols.len() {
            try_add(&symbols, &mut heap, Some(i - 1), Some(i));
        }
        while let Some(b) = heap.pop() {
            let (l, r) = (&symbols[b.left], &symbols[b.right]);
            // Stale: either side was merged away or grew since the pair was queued (sizes only
            // grow, so an unchanged total means both sides are unchanged).
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
                continue;
            }
            let right_next = r.next;
            symbols[b.left].len = b.size;
            symbols[b.right].len = 0;
            symbols[b.left].next = right_next;
            if let Some(n) = right_next {
                symbols[n].prev = Some(b.left);
            }
            try_add(&symbols, &mut heap, symbols[b.left].prev, Some(b.left));
            try_add(&symbols, &mut heap, Some(b.left), right_next);
        }
        for s in symbols.iter().filter(|s| s.len > 0) {
            let piece = text(s);
            match vocab.get(piece) {
                Some(id) => out.push(id),
                // No token: each single ASCII byte that is itself a token (llama.cpp's fallback).
                None => out.extend(
                    piece
                        .bytes()
                        .filter(u8::is_ascii)
                        .filter_map(|b| vocab.get(&(b as char).to_string())),
                ),
            }
        }
    }
}
