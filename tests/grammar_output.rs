//! Constrained output end to end: 100 seeded generations under a JSON schema, each parsed and
//! checked against the schema by an independent validator; a GBNF grammar in `run` and `chat`;
//! a grammar that does not parse is a usage error with its line and column.
mod common;

use serde_json::Value;

/// (status, stdout, stderr) of `brisk ARGS`.
fn brisk(args: &[&str], stdin: &[u8]) -> (Option<i32>, String, String) {
    let o = common::process::brisk(args, stdin);
    (o.code, o.stdout, o.stderr)
}

const SCHEMA: &str = r##"{
  "type": "object",
  "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 12},
    "age": {"type": "integer"},
    "height": {"type": "number"},
    "pet": {"enum": ["cat", "dog", null]},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3},
    "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{3}$"},
    "home": {"$ref": "#/$defs/place"}
  },
  "required": ["name", "age", "code"],
  "$defs": {
    "place": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 8},
              "zip": {"type": ["integer", "null"]}}, "required": ["city"]}
  }
}"##;

/// The keywords SCHEMA uses, checked independently of brisk's grammar.
fn validate(schema: &Value, root: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = root.pointer(&r[1..]).ok_or("bad ref")?;
        return validate(target, root, v, at);
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        return if e.contains(v) {
            Ok(())
        } else {
            Err(format!("{at}: {v} not in enum"))
        };
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let type_ok = types.iter().any(|t| match *t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        // -0 is an integer too (it parses as a float).
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        _ => false,
    });
    if !types.is_empty() && !type_ok {
        return Err(format!("{at}: {v} is not {types:?}"));
    }
    if let (Some(o), Some(props)) = (v.as_object(), schema.get("properties")) {
        let props = props.as_object().unwrap();
        for req in schema["required"].as_array().into_iter().flatten() {
            if !o.contains_key(req.as_str().unwrap()) {
                return Err(format!("{at}: missing {req}"));
            }
        }
        for (k, val) in o {
            let s = props
                .get(k)
                .ok_or_else(|| format!("{at}: unexpected key {k}"))?;
            validate(s, root, val, &format!("{at}.{k}"))?;
        }
    }
    if let Some(s) = v.as_str() {
        let n = s.chars().count();
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if (n as u64) < min {
                return Err(format!("{at}: {s:?} shorter than {min}"));
            }
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if n as u64 > max {
                return Err(format!("{at}: {s:?} longer than {max}"));
            }
        }
        if schema.get("pattern").is_some() {
            let b = s.as_bytes();
            let ok = b.len() == 6
                && b[..2].iter().all(u8::is_ascii_uppercase)
                && b[2] == b'-'
                && b[3..].iter().all(u8::is_ascii_digit);
            if !ok {
                return Err(format!("{at}: {s:?} does not match the pattern"));
            }
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if a.len() as u64 > max {
                return Err(format!("{at}: {} items > {max}", a.len()));
            }
        }
        if let Some(items) = schema.get("items") {
            for (i, x) in a.iter().enumerate() {
                validate(items, root, x, &format!("{at}[{i}]"))?;
            }
        }
    }
    Ok(())
}

#[test]
fn hundred_seeded_json_schema_generations_are_all_valid() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx.join("models/stories260K.gguf");
    let m = m.to_string_lossy();
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let mut distinct = std::collections::HashSet::new();
    for seed in 0..100 {
        let seed = seed.to_string();
        let (code, out, err) = brisk(
            &[
                "run",
                "-m",
                &m,
                "-p",
                "Once upon a time",
                "-s",
                &seed,
                "--temp",
                "1.0",
                "-n",
                "400",
                "-j",
                SCHEMA,
                "--json",
                "--quiet",
            ],
            b"",
        );
        assert_eq!(code, Some(0), "seed {seed}: {err}");
        let result: Value = serde_json::from_str(out.trim()).unwrap();
        let text = result["text"].as_str().unwrap();
        assert_ne!(
            result["finish_reason"], "length",
            "seed {seed}: unfinished {text:?}"
        );
        let v: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("seed {seed}: not JSON ({e}): {text:?}"));
        validate(&schema, &schema, &v, "$").unwrap_or_else(|e| panic!("seed {seed}: {e}: {text}"));
        distinct.insert(text.to_string());
    }
    assert!(
        distinct.len() > 90,
        "seeds give different objects: {}",
        distinct.len()
    );
}

#[test]
fn gbnf_grammar_constrains_run_and_chat() {
    let Some(fx) = common::fixtures() else { return };
    let m = fx.join("models/stories260K.gguf");
    let m = m.to_string_lossy();
    let grammar = r#"root ::= "The answer is " ("yes" | "no") "." "#;
    for temp in ["0", "1.5"] {
        let (code, out, err) = brisk(
            &[
                "run",
                "-m",
                &m,
                "-p",
                "Once",
                "--grammar",
                grammar,
                "--temp",
                temp,
                "--quiet",
            ],
            b"",
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(
            out == "The answer is yes." || out == "The answer is no.",
            "{out:?}"
        );
    }
    let (code, out, err) = brisk(
        &[
            "chat",
            "-m",
            &m,
            "--grammar",
            r#"root ::= [0-9]{3}"#,
            "--quiet",
            "-s",
            "3",
        ],
        b"hi\nagain\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    for l in lines {
        assert!(
            l.len() == 3 && l.bytes().all(|b| b.is_ascii_digit()),
            "{l:?}"
        );
    }
}

#[test]
fn grammar_errors_name_line_and_column_and_exit_two() {
    let dir = std::env::temp_dir().join(format!("brisk-grammar-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.gbnf");
    std::fs::write(&file, "root ::= item+\nitem ::= \"a\" | [b-\n").unwrap();
    let f = file.to_string_lossy();
    for args in [
        &["run", "-m", "/nonexistent", "-p", "x", "--grammar-file", &f][..],
        &[
            "run",
            "-m",
            "/nonexistent",
            "-p",
            "x",
            "--grammar",
            "root ::= (\"a\"",
        ],
        &[
            "run",
            "-m",
            "/nonexistent",
            "-p",
            "x",
            "-j",
            "{\"type\": \"integer\", \"minimum\": 1}",
        ],
        &["run", "-m", "/nonexistent", "-p", "x", "-j", "{not json"],
    ] {
        let (code, _, err) = brisk(args, b"");
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let (_, _, err) = brisk(&["run", "-m", "/x", "-p", "x", "--grammar-file", &f], b"");
    assert!(err.contains("line 2, column"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}
