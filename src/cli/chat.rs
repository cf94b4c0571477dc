//! `brisk chat`: a conversation with a model through its chat template. On a terminal, an
//! interactive prompt (see `chat_repl`); otherwise each line of standard input is one user turn
//! and each reply one paragraph on stdout, ending at end of input. A failed turn makes the exit
//! status 1 (in a pipe once the input ends; with `-st` at once).
use super::chat_ui::{Next, Ui};
use super::common::{plural, ModelArgs};
use super::gen_args::GenArgs;
use super::output::Out;
use super::{chat_repl, interrupt, CliResult, Exit};
use crate::chat::{ChatEngine, ChatTemplate, Conversation};
use crate::generate::Session;
use crate::grammar::Constraint;
use clap::{Args, ValueEnum};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    #[value(alias = "on", alias = "yes", alias = "true")]
    Always,
    Auto,
    #[value(alias = "off", alias = "no", alias = "false")]
    Never,
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub gen: GenArgs,
    #[command(flatten)]
    pub spec: super::spec_args::SpecArgs,
    /// System prompt (-sys; escapes processed).
    #[arg(long = "system-prompt", conflicts_with = "system_prompt_file")]
    pub system_prompt: Option<String>,
    /// Read the system prompt from a file (-sysf).
    #[arg(long = "system-prompt-file")]
    pub system_prompt_file: Option<PathBuf>,
    /// Answer one message (-p, -f, or the first line of input) and exit (-st).
    #[arg(long = "single-turn")]
    pub single_turn: bool,
    /// Chat template: a file (.jinja or tokenizer_config.json), a built-in name (chatml,
    /// llama2, llama3, mistral, phi3, gemma, zephyr), or Jinja text. Default: the model's own,
    /// else chatml.
    #[arg(long = "chat-template")]
    pub chat_template: Option<String>,
    /// Tokens at the start kept when old turns are shifted out (default: BOS and the system
    /// prompt).
    #[arg(long = "keep", value_parser = super::common::count_or_all)]
    pub keep: Option<i64>,
    /// Text put before every user message (escapes processed).
    #[arg(long = "in-prefix", default_value = "")]
    pub in_prefix: String,
    /// Text put after every user message (escapes processed).
    #[arg(long = "in-suffix", default_value = "")]
    pub in_suffix: String,
    /// Colour replies and the prompt: alone means always; auto (the default) when stdout is a
    /// terminal.
    #[arg(long = "color", value_enum, num_args = 0..=1, default_value_t = Color::Auto, default_missing_value = "always")]
    pub color: Color,
    /// Print token counts and speed after each reply (stderr).
    #[arg(long = "stats")]
    pub stats: bool,
}

pub fn main(a: ChatArgs) -> CliResult {
    let json = a.gen.json;
    let result = chat(a);
    if json {
        super::run::print_json_error(&result);
    }
    result
}

fn chat(mut a: ChatArgs) -> CliResult {
    let g = &a.gen;
    let stops = g.stops()?;
    let grammar = g.grammar()?;
    let first = g.prompt_arg()?;
    let system = match (&a.system_prompt, &a.system_prompt_file) {
        (Some(s), _) => Some(g.text(s)),
        (None, Some(f)) => Some(super::common::read_text_file(f, "system prompt file")?),
        (None, None) => None,
    };
    let log = a.model.log();
    a.spec.check_draft_path(&a.model)?;
    let (lm, _load_ms) = a.model.load()?;
    let draft = a.spec.load_draft(&a.model, &lm)?;
    let model = &lm.model;
    let tok = &lm.tokenizer;
    let n_ctx = super::common::context_size(g.ctx_size, model.config.n_ctx_train, log);
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
    let params = g.sampling.params();
    log.verbose(format!("brisk: seed {}", params.seed));
    let conv = Conversation::new(system.as_deref().filter(|s| !s.is_empty()));
    super::common::plan_kv(model, n_ctx, g.kv_types(), log.quiet_unless_verbose())?;
    let mut session =
        Session::with_kv_types(model, n_ctx, g.kv_types()).map_err(anyhow::Error::from)?;
    session.set_cancel(interrupt::requested);
    let mut engine = ChatEngine::new(session, tok, template, conv, params, stops);
    engine.decode.n_predict = g.n_predict;
    engine.decode.ignore_eos = g.ignore_eos;
    engine.decode.special = g.special;
    engine.keep = a.keep.filter(|&k| k >= 0).map(|k| k as usize);
    engine.grammar = grammar.map(|gr| Constraint::for_tokenizer(gr, tok));
    engine.spec = a.spec.speculator(&lm, draft.as_ref(), n_ctx, log)?;

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
        json: g.json,
        in_prefix: g.text(&a.in_prefix),
        in_suffix: g.text(&a.in_suffix),
        turns: 0,
        generated: 0,
        failed: 0,
    };
    if let Some(p) = &first {
        let next = ui.turn(&mut engine, p)?;
        if a.single_turn {
            return turn_failures(&ui);
        }
        if next == Next::Exit {
            return Ok(());
        }
    }
    if interactive {
        chat_repl::run(&mut engine, &mut ui, a.single_turn)?;
        if a.single_turn {
            return turn_failures(&ui);
        }
        Ok(())
    } else {
        pipe(&mut engine, &mut ui, a.single_turn)?;
        turn_failures(&ui)
    }
}

/// Exit status 1 when any turn failed.
fn turn_failures(ui: &Ui) -> CliResult {
    if ui.failed == 0 {
        return Ok(());
    }
    let total = ui.turns + ui.failed;
    Err(Exit::Runtime(anyhow::anyhow!(
        "{} of {total} {} failed",
        ui.failed,
        plural(total, "turn", "turns")
    )))
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
