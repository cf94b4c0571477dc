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
    #[command(flatten)]
    pub source: super::model_ref::ModelSource,
    /// Threads (default, and with 0 or -1: the number of physical cores; capped at the logical
    /// CPUs).
    #[arg(short = 't', long = "threads", value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Log more (model metadata, kernel choice, ignored llama.cpp flags) to stderr.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Log nothing to stderr but errors.
    #[arg(long = "quiet")]
    pub quiet: bool,
    /// Read the model into memory instead of mapping it (a file changed underneath is then an
    /// error at load, not a crash later).
    #[arg(long = "no-mmap", conflicts_with = "mlock")]
    pub no_mmap: bool,
    /// Lock the mapped model in memory so it is never paged out (needs `ulimit -l`).
    #[arg(long = "mlock")]
    pub mlock: bool,
    /// llama.cpp's -lm: auto and mmap map the file (the default), none reads it (--no-mmap),
    /// mlock and mmap+mlock lock it (--mlock).
    #[arg(long = "load-mode", value_parser = ["auto", "none", "mmap", "mlock", "mmap+mlock"])]
    pub load_mode: Option<String>,
    /// Layers on the GPU (llama.cpp's -ngl): the last N; more than the model has (99, or
    /// `all`) puts every layer and the output there. 0: the CPU only.
    #[arg(long = "n-gpu-layers", visible_alias = "gpu-layers", value_name = "N", value_parser = parse_gpu_layers)]
    pub n_gpu_layers: Option<usize>,
    /// The GPU for -ngl, by the name --list-devices shows (`none`: the CPU).
    #[arg(long = "device", value_name = "NAME")]
    pub device: Option<String>,
    /// Print the GPUs -ngl can use and exit.
    #[arg(long = "list-devices")]
    pub list_devices: bool,
}

/// `-ngl N`: a count, or `all` (every layer and the output).
pub fn parse_gpu_layers(s: &str) -> Result<usize, String> {
    match s.trim() {
        "all" => Ok(usize::MAX),
        t => t
            .parse::<usize>()
            .map_err(|_| format!("'{s}' is not a layer count (a number, or all)")),
    }
}

/// `-t N`: 0 and -1 mean the default (llama.cpp's convention), other negatives are refused.
pub fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if n == 0 || n == -1 => Ok(0),
        Ok(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(format!(
            "'{s}' is not a thread count (a positive number; 0 or -1 for the default)"
        )),
    }
}

/// A finite number.
pub fn finite(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("'{s}' is not a finite number")),
    }
}

/// A probability in [0, 1].
pub fn probability(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

/// A repeat penalty: finite and above 0 (1 = off).
pub fn positive(s: &str) -> Result<f32, String> {
    let v = finite(s)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} is not above 0 (1 turns the penalty off)"))
    }
}

/// A count where -1 means "all" (`--repeat-last-n`, `-n`, `--keep`).
pub fn count_or_all(s: &str) -> Result<i64, String> {
    match s.trim().parse::<i64>() {
        // llama.cpp's -n -2 ("until the context is full") is -1 here.
        Ok(n) if n >= -2 => Ok(n.max(-1)),
        _ => Err(format!(
            "'{s}' is not a count (0 or more, or -1 for no limit)"
        )),
    }
}

/// `-s N`: -1 (llama.cpp's default) or 4294967295 is a random seed.
pub fn parse_seed(s: &str) -> Result<Seed, String> {
    match s.trim().parse::<i64>() {
        Ok(-1) | Ok(0xFFFF_FFFF) => Ok(Seed::Random),
        Ok(n) if n >= 0 => Ok(Seed::Fixed(n as u64)),
        _ => match s.trim().parse::<u64>() {
            Ok(n) => Ok(Seed::Fixed(n)),
            Err(_) => Err(format!(
                "'{s}' is not a seed (a number, or -1 for a random one)"
            )),
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seed {
    Random,
    Fixed(u64),
}

#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// Temperature; 0 or less is greedy.
    #[arg(long = "temp", visible_alias = "temperature", default_value_t = 0.8, value_parser = finite)]
    pub temp: f32,
    /// Top-k sampling (0 or less = off).
    #[arg(long = "top-k", default_value_t = 40, allow_negative_numbers = true)]
    pub top_k: i32,
    /// Top-p (nucleus) sampling, 0 to 1 (1 = off).
    #[arg(long = "top-p", default_value_t = 0.95, value_parser = probability)]
    pub top_p: f32,
    /// Min-p sampling, 0 to 1 (0 = off).
    #[arg(long = "min-p", default_value_t = 0.05, value_parser = probability)]
    pub min_p: f32,
    /// Penalise repeated tokens (above 0; 1.0 = off).
    #[arg(long = "repeat-penalty", default_value_t = 1.0, value_parser = positive)]
    pub repeat_penalty: f32,
    /// Tokens of history the penalties consider (0 = off, -1 = context size).
    #[arg(long = "repeat-last-n", default_value_t = 64, value_parser = count_or_all)]
    pub repeat_last_n: i64,
    /// Presence penalty (0.0 = off).
    #[arg(long = "presence-penalty", default_value_t = 0.0, value_parser = finite)]
    pub presence_penalty: f32,
    /// Frequency penalty (0.0 = off).
    #[arg(long = "frequency-penalty", default_value_t = 0.0, value_parser = finite)]
    pub frequency_penalty: f32,
    /// Random seed (default and -1: random, printed on stderr).
    #[arg(short = 's', long = "seed", value_parser = parse_seed)]
    pub seed: Option<Seed>,
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
            repeat_last_n: self.repeat_last_n.clamp(-1, i32::MAX as i64) as i32,
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            seed: match self.seed {
                Some(Seed::Fixed(s)) => s,
                None | Some(Seed::Random) => random_seed(),
            },
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
    /// This log with its info lines shown only under `-v`.
    pub fn quiet_unless_verbose(&self) -> Log {
        Log {
            quiet: self.quiet || !self.verbose,
            verbose: self.verbose,
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

    /// The thread count to use: the default for none or 0; above the logical CPUs, capped
    /// with a notice.
    pub fn threads(&self) -> usize {
        let logical = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        match self.threads {
            None | Some(0) => physical_cores(),
            Some(n) if n > logical => {
                self.log().info(format!(
                    "brisk: -t {n} capped at this machine's {logical} logical {}",
                    plural(logical, "CPU", "CPUs")
                ));
                logical
            }
            Some(n) => n,
        }
    }

    /// The model's local path (an alias or `-hf` repository downloaded first when needed).
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        self.source.resolve(self.quiet)
    }

    /// Load the model, logging what was loaded; returns it with the load time in ms.
    pub fn load(&self) -> anyhow::Result<(LoadedModel, f64)> {
        // A wrong kernel override is not the model's fault: say so before loading.
        brisk_kernels::requested().map_err(|e| anyhow::anyhow!(e))?;
        let mode = self.load_mode.as_deref();
        crate::format::storage::set_no_mmap(self.no_mmap || mode == Some("none"));
        crate::format::storage::set_mlock(
            self.mlock || matches!(mode, Some("mlock" | "mmap+mlock")),
        );
        let path = self.resolve()?;
        let t0 = Instant::now();
        #[allow(unused_mut)]
        let mut lm = loader::load(&path, self.threads()).context("cannot load model")?;
        let log = self.log();
        log.info(format!("brisk: {} — {}", path.display(), lm.description));
        self.offload(&mut lm, log)?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        let threads = lm.model.backend.threads;
        log.verbose(format!(
            "brisk: kernels {}, {threads} {}",
            lm.model.backend.kernels.name,
            plural(threads, "thread", "threads")
        ));
        Ok((lm, ms))
    }
}

impl ModelArgs {
    /// The layers `-ngl` asks for: 0 without it or with `--device none`; all when only
    /// `--device NAME` is given (as llama.cpp offloads to the device it is told to use).
    pub fn gpu_layers(&self) -> usize {
        match (&self.device, self.n_gpu_layers) {
            (Some(d), _) if d.eq_ignore_ascii_case("none") => 0,
            (Some(_), None) => usize::MAX,
            (_, n) => n.unwrap_or(0),
        }
    }

    /// Move `-ngl` layers to the GPU: an error when there is none (never a silent CPU run).
    #[cfg(feature = "wgpu")]
    fn offload(&self, lm: &mut LoadedModel, log: Log) -> anyhow::Result<()> {
        let n = self.gpu_layers();
        if n == 0 {
            return Ok(());
        }
        let gpu = crate::backend::gpu::open(self.device.as_deref())
            .map_err(|e| anyhow::anyhow!("cannot use -ngl {}: {e}", gpu_layers_shown(n)))?;
        let device = format!("{} ({})", gpu.info.id, gpu.info.name);
        lm.model
            .offload(gpu, n)
            .map_err(|e| anyhow::anyhow!("cannot offload to {device}: {e}"))?;
        let n_layer = lm.model.weights.layers.len();
        let on_gpu = n_layer - lm.model.cpu_layers();
        let output = lm
            .model
            .offload
            .as_ref()
            .is_some_and(|o| o.output.is_some());
        log.info(format!(
            "brisk: {on_gpu}/{n_layer} {}{} on {device}",
            plural(n_layer, "layer", "layers"),
            if output { " and the output" } else { "" }
        ));
        Ok(())
    }

    #[cfg(not(feature = "wgpu"))]
    fn offload(&self, _lm: &mut LoadedModel, _log: Log) -> anyhow::Result<()> {
        if self.gpu_layers() == 0 {
            return Ok(());
        }
        anyhow::bail!("this brisk was built without the GPU backend (the wgpu feature): use -ngl 0")
    }
}

#[cfg(feature = "wgpu")]
fn gpu_layers_shown(n: usize) -> String {
    if n == usize::MAX {
        "all".into()
    } else {
        n.to_string()
    }
}

/// The GPU adapters, one per line as `--list-devices` prints them.
pub fn device_lines() -> Vec<String> {
    #[cfg(feature = "wgpu")]
    {
        crate::backend::gpu::list_devices()
            .into_iter()
            .map(|d| format!("  {}: {} ({})", d.id, d.name, d.kind))
            .collect()
    }
    #[cfg(not(feature = "wgpu"))]
    Vec::new()
}

/// The context when `-c` is not given (capped at the model's without a notice).
pub const DEFAULT_CTX: usize = 4096;

/// `one` or `many` by count.
pub fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// The context length to run with: `-c 0` means the model's training context, and a larger
/// request is capped to it (said on stderr).
pub fn context_size(requested: Option<usize>, n_ctx_train: usize, log: Log) -> usize {
    let Some(requested) = requested else {
        return DEFAULT_CTX.min(n_ctx_train);
    };
    if requested == 0 {
        n_ctx_train
    } else if requested > n_ctx_train {
        log.info(format!(
            "brisk: -c {requested} capped at the model's {n_ctx_train} (its training context)"
        ));
        n_ctx_train
    } else {
        requested
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
        return read_text_file(f, "prompt file")
            .map(Some)
            .map_err(|e| match e {
                super::Exit::Runtime(e) => e,
                _ => anyhow::anyhow!("cannot read prompt file {}", f.display()),
            });
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

/// A UTF-8 text file named on the command line (`what`: "prompt file", "grammar file"…).
pub fn read_text_file(path: &std::path::Path, what: &str) -> Result<String, super::Exit> {
    let bytes = std::fs::read(path).map_err(|e| {
        super::Exit::Runtime(anyhow::anyhow!(
            "cannot read {what} {}: {e}",
            path.display()
        ))
    })?;
    String::from_utf8(bytes).map_err(|_| {
        super::Exit::Runtime(anyhow::anyhow!(
            "{what} {} is not valid UTF-8",
            path.display()
        ))
    })
}

/// Memory the OS says is available to this process now (Linux `MemAvailable`), in bytes.
pub fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Log the context and KV cache size, and refuse a context whose full cache cannot fit in the
/// memory available (the cache is committed as positions fill, but a run may fill it all).
pub fn plan_kv(
    model: &crate::model::Model,
    n_ctx: usize,
    types: crate::attn::paged::KvTypes,
    log: Log,
) -> Result<(), super::Exit> {
    let block = crate::attn::flash::DEFAULT_BLOCK_SIZE;
    let cfg = &model.config;
    let kv_bytes = crate::attn::paged::PagedKvCache::memory_bytes(
        n_ctx.div_ceil(block),
        block,
        cfg.n_layer,
        cfg.n_head_kv,
        cfg.head_dim,
        cfg.head_dim_v,
        types,
    ) as u64;
    log.info(format!(
        "brisk: context {n_ctx} tokens (model trained at {}), KV cache up to {:.1} MiB (K {}, V {}, {kv_bytes} bytes; committed as it fills)",
        cfg.n_ctx_train,
        kv_bytes as f64 / (1024.0 * 1024.0),
        types.k.name(),
        types.v.name(),
    ));
    if let Some(msg) = available_memory().and_then(|a| kv_refusal(kv_bytes, a, n_ctx, types)) {
        return Err(super::Exit::Runtime(anyhow::anyhow!(msg)));
    }
    Ok(())
}

/// Why a KV cache of `kv_bytes` cannot be had with `avail` bytes available, if it cannot.
fn kv_refusal(
    kv_bytes: u64,
    avail: u64,
    n_ctx: usize,
    types: crate::attn::paged::KvTypes,
) -> Option<String> {
    if kv_bytes <= avail {
        return None;
    }
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let hint = if types.k == crate::attn::paged::KvType::F16 {
        "lower -c, or halve the cache with -ctk q8_0 -ctv q8_0"
    } else {
        "lower -c"
    };
    Some(format!(
        "the KV cache for -c {n_ctx} needs {:.1} GiB, and {:.1} GiB of memory is available; {hint}",
        gib(kv_bytes),
        gib(avail)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attn::paged::{KvType, KvTypes};

    #[test]
    fn a_cache_larger_than_memory_is_refused_with_the_numbers() {
        let f16 = KvTypes::from(KvType::F16);
        assert_eq!(kv_refusal(1 << 30, 2 << 30, 4096, f16), None);
        let msg = kv_refusal(24 << 30, 21 << 30, 100_000_000, f16).unwrap();
        assert_eq!(
            msg,
            "the KV cache for -c 100000000 needs 24.0 GiB, and 21.0 GiB of memory is available; \
             lower -c, or halve the cache with -ctk q8_0 -ctv q8_0"
        );
    }

    #[test]
    fn thread_and_seed_conventions() {
        assert_eq!(parse_threads("0"), Ok(0));
        assert_eq!(parse_threads("-1"), Ok(0));
        assert!(parse_threads("-2").is_err());
        assert_eq!(parse_seed("-1"), Ok(Seed::Random));
        assert_eq!(parse_seed("42"), Ok(Seed::Fixed(42)));
        assert!(parse_seed("-7").is_err());
        assert!(finite("nan").is_err() && finite("inf").is_err());
        assert!(probability("1.5").is_err() && probability("0.5").is_ok());
        assert!(positive("0").is_err());
        assert_eq!(count_or_all("-2"), Ok(-1));
    }
}
