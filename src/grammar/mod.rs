//! Constrained generation: a GBNF grammar (`gbnf`), the JSON-schema → GBNF conversion
//! (`json_schema`, with `schema_regex` for string patterns), the pushdown matcher over Unicode
//! characters (`matcher`), and the per-token constraint the sampler applies (`constraint`).
pub mod constraint;
pub mod gbnf;
pub mod json_schema;
pub mod matcher;
pub mod schema_regex;

pub use constraint::Constraint;
pub use gbnf::GrammarError;
pub use json_schema::json_schema_to_gbnf;
pub use matcher::State;

/// A set of Unicode code points: inclusive ranges, possibly negated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharSet {
    ranges: Vec<(u32, u32)>,
    negated: bool,
}

impl CharSet {
    pub fn new(mut ranges: Vec<(u32, u32)>, negated: bool) -> CharSet {
        ranges.sort_unstable();
        CharSet { ranges, negated }
    }

    pub fn single(c: u32) -> CharSet {
        CharSet::new(vec![(c, c)], false)
    }

    pub fn matches(&self, c: u32) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }

    /// Whether some code point in `lo..=hi` matches (a character whose first UTF-8 bytes are
    /// known but not the rest).
    pub fn matches_some_in(&self, lo: u32, hi: u32) -> bool {
        if self.negated {
            // Some point escapes every range unless one range covers all of lo..=hi.
            !self.ranges.iter().any(|&(a, b)| a <= lo && hi <= b)
        } else {
            self.ranges.iter().any(|&(a, b)| a <= hi && lo <= b)
        }
    }
}

/// One element of a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// A character from `Grammar::sets[i]`.
    Set(u32),
    /// A reference to rule `i`.
    Rule(u32),
    /// The end of an alternative (only in `Grammar::items`).
    End,
}

/// A compiled grammar: every alternative of every rule laid out in `items`, each ending with
/// `Item::End`; a parser position is an index into `items`.
#[derive(Clone, Debug)]
pub struct Grammar {
    items: Vec<Item>,
    /// Per rule, where each alternative starts in `items`.
    alts: Vec<Vec<u32>>,
    sets: Vec<CharSet>,
    names: Vec<String>,
    root: u32,
}

impl Grammar {
    /// Parse GBNF text (llama.cpp's dialect).
    pub fn parse(src: &str) -> Result<Grammar, GrammarError> {
        gbnf::parse(src)
    }

    /// Lay out parsed rules; refuses left recursion (it would never consume a character).
    pub(crate) fn build(
        rules: Vec<Vec<Vec<Item>>>,
        names: Vec<String>,
        sets: Vec<CharSet>,
        root: u32,
    ) -> Result<Grammar, String> {
        let mut items = Vec::new();
        let mut alts = Vec::with_capacity(rules.len());
        for rule in &rules {
            let mut starts = Vec::with_capacity(rule.len());
            for seq in rule {
                starts.push(items.len() as u32);
                items.extend_from_slice(seq);
                items.push(Item::End);
            }
            alts.push(starts);
        }
        let g = Grammar {
            items,
            alts,
            sets,
            names,
            root,
        };
        g.check_left_recursion(&rules)?;
        Ok(g)
    }

    pub fn rule_count(&self) -> usize {
        self.alts.len()
    }

    /// Rules that can match the empty string.
    fn nullable(rules: &[Vec<Vec<Item>>]) -> Vec<bool> {
        let mut nullable = vec![false; rules.len()];
        loop {
            let mut changed = false;
            for (r, alts) in rules.iter().enumerate() {
                if nullable[r] {
                    continue;
                }
                let empty = alts.iter().any(|seq| {
                    seq.iter().all(|it| match it {
                        Item::Rule(x) => nullable[*x as usize],
                        _ => false,
                    })
                });
                if empty {
                    nullable[r] = true;
                    changed = true;
                }
            }
            if !changed {
                return nullable;
            }
        }
    }

    fn check_left_recursion(&self, rules: &[Vec<Vec<Item>>]) -> Result<(), String> {
        let nullable = Self::nullable(rules);
        // left[r]: rules that can start r without a character consumed first.
        let left: Vec<Vec<u32>> = rules
            .iter()
            .map(|alts| {
                let mut out = Vec::new();
                for seq in alts {
                    for it in seq {
                        match it {
                            Item::Rule(x) => {
                                out.push(*x);
                                if !nullable[*x as usize] {
                                    break;
                                }
                            }
                            _ => break,
                        }
                    }
                }
                out
            })
            .collect();
        // Depth-first search for a cycle (0 new, 1 on the path, 2 done).
        let mut mark = vec![0u8; rules.len()];
        for start in 0..rules.len() {
            if mark[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            mark[start] = 1;
            while let Some(&mut (r, ref mut next)) = stack.last_mut() {
                if let Some(&x) = left[r].get(*next) {
                    *next += 1;
                    match mark[x as usize] {
                        0 => {
                            mark[x as usize] = 1;
                            stack.push((x as usize, 0));
                        }
                        1 => {
                            return Err(format!(
                                "rule '{}' is left-recursive (it can reach itself before any \
                                 character)",
                                self.names[x as usize]
                            ))
                        }
                        _ => {}
                    }
                } else {
                    mark[r] = 2;
                    stack.pop();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
