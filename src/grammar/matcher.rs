//! The grammar's pushdown matcher: a state is a set of parse stacks (positions in
//! `Grammar::items`, top last) whose tops are all character sets; an empty stack means the
//! input so far is a complete sentence. Input arrives as UTF-8 bytes: a character split across
//! tokens is held as a partial sequence and checked against the code points it could still be.
use super::{Grammar, Item};

/// Parse stacks beyond this are dropped (an ambiguous grammar could otherwise grow without
/// bound); the JSON grammars have a handful.
const MAX_STACKS: usize = 1024;

type Stack = Vec<u32>;

/// A UTF-8 sequence begun but not finished: the code point's bits so far and bytes to come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Partial {
    value: u32,
    remaining: u8,
    /// The smallest code point this sequence length may encode (overlong forms are invalid).
    min: u32,
}

/// Where the matcher stands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    stacks: Vec<Stack>,
    partial: Option<Partial>,
}

impl Grammar {
    /// The state before any input.
    pub fn start(&self) -> State {
        let mut stacks = Vec::new();
        for &alt in &self.alts[self.root as usize] {
            let s = if self.items[alt as usize] == Item::End {
                Vec::new()
            } else {
                vec![alt]
            };
            self.expand(s, &mut stacks);
        }
        dedup(&mut stacks);
        State {
            stacks,
            partial: None,
        }
    }

    /// Expand rule references at the top of `stack` until every top is a character set (or the
    /// stack is empty), pushing the results.
    fn expand(&self, mut stack: Stack, out: &mut Vec<Stack>) {
        let Some(&top) = stack.last() else {
            out.push(stack);
            return;
        };
        match self.items[top as usize] {
            Item::Set(_) => out.push(stack),
            Item::Rule(r) => {
                stack.pop();
                if self.items[top as usize + 1] != Item::End {
                    stack.push(top + 1);
                }
                let alts = &self.alts[r as usize];
                for (i, &alt) in alts.iter().enumerate() {
                    let mut s = if i + 1 == alts.len() {
                        std::mem::take(&mut stack)
                    } else {
                        stack.clone()
                    };
                    if self.items[alt as usize] != Item::End {
                        s.push(alt);
                    }
                    if out.len() < MAX_STACKS {
                        self.expand(s, out);
                    }
                }
            }
            Item::End => unreachable!("End positions are never pushed"),
        }
    }

    /// Advance `stacks` by one whole character.
    fn advance_char(&self, stacks: &[Stack], c: u32) -> Vec<Stack> {
        let mut out = Vec::new();
        for s in stacks {
            let Some(&top) = s.last() else { continue };
            let Item::Set(set) = self.items[top as usize] else {
                continue;
            };
            if !self.sets[set as usize].matches(c) {
                continue;
            }
            let mut next = s.clone();
            next.pop();
            if self.items[top as usize + 1] != Item::End {
                next.push(top + 1);
            }
            self.expand(next, &mut out);
        }
        dedup(&mut out);
        out
    }

    /// Whether some stack can take a character in `lo..=hi`.
    fn can_take_some(&self, stacks: &[Stack], lo: u32, hi: u32) -> bool {
        stacks.iter().any(|s| match s.last() {
            Some(&top) => match self.items[top as usize] {
                Item::Set(set) => self.sets[set as usize].matches_some_in(lo, hi),
                _ => false,
            },
            None => false,
        })
    }

    /// The state after one more byte of input; `None` when the grammar refuses it.
    pub fn advance_byte(&self, state: &State, b: u8) -> Option<State> {
        let (value, remaining, min) = match state.partial {
            Some(p) => {
                if b & 0xC0 != 0x80 {
                    return None;
                }
                (p.value << 6 | (b & 0x3F) as u32, p.remaining - 1, p.min)
            }
            None => match b {
                0x00..=0x7F => (b as u32, 0, 0),
                0xC2..=0xDF => ((b & 0x1F) as u32, 1, 0x80),
                0xE0..=0xEF => ((b & 0x0F) as u32, 2, 0x800),
                0xF0..=0xF4 => ((b & 0x07) as u32, 3, 0x10000),
                _ => return None,
            },
        };
        if remaining == 0 {
            if value < min || char::from_u32(value).is_none() {
                return None;
            }
            let stacks = self.advance_char(&state.stacks, value);
            return (!stacks.is_empty()).then_some(State {
                stacks,
                partial: None,
            });
        }
        // The code points this prefix can still become.
        let shift = 6 * remaining as u32;
        let lo = (value << shift).max(min);
        let hi = ((value << shift) | ((1u32 << shift) - 1)).min(0x10FFFF);
        (lo <= hi && self.can_take_some(&state.stacks, lo, hi)).then(|| State {
            stacks: state.stacks.clone(),
            partial: Some(Partial {
                value,
                remaining,
                min,
            }),
        })
    }

    /// The state after `bytes`; `None` when the grammar refuses them.
    pub fn advance_bytes(&self, state: &State, bytes: &[u8]) -> Option<State> {
        let mut s = std::borrow::Cow::Borrowed(state);
        for &b in bytes {
            s = std::borrow::Cow::Owned(self.advance_byte(&s, b)?);
        }
        Some(s.into_owned())
    }

    /// The state after the characters of `text` (tests and tools).
    pub fn advance_str(&self, state: &State, text: &str) -> Option<State> {
        self.advance_bytes(state, text.as_bytes())
    }
}

impl State {
    /// The input so far is a complete sentence of the grammar.
    pub fn is_complete(&self) -> bool {
        self.partial.is_none() && self.stacks.iter().any(|s| s.is_empty())
    }

    /// Complete, and nothing more may follow.
    pub fn is_finished(&self) -> bool {
        self.partial.is_none() && self.stacks.iter().all(|s| s.is_empty())
    }
}

fn dedup(stacks: &mut Vec<Stack>) {
    if stacks.len() > 1 {
        stacks.sort_unstable();
        stacks.dedup();
    }
}
