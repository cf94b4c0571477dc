//! Tokenization that matches llama.cpp token for token: SentencePiece-style and byte-level BPE
//! vocabularies read from GGUF metadata, special-token handling, BOS/EOS/EOG decisions and
//! detokenization; plus a wrapper over Hugging Face `tokenizer.json` files with the same interface.

mod bpe;
mod gguf;
mod hf;
mod pretokenize;
mod special;
mod spm;
mod stream;
mod unicode;
mod unicode_data;
mod vocab;

pub use stream::StreamDecoder;

use special::Fragment;
use std::path::Path;
use vocab::{Vocab, ATTR_BYTE, ATTR_CONTROL, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_USER_DEFINED};

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("GGUF metadata key `{0}` is missing")]
    MissingKey(String),
    #[error("GGUF metadata key `{key}`: {msg}")]
    BadKey { key: String, msg: String },
    #[error("unsupported tokenizer model `{0}` (tokenizer.ggml.model); brisk supports `llama` and `gpt2`")]
    UnsupportedModel(String),
    #[error("unknown pre-tokenizer `{0}` (tokenizer.ggml.pre)")]
    UnknownPre(String),
    #[error("pre-tokenizer `{0}` (tokenizer.ggml.pre) is not supported by brisk yet")]
    UnsupportedPre(String),
    #[error("{path}: {msg}")]
    HfFile { path: String, msg: String },
}

/// How a normal token's text turns into bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PieceStyle {
    /// SentencePiece: `▁` is a space.
    Spm,
    /// GPT-2 byte alphabet.
    ByteLevel,
}

enum Model {
    Spm,
    Bpe(Box<bpe::Bpe>),
    Hf(Box<hf::Hf>),
}

/// A tokenizer for one model's vocabulary.
pub struct Tokenizer {
    vocab: Vocab,
    model: Model,
    style: PieceStyle,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    clean_spaces: bool,
    eog: Vec<u32>,
    special_cache: Vec<u32>,
}

impl Tokenizer {
    /// Build from a GGUF file's `tokenizer.*` metadata (a vocabulary-only file is enough).
    pub fn from_gguf(g: &crate::format::gguf::Gguf) -> Result<Tokenizer, TokenizerError> {
        gguf::load(g)
    }

    /// Build from a Hugging Face `tokenizer.json` (and optionally `tokenizer_config.json`, for
    /// BOS/EOS and whether to add them).
    pub fn from_hf_files(
        tokenizer_json: &Path,
        tokenizer_config_json: Option<&Path>,
    ) -> Result<Tokenizer, TokenizerError> {
        hf::load(tokenizer_json, tokenizer_config_json)
    }

    /// Text to token ids. `add_special`: add BOS/EOS where `add_bos`/`add_eos` say so.
    /// `parse_special`: match control tokens (`<|im_end|>`, …) written in the text; user-defined
    /// tokens are matched either way, as in llama.cpp.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        match &self.model {
            Model::Hf(h) => h.encode(text, parse_special, &mut out),
            Model::Spm => {
                let mut prev_special = true;
                for frag in
                    special::partition(&self.vocab, &self.special_cache, text, parse_special)
                {
                    match frag {
                        Fragment::Text(t) => {
                            let mut s = String::with_capacity(t.len() + 1);
                            if self.add_space_prefix && prev_special {
                                s.push(' ');
                            }
                            s.push_str(t);
                            spm::tokenize(&self.vocab, &s.replace(' ', "▁"), &mut out);
                            prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                    }
                }
            }
            Model::Bpe(b) => {
                for frag in
                    special::partition(&self.vocab, &self.special_cache, text, parse_special)
                {
                    match frag {
                        Fragment::Text(t) => b.tokenize(&self.vocab, t, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    /// The bytes one token stands for. Control and unknown tokens give nothing unless `special`.
    pub fn token_to_piece(&self, id: u32, special: bool) -> Vec<u8> {
        let Some(tok) = self.vocab.tokens.get(id as usize) else {
            return Vec::new();
        };
        let attr = tok.attr;
        if !special && attr & (ATTR_UNKNOWN | ATTR_CONTROL) != 0 {
            return Vec::new();
        }
        if attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED) != 0 {
            return tok.text.as_bytes().to_vec();
        }
        if attr & ATTR_NORMAL != 0 {
            return match self.style {
                PieceStyle::Spm => tok.text.replace('▁', " ").into_bytes(),
                PieceStyle::ByteLevel => byte_level_decode(&tok.text),
            };
        }
        if attr & ATTR_BYTE != 0 {
            return parse_byte_token(&tok.text)
                .map(|b| vec![b])
                .unwrap_or_default();
        }
        Vec::new()
    }

    /// Token ids to text the way llama.cpp's `common_detokenize` does it: the leading space the
    /// tokenizer added is dropped, and (for most BPE vocabularies) spaces before punctuation are
    /// cleaned up. Invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], special: bool) -> String {
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let piece = self.token_to_piece(id, special);
            let skip = (i == 0 && self.add_space_prefix && piece.first() == Some(&b' ')) as usize;
            bytes.extend_from_slice(&piece[skip..]);
        }
        if self.clean_spaces {
            bytes = clean_up_spaces(&bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn n_vocab(&self) -> usize {
        self.vocab.len()
    }
    /// The tokenizer algorithm, named as in messages: "SentencePiece", "BPE" or "Hugging Face".
    pub fn kind_name(&self) -> &'static str {
        match self.model {
            Model::Spm => "SentencePiece",
            Model::Bpe(_) => "BPE",
            Model::Hf(_) => "Hugging Face",
        }
    }
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }
    /// End-of-turn token (`<|eot_id|>`, `<|im_end|>`, …) where the vocabulary has one.
    pub fn eot(&self) -> Option<u32> {
        self.eot
    }
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }
    /// End-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }
    pub fn is_control(&self, id: u32) -> bool {
        self.vocab.attr(id) & ATTR_CONTROL != 0
    }
    /// The raw vocabulary string of a token.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.tokens.get(id as usize).map(|t| t.text.as_str())
    }
    /// The id of a token with exactly this vocabulary string.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.vocab.get(text)
    }
}

/// `<0xAB>` → 0xAB.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

/// GPT-2 byte alphabet back to bytes; a character outside it is written out as llama.cpp does.
fn byte_level_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match unicode::char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
    out
}

/// llama.cpp's `clean_spaces` passes: drop the space in " ?", " !", " .", " ,"; turn " ' " into
/// "'"; drop the space before "'s", "'m", "'re", "'ve".
fn clean_up_spaces(t: &[u8]) -> Vec<u8> {
    if t.is_empty() {
        return Vec::new();
    }
    // Pass 1.
    let mut out = vec![t[0]];
    for i in 1..t.len() {
        if t[i - 1] == b' ' && matches!(t[i], b'?' | b'!' | b'.' | b',') {
            out.pop();
        }
        out.push(t[i]);
    }
    // Pass 2: a lone apostrophe between spaces loses both spaces.
    let mut t = out;
    let mut out = vec![t[0]];
    let mut i = 1;
    while i < t.len() {
        let x = t[i];
        if x == b'\'' && i + 1 < t.len() && t[i - 1] == b' ' && t[i + 1] == b' ' {
            out.pop();
            out.push(x);
            t[i + 1] = 0; // the removed space no longer counts as a space
            i += 2;
            continue;
        }
        out.push(x);
        i += 1;
    }
    // Pass 3: contractions.
    let t = out;
    let mut out = vec![t[0]];
    for i in 1..t.len() {
        let x = t[i];
        if t[i - 1] == b' ' && x == b'\'' && i + 1 < t.len() {
            let x1 = t[i + 1];
            let x2 = t.get(i + 2).copied().filter(|_| i + 2 < t.len());
            if matches!(x1, b's' | b'm')
                || matches!((x1, x2), (b'r', Some(b'e')) | (b'v', Some(b'e')))
            {
                out.pop();
            }
        }
        out.push(x);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_spaces_like_llama_cpp() {
        let c = |s: &str| String::from_utf8(clean_up_spaces(s.as_bytes())).unwrap_or_default();
        assert_eq!(c("Hello , world !"), "Hello, world!");
        assert_eq!(c("it ' s"), "it's");
        assert_eq!(c("he 's and we 're but I 'll"), "he's and we're but I 'll");
        assert_eq!(c(""), "");
    }

    #[test]
    fn tokenizer_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Tokenizer>();
        assert_send_sync::<StreamDecoder>();
    }

    #[test]
    fn byte_tokens() {
        assert_eq!(parse_byte_token("<0x0A>"), Some(10));
        assert_eq!(parse_byte_token("<0xzz>"), None);
        assert_eq!(byte_level_decode("Ġhi"), b" hi");
    }
}
