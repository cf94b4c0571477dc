//! `brisk imatrix`, llama-imatrix's interface: the importance matrix of a model over a
//! calibration text (mean squared activation per input column of every `blk.*` weight, per
//! expert for expert stacks), written in llama.cpp's GGUF imatrix format (or its legacy `.dat`
//! with `--output-format dat`), so llama-quantize and `brisk quantize --imatrix` both take it.
//! The text's perplexity is printed along the way, as llama-imatrix does.
use super::chunk_args::{chunk_bos, chunk_logits, tokenize, ChunkArgs};
use super::common::ModelArgs;
use super::output::Out;
use super::{CliResult, Exit};
use crate::eval::chunks::{nlls, Chunks, NllSums};
use crate::eval::imatrix::Collector;
use crate::format::gguf::writer::write_atomically;
use crate::interrupt;
use crate::quantize::imatrix_file::{to_gguf, to_legacy};
use anyhow::{anyhow, Context};
use clap::Args;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct ImatrixArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The calibration text and its chunks.
    #[command(flatten)]
    pub text: ChunkArgs,
    /// Where to write the importance matrix.
    #[arg(short = 'o', long = "output-file", default_value = "imatrix.gguf")]
    pub output: PathBuf,
    /// Skip the text's first N chunks.
    #[arg(long = "chunk", visible_alias = "from-chunk", default_value_t = 0)]
    pub skip_chunks: usize,
    /// Rewrite the output file every N chunks (and at the end).
    #[arg(long = "output-frequency", default_value_t = 10)]
    pub output_frequency: usize,
    /// Also keep a copy `OUTPUT.at_N` every N chunks (0: none).
    #[arg(long = "save-frequency", default_value_t = 0)]
    pub save_frequency: usize,
    /// Collect `output.weight` too (never a tied output, which reuses the token embedding).
    #[arg(long = "process-output")]
    pub process_output: bool,
    /// Do not compute the text's perplexity.
    #[arg(long = "no-ppl")]
    pub no_ppl: bool,
    /// File format: gguf (llama.cpp's current one) or dat (the legacy one).
    #[arg(long = "output-format", value_parser = ["gguf", "dat"], default_value = "gguf")]
    pub output_format: String,
    /// Tokenize special-token text in the file as the special tokens.
    #[arg(long = "parse-special")]
    pub parse_special: bool,
}

pub fn main(a: ImatrixArgs) -> CliResult {
    a.text.check("imatrix")?;
    if a.output_frequency == 0 {
        return Err(Exit::Usage("--output-frequency must be at least 1".into()));
    }
    if a.model.gpu_layers() > 0 {
        // The collector watches the CPU's matmuls; GPU layers would go unrecorded.
        return Err(Exit::Usage(
            "brisk imatrix runs on the CPU (it records every matmul's activations): drop -ngl"
                .into(),
        ));
    }
    let Some(text) = a.text.read_text()? else {
        return Err(Exit::Usage("no calibration text: give -f FILE".into()));
    };
    let log = a.model.log();
    let (mut lm, _) = a.model.load()?;
    let tok = &lm.tokenizer;
    let mut tokens = tokenize(tok, &text, a.parse_special)?;
    let bos = chunk_bos(tok);
    let ctx = a.text.ctx;
    if a.skip_chunks > 0 {
        if (a.skip_chunks + 2) * ctx >= tokens.len() {
            return Err(Exit::Runtime(anyhow!(
                "not enough tokens left after skipping {} chunks of {} ({} tokens in all)",
                a.skip_chunks,
                ctx,
                tokens.len()
            )));
        }
        tokens.drain(..a.skip_chunks * ctx);
    }
    let chunks = Chunks::plan(tokens.len(), ctx, a.text.max_chunks(), bos)
        .map_err(|e| Exit::Runtime(anyhow!(e)))?;
    let n_expert = lm.model.config.moe.as_ref().map_or(1, |m| m.n_expert);
    let collector = Arc::new(Collector::new(n_expert, a.process_output));
    lm.model.backend.set_observer(Some(collector.clone()));
    let n_batch = a.text.batch.min(chunks.n_ctx);
    log.info(format!(
        "brisk: importance matrix over {} chunks, n_ctx={}, batch_size={n_batch}",
        chunks.n_chunk, chunks.n_ctx
    ));
    interrupt::install();
    let model = &lm.model;
    let n_vocab = model.config.n_vocab;
    let save = |done: usize, path: &Path| save(&a, &collector, done, chunks.n_ctx, path);
    // Logits from `first` for the perplexity; all of them when output.weight is collected (its
    // product then covers every token, as in llama-imatrix); none otherwise.
    let from = if a.process_output {
        0
    } else if a.no_ppl {
        chunks.n_ctx
    } else {
        chunks.first
    };
    let bar = (!a.model.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(chunks.n_chunk as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "chunk {pos}/{len} [{bar:30}] {per_sec} eta {eta} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        b
    });
    let mut out = Out::new();
    let mut ppl = NllSums::default();
    let t0 = Instant::now();
    for c in 0..chunks.n_chunk {
        let logits = chunk_logits(&chunks, model, &tokens, c, n_batch, from)?;
        if let Some(name) = collector.non_finite() {
            return Err(Exit::Runtime(anyhow!(
                "the activations of {name} are not finite (corrupt weights?); nothing written"
            )));
        }
        if !a.no_ppl {
            let targets = chunks.targets(&tokens, c);
            for v in nlls(
                &model.backend,
                &logits,
                chunks.first - from,
                targets,
                n_vocab,
            ) {
                ppl.add(v);
            }
            let line = format!("[{}]{:.4},", c + 1, ppl.ppl());
            match &bar {
                Some(b) => b.suspend(|| out.write(line.as_bytes()))?,
                None => out.write(line.as_bytes())?,
            };
        }
        let done = c + 1;
        if done % a.output_frequency == 0 && done < chunks.n_chunk {
            save(done, &a.output)?;
        }
        if a.save_frequency > 0 && done % a.save_frequency == 0 {
            let mut at = a.output.clone().into_os_string();
            at.push(format!(".at_{done}"));
            save(done, Path::new(&at))?;
        }
        if let Some(b) = &bar {
            b.inc(1);
            if !a.no_ppl {
                b.set_message(format!("PPL {:.4}", ppl.ppl()));
            }
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    save(chunks.n_chunk, &a.output)?;
    let secs = t0.elapsed().as_secs_f64();
    if !a.no_ppl {
        let mut tail = "\n".to_string();
        if let Some((p, e)) = ppl.estimate() {
            tail.push_str(&format!("Final estimate: PPL = {p:.4} +/- {e:.5}\n"));
        }
        out.write(tail.as_bytes())?;
    }
    for (name, reached) in collector.partial() {
        log.info(format!(
            "brisk: warning: {name} has data for only {reached:.2}% of its experts (the others \
             get importance 1)"
        ));
    }
    let n_eval = chunks.n_chunk * chunks.n_ctx;
    log.info(format!(
        "brisk: importance matrix of {} matrices over {} chunks saved to {} ({n_eval} tokens in \
         {secs:.2} s, {:.1} tokens/s)",
        collector.len(),
        chunks.n_chunk,
        a.output.display(),
        n_eval as f64 / secs
    ));
    Ok(())
}

/// Write the statistics after `done` chunks to `path` in the chosen format (atomically).
fn save(
    a: &ImatrixArgs,
    c: &Collector,
    done: usize,
    chunk_size: usize,
    path: &Path,
) -> Result<(), Exit> {
    let dataset = a.text.file.as_ref().map(|f| f.display().to_string());
    let m = c.snapshot(
        dataset.into_iter().collect(),
        done as u32,
        chunk_size as u32,
    );
    if a.output_format == "dat" {
        let (bytes, skipped) = to_legacy(&m);
        for name in skipped {
            a.model.log().verbose(format!(
                "brisk: {name} has no data; left out of the .dat file"
            ));
        }
        write_atomically(path, &bytes)
    } else {
        to_gguf(&m)?.write(path)
    }
    .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
