//! Hugging Face tokenizer.json (and tokenizer_config.json) loading on arbitrary bytes.
#![no_main]
use brisk::tokenizer::Tokenizer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("brisk-fuzz-tok-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let (tj, cfg) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let tj_path = dir.join("tokenizer.json");
    let cfg_path = dir.join("tokenizer_config.json");
    if std::fs::write(&tj_path, tj).is_err() {
        return;
    }
    if let Some(c) = cfg {
        let _ = std::fs::write(&cfg_path, c);
    }
    if let Ok(tok) = Tokenizer::from_hf_files(&tj_path, cfg.map(|_| cfg_path.as_path())) {
        let ids = tok.encode("Hello world <|im_end|> héllo", true, true);
        let _ = tok.decode(&ids, true);
    }
});
