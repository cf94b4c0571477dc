//! Chat: templates (model-supplied or built-in, rendered with minijinja), the conversation, and
//! the engine that turns each user message into a reply while keeping earlier turns in the KV
//! cache (only new tokens are evaluated; old turns are shifted out when the context fills).
pub mod builtin_templates;
pub mod engine;
pub mod history;
pub mod sandbox;
pub mod strftime;
pub mod template;

pub use engine::{ChatEngine, Finish, ReplyEvents, TurnStats};
pub use history::{Conversation, Message};
pub use template::ChatTemplate;
