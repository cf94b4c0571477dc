//! The conversation: system/user/assistant messages in order, as the chat template sees them,
//! saved and loaded as JSON (`{"messages": [{"role": …, "content": …}, …]}`).
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Message {
        Message {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub messages: Vec<Message>,
}

const ROLES: &[&str] = &["system", "user", "assistant"];

impl Conversation {
    pub fn new(system: Option<&str>) -> Conversation {
        let mut c = Conversation::default();
        if let Some(s) = system {
            c.set_system(s);
        }
        c
    }

    /// The system prompt, if the conversation starts with one.
    pub fn system(&self) -> Option<&str> {
        self.messages
            .first()
            .filter(|m| m.role == "system")
            .map(|m| m.content.as_str())
    }

    /// Replace (or add, or with empty text remove) the leading system message.
    pub fn set_system(&mut self, text: &str) {
        let has = self.system().is_some();
        match (has, text.is_empty()) {
            (true, true) => {
                self.messages.remove(0);
            }
            (true, false) => self.messages[0].content = text.to_string(),
            (false, false) => self.messages.insert(0, Message::new("system", text)),
            (false, true) => {}
        }
    }

    pub fn push(&mut self, role: &str, content: &str) {
        self.messages.push(Message::new(role, content));
    }

    /// Forget every turn; the system prompt stays.
    pub fn clear_turns(&mut self) {
        self.messages.retain(|m| m.role == "system");
    }

    /// Messages of the pinned head that are never dropped: the system prompt, if any.
    pub fn head_len(&self) -> usize {
        usize::from(self.system().is_some())
    }

    /// Remove the oldest turn (a user message and the replies up to the next user message)
    /// after the first `pinned` messages, never touching the last message. False if none can go.
    pub fn drop_oldest_turn(&mut self, pinned: usize) -> bool {
        let start = pinned.max(self.head_len());
        if start + 1 >= self.messages.len() {
            return false;
        }
        let mut end = start + 1;
        while end < self.messages.len() && self.messages[end].role != "user" {
            end += 1;
        }
        if end >= self.messages.len() {
            return false;
        }
        self.messages.drain(start..end);
        true
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// Parse `{"messages": [...]}` or a bare array of messages; roles must be
    /// system/user/assistant.
    pub fn from_json(text: &str) -> Result<Conversation, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = match &v {
            serde_json::Value::Array(_) => v,
            serde_json::Value::Object(o) => {
                o.get("messages").cloned().ok_or("no \"messages\" list")?
            }
            _ => return Err("expected an object with \"messages\" or a list".into()),
        };
        let messages: Vec<Message> = serde_json::from_value(list)
            .map_err(|e| format!("messages need string \"role\" and \"content\": {e}"))?;
        if let Some(m) = messages.iter().find(|m| !ROLES.contains(&m.role.as_str())) {
            return Err(format!("unknown role '{}'", m.role));
        }
        Ok(Conversation { messages })
    }

    /// Write as JSON to a temporary file beside `path`, then rename it into place.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let mut text = self.to_json();
        text.push('\n');
        crate::format::gguf::writer::write_atomically(path, text.as_bytes())
            .map_err(|e| format!("cannot save to {}: {e}", path.display()))
    }

    pub fn load(path: &Path) -> Result<Conversation, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Conversation::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_turns_keeps_system_and_last_message() {
        let mut c = Conversation::new(Some("sys"));
        for (r, t) in [
            ("user", "a"),
            ("assistant", "b"),
            ("user", "c"),
            ("assistant", "d"),
            ("user", "e"),
        ] {
            c.push(r, t);
        }
        assert!(c.drop_oldest_turn(0));
        let roles: Vec<&str> = c.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(roles, ["sys", "c", "d", "e"]);
        assert!(c.drop_oldest_turn(0));
        assert!(!c.drop_oldest_turn(0), "the last user message stays");
        assert_eq!(c.messages.len(), 2);
    }

    #[test]
    fn json_round_trip_and_bad_input() {
        let mut c = Conversation::new(Some("be brief"));
        c.push("user", "hi \"there\"\n");
        c.push("assistant", "hello");
        assert_eq!(Conversation::from_json(&c.to_json()).unwrap(), c);
        let bare = r#"[{"role":"user","content":"x"}]"#;
        assert_eq!(Conversation::from_json(bare).unwrap().messages.len(), 1);
        for bad in [
            "",
            "3",
            "{}",
            r#"[{"role":"robot","content":"x"}]"#,
            r#"[{"role":"user"}]"#,
        ] {
            assert!(Conversation::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn system_prompt_is_set_replaced_and_removed() {
        let mut c = Conversation::new(None);
        c.push("user", "u");
        c.set_system("s1");
        assert_eq!(c.system(), Some("s1"));
        c.set_system("s2");
        assert_eq!(c.messages.len(), 2);
        c.set_system("");
        assert_eq!(c.system(), None);
        c.clear_turns();
        assert!(c.messages.is_empty());
    }
}
