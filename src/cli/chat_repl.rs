//! The interactive prompt of `brisk chat` (rustyline): line editing, a history file in the user's
//! data directory, multi-line input (a trailing `\`, or a pasted block), slash commands. Ctrl-C
//! or Ctrl-D at the prompt ends the chat with status 0.
use super::chat_ui::{Next, Ui};
use super::CliResult;
use crate::chat::ChatEngine;
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;
use std::path::PathBuf;

/// `$XDG_DATA_HOME/brisk/chat_history` (or the platform's data directory).
fn history_path() -> Option<PathBuf> {
    let dir = dirs::data_dir()?.join("brisk");
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir.join("chat_history"))
}

pub fn run(engine: &mut ChatEngine, ui: &mut Ui, single_turn: bool) -> CliResult {
    let mut rl =
        DefaultEditor::new().map_err(|e| anyhow::anyhow!("cannot start the prompt: {e}"))?;
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    ui.log
        .info("brisk: /help for commands; Ctrl-C stops a reply; Ctrl-D or /exit leaves");
    let (prompt, more) = if ui.color {
        ("\x1b[1;32m> \x1b[0m", "\x1b[1;32m. \x1b[0m")
    } else {
        ("> ", ". ")
    };
    let result = loop {
        let text = match read_message(&mut rl, prompt, more) {
            Ok(Some(t)) => t,
            Ok(None) => break Ok(()),
            Err(e) => break Err(anyhow::anyhow!("cannot read the prompt: {e}").into()),
        };
        if text.trim().is_empty() {
            continue;
        }
        let _ = rl.add_history_entry(text.as_str());
        let next = match ui.command(engine, &text) {
            Some(n) => n,
            None => match ui.turn(engine, &text) {
                Ok(n) if single_turn => {
                    let _ = n;
                    Next::Exit
                }
                Ok(n) => n,
                Err(e) => break Err(e.into()),
            },
        };
        if next == Next::Exit {
            break Ok(());
        }
    };
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    result
}

/// One message: lines joined while they end with `\`. `None` at Ctrl-C or Ctrl-D.
fn read_message(
    rl: &mut DefaultEditor,
    prompt: &str,
    more: &str,
) -> Result<Option<String>, ReadlineError> {
    let mut text = String::new();
    let mut p = prompt;
    loop {
        match rl.readline(p) {
            Ok(line) => {
                if let Some(start) = line.strip_suffix('\\') {
                    text.push_str(start);
                    text.push('\n');
                    p = more;
                    continue;
                }
                text.push_str(&line);
                return Ok(Some(text));
            }
            Err(ReadlineError::Interrupted) | Err(ReadlineError::Eof) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}
