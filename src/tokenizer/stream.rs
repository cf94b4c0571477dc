//! Streaming UTF-8 decoding of token pieces: a character split across tokens comes out whole once
//! its last byte arrives; bytes that can never form a character come out as U+FFFD.

/// Turns a stream of byte pieces into text without ever emitting half a character.
#[derive(Clone, Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// Add bytes; returns the text of every character now complete (invalid bytes as U+FFFD).
    /// An incomplete sequence at the end is held back for the next call.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut pos = 0;
        while pos < self.pending.len() {
            match std::str::from_utf8(&self.pending[pos..]) {
                Ok(s) => {
                    out.push_str(s);
                    pos = self.pending.len();
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // The prefix is valid UTF-8 by construction.
                    out.push_str(&String::from_utf8_lossy(&self.pending[pos..pos + valid]));
                    pos += valid;
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            pos += n;
                        }
                        // A character that later bytes may still complete.
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..pos);
        out
    }

    /// End of stream: whatever is still held back is an unfinished character, so U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        String::from_utf8_lossy(&rest).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_multibyte_characters() {
        let mut d = StreamDecoder::new();
        let euro = "€".as_bytes(); // 3 bytes
        assert_eq!(d.push(b"a"), "a");
        assert_eq!(d.push(&euro[..1]), "");
        assert_eq!(d.push(&euro[1..2]), "");
        assert_eq!(d.push(&[euro[2], b'b']), "€b");
        let llama = "🦙".as_bytes();
        assert_eq!(d.push(&llama[..3]), "");
        assert_eq!(d.push(&llama[3..]), "🦙");
        assert_eq!(d.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement() {
        let mut d = StreamDecoder::new();
        assert_eq!(d.push(&[0xFF, b'x']), "\u{FFFD}x");
        // A lead byte followed by a non-continuation byte can never complete.
        assert_eq!(d.push(&[0xE2, b'y']), "\u{FFFD}y");
        assert_eq!(d.push(&[0x80]), "\u{FFFD}");
        // Unfinished at the end of the stream.
        assert_eq!(d.push(&[0xF0, 0x9F]), "");
        assert_eq!(d.finish(), "\u{FFFD}");
        assert_eq!(d.finish(), "");
    }
}
