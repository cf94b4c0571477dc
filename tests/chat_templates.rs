//! Every real chat template in `../shared/fixtures/templates` renders a system + user +
//! assistant + user conversation with brisk's minijinja setup, and so does every built-in one.
mod common;

use brisk::chat::{builtin_templates, ChatTemplate, Message};

fn conversation() -> Vec<Message> {
    vec![
        Message::new("system", "SYS-You are terse."),
        Message::new("user", "USER1-What is 2+2?"),
        Message::new("assistant", "ASSISTANT1-It is 4."),
        Message::new("user", "USER2-And 3+3?"),
    ]
}

fn check(t: &ChatTemplate, what: &str) -> bool {
    let r = t
        .render(&conversation(), true)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    check_text(&r, what)
}

fn check_text(r: &brisk::chat::template::Rendered, what: &str) -> bool {
    for needle in [
        "USER1-What is 2+2?",
        "ASSISTANT1-It is 4.",
        "USER2-And 3+3?",
    ] {
        assert!(
            r.text.contains(needle),
            "{what}: no {needle:?} in\n{}",
            r.text
        );
    }
    assert!(
        r.text.contains("SYS-You are terse."),
        "{what}: the system prompt is lost (folded: {})\n{}",
        r.folded_system,
        r.text
    );
    let u1 = r.text.find("USER1").unwrap();
    let u2 = r.text.find("USER2").unwrap();
    assert!(u1 < u2, "{what}: turns out of order");
    r.folded_system
}

#[test]
fn every_fixture_template_renders_a_four_message_conversation() {
    let Some(fx) = common::fixtures() else { return };
    let mut names: Vec<_> = std::fs::read_dir(fx.join("templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "jinja")
                || p.to_string_lossy().ends_with("tokenizer_config.json")
        })
        .collect();
    names.sort();
    assert!(names.len() > 20, "templates found: {}", names.len());
    let mut folded = Vec::new();
    let mut failed = Vec::new();
    for path in &names {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rendered = ChatTemplate::from_arg(path.to_str().unwrap(), "<s>", "</s>")
            .and_then(|t| t.render(&conversation(), true));
        match rendered {
            Ok(r) => {
                if check_text(&r, &name) {
                    folded.push(name);
                }
            }
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(
        folded.iter().any(|n| n.contains("gemma-2")),
        "Gemma 2 refuses system messages, so its system prompt is folded: {folded:?}"
    );
}

#[test]
fn builtin_templates_render_and_know_their_end_of_turn() {
    for b in builtin_templates::BUILTINS {
        let t = ChatTemplate::from_arg(b.name, "<s>", "</s>").unwrap();
        check(&t, b.name);
        let r = t.render(&conversation(), true).unwrap();
        assert!(r.text.contains(b.end_of_turn), "{}: {}", b.name, r.text);
    }
    let chatml = ChatTemplate::from_arg("chatml", "", "").unwrap();
    assert_eq!(
        chatml
            .render(&[Message::new("user", "hi")], true)
            .unwrap()
            .text,
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn template_features_real_templates_use() {
    let src = "{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}\
               {{ m.content.strip().split(' ')[0] | upper }}{{ {'a': 1} | tojson }}\
               {% if m.content.startswith(' x') %}X{% endif %}{% endfor %}\
               {% generation %}{{ bos_token }}{% endgeneration %}{{ strftime_now('%Y')[:2] }}";
    let t = ChatTemplate::from_arg(src, "<s>", "</s>").unwrap();
    let msgs = [
        Message::new("user", " xa b "),
        Message::new("assistant", "c d"),
        Message::new("user", "never"),
    ];
    let out = t.render(&msgs, false).unwrap().text;
    assert_eq!(out, "XA{\"a\":1}XC{\"a\":1}<s>20");

    let strict = ChatTemplate::from_arg(
        "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}\
         {% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}",
        "",
        "",
    )
    .unwrap();
    let r = strict
        .render(
            &[Message::new("system", "S"), Message::new("user", "U")],
            true,
        )
        .unwrap();
    assert!(r.folded_system);
    assert_eq!(r.text, "[user:S\n\nU]");
    let bad = strict.render(&[Message::new("user", "{{")], true).unwrap();
    assert_eq!(bad.text, "[user:{{]", "content is data, not template");
}

#[test]
fn bad_template_arguments_are_errors_not_panics() {
    assert!(ChatTemplate::from_arg("no-such-template", "", "").is_err());
    assert!(ChatTemplate::from_arg("{% for %}", "", "").is_err());
    let t = ChatTemplate::from_arg("{{ raise_exception('nope') }}", "", "").unwrap();
    let e = t.render(&[Message::new("user", "x")], true).err().unwrap();
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn tokenizer_config_templates_as_a_string_or_a_named_list() {
    use brisk::chat::template::chat_template_of_config;
    let one = serde_json::json!({"chat_template": "{{ 'A' }}"});
    assert_eq!(chat_template_of_config(&one).as_deref(), Some("{{ 'A' }}"));
    let list = serde_json::json!({"chat_template": [
        {"name": "tool_use", "template": "T"},
        {"name": "default", "template": "D"}
    ]});
    assert_eq!(chat_template_of_config(&list).as_deref(), Some("D"));
    assert_eq!(chat_template_of_config(&serde_json::json!({"x": 1})), None);
}
