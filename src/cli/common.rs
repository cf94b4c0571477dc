//! Argument groups and helpers shared by subcommands: the model and thread flags, the sampling
//! flags (llama.cpp names and defaults), prompt input, and loading with a log line.
use crate::generate::SamplerParams;
use crate::model::{loader, LoadedModel};
use anyhow::Context;
use clap::Args;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model: a GGUF file (first part of a split model) or a safetensors directory.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// Threads (default: the number of physical cores).
    #[arg(short = 't', long = "threads")]
    pub threads: Option<usize>,
    /// Log more (model metadata, kernel choice) to stderr.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Log nothing to stderr but errors.
    #[arg(long = "quiet")]
    pub quiet: bool,
}

#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// Temperature; 0 or less is greedy.
    #[arg(long = "temp", default_value_t = 0.8, allow_negative_numbers = true)]
    pub temp: f32,
    /// Top-k sampling (0 = off).
    #[arg(long = "top-k", default_value_t = 40, allow_negative_numbers = true)]
    pub top_k: i32,
    /// Top-p (nucleus) sampling (1.0 = off).
    #[arg(long = "top-p", default_value_t = 0.95)]
    pub top_p: f32,
    /// Min-p sampling (0.0 = off).
    #[arg(long = "min-p", default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalise repeated tokens (1.0 = off).
    #[arg(long = "repeat-penalty", default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Tokens of history the penalties consider (0 = off, -1 = context size).
    #[arg(
        long = "repeat-last-n",
        default_value_t = 64,
        allow_negative_numbers = true
    )]
    pub repeat_last_n: i32,
    /// Presence penalty (0.0 = off).
    #[arg(
        long = "presence-penalty",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub presence_penalty: f32,
    /// Frequency penalty (0.0 = off).
    #[arg(
        long = "frequency-penalty",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub frequency_penalty: f32,
    /// Random seed (default: random, printed on stderr).
    #[arg(short = 's', long = "seed")]
    pub seed: Option<u64>,
}

impl SamplingArgs {
    /// The sampler parameters and the seed actually used.
    pub fn params(&self) -> SamplerParams {
        SamplerParams {
            temp: self.temp,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            repeat_last_n: self.repeat_last_n,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            seed: self.seed.unwrap_or_else(random_seed),
        }
    }
}

fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    (nanos ^ ((std::process::id() as u64) << 32)) & 0xffff_ffff
}

/// Physical cores (distinct core ids per package), falling back to logical CPUs.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut cores = std::collections::HashSet::new();
    for cpu in 0..logical {
        let base = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
        let core = std::fs::read_to_string(format!("{base}/core_id"));
        let pkg = std::fs::read_to_string(format!("{base}/physical_package_id"));
        match (core, pkg) {
            (Ok(c), Ok(p)) => {
                cores.insert((p.trim().to_string(), c.trim().to_string()));
            }
            _ => return logical,
        }
    }
    cores.len().clamp(1, logical)
}

/// Logging to stderr that respects --quiet and --verbose.
#[derive(Clone, Copy)]
pub struct Log {
    pub quiet: bool,
    pub verbose: bool,
}

impl Log {
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }
    pub fn verbose(&self, msg: impl AsRef<str>) {
        if self.verbose && !self.quiet {
            eprintln!("{}", msg.as_ref());
        }
    }
}

impl ModelArgs {
    pub fn log(&self) -> Log {
        Log {
            quiet: self.quiet,
            verbose: self.verbose,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(physical_cores).max(1)
    }

    /// Load the model, logging what was loaded; returns it with the load time in ms.
    pub fn load(&self) -> anyhow::Result<(LoadedModel, f64)> {
        let t0 = Instant::now();
        let lm = loader::load(&self.model, self.threads()).context("cannot load model")?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let log = self.log();
        log.info(format!(
            "brisk: {} — {}",
            self.model.display(),
            lm.description
        ));
        log.verbose(format!(
            "brisk: kernels {}, {} threads",
            lm.model.backend.kernels.name, lm.model.backend.threads
        ));
        Ok((lm, ms))
    }
}

/// The context length to run with: `-c 0` means the model's training context, and a larger
/// request is capped to it.
pub fn context_size(requested: usize, n_ctx_train: usize) -> usize {
    if requested == 0 {
        n_ctx_train
    } else {
        requested.min(n_ctx_train)
    }
}

/// Where the prompt comes from: `-p`, `-f`, or standard input when it is not a terminal.
pub fn read_prompt(
    prompt: &Option<String>,
    file: &Option<PathBuf>,
) -> anyhow::Result<Option<String>> {
    if let Some(p) = prompt {
        return Ok(Some(p.clone()));
    }
    if let Some(f) = file {
        let bytes =
            std::fs::read(f).with_context(|| format!("cannot read prompt file {}", f.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("prompt file {} is not valid UTF-8", f.display()))?;
        return Ok(Some(text));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    read_stdin().map(Some)
}

/// All of standard input as UTF-8, less one trailing newline.
pub fn read_stdin() -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    let mut text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("standard input is not valid UTF-8"))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}
