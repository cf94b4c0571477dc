//! GBNF parsing and matching, and JSON schema → GBNF: a grammar converted from any schema must
//! parse, and matching arbitrary bytes must never panic.
#![no_main]
use brisk::grammar::{json_schema_to_gbnf, Grammar};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (src, input) = text
        .split_once('\0')
        .unwrap_or((&text, "{\"a\": [1, \"x\"]}"));
    if let Ok(g) = Grammar::parse(src) {
        let mut s = g.start();
        for &b in input.as_bytes() {
            match g.advance_byte(&s, b) {
                Some(n) => s = n,
                None => break,
            }
        }
        let _ = s.is_complete();
    }
    if let Ok(schema) = serde_json::from_str::<serde_json::Value>(src) {
        if let Ok(gbnf) = json_schema_to_gbnf(&schema) {
            if let Err(e) = Grammar::parse(&gbnf) {
                panic!("schema {src} gave a grammar that does not parse: {e}\n{gbnf}");
            }
        }
    }
});
