//! The safetensors header parser and config.json reader on arbitrary bytes.
#![no_main]
use brisk::format::hf_config::HfConfig;
use brisk::format::safetensors::parse_header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = parse_header(data) {
        for t in &h.tensors {
            assert!(t.range.start <= t.range.end && t.range.end <= data.len());
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = HfConfig::from_json(text) {
            let _ = brisk::model::config::Config::from_hf(&c);
        }
    }
});
