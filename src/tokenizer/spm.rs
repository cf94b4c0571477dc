//! SentencePiece-style tokenization (`tokenizer.ggml.model = llama`): start from single UTF-8
//! characters and repeatedly merge the adjacent pair whose concatenation is the vocabulary token
//! with the highest score (ties: leftmost); characters no token covers fall back to `<0xXX>` byte
//! tokens.

use super::vocab::Vocab;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// Max-heap order: higher score first, then the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// The token for one raw byte: `<0xXX>`, or else the byte itself as a one-character token.
pub fn byte_token(vocab: &Vocab, b: u8) -> Option<u32> {
    vocab.get(&format!("<0x{b:02X}>")).or_else(|| {
        if b < 0x80 {
            vocab.get(&(b as char).to_string())
        } else {
            None
        }
    })
}

/// Tokenize `text` (spaces already escaped to `▁`), appending ids to `out`.
pub fn tokenize(vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    for (i, (start, c)) in text.char_indices().enumerate() {
        let len = c.len_utf8();
        symbols.push(Symbol {
            start,
            len,
            prev: i.checked_sub(1),
            next: (start + len < text.len()).then_some(i + 1),
        });
    }
    if symbols.is_empty() {
        return;
    }
    let mut heap = BinaryHeap::new();
    let try_add = |symbols: &[Symbol],
                   heap: &mut BinaryHeap<Bigram>,
                   left: Option<usize>,
                   right: Option<usize>| {
        let (Some(left), Some(right)) = (left, right) else {
            return;
        };
        let s = symbols[left].start;
        let size = symbols[left].len + symbols[right].len;
        if let Some(id) = vocab.get(&text[s..s + size]) {
            let score = vocab.tokens[id as usize].score;
            heap.push(Bigram {
                score,
                left,
                right,
                size,
            });
        }
    };
    for i in 1..symbols.len() {
        try_add(&symbols, &mut heap, Some(i - 1), Some(i));
    }
    while let Some(b) = heap.pop() {
        let (l, r) = (&symbols[b.left], &symbols[b.right]);
        // Stale: one side was merged away or grew since the pair was queued.
        if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
            continue;
        }
        let right_next = r.next;
        symbols[b.left].len += symbols[b.right].len;
        symbols[b.right].len = 0;
        symbols[b.left].next = right_next;
        if let Some(n) = right_next {
            symbols[n].prev = Some(b.left);
        }
        try_add(&symbols, &mut heap, symbols[b.left].prev, Some(b.left));
        try_add(&symbols, &mut heap, Some(b.left), right_next);
    }
    let mut cur = Some(0);
    while let Some(i) = cur {
        let s = &symbols[i];
        let piece = &text[s.start..s.start + s.len];
        match vocab.get(piece) {
            Some(id) => out.push(id),
            None => out.extend(piece.bytes().filter_map(|b| byte_token(vocab, b))),
        }
        cur = s.next;
    }
}
