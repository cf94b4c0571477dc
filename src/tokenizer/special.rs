//! Special-token partitioning: before tokenizing, cut the raw text at every occurrence of a
//! special token, longest tokens first (llama.cpp's `tokenizer_st_partition`). Control and unknown
//! tokens take part only when `parse_special` is on; user-defined tokens always do.

use super::vocab::{Vocab, ATTR_CONTROL, ATTR_LSTRIP, ATTR_RSTRIP, ATTR_UNKNOWN};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// C `isspace` in the "C" locale.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

pub fn partition<'a>(
    vocab: &Vocab,
    special_cache: &[u32],
    text: &'a str,
    parse_special: bool,
) -> Vec<Fragment<'a>> {
    let mut frags = Vec::new();
    if text.is_empty() {
        return frags;
    }
    frags.push(Fragment::Text(text));
    for &id in special_cache {
        let Some(tok) = vocab.tokens.get(id as usize) else {
            continue;
        };
        if !parse_special && tok.attr & (ATTR_CONTROL | ATTR_UNKNOWN) != 0 {
            continue;
        }
        let needle = tok.text.as_str();
        if needle.is_empty()
            || !frags
                .iter()
                .any(|f| matches!(f, Fragment::Text(t) if t.contains(needle)))
        {
            continue;
        }
        let lstrip = tok.attr & ATTR_LSTRIP != 0;
        let rstrip = tok.attr & ATTR_RSTRIP != 0;
        let mut next = Vec::with_capacity(frags.len() + 2);
        for frag in frags {
            let Fragment::Text(mut rest) = frag else {
                next.push(frag);
                continue;
            };
            while let Some(at) = rest.find(needle) {
                let mut left = &rest[..at];
                if lstrip {
                    left = left.trim_end_matches(is_c_space);
                }
                if !left.is_empty() {
                    next.push(Fragment::Text(left));
                }
                next.push(Fragment::Token(id));
                rest = &rest[at + needle.len()..];
                if rstrip {
                    rest = rest.trim_start_matches(is_c_space);
                }
            }
            if !rest.is_empty() {
                next.push(Fragment::Text(rest));
            }
        }
        frags = next;
    }
    frags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::vocab::{TokenData, ATTR_NORMAL, ATTR_USER_DEFINED};

    fn vocab() -> Vocab {
        let t = |text: &str, attr| TokenData {
            text: text.into(),
            score: 0.0,
            attr,
        };
        Vocab::new(vec![
            t("a", ATTR_NORMAL),
            t("<ctl>", ATTR_CONTROL),
            t("<user>", ATTR_USER_DEFINED),
            t("<user>x", ATTR_USER_DEFINED | ATTR_RSTRIP),
        ])
    }

    #[test]
    fn control_tokens_only_with_parse_special() {
        let v = vocab();
        let cache = [3, 1, 2];
        use Fragment::*;
        assert_eq!(partition(&v, &cache, "a<ctl>b", false), [Text("a<ctl>b")]);
        assert_eq!(
            partition(&v, &cache, "a<ctl>b", true),
            [Text("a"), Token(1), Text("b")]
        );
        // User-defined tokens are matched even with parse_special off; longest first.
        assert_eq!(
            partition(&v, &cache, "<user><user>x  y<user>", false),
            [Token(2), Token(3), Text("y"), Token(2)]
        );
        assert!(partition(&v, &cache, "", true).is_empty());
    }
}
