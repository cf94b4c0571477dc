//! JSON schema → GBNF for the common subset, with llama.cpp's conventions (whitespace after
//! every value, bounded indentation, required properties first and optional ones after, in
//! schema order, no extra properties unless `additionalProperties` allows them): types and type
//! lists, `properties` / `required` / `additionalProperties`, `items` / `prefixItems` /
//! `minItems` / `maxItems`, `enum`, `const`, `anyOf` / `oneOf`, strings with `minLength` /
//! `maxLength` / `pattern` / `format` (date, time, date-time, uuid), numbers, booleans, null,
//! and `$ref` to `#/...` within the schema (recursion included). A constraint outside the
//! subset is an error naming it, never silently dropped.
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

const PRIMITIVES: &[(&str, &str)] = &[
    ("space", r#"| " " | "\n" [ \t]{0,20}"#),
    ("boolean", r#"("true" | "false") space"#),
    ("null", r#""null" space"#),
    ("integral-part", r#"[0] | [1-9] [0-9]{0,15}"#),
    ("integer", r#"("-"? integral-part) space"#),
    (
        "number",
        r#"("-"? integral-part) ("." [0-9]+)? ([eE] [-+]? [0-9]{1,3})? space"#,
    ),
    (
        "char",
        r#"[^"\\\x7F\x00-\x1F] | [\\] (["\\/bfnrt] | "u" [0-9a-fA-F]{4})"#,
    ),
    ("string", r#""\"" char* "\"" space"#),
    (
        "value",
        r#"object | array | string | number | boolean | null"#,
    ),
    (
        "object",
        r#""{" space ( string ":" space value ("," space string ":" space value)* )? "}" space"#,
    ),
    (
        "array",
        r#""[" space ( value ("," space value)* )? "]" space"#,
    ),
];

const FORMATS: &[(&str, &str)] = &[
    (
        "date",
        r#"[0-9]{4} "-" ( "0" [1-9] | "1" [0-2] ) "-" ( [0-2] [0-9] | "3" [0-1] )"#,
    ),
    (
        "time",
        r#"( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{3} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] )"#,
    ),
    (
        "uuid",
        r#"[0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12}"#,
    ),
];

/// Keywords that only describe (ignored).
const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "definitions",
    "$defs",
    "format",
    "contentMediaType",
    "contentEncoding",
];

struct Converter<'a> {
    root: &'a Value,
    rules: BTreeMap<String, String>,
    by_body: HashMap<String, String>,
    refs: HashMap<String, String>,
}

/// The GBNF grammar (root rule `root`) that accepts exactly the JSON texts the schema allows
/// (within the subset).
pub fn json_schema_to_gbnf(schema: &Value) -> Result<String, String> {
    let mut c = Converter {
        root: schema,
        rules: BTreeMap::new(),
        by_body: HashMap::new(),
        refs: HashMap::new(),
    };
    for (name, body) in PRIMITIVES {
        c.rules.insert(name.to_string(), body.to_string());
    }
    let root = c.visit(schema, "root")?;
    if root != "root" {
        c.rules.insert("root".into(), root);
    }
    let mut out = String::new();
    out.push_str(&format!("root ::= {}\n", c.rules["root"]));
    for (name, body) in &c.rules {
        if name != "root" {
            out.push_str(&format!("{name} ::= {body}\n"));
        }
    }
    Ok(out)
}

/// A GBNF literal for `s`.
fn literal(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn rule_name(hint: &str) -> String {
    let s: String = hint
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "r".into()
    } else {
        s
    }
}

fn usize_of(v: Option<&Value>, key: &str) -> Result<Option<usize>, String> {
    match v {
        None => Ok(None),
        Some(n) => match n.as_u64() {
            Some(n) if n <= 10_000 => Ok(Some(n as usize)),
            Some(n) => Err(format!("{key} {n} is above the 10000 brisk supports")),
            None => Err(format!("{key} must be a non-negative integer")),
        },
    }
}

/// `{m,n}` for GBNF (n None = unbounded).
fn repetition(min: usize, max: Option<usize>) -> String {
    match max {
        None if min == 0 => "*".into(),
        None if min == 1 => "+".into(),
        None => format!("{{{min},}}"),
        Some(m) if m == min => format!("{{{min}}}"),
        Some(m) if min == 0 && m == 1 => "?".into(),
        Some(m) => format!("{{{min},{m}}}"),
    }
}

impl<'a> Converter<'a> {
    /// A rule name from `hint` that no rule has yet.
    fn fresh_name(&self, hint: &str) -> String {
        let base = rule_name(hint);
        let mut name = base.clone();
        let mut i = 1;
        while self.rules.contains_key(&name) {
            name = format!("{base}-{i}");
            i += 1;
        }
        name
    }

    /// Add a rule (reusing one with the same body); returns its name.
    fn add(&mut self, hint: &str, body: String) -> String {
        if let Some(n) = self.by_body.get(&body) {
            return n.clone();
        }
        let name = self.fresh_name(hint);
        self.rules.insert(name.clone(), body.clone());
        self.by_body.insert(body, name.clone());
        name
    }

    fn resolve(&self, reference: &str) -> Result<&'a Value, String> {
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("$ref '{reference}' is outside the schema (only #/... refs)"))?;
        self.root
            .pointer(pointer)
            .ok_or_else(|| format!("$ref '{reference}' points at nothing in the schema"))
    }

    /// The rule (name) matching `schema`.
    fn visit(&mut self, schema: &'a Value, hint: &str) -> Result<String, String> {
        let obj = match schema {
            Value::Bool(true) => return Ok("value".into()),
            Value::Bool(false) => return Err("a schema of `false` allows nothing".into()),
            Value::Object(o) => o,
            _ => return Err(format!("schema at '{hint}' is not an object")),
        };
        for key in obj.keys() {
            let known = ANNOTATIONS.contains(&key.as_str())
                || [
                    "$ref",
                    "type",
                    "properties",
                    "required",
                    "additionalProperties",
                    "items",
                    "prefixItems",
                    "minItems",
                    "maxItems",
                    "enum",
                    "const",
                    "anyOf",
                    "oneOf",
                    "allOf",
                    "minLength",
                    "maxLength",
                    "pattern",
                ]
                .contains(&key.as_str());
            if !known {
                return Err(format!(
                    "the schema keyword '{key}' is not supported (at '{hint}')"
                ));
            }
        }
        if let Some(r) = obj.get("$ref").and_then(Value::as_str) {
            if let Some(name) = self.refs.get(r) {
                return Ok(name.clone());
            }
            let name = self.fresh_name(r.rsplit('/').next().unwrap_or("ref"));
            // Reserve the name first: the target may refer back to itself.
            self.refs.insert(r.to_string(), name.clone());
            self.rules.insert(name.clone(), String::new());
            let target = self.resolve(r)?;
            let body = self.visit(target, &name)?;
            self.rules.insert(name.clone(), body);
            return Ok(name);
        }
        if let Some(c) = obj.get("const") {
            let lit = literal(&serde_json::to_string(c).unwrap_or_default());
            return Ok(self.add(&format!("{hint}-const"), format!("{lit} space")));
        }
        if let Some(e) = obj.get("enum") {
            let values = e.as_array().ok_or("enum must be an array")?;
            if values.is_empty() {
                return Err(format!("enum at '{hint}' is empty"));
            }
            let alts: Vec<String> = values
                .iter()
                .map(|v| literal(&serde_json::to_string(v).unwrap_or_default()))
                .collect();
            return Ok(self.add(
                &format!("{hint}-enum"),
                format!("({}) space", alts.join(" | ")),
            ));
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(list) = obj.get(key) {
                let list = list.as_array().ok_or(format!("{key} must be an array"))?;
                let mut alts = Vec::new();
                for (i, s) in list.iter().enumerate() {
                    alts.push(self.visit(s, &format!("{hint}-{i}"))?);
                }
                if alts.is_empty() {
                    return Err(format!("{key} at '{hint}' is empty"));
                }
                return Ok(self.add(hint, alts.join(" | ")));
            }
        }
        if let Some(list) = obj.get("allOf") {
            return match list.as_array().map(Vec::as_slice) {
                Some([one]) => self.visit(one, hint),
                _ => Err("allOf with more than one schema is not supported".into()),
            };
        }
        match obj.get("type") {
            Some(Value::Array(types)) => {
                if types.is_empty() {
                    // No type at all: no value could match, and an empty rule does not parse.
                    return Err(format!("type at '{hint}' is an empty list"));
                }
                let mut alts = Vec::new();
                for t in types {
                    let t = t.as_str().ok_or("type names must be strings")?;
                    alts.push(self.typed(obj, t, &format!("{hint}-{t}"))?);
                }
                Ok(self.add(hint, alts.join(" | ")))
            }
            Some(Value::String(t)) => self.typed(obj, t, hint),
            Some(_) => Err("type must be a string or an array of strings".into()),
            None if obj.contains_key("properties") || obj.contains_key("additionalProperties") => {
                self.typed(obj, "object", hint)
            }
            None if obj.contains_key("items") || obj.contains_key("prefixItems") => {
                self.typed(obj, "array", hint)
            }
            None if obj.contains_key("pattern")
                || obj.contains_key("minLength")
                || obj.contains_key("maxLength") =>
            {
                self.typed(obj, "string", hint)
            }
            None => Ok("value".into()),
        }
    }

    fn typed(
        &mut self,
        obj: &'a serde_json::Map<String, Value>,
        t: &str,
        hint: &str,
    ) -> Result<String, String> {
        match t {
            "object" => self.object(obj, hint),
            "array" => self.array(obj, hint),
            "string" => self.string(obj, hint),
            "number" | "integer" | "boolean" | "null" => Ok(t.to_string()),
            other => Err(format!("unknown type '{other}'")),
        }
    }

    fn object(
        &mut self,
        obj: &'a serde_json::Map<String, Value>,
        hint: &str,
    ) -> Result<String, String> {
        let props: Vec<(&'a String, &'a Value)> = match obj.get("properties") {
            Some(Value::Object(p)) => p.iter().collect(),
            Some(_) => return Err("properties must be an object".into()),
            None => Vec::new(),
        };
        let required: Vec<&str> = match obj.get("required") {
            Some(Value::Array(r)) => r.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err("required must be an array of names".into()),
            None => Vec::new(),
        };
        for r in &required {
            if !props.iter().any(|(k, _)| k.as_str() == *r) {
                return Err(format!("required property '{r}' is not in properties"));
            }
        }
        let additional = match obj.get("additionalProperties") {
            None if props.is_empty() => Some("value".to_string()),
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some("value".to_string()),
            Some(s) => Some(self.visit(s, &format!("{hint}-additional"))?),
        };
        let kv = |c: &mut Self, name: &str, schema: &'a Value| -> Result<String, String> {
            let value = c.visit(schema, &format!("{hint}-{name}"))?;
            let key = literal(&serde_json::to_string(name).unwrap_or_default());
            Ok(c.add(
                &format!("{hint}-{name}-kv"),
                format!("{key} space \":\" space {value}"),
            ))
        };
        let mut req_rules = Vec::new();
        let mut opt_rules = Vec::new();
        for &(name, schema) in &props {
            let rule = kv(self, name, schema)?;
            if required.contains(&name.as_str()) {
                req_rules.push(rule);
            } else {
                opt_rules.push(rule);
            }
        }
        let extra = additional.map(|v| {
            self.add(
                &format!("{hint}-additional-kv"),
                format!("string \":\" space {v}"),
            )
        });
        // Optional items in order: each may be present, each after a comma unless first.
        let mut optional: Vec<(String, bool)> = opt_rules.into_iter().map(|r| (r, false)).collect();
        if let Some(e) = extra {
            optional.push((e, true)); // repeatable
        }
        let mut body = String::from("\"{\" space ");
        if !req_rules.is_empty() {
            body.push_str(&req_rules.join(" \",\" space "));
            for (rule, repeat) in &optional {
                let q = if *repeat { "*" } else { "?" };
                body.push_str(&format!(" (\",\" space {rule}){q}"));
            }
        } else if !optional.is_empty() {
            // tail(i): the optional items from i on, each after a comma.
            let mut tail = String::new();
            let mut tails = vec![String::new(); optional.len() + 1];
            for i in (0..optional.len()).rev() {
                let (rule, repeat) = &optional[i];
                let q = if *repeat { "*" } else { "?" };
                tail = format!("(\",\" space {rule}){q} {tail}");
                tails[i] = tail.trim().to_string();
            }
            // first(i): the first present item is i.
            let mut firsts = Vec::new();
            for (i, (rule, _)) in optional.iter().enumerate() {
                let (_, repeat) = &optional[i];
                let rest = if *repeat {
                    format!("(\",\" space {rule})*")
                } else {
                    tails[i + 1].clone()
                };
                firsts.push(format!("{rule} {rest}").trim().to_string());
            }
            let first = self.add(&format!("{hint}-first"), firsts.join(" | "));
            body.push_str(&format!("{first}?"));
        }
        body.push_str(" \"}\" space");
        Ok(self.add(hint, body))
    }

    fn array(
        &mut self,
        obj: &'a serde_json::Map<String, Value>,
        hint: &str,
    ) -> Result<String, String> {
        if let Some(prefix) = obj.get("prefixItems") {
            let list = prefix.as_array().ok_or("prefixItems must be an array")?;
            let mut parts = Vec::new();
            for (i, s) in list.iter().enumerate() {
                parts.push(self.visit(s, &format!("{hint}-{i}"))?);
            }
            let inner = parts.join(" \",\" space ");
            return Ok(self.add(hint, format!("\"[\" space {inner} \"]\" space")));
        }
        let item = match obj.get("items") {
            None => "value".to_string(),
            Some(s) => self.visit(s, &format!("{hint}-item"))?,
        };
        let min = usize_of(obj.get("minItems"), "minItems")?.unwrap_or(0);
        let max = usize_of(obj.get("maxItems"), "maxItems")?;
        if max.is_some_and(|m| m < min) {
            return Err(format!("maxItems < minItems at '{hint}'"));
        }
        let body = match max {
            Some(0) => "\"[\" space \"]\" space".to_string(),
            _ => {
                let more = repetition(min.saturating_sub(1), max.map(|m| m - 1));
                let list = format!("{item} (\",\" space {item}){more}");
                if min == 0 {
                    format!("\"[\" space ({list})? \"]\" space")
                } else {
                    format!("\"[\" space {list} \"]\" space")
                }
            }
        };
        Ok(self.add(hint, body))
    }

    fn string(
        &mut self,
        obj: &'a serde_json::Map<String, Value>,
        hint: &str,
    ) -> Result<String, String> {
        if let Some(p) = obj.get("pattern") {
            let p = p.as_str().ok_or("pattern must be a string")?;
            let inner =
                super::schema_regex::to_gbnf(p).map_err(|e| format!("pattern '{p}': {e}"))?;
            return Ok(self.add(
                &format!("{hint}-pattern"),
                format!("\"\\\"\" ({inner}) \"\\\"\" space"),
            ));
        }
        if let Some(f) = obj.get("format").and_then(Value::as_str) {
            let part = |c: &mut Self, name: &str| {
                let body = FORMATS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, b)| b.to_string());
                body.map(|b| c.add(&format!("{name}-part"), b))
            };
            let inner = match f {
                "date-time" => {
                    let d = part(self, "date").unwrap_or_default();
                    let t = part(self, "time").unwrap_or_default();
                    Some(format!("{d} \"T\" {t}"))
                }
                other => part(self, other),
            };
            if let Some(inner) = inner {
                return Ok(self.add(
                    &format!("{f}-string"),
                    format!("\"\\\"\" {inner} \"\\\"\" space"),
                ));
            }
        }
        let min = usize_of(obj.get("minLength"), "minLength")?.unwrap_or(0);
        let max = usize_of(obj.get("maxLength"), "maxLength")?;
        if min == 0 && max.is_none() {
            return Ok("string".into());
        }
        if max.is_some_and(|m| m < min) {
            return Err(format!("maxLength < minLength at '{hint}'"));
        }
        let rep = repetition(min, max);
        Ok(self.add(
            &format!("{hint}-string"),
            format!("\"\\\"\" char{rep} \"\\\"\" space"),
        ))
    }
}
