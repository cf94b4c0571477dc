//! Chat templates: the Jinja text a model carries (GGUF `tokenizer.chat_template`, HF
//! `tokenizer_config.json` / `chat_template.jinja`) or a built-in one, rendered with minijinja the
//! way Hugging Face's `apply_chat_template` renders it (`trim_blocks`, `lstrip_blocks`, loop
//! controls, `raise_exception`, `strftime_now`, `tojson`, Python string/dict methods through
//! minijinja-contrib's pycompat).
use super::builtin_templates;
use super::history::Message;
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use std::path::Path;

const NAME: &str = "chat_template";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Where it came from, for logs ("the model's", "built-in chatml", a file name).
    pub origin: String,
    bos_token: String,
    eos_token: String,
    /// Text that ends an assistant turn (`<|im_end|>`, `<|eot_id|>`, …), if known.
    pub end_of_turn: Option<String>,
}

/// A rendered prompt, and whether the system prompt had to be folded into the first user turn.
pub struct Rendered {
    pub text: String,
    pub folded_system: bool,
}

impl ChatTemplate {
    /// Compile `source`. `bos`/`eos` are the tokenizer's special-token texts.
    pub fn new(source: &str, origin: &str, bos: &str, eos: &str) -> Result<ChatTemplate, String> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // The template is untrusted input: an instruction budget per render (see `sandbox`).
        env.set_fuel(Some(super::sandbox::FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_filter("length", length);
        env.add_filter("count", length);
        env.add_template_owned(NAME, strip_generation_tags(source))
            .map_err(|e| format!("the chat template does not compile: {}", describe(&e)))?;
        let mut t = ChatTemplate {
            env,
            origin: origin.to_string(),
            bos_token: bos.to_string(),
            eos_token: eos.to_string(),
            end_of_turn: None,
        };
        t.end_of_turn = t.probe_end_of_turn();
        Ok(t)
    }

    /// `--chat-template` resolution: an existing file is read; otherwise a built-in name;
    /// otherwise text containing `{%` or `{{` is the template itself.
    pub fn from_arg(arg: &str, bos: &str, eos: &str) -> Result<ChatTemplate, String> {
        let path = Path::new(arg);
        if path.is_file() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read chat template {}: {e}", path.display()))?;
            let source = template_from_file_text(&text)
                .ok_or_else(|| format!("{} holds no chat template", path.display()))?;
            return ChatTemplate::new(&source, &path.display().to_string(), bos, eos);
        }
        if let Some(b) = builtin_templates::get(arg) {
            let mut t = ChatTemplate::new(b.source, &format!("built-in {}", b.name), bos, eos)?;
            t.end_of_turn = Some(b.end_of_turn.to_string());
            return Ok(t);
        }
        if arg.contains("{%") || arg.contains("{{") {
            return ChatTemplate::new(arg, "--chat-template text", bos, eos);
        }
        Err(format!(
            "--chat-template '{arg}' is not a file, a built-in name ({}), or Jinja text",
            builtin_templates::names().join(", ")
        ))
    }

    /// Render `messages`; `add_generation_prompt` opens the assistant's turn. A template that
    /// refuses a system message gets it folded into the first user message instead.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<Rendered, String> {
        match self.render_raw(messages, add_generation_prompt) {
            Ok(text) => Ok(Rendered {
                text,
                folded_system: false,
            }),
            Err(e) => match fold_system(messages) {
                Some(folded) if e.to_lowercase().contains("system") => {
                    let text = self.render_raw(&folded, add_generation_prompt)?;
                    Ok(Rendered {
                        text,
                        folded_system: true,
                    })
                }
                _ => Err(e),
            },
        }
    }

    fn render_raw(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, String> {
        let tmpl = self.env.get_template(NAME).map_err(|e| describe(&e))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let date = |f: &str| super::strftime::format_utc(now, f);
        // As `apply_chat_template` passes them: no tools or documents (None, not undefined);
        // plus the date variables some templates expect their caller to set.
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos_token.as_str(),
            eos_token => self.eos_token.as_str(),
            tools => Value::from(()),
            documents => Value::from(()),
            date_string => date("%d %b %Y"),
            datetime => date("%b %d %Y %H:%M:%S GMT"),
            functions => "",
        };
        let text = super::sandbox::watch(|| tmpl.render(ctx), &crate::interrupt::requested)
            .map_err(|e| match e.kind() {
                ErrorKind::OutOfFuel => format!(
                    "the chat template ran past the limit of {} instructions (a runaway loop?); \
                     use --chat-template to choose another",
                    super::sandbox::FUEL
                ),
                _ => format!("chat template: {}", describe(&e)),
            })?;
        if text.len() > super::sandbox::MAX_OUTPUT {
            return Err(format!(
                "the chat template rendered more than {} MiB; use --chat-template to choose another",
                super::sandbox::MAX_OUTPUT >> 20
            ));
        }
        Ok(text)
    }

    /// The text a template writes right after an assistant message's content, up to the first
    /// whitespace: its end-of-turn marker.
    fn probe_end_of_turn(&self) -> Option<String> {
        const MARK: &str = "\u{2}brisk-reply\u{3}";
        let msgs = [Message::new("user", "hi"), Message::new("assistant", MARK)];
        let text = self.render_raw(&msgs, false).ok()?;
        let after = &text[text.find(MARK)? + MARK.len()..];
        let eot: String = after
            .trim_start_matches([' ', '\n'])
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        (!eot.is_empty()).then_some(eot)
    }
}

/// Messages with a leading system message merged into the first user message.
fn fold_system(messages: &[Message]) -> Option<Vec<Message>> {
    let sys = messages.first().filter(|m| m.role == "system")?;
    let mut rest = messages[1..].to_vec();
    match rest.iter_mut().find(|m| m.role == "user") {
        Some(u) => u.content = format!("{}\n\n{}", sys.content, u.content),
        None => rest.insert(0, Message::new("user", &sys.content)),
    }
    Some(rest)
}

/// A `.jinja` file is the template; a `tokenizer_config.json` carries it in `chat_template`
/// (a string, or a list of named templates of which "default" is used).
fn template_from_file_text(text: &str) -> Option<String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.is_object() => chat_template_of_config(&v),
        _ => Some(text.to_string()),
    }
}

/// `chat_template` of a parsed tokenizer_config.json.
pub fn chat_template_of_config(v: &serde_json::Value) -> Option<String> {
    match v.get("chat_template")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(list) => list
            .iter()
            .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
            .or_else(|| list.first())
            .and_then(|t| t.get("template"))
            .and_then(|t| t.as_str())
            .map(str::to_string),
        _ => None,
    }
}

/// Hugging Face's `{% generation %}…{% endgeneration %}` marks (for assistant masks) are not
/// Jinja; drop the tags and keep what they enclose.
fn strip_generation_tags(source: &str) -> String {
    let re = fancy_regex::Regex::new(r"\{%-?\s*(end)?generation\s*-?%\}").expect("valid regex");
    re.replace_all(source, "").into_owned()
}

fn describe(e: &Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// `length` as Jinja2 has it for templates' `tools | length` checks: none and undefined are
/// empty.
fn length(v: &Value) -> Result<usize, Error> {
    if v.is_undefined() || v.is_none() {
        return Ok(0);
    }
    v.len().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot calculate length of value of type {}", v.kind()),
        )
    })
}

fn raise_exception(msg: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, msg))
}

/// `tojson` as Hugging Face templates call it: `indent`, `ensure_ascii`, `separators` and
/// `sort_keys` keyword arguments are accepted; the output is not HTML-escaped.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let _: Option<Value> = kwargs.get("ensure_ascii")?;
    let _: Option<Value> = kwargs.get("separators")?;
    let _: Option<Value> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let json = match indent {
        Some(n) => {
            let mut out = Vec::new();
            let spaces = " ".repeat(n);
            let fmt = serde_json::ser::PrettyFormatter::with_indent(spaces.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            serde::Serialize::serialize(value, &mut ser)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
            String::from_utf8(out).unwrap_or_default()
        }
        None => serde_json::to_string(value)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?,
    };
    Ok(Value::from_safe_string(json))
}

/// `strftime_now(format)`: the current UTC date and time in `strftime` notation.
fn strftime_now(_state: &State, format: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    super::strftime::format_utc(secs, &format)
}
