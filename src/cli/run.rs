//! `brisk run`: one prompt in, generated text streamed to stdout (only the new text), model info
//! and timings on stderr; `--json` prints one object at the end instead.
use super::common::{read_prompt, ModelArgs, SamplingArgs};
use super::output::{Out, StopFilter};
use super::{interrupt, CliResult, Exit};
use crate::attn::paged::{KvType, KvTypes};
use crate::generate::{Sampler, Session};
use crate::model::Logits;
use crate::tokenizer::StreamDecoder;
use anyhow::anyhow;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt text.
    #[arg(short = 'p', long = "prompt", conflicts_with = "file")]
    pub prompt: Option<String>,
    /// Read the prompt from a file.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Tokens to generate (-1 = until end of generation or a full context).
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    pub n_predict: i64,
    /// Context size (0 = the model's training context); capped at the model's context.
    #[arg(short = 'c', long = "ctx-size", default_value_t = 4096)]
    pub ctx_size: usize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Stop when this text is generated (repeatable; not printed).
    #[arg(long = "stop", visible_alias = "reverse-prompt", short = 'r')]
    pub stop: Vec<String>,
    /// Keep generating past end-of-generation tokens.
    #[arg(long = "ignore-eos")]
    pub ignore_eos: bool,
    /// Print control tokens (otherwise never printed).
    #[arg(long = "special")]
    pub special: bool,
    /// Print nothing while generating, then one JSON object.
    #[arg(long = "json")]
    pub json: bool,
    /// KV cache type for keys (-ctk): f16 or q8_0.
    #[arg(long = "cache-type-k", default_value = "f16", value_parser = parse_kv_type)]
    pub cache_type_k: KvType,
    /// KV cache type for values (-ctv): f16 or q8_0.
    #[arg(long = "cache-type-v", default_value = "f16", value_parser = parse_kv_type)]
    pub cache_type_v: KvType,
}

/// clap value parser for `-ctk/-ctv`.
pub fn parse_kv_type(s: &str) -> Result<KvType, String> {
    KvType::parse(s).ok_or_else(|| format!("'{s}' is not a KV cache type (expected f16 or q8_0)"))
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
}

fn tps(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1e3 / ms
    } else {
        0.0
    }
}

pub fn main(a: RunArgs) -> CliResult {
    let prompt = read_prompt(&a.prompt, &a.file)?.ok_or_else(|| {
        Exit::Usage("no prompt: give -p TEXT, -f FILE, or pipe text to standard input".into())
    })?;
    let log = a.model.log();
    let (lm, load_ms) = a.model.load()?;
    let model = &lm.model;
    let tok = &lm.tokenizer;
    let train_ctx = model.config.n_ctx_train;
    let n_ctx = super::common::context_size(a.ctx_size, train_ctx);
    let kv_types = KvTypes {
        k: a.cache_type_k,
        v: a.cache_type_v,
    };
    let block = crate::attn::flash::DEFAULT_BLOCK_SIZE;
    let kv_bytes = crate::attn::paged::PagedKvCache::memory_bytes(
        n_ctx.div_ceil(block),
        block,
        model.config.n_layer,
        model.config.n_head_kv,
        model.config.head_dim,
        model.config.head_dim_v,
        kv_types,
    );
    log.info(format!(
        "brisk: context {n_ctx} tokens (model trained at {train_ctx}), KV cache {:.1} MiB (K {}, V {}, {kv_bytes} bytes)",
        kv_bytes as f64 / (1024.0 * 1024.0),
        kv_types.k.name(),
        kv_types.v.name(),
    ));

    let mut tokens = tok.encode(&prompt, true, true);
    if tokens.is_empty() {
        tokens.push(
            tok.bos()
                .ok_or_else(|| anyhow!("empty prompt and the model has no BOS token"))?,
        );
    }
    if tokens.len() > n_ctx {
        return Err(Exit::Runtime(anyhow!(
            "the prompt is {} tokens but the context holds {n_ctx} (raise -c)",
            tokens.len()
        )));
    }
    let params = a.sampling.params();
    log.info(format!("brisk: seed {}", params.seed));
    let mut sampler = Sampler::new(params, n_ctx);
    for &t in &tokens {
        sampler.accept(t);
    }

    interrupt::install();
    let mut session =
        Session::with_kv_types(model, n_ctx, kv_types).map_err(anyhow::Error::from)?;
    let t_prompt = Instant::now();
    let mut logits = session
        .eval(&tokens, Logits::Last)
        .map_err(anyhow::Error::from)?;
    let prompt_ms = t_prompt.elapsed().as_secs_f64() * 1e3;

    let mut out = Out::new();
    let mut decoder = StreamDecoder::new();
    let mut stops = StopFilter::new(a.stop.clone());
    let mut text = String::new();
    let mut generated = 0usize;
    let t_gen = Instant::now();
    let emit = |s: &str, out: &mut Out, text: &mut String| -> anyhow::Result<bool> {
        if a.json {
            text.push_str(s);
            Ok(true)
        } else {
            out.write(s.as_bytes())
        }
    };
    let finish_reason = loop {
        if interrupt::requested() {
            break "interrupted";
        }
        if a.n_predict >= 0 && generated as i64 >= a.n_predict {
            break "length";
        }
        if a.ignore_eos {
            for &e in tok.eog_ids() {
                if let Some(l) = logits.get_mut(e as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        let next = sampler.sample(&mut logits);
        if tok.is_eog(next) && !a.ignore_eos {
            break "eos";
        }
        sampler.accept(next);
        generated += 1;
        let piece = tok.token_to_piece(next, a.special);
        let decoded = decoder.push(&piece);
        let filtered = stops.push(&decoded);
        if !emit(&filtered.emit, &mut out, &mut text)? {
            break "closed";
        }
        if filtered.stopped {
            break "stop";
        }
        if session.remaining() == 0 {
            break "context";
        }
        logits = session
            .eval(&[next], Logits::Last)
            .map_err(anyhow::Error::from)?;
    };
    if !matches!(finish_reason, "stop" | "closed") {
        let rest = decoder.finish();
        let mut tail = stops.push(&rest).emit;
        tail.push_str(&stops.finish());
        emit(&tail, &mut out, &mut text)?;
    }
    let gen_ms = t_gen.elapsed().as_secs_f64() * 1e3;
    let timings = Timings {
        load_ms,
        prompt_ms,
        prompt_tps: tps(tokens.len(), prompt_ms),
        gen_ms,
        gen_tps: tps(generated, gen_ms),
    };
    if a.json {
        let reason = match finish_reason {
            "interrupted" | "closed" => "stop",
            r => r,
        };
        let result = JsonResult {
            text,
            prompt_tokens: tokens.len(),
            generated_tokens: generated,
            finish_reason: reason,
            timings,
        };
        let mut line = serde_json::to_string(&result).map_err(anyhow::Error::from)?;
        line.push('\n');
        out.write(line.as_bytes())?;
    } else {
        if !out.is_closed() {
            out.write(b"\n")?;
        }
        log.info(format!(
            "brisk: prompt {} tokens in {:.1} ms ({:.1} t/s) · generated {} tokens in {:.1} ms ({:.1} t/s) · load {:.0} ms · {finish_reason}",
            tokens.len(),
            timings.prompt_ms,
            timings.prompt_tps,
            generated,
            timings.gen_ms,
            timings.gen_tps,
            timings.load_ms
        ));
    }
    if finish_reason == "interrupted" {
        return Err(Exit::Interrupted);
    }
    Ok(())
}
