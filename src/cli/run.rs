//! `brisk run`: one prompt in, generated text streamed to stdout (exactly the generated text,
//! nothing added), model info and timings on stderr; `--json` prints one object at the end
//! instead (and `{"error": …}` on failure, so a script reading stdout sees it).
use super::common::{plural, read_prompt, ModelArgs};
use super::gen_args::GenArgs;
use super::output::Out;
use super::spec_args::{SpecArgs, SpecJson};
use super::{interrupt, CliResult, Exit};
use crate::generate::{
    decode, DecodeOptions, DecodeSink, Decoded, Finish, Sampler, Session, SessionError,
};
use crate::grammar::Constraint;
use crate::model::Logits;
use anyhow::anyhow;
use clap::Args;
use std::io::IsTerminal;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub gen: GenArgs,
    #[command(flatten)]
    pub spec: SpecArgs,
    /// With -md or --lookup: decode the prompt again without speculation and report the
    /// speedup (and, greedy, whether the text is the same).
    #[arg(long = "compare")]
    pub compare: bool,
}

#[derive(serde::Serialize)]
struct Timings {
    load_ms: f64,
    prompt_ms: f64,
    prompt_tps: f64,
    gen_ms: f64,
    gen_tps: f64,
}

#[derive(serde::Serialize)]
struct JsonResult {
    text: String,
    prompt_tokens: usize,
    generated_tokens: usize,
    finish_reason: &'static str,
    timings: Timings,
    #[serde(skip_serializing_if = "Option::is_none")]
    speculative: Option<SpecJson>,
}

fn tps(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1e3 / ms
    } else {
        0.0
    }
}

/// `brisk speculate`: `run` with a draft model or lookup required.
pub fn speculate(a: RunArgs) -> CliResult {
    if !a.spec.enabled() {
        let e = Err(Exit::Usage(
            "brisk speculate needs a draft model (-md FILE) or --lookup".into(),
        ));
        if a.gen.json {
            print_json_error(&e);
        }
        return e;
    }
    main(a)
}

pub fn main(a: RunArgs) -> CliResult {
    let json = a.gen.json;
    let result = generate(a);
    if json {
        print_json_error(&result);
    }
    result
}

/// With `--json`, a failure is also a `{"error": …}` line on stdout.
pub fn print_json_error(result: &CliResult) {
    let message = match result {
        Err(Exit::Usage(m)) => Some(m.clone()),
        Err(Exit::Runtime(e)) => Some(format!("{e:#}")),
        _ => None,
    };
    if let Some(m) = message {
        let line = serde_json::json!({ "error": m }).to_string() + "\n";
        let _ = Out::new().write(line.as_bytes());
    }
}

fn generate(mut a: RunArgs) -> CliResult {
    let g = &a.gen;
    let stops = g.stops()?;
    let grammar = g.grammar()?;
    let prompt = match g.prompt_arg()? {
        Some(p) => p,
        None => read_prompt(&None, &None)?.ok_or_else(|| {
            Exit::Usage("no prompt: give -p TEXT, -f FILE, or pipe text to standard input".into())
        })?,
    };
    let log = a.model.log();
    if a.compare && !a.spec.enabled() {
        return Err(Exit::Usage(
            "--compare measures speculative decoding: give -md FILE or --lookup".into(),
        ));
    }
    a.spec.check_draft_path(&a.model)?;
    let (lm, load_ms) = a.model.load()?;
    let draft = a.spec.load_draft(&a.model, &lm)?;
    let model = &lm.model;
    let tok = &lm.tokenizer;
    let train_ctx = model.config.n_ctx_train;
    let n_ctx = super::common::context_size(g.ctx_size, train_ctx, log);
    let kv_types = g.kv_types();
    super::common::plan_kv(model, n_ctx, kv_types, log)?;

    let mut tokens = tok.encode(&prompt, true, true);
    if tokens.is_empty() {
        tokens.push(
            tok.bos()
                .ok_or_else(|| anyhow!("empty prompt and the model has no BOS token"))?,
        );
    }
    if tokens.len() > n_ctx {
        let hint = if n_ctx < train_ctx {
            format!("raise -c, up to the model's {train_ctx}")
        } else {
            "the model's context cannot hold more; shorten the prompt".to_string()
        };
        return Err(Exit::Runtime(anyhow!(
            "the prompt is {} tokens but the context holds {n_ctx} ({hint})",
            tokens.len()
        )));
    }
    let params = g.sampling.params();
    // From here on a Ctrl-C ends the run with what was generated (the seed line says we are
    // about to start).
    interrupt::install();
    log.info(format!("brisk: seed {}", params.seed));
    let mut sampler = Sampler::new(params.clone(), n_ctx);
    for &t in &tokens {
        sampler.accept(t);
    }
    let mut constraint = grammar.map(|gr| Constraint::for_tokenizer(gr, tok));
    let mut spec = a.spec.speculator(&lm, draft.as_ref(), n_ctx, log)?;

    let mut session =
        Session::with_kv_types(model, n_ctx, kv_types).map_err(anyhow::Error::from)?;
    session.set_cancel(interrupt::requested);
    let t_prompt = Instant::now();
    let mut prompt = session.eval(&tokens, Logits::Last);
    if let (Ok(_), Some(sp)) = (&prompt, spec.as_mut()) {
        // The draft model reads the prompt too (prompt processing, not generation).
        if let Err(e) = sp.prefill(&tokens) {
            prompt = Err(e);
        }
    }
    let prompt_ms = t_prompt.elapsed().as_secs_f64() * 1e3;

    let opts = DecodeOptions {
        n_predict: g.n_predict,
        ignore_eos: g.ignore_eos,
        special: g.special,
        extra_eog: Vec::new(),
        stops,
    };
    let mut sink = RunSink {
        out: Out::new(),
        json: g.json,
        error: None,
    };
    if a.compare && prompt.is_ok() {
        // A few plain tokens first, untimed, so that neither measured decode pays the
        // first-use costs (page faults, buffers) the other is spared.
        let warm = DecodeOptions {
            n_predict: 8,
            ..opts.clone()
        };
        plain_decode(model, tok, &tokens, n_ctx, kv_types, &params, &warm, None)?;
    }
    let t_gen = Instant::now();
    let out = match prompt {
        Ok(logits) => decode(
            &mut session,
            &mut sampler,
            tok,
            logits,
            &opts,
            constraint.as_mut(),
            spec.as_mut(),
            &mut sink,
        )
        .map_err(anyhow::Error::from)?,
        // Ctrl-C in the prompt: nothing generated, reported like any other interruption.
        Err(SessionError::Interrupted) => {
            log.info("brisk: interrupted while processing the prompt");
            Decoded {
                text: String::new(),
                tokens: Vec::new(),
                generated: 0,
                finish: Finish::Interrupted,
                grammar_stuck: false,
            }
        }
        Err(e) => return Err(anyhow::Error::from(e).into()),
    };
    if let Some(e) = sink.error.take() {
        return Err(Exit::Runtime(e));
    }
    let gen_ms = t_gen.elapsed().as_secs_f64() * 1e3;
    let timings = Timings {
        load_ms,
        prompt_ms,
        prompt_tps: tps(tokens.len(), prompt_ms),
        gen_ms,
        gen_tps: tps(out.generated, gen_ms),
    };
    let finish_reason = out.finish.as_str();
    let mut spec_json = spec
        .as_ref()
        .map(|sp| SpecJson::new(sp.drafter_name(), &sp.stats, timings.gen_tps));
    if let (Some(sj), true) = (spec_json.as_mut(), a.compare) {
        if out.finish != Finish::Interrupted {
            let mut plain_constraint = g.grammar()?.map(|gr| Constraint::for_tokenizer(gr, tok));
            let plain = plain_decode(
                model,
                tok,
                &tokens,
                n_ctx,
                kv_types,
                &params,
                &opts,
                plain_constraint.as_mut(),
            )?;
            sj.plain_tokens_per_s = Some(tps(plain.generated, plain.ms));
            sj.speedup = Some(if plain.generated > 0 && out.generated > 0 {
                timings.gen_tps / tps(plain.generated, plain.ms)
            } else {
                0.0
            });
            sj.same_text = Some(plain.text == out.text);
        }
    }
    if out.grammar_stuck {
        log.info("brisk: the grammar allows no token the model has here: generation ended");
    }
    if g.json {
        let result = JsonResult {
            text: out.text,
            prompt_tokens: tokens.len(),
            generated_tokens: out.generated,
            finish_reason,
            timings,
            speculative: spec_json,
        };
        let mut line = serde_json::to_string(&result).map_err(anyhow::Error::from)?;
        line.push('\n');
        sink.out.write(line.as_bytes())?;
    } else {
        // stdout is exactly the generated text; on a terminal the summary starts a new line.
        if std::io::stdout().is_terminal() && !out.text.is_empty() && !out.text.ends_with('\n') {
            eprintln!();
        }
        log.info(format!(
            "brisk: prompt {} {} in {:.1} ms ({:.1} t/s) · generated {} {} in {:.1} ms ({:.1} t/s) · load {:.0} ms · {finish_reason}",
            tokens.len(),
            plural(tokens.len(), "token", "tokens"),
            timings.prompt_ms,
            timings.prompt_tps,
            out.generated,
            plural(out.generated, "token", "tokens"),
            timings.gen_ms,
            timings.gen_tps,
            timings.load_ms
        ));
        if let Some(sj) = &spec_json {
            log.info(sj.line());
        }
    }
    if out.finish == Finish::Interrupted {
        return Err(Exit::Interrupted);
    }
    Ok(())
}

/// What a plain decode of the prompt gave (`--compare`).
struct Plain {
    text: String,
    generated: usize,
    ms: f64,
}

/// Decode `tokens` again without speculation, printing nothing: the baseline of `--compare`.
#[allow(clippy::too_many_arguments)]
fn plain_decode(
    model: &crate::model::Model,
    tok: &crate::tokenizer::Tokenizer,
    tokens: &[u32],
    n_ctx: usize,
    kv_types: crate::attn::paged::KvTypes,
    params: &crate::generate::SamplerParams,
    opts: &DecodeOptions,
    constraint: Option<&mut Constraint>,
) -> Result<Plain, Exit> {
    let mut session =
        Session::with_kv_types(model, n_ctx, kv_types).map_err(anyhow::Error::from)?;
    session.set_cancel(interrupt::requested);
    let mut sampler = Sampler::new(params.clone(), n_ctx);
    for &t in tokens {
        sampler.accept(t);
    }
    let logits = session
        .eval(tokens, Logits::Last)
        .map_err(anyhow::Error::from)?;
    let mut sink = RunSink {
        out: Out::new(),
        json: true,
        error: None,
    };
    let t = Instant::now();
    let out = decode(
        &mut session,
        &mut sampler,
        tok,
        logits,
        opts,
        constraint,
        None,
        &mut sink,
    )
    .map_err(anyhow::Error::from)?;
    Ok(Plain {
        text: out.text,
        generated: out.generated,
        ms: t.elapsed().as_secs_f64() * 1e3,
    })
}

/// Streams text to stdout (with --json, the text is kept for the object instead).
struct RunSink {
    out: Out,
    json: bool,
    error: Option<anyhow::Error>,
}

impl DecodeSink for RunSink {
    fn text(&mut self, piece: &str) -> bool {
        if self.json || piece.is_empty() {
            return !self.out.is_closed();
        }
        match self.out.write(piece.as_bytes()) {
            Ok(open) => open,
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }
    fn interrupted(&self) -> bool {
        interrupt::requested()
    }
}
