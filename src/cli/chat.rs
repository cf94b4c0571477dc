//! `brisk chat`: a conversation with a model through its chat template. On a terminal, an
//! interactive prompt (see `chat_repl`); otherwise each line of standard input is one user turn
//! and each reply one paragraph on stdout, ending at end of input.
use super::chat_ui::{Next, Ui};
use super::common::{ModelArgs, SamplingArgs};
use super::output::Out;
use super::{chat_repl, interrupt, CliResult, Exit};
use crate::chat::{ChatEngine, ChatTemplate, Conversation};
use crate::generate::Session;
use clap::{Args, ValueEnum};
use std::io::{BufRead, IsTerminal};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// System prompt.
    #[arg(long = "system-prompt")]
    pub system_prompt: Option<String>,
    /// First user message (then the conversation goes on, or ends with -st).
    #[arg(short = 'p', long = "prompt")]
    pub prompt: Option<String>,
    /// Answer one message (-p, or the first line of input) and exit.
    #[arg(long = "single-turn")]
    pub single_turn: bool,
    /// Chat template: a file (.jinja or tokenizer_config.json), a built-in name (chatml,
    /// llama2, llama3, mistral, phi3, gemma, zephyr), or Jinja text. Default: the model's own,
    /// else chatml.
    #[arg(long = "chat-template")]
    pub chat_template: Option<String>,
    /// Tokens per reply (-1 = until end of turn or a full context).
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    pub n_predict: i64,
    /// Context size (0 = the model's training context); capped at the model's context.
    #[arg(short = 'c', long = "ctx-size", default_value_t = 4096)]
    pub ctx_size: usize,
    /// Tokens at the start kept when old turns are shifted out (default: BOS and the system
    /// prompt).
    #[arg(long = "keep", allow_negative_numbers = true)]
    pub keep: Option<i64>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// End a reply when this text is generated (repeatable; not printed).
    #[arg(long = "stop", visible_alias = "reverse-prompt", short = 'r')]
    pub stop: Vec<String>,
    /// Colour replies and the prompt.
    #[arg(long = "color", value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Print token counts and speed after each reply (stderr).
    #[arg(long = "stats")]
    pub stats: bool,
}

pub fn main(a: ChatArgs) -> CliResult {
    let log = a.model.log();
    let (lm, _load_ms) = a.model.load()?;
    let model = &lm.model;
    let tok = &lm.tokenizer;
    let n_ctx = super::common::context_size(a.ctx_size, model.config.n_ctx_train);
    let piece = |id: Option<u32>| {
        id.and_then(|i| tok.token_text(i))
            .unwrap_or_default()
            .to_string()
    };
    let (bos, eos) = (piece(tok.bos()), piece(tok.eos()));
    let template = match (&a.chat_template, &lm.chat_template) {
        (Some(arg), _) => ChatTemplate::from_arg(arg, &bos, &eos).map_err(Exit::Usage)?,
        (None, Some(src)) => ChatTemplate::new(src, "the model's", &bos, &eos)
            .map_err(|e| Exit::Runtime(anyhow::anyhow!("{e} (override with --chat-template)")))?,
        (None, None) => {
            log.info("brisk: the model carries no chat template; using chatml (--chat-template to choose)");
            ChatTemplate::from_arg("chatml", &bos, &eos).map_err(Exit::Usage)?
        }
    };
    log.info(format!(
        "brisk: chat template: {}; context {n_ctx} tokens",
        template.origin
    ));
    let params = a.sampling.params();
    log.verbose(format!("brisk: seed {}", params.seed));
    let conv = Conversation::new(a.system_prompt.as_deref().filter(|s| !s.is_empty()));
    let mut engine = ChatEngine::new(
        Session::new(model, n_ctx),
        tok,
        template,
        conv,
        params,
        a.stop.clone(),
    );
    engine.n_predict = a.n_predict;
    engine.keep = a.keep.filter(|&k| k >= 0).map(|k| k as usize);

    interrupt::install();
    let interactive = std::io::stdin().is_terminal();
    let color = match a.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let mut ui = Ui {
        out: Out::new(),
        log,
        color,
        stats: a.stats,
        turns: 0,
        generated: 0,
    };
    if let Some(p) = &a.prompt {
        if ui.turn(&mut engine, p)? == Next::Exit || a.single_turn {
            return Ok(());
        }
    }
    if interactive {
        chat_repl::run(&mut engine, &mut ui, a.single_turn)
    } else {
        pipe(&mut engine, &mut ui, a.single_turn)
    }
}

/// Standard input is not a terminal: one user turn per line, no echo, no prompt.
fn pipe(engine: &mut ChatEngine, ui: &mut Ui, single_turn: bool) -> CliResult {
    let stdin = std::io::stdin();
    let mut pending = String::new();
    for line in stdin.lock().lines() {
        let line =
            line.map_err(|e| Exit::Runtime(anyhow::anyhow!("cannot read standard input: {e}")))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            pending.push('\n');
            continue;
        }
        pending.push_str(line);
        let text = std::mem::take(&mut pending);
        if text.trim().is_empty() {
            continue;
        }
        let next = match ui.command(engine, &text) {
            Some(n) => n,
            None => {
                let n = ui.turn(engine, &text)?;
                if single_turn {
                    return Ok(());
                }
                n
            }
        };
        if next == Next::Exit {
            return Ok(());
        }
    }
    if !pending.trim().is_empty() && ui.command(engine, &pending).is_none() {
        ui.turn(engine, &pending)?;
    }
    Ok(())
}
