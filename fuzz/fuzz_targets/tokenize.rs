//! Tokenize and detokenize arbitrary text with real vocabularies (SPM from the shared
//! fixtures when present, byte-level BPE from the project's own): encode, decode, pieces and
//! the streaming decoder over arbitrary ids must never panic.
#![no_main]
use brisk::format::gguf::Gguf;
use brisk::tokenizer::{StreamDecoder, Tokenizer};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn vocabs() -> &'static Vec<Tokenizer> {
    static V: OnceLock<Vec<Tokenizer>> = OnceLock::new();
    V.get_or_init(|| {
        let root = env!("CARGO_MANIFEST_DIR");
        [
            format!("{root}/../../shared/fixtures/models/stories260K.gguf"),
            format!("{root}/../tests/fixtures/arch/rand-qwen3.gguf"),
            format!("{root}/../tests/fixtures/arch/rand-gemma3.gguf"),
        ]
        .iter()
        .filter_map(|p| Gguf::open(p).ok())
        .filter_map(|g| Tokenizer::from_gguf(&g).ok())
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let v = vocabs();
    if v.is_empty() || data.is_empty() {
        return;
    }
    let tok = &v[data[0] as usize % v.len()];
    let text = String::from_utf8_lossy(&data[1..]);
    for (special, parse) in [(true, true), (false, false)] {
        let ids = tok.encode(&text, special, parse);
        let _ = tok.decode(&ids, special);
    }
    // Arbitrary ids (also out of range) through the streaming decoder.
    let mut dec = StreamDecoder::new();
    for pair in data.chunks(2) {
        let id = u16::from_le_bytes([pair[0], *pair.get(1).unwrap_or(&0)]) as u32;
        let _ = dec.push(&tok.token_to_piece(id, true));
    }
    let _ = dec.finish();
});
