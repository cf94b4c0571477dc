//! The chat engine keeps earlier turns in the KV cache: a later turn evaluates only its new
//! tokens (counted by `Session::evaluated`), and when the context fills, old turns are dropped and
//! the rest of the cache is shifted into place rather than recomputed.
mod common;

use brisk::chat::{ChatEngine, ChatTemplate, Conversation, Finish, ReplyEvents};
use brisk::generate::{SamplerParams, Session};
use brisk::model::loader;

struct Quiet {
    text: String,
    notices: Vec<String>,
}

impl ReplyEvents for Quiet {
    fn text(&mut self, piece: &str) -> bool {
        self.text.push_str(piece);
        true
    }
    fn notice(&mut self, msg: &str) {
        self.notices.push(msg.to_string());
    }
    fn interrupted(&self) -> bool {
        false
    }
}

fn greedy() -> SamplerParams {
    SamplerParams {
        temp: 0.0,
        seed: 1,
        ..SamplerParams::default()
    }
}

#[test]
fn second_turn_evaluates_only_its_new_tokens() {
    let Some(fx) = common::fixtures() else { return };
    let lm = loader::load(&fx.join("models/stories260K.gguf"), 1).unwrap();
    let t = ChatTemplate::from_arg("chatml", "<s>", "</s>").unwrap();
    let conv = Conversation::new(Some("You tell stories."));
    let mut e = ChatEngine::new(
        Session::new(&lm.model, 512),
        &lm.tokenizer,
        t,
        conv,
        greedy(),
        vec![],
    );
    e.decode.n_predict = 10;
    let mut ev = Quiet {
        text: String::new(),
        notices: vec![],
    };
    let s1 = e.reply("Once upon a time", &mut ev).unwrap();
    assert_eq!(s1.reused_tokens, 0);
    assert_eq!(s1.finish, Finish::Length);
    assert_eq!(e.session.evaluated, s1.prompt_tokens + s1.generated);
    let held_after_1 = e.session.tokens().len();

    let before = e.session.evaluated;
    let s2 = e.reply("Lily went to the park", &mut ev).unwrap();
    let prompt_evals = e.session.evaluated - before - s2.generated;
    assert_eq!(prompt_evals, s2.new_tokens);
    assert_eq!(s2.new_tokens, s2.prompt_tokens - s2.reused_tokens);
    // Everything the first turn left in the cache (its prompt and reply) is reused…
    assert!(
        s2.reused_tokens >= held_after_1 - 1,
        "reused {} of {held_after_1}",
        s2.reused_tokens
    );
    // …so the second turn evaluates only the end of the reply's turn and the new message: far
    // fewer tokens than its whole prompt.
    let new_text =
        "<|im_end|>\n<|im_start|>user\nLily went to the park<|im_end|>\n<|im_start|>assistant\n";
    let budget = lm.tokenizer.encode(new_text, false, true).len() + 2;
    assert!(
        s2.new_tokens <= budget,
        "turn 2 evaluated {} tokens; its new text is about {budget}",
        s2.new_tokens
    );
    assert!(s2.prompt_tokens > 2 * s2.new_tokens);
}

#[test]
fn a_full_context_drops_old_turns_and_shifts_the_cache() {
    let Some(fx) = common::fixtures() else { return };
    let lm = loader::load(&fx.join("models/stories260K.gguf"), 1).unwrap();
    let t = ChatTemplate::from_arg("chatml", "<s>", "</s>").unwrap();
    let conv = Conversation::new(Some("Stories."));
    let n_ctx = 256;
    let mut e = ChatEngine::new(
        Session::new(&lm.model, n_ctx),
        &lm.tokenizer,
        t,
        conv,
        greedy(),
        vec![],
    );
    e.decode.n_predict = 12;
    let mut ev = Quiet {
        text: String::new(),
        notices: vec![],
    };
    let mut dropped = 0;
    for i in 0..8 {
        let s = e
            .reply(&format!("Tell me about day {i} of the trip"), &mut ev)
            .unwrap();
        dropped += s.dropped_turns;
        assert!(e.session.tokens().len() <= n_ctx);
        // The cache holds exactly a prefix of what the conversation renders to.
        let rendered = e.tokenize_conversation(false, &mut ev).unwrap();
        let held = e.session.tokens();
        let common = held
            .iter()
            .zip(&rendered)
            .take_while(|(a, b)| a == b)
            .count();
        assert!(
            common + s.generated + 2 >= held.len(),
            "turn {i}: the cache diverges from the conversation"
        );
    }
    assert!(dropped > 0, "turns were dropped");
    assert!(
        e.session.shifted > 0,
        "the kept tail was shifted, not recomputed"
    );
    assert_eq!(e.conv.system(), Some("Stories."), "the system prompt stays");
    assert!(ev.notices.iter().any(|n| n.contains("dropped")));
}

#[test]
fn a_message_that_cannot_fit_is_an_error_and_the_chat_goes_on() {
    let Some(fx) = common::fixtures() else { return };
    let lm = loader::load(&fx.join("models/stories260K.gguf"), 1).unwrap();
    let t = ChatTemplate::from_arg("chatml", "<s>", "</s>").unwrap();
    let mut e = ChatEngine::new(
        Session::new(&lm.model, 64),
        &lm.tokenizer,
        t,
        Conversation::new(None),
        greedy(),
        vec![],
    );
    e.decode.n_predict = 4;
    let mut ev = Quiet {
        text: String::new(),
        notices: vec![],
    };
    let long = "word ".repeat(200);
    assert!(e.reply(&long, &mut ev).is_err());
    assert!(
        e.conv.messages.is_empty(),
        "the refused message is not kept"
    );
    let s = e.reply("Hi", &mut ev).unwrap();
    assert!(matches!(
        s.finish,
        Finish::Length | Finish::Eos | Finish::Context | Finish::Stop
    ));
}

#[test]
fn keep_pins_the_first_turn_when_old_turns_are_dropped() {
    let Some(fx) = common::fixtures() else { return };
    let lm = loader::load(&fx.join("models/stories260K.gguf"), 1).unwrap();
    let t = ChatTemplate::from_arg("chatml", "<s>", "</s>").unwrap();
    let mut e = ChatEngine::new(
        Session::new(&lm.model, 256),
        &lm.tokenizer,
        t,
        Conversation::new(None),
        greedy(),
        vec![],
    );
    e.decode.n_predict = 8;
    // The first message is longer than a few tokens, so `--keep 20` reaches into it.
    e.keep = Some(20);
    let mut ev = Quiet {
        text: String::new(),
        notices: vec![],
    };
    let mut dropped = 0;
    for i in 0..8 {
        dropped += e
            .reply(&format!("Day {i}: what happened?"), &mut ev)
            .unwrap()
            .dropped_turns;
    }
    assert!(dropped > 0);
    assert_eq!(e.conv.messages[0].content, "Day 0: what happened?");
    assert!(!e
        .conv
        .messages
        .iter()
        .any(|m| m.content.starts_with("Day 1:")));
}

/// Layer 0's keys and values depend only on each token and its position, not on the context, so
/// after a shift they must equal a fresh evaluation of the kept tokens at their new positions.
#[test]
fn context_shift_moves_cached_layer0_entries_to_their_new_positions() {
    let Some(fx) = common::fixtures() else { return };
    let lm = loader::load(&fx.join("models/stories260K.gguf"), 1).unwrap();
    let toks = lm.tokenizer.encode(
        "Once upon a time, there was a little girl named Lily who loved the park.",
        true,
        true,
    );
    let (start, drop) = (3, 5);
    let mut a = Session::new(&lm.model, 128);
    a.eval(&toks, brisk::model::Logits::Last).unwrap();
    a.shift(start, drop);
    assert_eq!(a.shifted, toks.len() - start - drop);
    let kept: Vec<u32> = toks[..start]
        .iter()
        .chain(&toks[start + drop..])
        .copied()
        .collect();
    assert_eq!(a.tokens(), kept.as_slice());
    let mut b = Session::new(&lm.model, 128);
    b.eval(&kept, brisk::model::Logits::Last).unwrap();
    let c = &lm.model.config;
    let (ka, kb) = (a.kv(), b.kv());
    let mut worst = 0.0f32;
    for pos in 0..kept.len() {
        for h in 0..c.n_head_kv {
            let x = ka.cache().key(ka.seq(), 0, pos, h).unwrap();
            let y = kb.cache().key(kb.seq(), 0, pos, h).unwrap();
            let vx = ka.cache().value(ka.seq(), 0, pos, h).unwrap();
            let vy = kb.cache().value(kb.seq(), 0, pos, h).unwrap();
            for (p, q) in x.iter().zip(&y).chain(vx.iter().zip(&vy)) {
                worst = worst.max((p - q).abs() / (1.0 + q.abs()));
            }
        }
    }
    // f16 storage: one rounding of the re-rotated key.
    assert!(worst < 2e-3, "worst relative difference {worst}");
    // And the session goes on from the shifted cache.
    let l = a.eval(&toks[..1], brisk::model::Logits::Last).unwrap();
    assert!(l.iter().all(|x| x.is_finite()));
}

/// A template that writes `{{ bos_token }}` itself (Llama 3.1) gets exactly one BOS, and its
/// end-of-turn token is found.
#[test]
fn llama3_template_on_its_vocabulary_has_one_bos_and_knows_eot() {
    let Some(fx) = common::fixtures() else { return };
    let dir = std::env::temp_dir().join(format!("brisk-chat-l3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("l3.gguf");
    let template =
        std::fs::read_to_string(fx.join("templates/meta-llama-Llama-3.1-8B-Instruct.jinja"))
            .unwrap();
    common::random_model::write(
        &fx.join("tokenizers/gguf/ggml-vocab-llama-bpe.gguf"),
        &template,
        &model,
    );
    let lm = loader::load(&model, 1).unwrap();
    let tok = &lm.tokenizer;
    let bos = tok.bos().unwrap();
    let text = |id: Option<u32>| id.and_then(|i| tok.token_text(i)).unwrap_or("").to_string();
    let t = ChatTemplate::new(
        lm.chat_template.as_deref().unwrap(),
        "model",
        &text(Some(bos)),
        &text(tok.eos()),
    )
    .unwrap();
    assert_eq!(t.end_of_turn.as_deref(), Some("<|eot_id|>"));
    let mut e = ChatEngine::new(
        Session::new(&lm.model, 512),
        tok,
        t,
        Conversation::new(Some("Be brief.")),
        greedy(),
        vec![],
    );
    e.decode.n_predict = 3;
    let mut ev = Quiet {
        text: String::new(),
        notices: vec![],
    };
    e.conv.push("user", "hi");
    let ids = e.tokenize_conversation(true, &mut ev).unwrap();
    assert_eq!(ids[0], bos);
    assert_ne!(ids[1], bos, "one BOS only");
    let eot = tok.token_id("<|eot_id|>").unwrap();
    assert!(ids.contains(&eot), "<|eot_id|> parsed as its special token");
    e.conv.clear_turns();
    let s = e.reply("hi", &mut ev).unwrap();
    assert_eq!(s.prompt_tokens, ids.len());
    std::fs::remove_dir_all(&dir).ok();
}
