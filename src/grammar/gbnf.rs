//! llama.cpp's GBNF dialect parsed into a `Grammar`: rules `name ::= alternatives`, literals
//! `"..."`, character classes `[a-z]` / `[^"]`, `.`, groups, `* + ?` and `{m}`, `{m,}`,
//! `{m,n}` repetition, `#` comments. Repetitions and groups become generated rules, so every
//! sequence item is one character set or one rule reference. Errors name the line and column.
use super::{CharSet, Grammar, Item};
use std::collections::HashMap;

/// A rule as parsed: alternatives of sequences.
type Alts = Vec<Vec<Item>>;

/// Most repetitions one `{m,n}` may ask for (each becomes a rule).
const MAX_REPEAT: u32 = 10_000;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    rules: Vec<Option<Alts>>,
    names: Vec<String>,
    ids: HashMap<String, u32>,
    /// Where each rule was first referenced (for "undefined rule" errors).
    first_use: Vec<usize>,
    sets: Vec<CharSet>,
}

/// A parse error: the message and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrammarError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for GrammarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "grammar: {}", self.message)
        } else {
            write!(
                f,
                "grammar line {}, column {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for GrammarError {}

pub fn parse(src: &str) -> Result<Grammar, GrammarError> {
    let mut p = Parser {
        src,
        pos: 0,
        rules: Vec::new(),
        names: Vec::new(),
        ids: HashMap::new(),
        first_use: Vec::new(),
        sets: Vec::new(),
    };
    p.skip_space(true);
    while p.pos < src.len() {
        p.parse_rule()?;
        p.skip_space(true);
    }
    let root = *p.ids.get("root").ok_or_else(|| GrammarError {
        message: "no rule named 'root' (the rule generation starts from)".into(),
        line: 0,
        column: 0,
    })?;
    let mut rules = Vec::with_capacity(p.rules.len());
    for (id, r) in p.rules.iter().enumerate() {
        match r {
            Some(alts) => rules.push(alts.clone()),
            None => {
                return Err(p.error_at(
                    p.first_use[id],
                    format!("rule '{}' is used but never defined", p.names[id]),
                ))
            }
        }
    }
    Grammar::build(rules, p.names, p.sets, root).map_err(|message| GrammarError {
        message,
        line: 0,
        column: 0,
    })
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error_at(&self, pos: usize, message: String) -> GrammarError {
        let before = &self.src[..pos.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        GrammarError {
            message,
            line,
            column,
        }
    }

    fn error(&self, message: impl Into<String>) -> GrammarError {
        self.error_at(self.pos, message.into())
    }

    /// Skip spaces and comments; newlines only when `newlines`.
    fn skip_space(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' => self.pos += 1,
                '\r' | '\n' if newlines => self.pos += 1,
                '#' => {
                    let end = self.rest().find('\n').unwrap_or(self.rest().len());
                    self.pos += end;
                }
                _ => break,
            }
        }
    }

    fn name(&mut self) -> Option<&'a str> {
        let len = self
            .rest()
            .char_indices()
            .find(|&(_, c)| !is_word(c))
            .map_or(self.rest().len(), |(i, _)| i);
        if len == 0 {
            return None;
        }
        let s = &self.rest()[..len];
        self.pos += len;
        Some(s)
    }

    fn rule_id(&mut self, name: &str, at: usize) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.rules.len() as u32;
        self.rules.push(None);
        self.names.push(name.to_string());
        self.first_use.push(at);
        self.ids.insert(name.to_string(), id);
        id
    }

    fn new_rule(&mut self, base: &str, alts: Alts) -> u32 {
        let mut n = self.rules.len();
        let mut name = format!("{base}_{n}");
        while self.ids.contains_key(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        let id = self.rule_id(&name, self.pos);
        self.rules[id as usize] = Some(alts);
        id
    }

    fn parse_rule(&mut self) -> Result<(), GrammarError> {
        let at = self.pos;
        let name = self
            .name()
            .ok_or_else(|| self.error("expected a rule name"))?;
        self.skip_space(false);
        if !self.rest().starts_with("::=") {
            return Err(self.error(format!("expected '::=' after the rule name '{name}'")));
        }
        self.pos += 3;
        self.skip_space(true);
        let id = self.rule_id(name, at);
        if self.rules[id as usize].is_some() {
            return Err(self.error_at(at, format!("rule '{name}' is defined twice")));
        }
        let alts = self.parse_alternates(name, false)?;
        self.rules[id as usize] = Some(alts);
        match self.peek() {
            None => Ok(()),
            Some('\n') | Some('\r') => Ok(()),
            Some(c) => Err(self.error(format!("unexpected '{c}'"))),
        }
    }

    fn parse_alternates(&mut self, name: &str, nested: bool) -> Result<Alts, GrammarError> {
        let mut alts = vec![self.parse_sequence(name, nested)?];
        while self.peek() == Some('|') {
            self.pos += 1;
            self.skip_space(true);
            alts.push(self.parse_sequence(name, nested)?);
        }
        Ok(alts)
    }

    fn parse_sequence(&mut self, name: &str, nested: bool) -> Result<Vec<Item>, GrammarError> {
        let mut seq: Vec<Item> = Vec::new();
        // Index in `seq` where the last single item starts (what a repetition applies to).
        let mut last: Option<usize> = None;
        while let Some(c) = self.peek() {
            match c {
                '"' => {
                    self.pos += 1;
                    let start = seq.len();
                    loop {
                        match self.peek() {
                            None | Some('\n') => {
                                return Err(self.error("unterminated string literal"))
                            }
                            Some('"') => {
                                self.pos += 1;
                                break;
                            }
                            _ => {
                                let ch = self.parse_char()?;
                                let set = self.add_set(CharSet::single(ch));
                                seq.push(Item::Set(set));
                            }
                        }
                    }
                    // A repetition after a literal applies to the whole literal.
                    last = (seq.len() > start).then_some(start);
                }
                '[' => {
                    self.pos += 1;
                    let negated = self.peek() == Some('^');
                    if negated {
                        self.pos += 1;
                    }
                    let mut ranges = Vec::new();
                    loop {
                        match self.peek() {
                            None | Some('\n') => {
                                return Err(self.error("unterminated character class"))
                            }
                            Some(']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => {
                                let lo = self.parse_char()?;
                                let mut hi = lo;
                                if self.peek() == Some('-') && !self.rest()[1..].starts_with(']') {
                                    self.pos += 1;
                                    if matches!(self.peek(), None | Some('\n')) {
                                        return Err(self.error("unterminated character class"));
                                    }
                                    hi = self.parse_char()?;
                                    if hi < lo {
                                        return Err(self.error("character range is backwards"));
                                    }
                                }
                                ranges.push((lo, hi));
                            }
                        }
                    }
                    let set = self.add_set(CharSet::new(ranges, negated));
                    last = Some(seq.len());
                    seq.push(Item::Set(set));
                }
                '.' => {
                    self.pos += 1;
                    let set = self.add_set(CharSet::new(Vec::new(), true));
                    last = Some(seq.len());
                    seq.push(Item::Set(set));
                }
                '(' => {
                    self.pos += 1;
                    self.skip_space(true);
                    let alts = self.parse_alternates(name, true)?;
                    if self.peek() != Some(')') {
                        return Err(self.error("expected ')'"));
                    }
                    self.pos += 1;
                    let id = self.new_rule(name, alts);
                    last = Some(seq.len());
                    seq.push(Item::Rule(id));
                }
                '*' | '+' | '?' | '{' => {
                    let Some(at) = last.take() else {
                        return Err(self.error(format!("'{c}' follows nothing it could repeat")));
                    };
                    let (min, max) = self.parse_repetition()?;
                    let item: Vec<Item> = seq.drain(at..).collect();
                    let item = match item.as_slice() {
                        [one] => *one,
                        _ => Item::Rule(self.new_rule(name, vec![item])),
                    };
                    seq.extend(self.repeat(name, item, min, max));
                }
                c if is_word(c) => {
                    let at = self.pos;
                    let n = self.name().unwrap_or_default();
                    if self
                        .rest()
                        .trim_start_matches([' ', '\t'])
                        .starts_with("::=")
                    {
                        // The next rule's head: this sequence ended at the previous line.
                        self.pos = at;
                        if !nested {
                            break;
                        }
                        return Err(self.error("a rule definition inside parentheses"));
                    }
                    let id = self.rule_id(n, at);
                    last = Some(seq.len());
                    seq.push(Item::Rule(id));
                }
                _ => break,
            }
            self.skip_space(nested);
        }
        Ok(seq)
    }

    /// `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}` → (min, max); max None = unbounded.
    fn parse_repetition(&mut self) -> Result<(u32, Option<u32>), GrammarError> {
        let c = self.peek().unwrap_or(' ');
        self.pos += 1;
        Ok(match c {
            '*' => (0, None),
            '+' => (1, None),
            '?' => (0, Some(1)),
            _ => {
                self.skip_space(false);
                let min = self.number()?;
                self.skip_space(false);
                let max = if self.peek() == Some(',') {
                    self.pos += 1;
                    self.skip_space(false);
                    if self.peek() == Some('}') {
                        None
                    } else {
                        Some(self.number()?)
                    }
                } else {
                    Some(min)
                };
                self.skip_space(false);
                if self.peek() != Some('}') {
                    return Err(self.error("expected '}' to close the repetition"));
                }
                self.pos += 1;
                if max.is_some_and(|m| m < min) {
                    return Err(self.error("repetition {m,n} with n < m"));
                }
                if max.unwrap_or(min) > MAX_REPEAT {
                    return Err(self.error(format!("repetition above {MAX_REPEAT}")));
                }
                (min, max)
            }
        })
    }

    fn number(&mut self) -> Result<u32, GrammarError> {
        let len = self
            .rest()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(self.rest().len());
        let n = self.rest()[..len]
            .parse()
            .map_err(|_| self.error("expected a number"))?;
        self.pos += len;
        Ok(n)
    }

    /// `item` repeated min..=max times as sequence items (and generated rules).
    fn repeat(&mut self, name: &str, item: Item, min: u32, max: Option<u32>) -> Vec<Item> {
        let mut out = vec![item; min as usize];
        match max {
            None => {
                // R ::= item R | ε
                let id = self.new_rule(name, vec![]);
                self.rules[id as usize] = Some(vec![vec![item, Item::Rule(id)], vec![]]);
                out.push(Item::Rule(id));
            }
            Some(max) if max > min => {
                // Nested optionals: R_k ::= item R_{k-1} | ε, innermost R_1 ::= item | ε.
                let mut inner: Option<u32> = None;
                for _ in 0..(max - min) {
                    let mut seq = vec![item];
                    if let Some(i) = inner {
                        seq.push(Item::Rule(i));
                    }
                    inner = Some(self.new_rule(name, vec![seq, vec![]]));
                }
                out.extend(inner.map(Item::Rule));
            }
            Some(_) => {}
        }
        out
    }

    fn add_set(&mut self, set: CharSet) -> u32 {
        if let Some(i) = self.sets.iter().position(|s| *s == set) {
            return i as u32;
        }
        self.sets.push(set);
        (self.sets.len() - 1) as u32
    }

    /// One character of a literal or class, escapes decoded.
    fn parse_char(&mut self) -> Result<u32, GrammarError> {
        let c = self.peek().ok_or_else(|| self.error("unexpected end"))?;
        self.pos += c.len_utf8();
        if c != '\\' {
            return Ok(c as u32);
        }
        let e = self.peek().ok_or_else(|| self.error("unfinished escape"))?;
        self.pos += e.len_utf8();
        let hex = |p: &mut Self, n: usize| -> Result<u32, GrammarError> {
            let digits = p.rest().get(..n).unwrap_or("");
            let v = u32::from_str_radix(digits, 16)
                .ok()
                .filter(|_| digits.len() == n)
                .ok_or_else(|| p.error(format!("expected {n} hex digits")))?;
            p.pos += n;
            Ok(v)
        };
        Ok(match e {
            'x' => hex(self, 2)?,
            'u' => hex(self, 4)?,
            'U' => hex(self, 8)?,
            't' => '\t' as u32,
            'r' => '\r' as u32,
            'n' => '\n' as u32,
            '\\' | '"' | '[' | ']' | '-' | '^' => e as u32,
            other => return Err(self.error(format!("unknown escape '\\{other}'"))),
        })
    }
}
