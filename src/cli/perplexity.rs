//! `brisk perplexity`, llama-perplexity's method and output: `[1]12.34,[2]…` per chunk and
//! `Final estimate: PPL = X +/- Y`; `--kl-divergence-base FILE` saves the base model's
//! log-probabilities in llama-perplexity's file format, and `--kl-divergence` scores this
//! model against such a file (either tool's) with llama-perplexity's statistics.
use super::chunk_args::{chunk_bos, chunk_logits, tokenize, ChunkArgs};
use super::common::ModelArgs;
use super::output::Out;
use super::{CliResult, Exit};
use crate::eval::base_logits::{quantize_row, row_len, Header, Reader, Writer};
use crate::eval::chunks::{nlls, Chunks, NllSums};
use crate::eval::kld::{token_kld, KldSums};
use crate::eval::par_map;
use crate::interrupt;
use crate::model::LoadedModel;
use anyhow::anyhow;
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to score and its chunks (each scored on its second half).
    #[command(flatten)]
    pub text: ChunkArgs,
    /// Base-logits file: written with this model's log-probabilities, or, with
    /// --kl-divergence, read to score this model against them.
    #[arg(long = "kl-divergence-base", visible_alias = "save-all-logits")]
    pub kld_base: Option<PathBuf>,
    /// Score against the --kl-divergence-base file (its tokens and context; -f and --chunks
    /// are not used).
    #[arg(long = "kl-divergence", requires = "kld_base")]
    pub kl_divergence: bool,
    /// Print one JSON object with the results instead of the text report.
    #[arg(long = "json")]
    pub json: bool,
}

/// What is done with each chunk's logits.
enum Mode {
    Perplexity,
    WriteBase(Writer),
    Kld(Reader),
}

pub fn main(a: PerplexityArgs) -> CliResult {
    a.text.check("perplexity")?;
    // The base file to score against (checked before the model is loaded), or the text.
    let base = match (&a.kld_base, a.kl_divergence) {
        (Some(path), true) => Some((
            path,
            Reader::open(path).map_err(|e| Exit::Runtime(anyhow!(e)))?,
        )),
        _ => None,
    };
    let text = match (&base, a.text.read_text()?) {
        (Some(_), _) => String::new(),
        (None, Some(text)) => text,
        (None, None) => {
            return Err(Exit::Usage(
                "no text: give -f FILE (or --kl-divergence with --kl-divergence-base)".into(),
            ))
        }
    };
    let log = a.model.log();
    let (lm, _) = a.model.load()?;
    let n_vocab = lm.model.config.n_vocab;
    let tok = &lm.tokenizer;
    let bos = chunk_bos(tok);
    let (tokens, chunks, mode) = match base {
        Some((path, r)) => {
            let h = &r.header;
            if h.n_vocab != n_vocab {
                return Err(Exit::Runtime(anyhow!(
                    "{} holds log-probabilities over {} tokens, but this model's vocabulary has \
                     {n_vocab}: it was made with another tokenizer",
                    path.display(),
                    h.n_vocab
                )));
            }
            let chunks = Chunks {
                n_ctx: h.n_ctx,
                n_chunk: h.n_chunk,
                first: h.n_ctx / 2,
                bos,
            };
            (h.tokens.clone(), chunks, Mode::Kld(r))
        }
        None => {
            let t0 = Instant::now();
            let tokens = tokenize(tok, &text, false)?;
            log.verbose(format!(
                "brisk: tokenized in {:.1} ms",
                t0.elapsed().as_secs_f64() * 1e3
            ));
            let chunks = Chunks::plan(tokens.len(), a.text.ctx, a.text.max_chunks(), bos)
                .map_err(|e| Exit::Runtime(anyhow!(e)))?;
            let mode = match &a.kld_base {
                Some(path) => {
                    let header = Header {
                        n_ctx: chunks.n_ctx,
                        n_vocab,
                        n_chunk: chunks.n_chunk,
                        tokens: tokens[..chunks.n_chunk * chunks.n_ctx].to_vec(),
                    };
                    Mode::WriteBase(Writer::create(path, &header).map_err(|e| {
                        Exit::Runtime(anyhow!("cannot write {}: {e}", path.display()))
                    })?)
                }
                None => Mode::Perplexity,
            };
            (tokens, chunks, mode)
        }
    };
    if chunks.n_ctx > lm.model.config.n_ctx_train {
        log.info(format!(
            "brisk: warning: the model was trained on only {} context tokens ({} specified)",
            lm.model.config.n_ctx_train, chunks.n_ctx
        ));
    }
    let n_batch = a.text.batch.min(chunks.n_ctx);
    log.info(format!(
        "brisk: {} over {} chunks, n_ctx={}, batch_size={n_batch}, {} tokens scored",
        if matches!(mode, Mode::Kld(_)) {
            "KL-divergence"
        } else {
            "perplexity"
        },
        chunks.n_chunk,
        chunks.n_ctx,
        chunks.n_chunk * chunks.scored()
    ));
    interrupt::install();
    score(&a, &lm, &tokens, chunks, n_batch, mode)
}

/// Evaluate every chunk, print the running values, then the final report.
fn score(
    a: &PerplexityArgs,
    lm: &LoadedModel,
    tokens: &[u32],
    chunks: Chunks,
    n_batch: usize,
    mut mode: Mode,
) -> CliResult {
    let model = &lm.model;
    let log = a.model.log();
    let n_vocab = model.config.n_vocab;
    let mut out = Out::new();
    let mut ppl = NllSums::default();
    let mut kld = KldSums::default();
    let mut running = Vec::with_capacity(chunks.n_chunk);
    let mut base_rows = Vec::new();
    let t0 = Instant::now();
    for c in 0..chunks.n_chunk {
        let logits = chunk_logits(&chunks, model, tokens, c, n_batch, chunks.first)?;
        let targets = chunks.targets(tokens, c);
        let row = |r: usize| &logits[r * n_vocab..(r + 1) * n_vocab];
        let line = match &mut mode {
            Mode::Perplexity => {
                for v in nlls(&model.backend, &logits, 0, targets, n_vocab) {
                    ppl.add(v);
                }
                format!("[{}]{:.4},", c + 1, ppl.ppl())
            }
            Mode::WriteBase(w) => {
                let rl = row_len(n_vocab);
                let rows = par_map(&model.backend, targets.len(), &|r| {
                    let mut q = vec![0u16; rl];
                    let v = quantize_row(row(r), targets[r] as usize, &mut q);
                    (v, q)
                });
                let mut flat = Vec::with_capacity(rows.len() * rl);
                for (v, q) in rows {
                    ppl.add(v);
                    flat.extend(q);
                }
                w.write_rows(&flat, rl)
                    .map_err(|e| Exit::Runtime(anyhow!(e)))?;
                format!("[{}]{:.4},", c + 1, ppl.ppl())
            }
            Mode::Kld(r) => {
                r.read_chunk(&mut base_rows)
                    .map_err(|e| Exit::Runtime(anyhow!("reading the base file: {e}")))?;
                let rl = row_len(n_vocab);
                let rows = &base_rows;
                for t in par_map(&model.backend, targets.len(), &|i| {
                    token_kld(row(i), &rows[i * rl..(i + 1) * rl], targets[i] as usize)
                }) {
                    kld.add(&t);
                }
                let mut s = String::new();
                if c == 0 {
                    s.push('\n');
                    s.push_str(KldSums::HEADING);
                    s.push('\n');
                }
                s.push_str(&kld.running_line(c + 1));
                s.push('\n');
                s
            }
        };
        if c == 0 {
            let per = t0.elapsed().as_secs_f64();
            log.info(format!(
                "brisk: {per:.2} seconds per chunk - ETA {:.2} minutes",
                per * chunks.n_chunk as f64 / 60.0
            ));
        }
        running.push(ppl.ppl());
        // A reader that went away (`| head`) ends the run, unless a base file is being saved.
        if !a.json && !out.write(line.as_bytes())? && !matches!(mode, Mode::WriteBase(_)) {
            return Ok(());
        }
    }
    let is_kld = matches!(mode, Mode::Kld(_));
    if !a.json && !is_kld {
        out.write(b"\n")?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let n_eval = chunks.n_chunk * chunks.n_ctx;
    log.info(format!(
        "brisk: {n_eval} tokens evaluated in {secs:.2} s ({:.1} tokens/s)",
        n_eval as f64 / secs
    ));
    if let Mode::WriteBase(w) = mode {
        w.finish().map_err(|e| Exit::Runtime(anyhow!(e)))?;
        if let Some(p) = &a.kld_base {
            log.info(format!(
                "brisk: base log-probabilities saved to {}",
                p.display()
            ));
        }
    }
    let estimate = if is_kld { None } else { ppl.estimate() };
    if a.json {
        let mut j = serde_json::json!({
            "n_ctx": chunks.n_ctx,
            "n_chunks": chunks.n_chunk,
            "n_tokens_scored": if is_kld { kld.count } else { ppl.count },
            "tokens_per_second": n_eval as f64 / secs,
        });
        if is_kld {
            j["kld"] = serde_json::to_value(kld.summary()).map_err(anyhow::Error::from)?;
        } else {
            j["ppl"] = estimate.map(|e| e.0).into();
            j["ppl_error"] = estimate.map(|e| e.1).into();
            j["chunks"] = running.into();
        }
        out.write(format!("{j}\n").as_bytes())?;
        return Ok(());
    }
    let mut tail = String::new();
    if is_kld {
        tail.push('\n');
        for l in kld.report() {
            tail.push_str(&l);
            tail.push('\n');
        }
    } else {
        match estimate {
            Some((p, e)) => tail.push_str(&format!("Final estimate: PPL = {p:.4} +/- {e:.5}\n")),
            None => {
                return Err(Exit::Runtime(anyhow!(
                    "every scored token has the same log-likelihood: no estimate"
                )))
            }
        }
    }
    out.write(tail.as_bytes())?;
    Ok(())
}
