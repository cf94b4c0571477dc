//! Chat-template compilation and rendering with a conversation: the template text, then a NUL,
//! then a user message. Must never panic; fuel bounds every loop.
#![no_main]
use brisk::chat::{ChatTemplate, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (src, user) = text.split_once('\0').unwrap_or((&text, "hi"));
    let Ok(t) = ChatTemplate::new(src, "fuzz", "<s>", "</s>") else {
        return;
    };
    let messages = [
        Message::new("system", "be brief"),
        Message::new("user", user),
        Message::new("assistant", "ok"),
        Message::new("user", user),
    ];
    let _ = t.render(&messages, true);
    let _ = t.render(&messages[1..2], false);
});
