//! Unicode helpers with llama.cpp's semantics: per-code-point category flags (its own tables,
//! not Rust's, so exotic characters split the same way), and GPT-2's byte ↔ printable-char map.

use super::unicode_data::{RANGES, WHITESPACE};
use std::sync::OnceLock;

pub const UNDEFINED: u16 = 0x0001;
pub const NUMBER: u16 = 0x0002;
pub const LETTER: u16 = 0x0004;
#[cfg_attr(not(test), allow(dead_code))]
pub const SEPARATOR: u16 = 0x0008;
pub const ACCENT_MARK: u16 = 0x0010;
pub const PUNCTUATION: u16 = 0x0020;
pub const SYMBOL: u16 = 0x0040;
#[cfg_attr(not(test), allow(dead_code))]
pub const CONTROL: u16 = 0x0080;
pub const CATEGORIES: u16 = 0x00FF;
pub const WHITESPACE_FLAG: u16 = 0x0100;

const MAX_CODEPOINTS: u32 = 0x11_0000;

/// Category flags of a code point (plus `WHITESPACE_FLAG`); never 0 for a valid code point.
pub fn flags(cp: u32) -> u16 {
    if cp >= MAX_CODEPOINTS {
        return UNDEFINED;
    }
    // Index of the last range starting at or before `cp`.
    let i = RANGES.partition_point(|&(start, _)| start <= cp);
    let cat = if i == 0 {
        UNDEFINED
    } else {
        RANGES[i - 1].1 as u16
    };
    if WHITESPACE.binary_search(&cp).is_ok() {
        cat | WHITESPACE_FLAG
    } else {
        cat
    }
}

/// GPT-2's map from bytes to the printable characters byte-level BPE vocabularies are spelled in.
pub fn byte_to_char(b: u8) -> char {
    byte_maps().0[b as usize]
}

/// The inverse of [`byte_to_char`].
pub fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 512 {
        let b = byte_maps().1[cp as usize];
        (b >= 0).then_some(b as u8)
    } else {
        None
    }
}

fn byte_maps() -> &'static ([char; 256], [i16; 512]) {
    static MAPS: OnceLock<([char; 256], [i16; 512])> = OnceLock::new();
    MAPS.get_or_init(|| {
        let printable = |b: u32| {
            (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b)
        };
        let mut fwd = ['\0'; 256];
        let mut inv = [-1i16; 512];
        let mut next = 256u32;
        for b in 0..256u32 {
            let cp = if printable(b) {
                b
            } else {
                next += 1;
                next - 1
            };
            // Every value is below 0x144, so always a valid char.
            let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
            fwd[b as usize] = c;
            inv[cp as usize] = b as i16;
        }
        (fwd, inv)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        assert_eq!(flags('a' as u32) & CATEGORIES, LETTER);
        assert_eq!(flags('7' as u32) & CATEGORIES, NUMBER);
        assert_eq!(flags(' ' as u32), SEPARATOR | WHITESPACE_FLAG);
        assert_eq!(flags('\n' as u32), CONTROL | WHITESPACE_FLAG);
        assert_eq!(flags('$' as u32), SYMBOL);
        assert_eq!(flags('!' as u32), PUNCTUATION);
        assert_eq!(flags('é' as u32), LETTER);
        assert_eq!(flags('½' as u32), NUMBER);
        assert_eq!(flags(0x3000), SEPARATOR | WHITESPACE_FLAG);
        assert_eq!(flags(0x0301), ACCENT_MARK);
        for w in RANGES.windows(2) {
            assert!(w[0].0 < w[1].0);
            assert_ne!(w[0].1, 0);
        }
    }

    #[test]
    fn byte_map_roundtrip() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(char_to_byte('€'), None);
    }
}
