//! Grammar tests: GBNF parsing and its errors, the matcher on whole strings and split UTF-8,
//! token masks against a brute-force check, and JSON-schema grammars on valid and invalid JSON.
use super::constraint::Vocab;
use super::*;
use std::sync::Arc;

fn accepts(g: &Grammar, s: &str) -> bool {
    g.advance_str(&g.start(), s)
        .is_some_and(|st| st.is_complete())
}

/// A prefix the grammar can still continue.
fn viable(g: &Grammar, s: &str) -> bool {
    g.advance_str(&g.start(), s).is_some()
}

const ARITH: &str = r#"
# arithmetic
root  ::= expr
expr  ::= term (("+" | "-") term)*
term  ::= num | "(" expr ")"
num   ::= [0-9]+
"#;

#[test]
fn arithmetic_grammar_accepts_and_refuses() {
    let g = Grammar::parse(ARITH).unwrap();
    for ok in ["1", "12+3", "(1+2)-30", "((4))"] {
        assert!(accepts(&g, ok), "{ok}");
    }
    for bad in ["", "+", "1+", "(1", "a", "1 + 2"] {
        assert!(!accepts(&g, bad), "{bad}");
    }
    assert!(viable(&g, "(1+"));
    assert!(!viable(&g, "1)"));
}

#[test]
fn repetitions_literals_classes_and_escapes() {
    let g = Grammar::parse(
        "root ::= \"ab\"{2,3} [^x\\n]? (\"é\" | \"\\u00e8\" | \"\\x41\")* [a-c]{2}\n",
    )
    .unwrap();
    assert!(accepts(&g, "ababab"));
    assert!(accepts(&g, "ababyéèAbc"));
    assert!(accepts(&g, "ababaa"));
    assert!(!accepts(&g, "ab"));
    assert!(!accepts(&g, "abababababcc"));
    assert!(!accepts(&g, "ababxaa"));
    assert!(!accepts(&g, "abab\naa"));
    let any = Grammar::parse("root ::= . . \"!\"").unwrap();
    assert!(accepts(&any, "日本!"));
    assert!(!accepts(&any, "日!"));
}

#[test]
fn split_utf8_is_held_and_checked_by_what_it_can_become() {
    let g = Grammar::parse("root ::= [a-z] \"ü\" [a-z]").unwrap();
    let s = g.advance_str(&g.start(), "a").unwrap();
    let bytes = "ü".as_bytes();
    let half = g
        .advance_byte(&s, bytes[0])
        .expect("first byte of ü is viable");
    assert!(!half.is_complete());
    assert!(g.advance_byte(&half, bytes[1]).is_some());
    // 0xC3 0xA4 is "ä": the first byte is viable, the second is not.
    assert!(g.advance_byte(&half, 0xA4).is_none());
    // A lead byte of a 3-byte character cannot become ü.
    assert!(g.advance_byte(&s, 0xE6).is_none());
    assert!(g.advance_byte(&s, 0xFF).is_none());
    // Overlong encodings are not characters: E0 81 BB would be '{' in three bytes.
    let brace = Grammar::parse(r#"root ::= "{""#).unwrap();
    let st = brace.start();
    assert!(brace.advance_bytes(&st, &[0xE0, 0x81, 0xBB]).is_none());
    assert!(brace.advance_bytes(&st, &[0xC1, 0xBB]).is_none());
    let any = Grammar::parse("root ::= .").unwrap();
    assert!(any.advance_bytes(&any.start(), &[0xE0, 0x81]).is_none());
    assert!(
        any.advance_bytes(&any.start(), &[0xED, 0xA0, 0x80])
            .is_none(),
        "surrogate"
    );
}

#[test]
fn errors_name_line_and_column() {
    let e = Grammar::parse("root ::= a\na ::= \"x\" )\n").unwrap_err();
    assert_eq!((e.line, e.column), (2, 11), "{e}");
    let e = Grammar::parse("root ::= \"abc\n").unwrap_err();
    assert!(e.message.contains("unterminated"), "{e}");
    assert_eq!(e.line, 1);
    let e = Grammar::parse("root ::= foo\n").unwrap_err();
    assert!(
        e.to_string().contains("'foo' is used but never defined"),
        "{e}"
    );
    let e = Grammar::parse("start ::= \"x\"").unwrap_err();
    assert!(e.to_string().contains("root"), "{e}");
    let e = Grammar::parse("root ::= root \"x\" | \"y\"").unwrap_err();
    assert!(e.to_string().contains("left-recursive"), "{e}");
    let e = Grammar::parse("root ::= x? x \"a\"\nx ::= \"b\"? root").unwrap_err();
    assert!(e.to_string().contains("left-recursive"), "{e}");
    let e = Grammar::parse("root ::= [z-a]").unwrap_err();
    assert!(e.to_string().contains("backwards"), "{e}");
    assert!(Grammar::parse("root ::= \"a\"{3,1}").is_err());
    assert!(Grammar::parse("root ::= *").is_err());
}

const WORDS: [&str; 16] = [
    "", "{", "}", "\"", "a", "ab", "abc", "b", " ", "\n", "1", "12", "{\"", "\"}", "x", "é",
];

fn toy_vocab() -> Vocab {
    let mut pieces: Vec<Vec<u8>> = WORDS.iter().map(|w| w.as_bytes().to_vec()).collect();
    // Both halves of "é" as separate byte tokens, and a stray continuation byte.
    pieces.push(vec![0xC3]);
    pieces.push(vec![0xA9]);
    pieces.push(vec![0x80]);
    // Token 0 (empty) is the end-of-generation token.
    Vocab::new(pieces, vec![0])
}

#[test]
fn token_mask_matches_a_token_by_token_check() {
    let g = Arc::new(Grammar::parse(r#"root ::= "{" "\"" [a-cé]* "\"" "}" [0-9]*"#).unwrap());
    let vocab = Arc::new(toy_vocab());
    let mut c = Constraint::new(g, vocab.clone());
    for step in ["{", "\"", "ab", "é", "\"}", "12"] {
        let allowed = c.allowed();
        assert_eq!(*allowed, c.allowed_uncached());
        for (t, &flag) in allowed.iter().enumerate() {
            assert_eq!(flag, c.allows(t as u32), "token {t} before {step:?}");
        }
        let id = (0..vocab.len() as u32)
            .find(|&t| c.allows(t) && String::from_utf8_lossy(&toy_piece(t)) == step)
            .unwrap_or_else(|| panic!("{step:?} not allowed"));
        assert!(c.accept(id));
    }
    assert!(c.is_complete());
    assert!(c.allows(0), "end of generation once complete");
    assert!(!c.is_finished(), "more digits may follow");
    // The halves of é are allowed one after the other inside the string.
    let mut c2 = Constraint::new(
        Arc::new(Grammar::parse(r#"root ::= "{" [é]"#).unwrap()),
        Arc::new(toy_vocab()),
    );
    assert!(c2.accept(1));
    assert!(!c2.allows(0));
    assert!(c2.allows(16) && !c2.allows(17) && !c2.allows(18));
    assert!(c2.accept(16));
    assert!(c2.allows(17) && !c2.allows(16));
    assert!(c2.accept(17));
    assert!(c2.is_finished());
}

fn toy_piece(t: u32) -> Vec<u8> {
    WORDS
        .get(t as usize)
        .map(|w| w.as_bytes().to_vec())
        .unwrap_or_default()
}

fn schema_grammar(schema: &str) -> Grammar {
    let v: serde_json::Value = serde_json::from_str(schema).unwrap();
    let text = json_schema_to_gbnf(&v).unwrap();
    Grammar::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn json_schema_objects_required_optional_and_additional() {
    let g = schema_grammar(
        r#"{"type":"object","properties":{"name":{"type":"string","maxLength":5},
            "age":{"type":"integer"},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":2}},
            "required":["name"]}"#,
    );
    for ok in [
        r#"{"name":"bob"}"#,
        r#"{ "name": "bob", "age": -12 }"#,
        r#"{"name":"","tags":["a","b"]}"#,
        r#"{"name":"x","age":0,"tags":[]}"#,
        "{\n  \"name\": \"x\"\n}",
    ] {
        assert!(accepts(&g, ok), "{ok}");
    }
    for bad in [
        r#"{}"#,
        r#"{"age":1}"#,
        r#"{"name":"toolong"}"#,
        r#"{"name":"x","tags":["a","b","a"]}"#,
        r#"{"name":"x","tags":["c"]}"#,
        r#"{"name":"x","other":1}"#,
        r#"{"name":"x","age":1.5}"#,
        r#"{"name":"x","age":01}"#,
        r#"{"age":1,"name":"x"}"#,
    ] {
        assert!(!accepts(&g, bad), "{bad}");
    }
    let open = schema_grammar(
        r#"{"properties":{"a":{"type":"boolean"}},"additionalProperties":{"type":"null"}}"#,
    );
    assert!(accepts(&open, r#"{}"#));
    assert!(accepts(&open, r#"{"a":true,"z":null,"y":null}"#));
    assert!(accepts(&open, r#"{"z":null}"#));
    assert!(!accepts(&open, r#"{"z":1}"#));
}

#[test]
fn json_schema_refs_unions_patterns_and_formats() {
    let g = schema_grammar(
        r##"{"$defs":{"node":{"type":"object","properties":{"v":{"type":"number"},
            "next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v","next"]}},
            "$ref":"#/$defs/node"}"##,
    );
    assert!(accepts(&g, r#"{"v":1.5e3,"next":{"v":-2,"next":null}}"#));
    assert!(!accepts(&g, r#"{"v":1,"next":{"v":2}}"#));
    let p = schema_grammar(r#"{"type":"string","pattern":"^[A-Z]{2}-\\d{3}(x|yz)?$"}"#);
    assert!(accepts(&p, r#""AB-123""#));
    assert!(accepts(&p, r#""QQ-000yz""#));
    assert!(!accepts(&p, r#""AB-12""#));
    assert!(!accepts(&p, r#""ab-123""#));
    let unanchored = schema_grammar(r#"{"type":"string","pattern":"ok"}"#);
    assert!(accepts(&unanchored, r#""it is ok!""#));
    assert!(!accepts(&unanchored, r#""nope""#));
    let d = schema_grammar(r#"{"type":"string","format":"date"}"#);
    assert!(accepts(&d, r#""2026-12-02""#));
    assert!(!accepts(&d, r#""2026-13-02""#));
    let u = schema_grammar(r#"{"type":["integer","null"]}"#);
    assert!(accepts(&u, "null") && accepts(&u, "42") && !accepts(&u, "\"x\""));
    let any = schema_grammar("{}");
    assert!(accepts(&any, r#"[1, "two", {"three": [true, null]}]"#));
    assert!(!accepts(&any, r#"[1,]"#));
    let c = schema_grammar(r#"{"const":{"k":[1,2]}}"#);
    assert!(accepts(&c, r#"{"k":[1,2]}"#) && !accepts(&c, r#"{"k":[1]}"#));
    let t = schema_grammar(r#"{"prefixItems":[{"type":"string"},{"type":"boolean"}]}"#);
    assert!(accepts(&t, r#"["a", false]"#) && !accepts(&t, r#"["a"]"#));
    let s = schema_grammar(r#"{"type":"string","minLength":2,"maxLength":3}"#);
    assert!(accepts(&s, r#""\né""#) && !accepts(&s, r#""a""#) && !accepts(&s, r#""abcd""#));
}

#[test]
fn json_schema_outside_the_subset_is_an_error() {
    for (schema, word) in [
        (r#"{"type":"integer","minimum":3}"#, "minimum"),
        (r#"{"allOf":[{},{}]}"#, "allOf"),
        (r#"{"$ref":"http://x/y"}"#, "outside"),
        (r##"{"$ref":"#/nope"}"##, "nothing"),
        (r#"{"type":"thing"}"#, "thing"),
        (r#"{"type":"string","pattern":"(?=x)"}"#, "lookaround"),
        (r#"{"required":["a"],"properties":{}}"#, "'a'"),
    ] {
        let v: serde_json::Value = serde_json::from_str(schema).unwrap();
        let e = json_schema_to_gbnf(&v).unwrap_err();
        assert!(e.contains(word), "{schema}: {e}");
    }
}

/// Found by the `grammar` fuzz target (in CI's short run): `"type": []` made an empty rule,
/// and a grammar that does not parse; an empty type list is now refused at conversion.
#[test]
fn fuzz_schema_empty_type_list() {
    let schema = serde_json::json!({"type": "object", "properties": {
        "a": {"type": "string", "pattern": "^[a-z]{1,3}$"}, "b": {"$ref": "#/$defs/b"}},
        "required": ["a"], "$defs": {"b": {"type": []}}});
    let e = json_schema_to_gbnf(&schema).unwrap_err();
    assert!(e.contains("empty list"), "{e}");
    let ok = serde_json::json!({"type": ["string", "null"]});
    assert!(Grammar::parse(&json_schema_to_gbnf(&ok).unwrap()).is_ok());
}

/// Found by the `grammar` fuzz target: a pattern's `{5,3}` went through to a GBNF grammar that
/// did not parse; such patterns are now refused at conversion.
#[test]
fn fuzz_schema_pattern_repetition_backwards() {
    for pattern in ["^[a-z]{5,3}$", "^a{99999}$", "^a{1,99999}$"] {
        let schema = serde_json::json!({"type": "string", "pattern": pattern});
        let e = json_schema_to_gbnf(&schema).unwrap_err();
        assert!(e.contains("repetition"), "{pattern}: {e}");
    }
    let ok = serde_json::json!({"type": "string", "pattern": "^a{2,}b{3}$"});
    let g = Grammar::parse(&json_schema_to_gbnf(&ok).unwrap()).unwrap();
    assert!(accepts(&g, "\"aaaabbb\""));
}
