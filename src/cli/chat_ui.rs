//! What the terminal and pipe front ends of `brisk chat` share: running one turn with its output
//! (reply to stdout, optionally coloured; notices and `--stats` to stderr) and the slash commands.
use super::common::Log;
use super::interrupt;
use super::output::Out;
use crate::chat::{ChatEngine, Conversation, Finish, ReplyEvents, TurnStats};
use std::path::Path;

pub const HELP: &str = "\
commands:
  /help          this list
  /reset         forget the conversation (the system prompt stays)
  /system TEXT   set the system prompt (empty: remove it)
  /save FILE     save the conversation as JSON
  /load FILE     load a conversation saved with /save
  /stats         context use and token counters
  /exit          leave (also Ctrl-D, or Ctrl-C at an empty prompt)
Ctrl-C during a reply stops it. End a line with \\ to continue on the next one.";

/// Output settings and the counters `/stats` reports.
pub struct Ui {
    pub out: Out,
    pub log: Log,
    pub color: bool,
    pub stats: bool,
    /// `--json`: each reply (or failure) as one JSON line instead of text.
    pub json: bool,
    /// `--in-prefix` / `--in-suffix`: put around every user message.
    pub in_prefix: String,
    pub in_suffix: String,
    pub turns: usize,
    pub generated: usize,
    /// Turns that failed (their error was reported).
    pub failed: usize,
}

/// What the front end does after a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Continue,
    Exit,
}

struct Events<'a> {
    ui: &'a mut Ui,
}

impl ReplyEvents for Events<'_> {
    fn text(&mut self, piece: &str) -> bool {
        if piece.is_empty() || self.ui.json {
            return !self.ui.out.is_closed();
        }
        match self.ui.out.write(piece.as_bytes()) {
            Ok(open) => open,
            Err(e) => {
                self.ui.log.info(format!("error: {e:#}"));
                false
            }
        }
    }
    fn notice(&mut self, msg: &str) {
        self.ui.log.info(msg);
    }
    fn interrupted(&self) -> bool {
        interrupt::requested()
    }
}

const COLOR_REPLY: &str = "\x1b[33m";
const COLOR_RESET: &str = "\x1b[0m";

impl Ui {
    /// Run one user turn and print the reply followed by a newline (with `--json`, one JSON
    /// line). Errors that concern only this message (it cannot fit, the template refuses it)
    /// are reported, counted in `failed`, and the chat goes on.
    pub fn turn(&mut self, engine: &mut ChatEngine, text: &str) -> anyhow::Result<Next> {
        interrupt::clear();
        let color = self.color && !self.json;
        if color {
            self.out.write(COLOR_REPLY.as_bytes())?;
        }
        let message = format!("{}{text}{}", self.in_prefix, self.in_suffix);
        let result = engine.reply(&message, &mut Events { ui: self });
        if color {
            self.out.write(COLOR_RESET.as_bytes())?;
        }
        let stats = match result {
            Ok(s) => s,
            Err(e) => {
                self.log.info(format!("error: {e}"));
                self.failed += 1;
                if self.json {
                    let line = serde_json::json!({ "error": e }).to_string() + "\n";
                    self.out.write(line.as_bytes())?;
                }
                return Ok(Next::Continue);
            }
        };
        if self.json {
            let reply = engine
                .conv
                .messages
                .last()
                .map(|m| m.content.clone())
                .unwrap_or_default();
            let mut obj = serde_json::json!({
                "text": reply,
                "prompt_tokens": stats.prompt_tokens,
                "cached_tokens": stats.reused_tokens,
                "generated_tokens": stats.generated,
                "finish_reason": stats.finish.as_str(),
                "timings": { "prompt_ms": stats.prompt_ms, "gen_ms": stats.gen_ms },
            });
            if let Some(sj) = spec_json(engine, &stats) {
                obj["speculative"] = serde_json::to_value(sj).unwrap_or_default();
            }
            let line = obj.to_string() + "\n";
            self.out.write(line.as_bytes())?;
        } else {
            self.out.write(b"\n")?;
        }
        if stats.finish == Finish::Interrupted {
            self.log.info("brisk: reply stopped");
            interrupt::clear();
        }
        self.turns += 1;
        self.generated += stats.generated;
        if self.stats {
            self.log.info(format_stats(&stats));
            if let Some(sj) = spec_json(engine, &stats) {
                self.log.info(sj.line());
            }
        }
        Ok(if self.out.is_closed() {
            Next::Exit
        } else {
            Next::Continue
        })
    }

    /// Handle a `/command` line; `None` when the line is not one.
    pub fn command(&mut self, engine: &mut ChatEngine, line: &str) -> Option<Next> {
        let line = line.trim();
        let rest = line.strip_prefix('/')?;
        let (cmd, arg) = match rest.split_once(char::is_whitespace) {
            Some((c, a)) => (c, a.trim()),
            None => (rest, ""),
        };
        // Answers to commands are asked for, so --quiet does not silence them.
        let log = Log {
            quiet: false,
            verbose: false,
        };
        match cmd {
            "help" | "?" => log.info(HELP),
            "exit" | "quit" | "bye" => return Some(Next::Exit),
            "reset" | "clear" => {
                engine.reset();
                log.info("brisk: conversation reset");
            }
            "system" => {
                engine.conv.set_system(arg);
                if arg.is_empty() {
                    log.info("brisk: system prompt removed");
                } else {
                    log.info("brisk: system prompt set");
                }
            }
            "save" | "load" if arg.is_empty() => log.info(format!("usage: /{cmd} FILE")),
            "save" => match engine.conv.save(Path::new(arg)) {
                Ok(()) => log.info(format!(
                    "brisk: saved {} messages to {arg}",
                    engine.conv.messages.len()
                )),
                Err(e) => log.info(format!("error: {e}")),
            },
            "load" => match Conversation::load(Path::new(arg)) {
                Ok(c) => {
                    log.info(format!(
                        "brisk: loaded {} messages from {arg}",
                        c.messages.len()
                    ));
                    engine.conv = c;
                }
                Err(e) => log.info(format!("error: {e}")),
            },
            "stats" => {
                let s = &engine.session;
                log.info(format!(
                    "brisk: context {}/{} tokens · {} messages · {} turns · {} tokens generated · \
                     {} evaluated · {} moved by context shifts",
                    s.tokens().len(),
                    s.n_ctx(),
                    engine.conv.messages.len(),
                    self.turns,
                    self.generated,
                    s.evaluated,
                    s.shifted
                ));
            }
            _ => log.info(format!("brisk: unknown command /{cmd} (try /help)")),
        }
        Some(Next::Continue)
    }
}

/// A turn's speculative counters as `run --json` gives them.
fn spec_json(engine: &ChatEngine, stats: &TurnStats) -> Option<super::spec_args::SpecJson> {
    let s = stats.spec.as_ref()?;
    let drafter = engine.spec.as_ref()?.drafter_name();
    let tps = if stats.gen_ms > 0.0 {
        stats.generated as f64 * 1e3 / stats.gen_ms
    } else {
        0.0
    };
    Some(super::spec_args::SpecJson::new(drafter, s, tps))
}

pub fn format_stats(s: &TurnStats) -> String {
    let tps = |n: usize, ms: f64| if ms > 0.0 { n as f64 * 1e3 / ms } else { 0.0 };
    format!(
        "brisk: prompt {} tokens ({} cached, {} new) in {:.1} ms ({:.1} t/s) · reply {} tokens in \
         {:.1} ms ({:.1} t/s) · {}",
        s.prompt_tokens,
        s.reused_tokens,
        s.new_tokens,
        s.prompt_ms,
        tps(s.new_tokens, s.prompt_ms),
        s.generated,
        s.gen_ms,
        tps(s.generated, s.gen_ms),
        s.finish.as_str()
    )
}
