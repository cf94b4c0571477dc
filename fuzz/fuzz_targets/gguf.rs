//! GGUF reader, model config and GGUF tokenizer loader on arbitrary bytes: any result but a
//! panic (or an allocation sized by an untrusted count) is fine.
#![no_main]
use brisk::format::gguf::Gguf;
use brisk::model::config::Config;
use brisk::tokenizer::Tokenizer;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(g) = Gguf::from_bytes(Path::new("fuzz.gguf"), data.to_vec()) else {
        return;
    };
    for t in g.tensors() {
        assert_eq!(g.tensor_bytes(t).len() as u64, t.n_bytes);
    }
    let _ = Config::from_gguf(&g);
    if let Ok(tok) = Tokenizer::from_gguf(&g) {
        let ids = tok.encode("Hello world, <s> héllo 日本", true, true);
        let _ = tok.decode(&ids, true);
        for id in 0..tok.n_vocab().min(64) as u32 {
            let _ = tok.token_to_piece(id, true);
        }
    }
});
