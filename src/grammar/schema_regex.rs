//! A JSON-schema `pattern` (the common ECMAScript subset) as a GBNF expression over the
//! characters of a JSON string: literals, `.`, classes `[a-z]` / `[^…]`, `\d \w \s` and their
//! negations, groups `(…)` / `(?:…)`, `|`, and `* + ? {m} {m,} {m,n}` (lazy `?` accepted).
//! An unanchored pattern matches anywhere in the string (JSON schema's rule); `^`/`$` anchor.
//! Quotes, backslashes and control characters are written JSON-escaped.

/// Any one character of a JSON string, escapes included (the `char` rule of the primitives).
const ANY: &str = "char";
/// Most repetitions one `{m,n}` may ask for (the GBNF parser's own bound).
const MAX_REPEAT: u32 = 10_000;
/// What a negated class must also exclude, since those characters need escaping in JSON.
const JSON_SPECIAL: &str = "\"\\\\\\x00-\\x1F";

struct Re<'a> {
    chars: Vec<char>,
    pos: usize,
    src: &'a str,
}

pub fn to_gbnf(pattern: &str) -> Result<String, String> {
    let mut body = pattern;
    let anchored_start = body.starts_with('^');
    if anchored_start {
        body = &body[1..];
    }
    let anchored_end = body.ends_with('$') && !body.ends_with("\\$");
    if anchored_end {
        body = &body[..body.len() - 1];
    }
    let mut re = Re {
        chars: body.chars().collect(),
        pos: 0,
        src: pattern,
    };
    let inner = re.alternation()?;
    if re.pos < re.chars.len() {
        return Err(format!("unexpected '{}'", re.chars[re.pos]));
    }
    let mut out = String::new();
    if !anchored_start {
        out.push_str(&format!("{ANY}* "));
    }
    out.push_str(&format!("({inner})"));
    if !anchored_end {
        out.push_str(&format!(" {ANY}*"));
    }
    Ok(out)
}

/// A character as it appears inside a JSON string, as a GBNF literal.
fn json_char_literal(c: char) -> String {
    let escaped = match c {
        '"' => "\\\"".to_string(),
        '\\' => "\\\\".to_string(),
        '\n' => "\\n".to_string(),
        '\r' => "\\r".to_string(),
        '\t' => "\\t".to_string(),
        c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32),
        c => c.to_string(),
    };
    let mut lit = String::from("\"");
    for e in escaped.chars() {
        match e {
            '"' => lit.push_str("\\\""),
            '\\' => lit.push_str("\\\\"),
            e => lit.push(e),
        }
    }
    lit.push('"');
    lit
}

/// A character inside a GBNF class.
fn class_char(c: char) -> String {
    match c {
        '\\' | ']' | '[' | '^' | '-' | '"' => format!("\\{c}"),
        '\n' => "\\n".into(),
        '\t' => "\\t".into(),
        '\r' => "\\r".into(),
        c if (c as u32) < 0x20 => format!("\\x{:02X}", c as u32),
        c => c.to_string(),
    }
}

impl Re<'_> {
    fn err(&self, msg: &str) -> String {
        format!("{msg} at character {} of '{}'", self.pos + 1, self.src)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alternation(&mut self) -> Result<String, String> {
        let mut alts = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.sequence()?);
        }
        Ok(alts.join(" | "))
    }

    fn sequence(&mut self) -> Result<String, String> {
        let mut items: Vec<String> = Vec::new();
        while let Some(c) = self.peek() {
            let atom = match c {
                '|' | ')' => break,
                '(' => {
                    self.pos += 1;
                    if self.chars[self.pos..].starts_with(&['?', ':']) {
                        self.pos += 2;
                    } else if self.peek() == Some('?') {
                        return Err(self.err("lookarounds and named groups are not supported"));
                    }
                    let inner = self.alternation()?;
                    if self.peek() != Some(')') {
                        return Err(self.err("expected ')'"));
                    }
                    self.pos += 1;
                    format!("({inner})")
                }
                '[' => self.class()?,
                '.' => {
                    self.pos += 1;
                    ANY.to_string()
                }
                '\\' => {
                    self.pos += 1;
                    let e = self.peek().ok_or_else(|| self.err("unfinished escape"))?;
                    self.pos += 1;
                    match shorthand(e) {
                        Some((set, false)) => format!("[{set}]"),
                        Some((set, true)) => format!("[^{set}{JSON_SPECIAL}]"),
                        None => json_char_literal(escaped_char(e).ok_or_else(|| {
                            self.err(&format!("escape '\\{e}' is not supported"))
                        })?),
                    }
                }
                '*' | '+' | '?' | '{' => return Err(self.err("a quantifier follows nothing")),
                '^' | '$' => return Err(self.err("anchors inside a pattern are not supported")),
                c => {
                    self.pos += 1;
                    json_char_literal(c)
                }
            };
            let quantified = self.quantifier(atom)?;
            items.push(quantified);
        }
        Ok(if items.is_empty() {
            "\"\"".into()
        } else {
            items.join(" ")
        })
    }

    fn quantifier(&mut self, atom: String) -> Result<String, String> {
        let q = match self.peek() {
            Some('*') => "*".to_string(),
            Some('+') => "+".to_string(),
            Some('?') => "?".to_string(),
            Some('{') => {
                let close = self.chars[self.pos..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or_else(|| self.err("unclosed '{'"))?;
                let inside: String = self.chars[self.pos + 1..self.pos + close].iter().collect();
                let ok = !inside.is_empty()
                    && inside.chars().all(|c| c.is_ascii_digit() || c == ',')
                    && inside.matches(',').count() <= 1
                    && !inside.starts_with(',');
                if !ok {
                    return Err(self.err("a repetition must be {m}, {m,} or {m,n}"));
                }
                let (lo, hi) = match inside.split_once(',') {
                    Some((a, b)) => (
                        a.parse::<u32>().ok(),
                        (!b.is_empty()).then(|| b.parse::<u32>().ok()),
                    ),
                    None => (inside.parse::<u32>().ok(), None),
                };
                let hi = hi.flatten();
                let too_big = |v: Option<u32>| v.is_none_or(|v| v > MAX_REPEAT);
                if too_big(lo) || (inside.contains(',') && !inside.ends_with(',') && too_big(hi)) {
                    return Err(self.err(&format!("a repetition above {MAX_REPEAT}")));
                }
                if let (Some(a), Some(b)) = (lo, hi) {
                    if b < a {
                        return Err(self.err("a repetition {m,n} with n < m"));
                    }
                }
                self.pos += close;
                format!("{{{inside}}}")
            }
            _ => return Ok(atom),
        };
        self.pos += 1;
        if self.peek() == Some('?') {
            self.pos += 1; // lazy: the same language
        }
        Ok(format!("{atom}{q}"))
    }

    fn class(&mut self) -> Result<String, String> {
        self.pos += 1;
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut out = String::new();
        let mut first = true;
        loop {
            let c = self.peek().ok_or_else(|| self.err("unclosed '['"))?;
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            self.pos += 1;
            let lo = if c == '\\' {
                let e = self.peek().ok_or_else(|| self.err("unfinished escape"))?;
                self.pos += 1;
                if let Some((set, neg)) = shorthand(e) {
                    if neg {
                        return Err(self.err("a negated shorthand inside a class is not supported"));
                    }
                    out.push_str(set);
                    continue;
                }
                escaped_char(e)
                    .ok_or_else(|| self.err(&format!("escape '\\{e}' is not supported")))?
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let mut hi = self.peek().unwrap_or(lo);
                self.pos += 1;
                if hi == '\\' {
                    let e = self.peek().ok_or_else(|| self.err("unfinished escape"))?;
                    self.pos += 1;
                    hi = escaped_char(e).ok_or_else(|| self.err("bad range end"))?;
                }
                if hi < lo {
                    return Err(self.err("character range is backwards"));
                }
                if !negated && (lo <= '"' && '"' <= hi || lo <= '\\' && '\\' <= hi || lo < ' ') {
                    return Err(self.err(
                        "a class range spanning quote, backslash or control characters is not supported",
                    ));
                }
                out.push_str(&format!("{}-{}", class_char(lo), class_char(hi)));
            } else {
                if !negated && matches!(lo, '"' | '\\') || (lo as u32) < 0x20 {
                    // Needs a JSON escape: a literal alternative instead of a class member.
                    return Err(self.err(
                        "quotes, backslashes and control characters in a class are not supported",
                    ));
                }
                out.push_str(&class_char(lo));
            }
        }
        Ok(if negated {
            format!("[^{out}{JSON_SPECIAL}]")
        } else {
            format!("[{out}]")
        })
    }
}

/// `\d \w \s` (and upper-case negations): the class body and whether it is negated.
fn shorthand(e: char) -> Option<(&'static str, bool)> {
    match e {
        'd' => Some(("0-9", false)),
        'w' => Some(("a-zA-Z0-9_", false)),
        's' => Some((" ", false)),
        'D' => Some(("0-9", true)),
        'W' => Some(("a-zA-Z0-9_", true)),
        'S' => Some((" ", true)),
        _ => None,
    }
}

fn escaped_char(e: char) -> Option<char> {
    match e {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        c if c.is_ascii_punctuation() => Some(c),
        _ => None,
    }
}
