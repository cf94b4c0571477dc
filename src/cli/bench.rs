//! `brisk bench`, on llama-bench's model: prompt processing (`pp512`), generation (`tg128`),
//! both (`pp512+tg128`), optionally at a depth (` @ d512`), repeated `-r` times, printed as
//! markdown, CSV, JSON or JSON lines with llama-bench's field names (`-ctk/-ctv` lists give
//! `type_k`/`type_v`) — plus `bw_gbs`, the weight bytes read per generated token times tokens/s,
//! and with `--roofline` the machine's streaming read bandwidth on the same threads
//! (`roofline_gbs`) and `roofline_pct = bw_gbs / roofline_gbs × 100`.
use super::common::physical_cores;
use super::{CliResult, Exit};
use crate::attn::paged::{KvType, KvTypes};
use crate::backend::roofline;
use crate::generate::rng::Rng;
use crate::generate::Session;
use crate::model::{loader, LoadedModel, Logits};
use anyhow::Context;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Model file or alias (repeatable).
    #[arg(short = 'm', long = "model", required_unless_present = "hf_repo")]
    pub model: Vec<PathBuf>,
    /// A model from Hugging Face (-hf user/repo[:QUANT]; repeatable), downloaded when needed.
    #[arg(long = "hf-repo", value_name = "REPO[:QUANT]")]
    pub hf_repo: Vec<String>,
    #[command(flatten)]
    pub hub: super::model_ref::HubArgs,
    /// Prompt lengths to test (list: 128,512 or ranges 1-4; 0 skips).
    #[arg(short = 'p', long = "n-prompt", default_value = "512")]
    pub n_prompt: String,
    /// Generation lengths to test (list; 0 skips).
    #[arg(short = 'n', long = "n-gen", default_value = "128")]
    pub n_gen: String,
    /// Prompt + generation tests, as PP,TG (repeatable).
    #[arg(long = "pg")]
    pub pg: Vec<String>,
    /// Context depths to run each test at (list).
    #[arg(short = 'd', long = "n-depth", default_value = "0")]
    pub n_depth: String,
    /// Repetitions of each test.
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub repetitions: usize,
    /// Thread counts (list; default: physical cores).
    #[arg(short = 't', long = "threads")]
    pub threads: Option<String>,
    /// Output format: md, csv, json or jsonl.
    #[arg(short = 'o', long = "output", default_value = "md")]
    pub output: String,
    /// KV cache types for keys (-ctk, list of f16, q8_0).
    #[arg(long = "cache-type-k", default_value = "f16")]
    pub cache_type_k: String,
    /// KV cache types for values (-ctv, list of f16, q8_0).
    #[arg(long = "cache-type-v", default_value = "f16")]
    pub cache_type_v: String,
    /// Also measure the streaming read bandwidth with the same threads, and report generation
    /// bandwidth as a fraction of it (roofline_gbs, roofline_pct).
    #[arg(long = "roofline")]
    pub roofline: bool,
    /// Layers on the GPU (list, as llama-bench's -ngl: `0,99`); 0 runs on the CPU only.
    #[arg(long = "n-gpu-layers", default_value = "0")]
    pub n_gpu_layers: String,
    /// The GPU for -ngl (see --list-devices).
    #[arg(long = "device", value_name = "NAME")]
    pub device: Option<String>,
    /// Print the GPUs -ngl can use and exit.
    #[arg(long = "list-devices")]
    pub list_devices: bool,
}

/// Move `ngl` layers of `lm` to the GPU; the backends as the results name them.
fn offload(lm: &mut LoadedModel, ngl: usize, device: Option<&str>) -> anyhow::Result<String> {
    let cpu = format!("CPU ({})", lm.model.backend.kernels.name);
    if ngl == 0 {
        return Ok(cpu);
    }
    #[cfg(feature = "wgpu")]
    {
        let gpu = crate::backend::gpu::open(device)
            .map_err(|e| anyhow::anyhow!("cannot use -ngl {ngl}: {e}"))?;
        let name = format!("{} ({})", gpu.info.id, gpu.info.name);
        lm.model.offload(gpu, ngl)?;
        Ok(if lm.model.cpu_layers() == 0 {
            name
        } else {
            format!("{name} + {cpu}")
        })
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = device;
        anyhow::bail!("this brisk was built without the GPU backend (the wgpu feature): use -ngl 0")
    }
}

/// Parse `f16,q8_0` into KV cache types.
fn parse_types(what: &str, s: &str) -> Result<Vec<KvType>, Exit> {
    let out: Option<Vec<KvType>> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(KvType::parse)
        .collect();
    match out {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Exit::Usage(format!(
            "{what}: '{s}' is not a list of KV cache types (f16, q8_0)"
        ))),
    }
}

/// Parse `1,2,8-10` into numbers.
fn parse_list(what: &str, s: &str) -> Result<Vec<usize>, Exit> {
    let bad = || {
        Exit::Usage(format!(
            "{what}: '{s}' is not a list of numbers like 1,2 or 1-4"
        ))
    };
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if b < a || b - a > 4096 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

#[derive(Serialize)]
struct Record {
    build: String,
    cpu_info: String,
    backends: String,
    n_gpu_layers: usize,
    model_filename: String,
    model_type: String,
    model_size: u64,
    model_n_params: u64,
    n_threads: usize,
    type_k: String,
    type_v: String,
    n_prompt: usize,
    n_gen: usize,
    n_depth: usize,
    test: String,
    avg_ns: u64,
    stddev_ns: u64,
    avg_ts: f64,
    stddev_ts: f64,
    samples_ns: Vec<u64>,
    samples_ts: Vec<f64>,
    /// Weight bytes read per generated token × tokens/s (generation tests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    bw_gbs: Option<f64>,
    /// Streaming read bandwidth on the same threads (`--roofline`, generation tests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    roofline_gbs: Option<f64>,
    /// `bw_gbs / roofline_gbs × 100`.
    #[serde(skip_serializing_if = "Option::is_none")]
    roofline_pct: Option<f64>,
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// One timed run: prefill `depth` tokens (untimed), then `pp` prompt tokens in batches and `tg`
/// tokens one at a time (timed). Returns nanoseconds.
fn run_once(
    lm: &LoadedModel,
    types: KvTypes,
    depth: usize,
    pp: usize,
    tg: usize,
    rng: &mut Rng,
) -> anyhow::Result<u64> {
    let n_vocab = lm.model.config.n_vocab as u64;
    let mut tok = || (rng.next_u64() % n_vocab) as u32;
    let mut s = Session::with_kv_types(&lm.model, (depth + pp + tg).max(1), types)?;
    if depth > 0 {
        let d: Vec<u32> = (0..depth).map(|_| tok()).collect();
        s.eval(&d, Logits::Last)?;
    }
    let prompt: Vec<u32> = (0..pp).map(|_| tok()).collect();
    let t0 = Instant::now();
    if pp > 0 {
        s.eval(&prompt, Logits::Last)?;
    }
    for _ in 0..tg {
        let t = tok();
        s.eval(&[t], Logits::Last)?;
    }
    Ok(t0.elapsed().as_nanos() as u64)
}

pub fn main(a: BenchArgs) -> CliResult {
    if !matches!(a.output.as_str(), "md" | "csv" | "json" | "jsonl") {
        return Err(Exit::Usage(format!(
            "-o {}: expected md, csv, json or jsonl",
            a.output
        )));
    }
    brisk_kernels::requested().map_err(|e| Exit::Runtime(anyhow::anyhow!(e)))?;
    if a.repetitions == 0 {
        return Err(Exit::Usage("-r must be at least 1".into()));
    }
    let prompts = parse_list("-p", &a.n_prompt)?;
    let gens = parse_list("-n", &a.n_gen)?;
    let depths = parse_list("-d", &a.n_depth)?;
    let types_k = parse_types("-ctk", &a.cache_type_k)?;
    let types_v = parse_types("-ctv", &a.cache_type_v)?;
    let mut kv_types = Vec::new();
    for &k in &types_k {
        for &v in &types_v {
            kv_types.push(KvTypes { k, v });
        }
    }
    let show_types = kv_types.iter().any(|t| *t != KvTypes::from(KvType::F16));
    let cols = Columns {
        types: show_types,
        roofline: a.roofline,
    };
    let threads = match &a.threads {
        Some(t) => parse_list("-t", t)?
            .into_iter()
            .map(|t| if t == 0 { physical_cores() } else { t })
            .collect(),
        None => vec![physical_cores()],
    };
    let mut tests: Vec<(usize, usize)> = Vec::new();
    tests.extend(prompts.iter().filter(|&&p| p > 0).map(|&p| (p, 0)));
    tests.extend(gens.iter().filter(|&&n| n > 0).map(|&n| (0, n)));
    for pg in &a.pg {
        let v = parse_list("-pg", pg)?;
        match v.as_slice() {
            [p, n] => tests.push((*p, *n)),
            _ => return Err(Exit::Usage(format!("-pg {pg}: expected PP,TG"))),
        }
    }
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if let Some(&t) = threads.iter().find(|&&t| t > logical) {
        return Err(Exit::Usage(format!(
            "-t {t}: this machine has {logical} logical {}; a benchmark with more threads \
             would measure oversubscription",
            super::common::plural(logical, "CPU", "CPUs")
        )));
    }
    let mut records = Vec::new();
    let mut printed_header = false;
    let mut failures = 0usize;
    let mut skipped = 0usize;
    let hub = a.hub.hub(false);
    let mut models = Vec::new();
    for m in &a.model {
        models.push(
            super::model_ref::resolve_path_or_alias(m, &hub).map_err(super::models::interrupted)?,
        );
    }
    for spec in &a.hf_repo {
        models.push(
            super::model_ref::resolve(None, Some(spec), None, &hub)
                .map_err(super::models::interrupted)?,
        );
    }
    let ngls = parse_list("-ngl", &a.n_gpu_layers)?;
    for path in &models {
        for (&t, &ngl) in threads
            .iter()
            .flat_map(|t| ngls.iter().map(move |n| (t, n)))
        {
            let mut one = || -> anyhow::Result<()> {
                #[allow(unused_mut)]
                let mut lm = loader::load(path, t.max(1))
                    .with_context(|| format!("cannot load model {}", path.display()))?;
                let backends = offload(&mut lm, ngl, a.device.as_deref())?;
                let bytes_per_token = lm.model.weights.bytes_per_token() as f64;
                let roof = a.roofline.then(|| {
                let min = (lm.size_bytes as usize).max(bytes_per_token as usize);
                let r = roofline::measure(&lm.model.backend, min, 5);
                eprintln!(
                    "brisk: roofline: {:.2} GB/s streaming read, {} threads, {:.0} MiB buffer, best of {} passes",
                    r.gbs,
                    r.threads,
                    r.bytes as f64 / (1024.0 * 1024.0),
                    r.passes
                );
                r.gbs
            });
                let mut rng = Rng::new(1234);
                for &types in &kv_types {
                    for &depth in &depths {
                        for &(pp, tg) in &tests {
                            let n_ctx = depth + pp + tg;
                            if n_ctx > lm.model.config.n_ctx_train {
                                eprintln!(
                                "brisk: cannot run pp{pp}/tg{tg} at depth {depth} on {}: {n_ctx} tokens exceed the model's context of {}",
                                path.display(),
                                lm.model.config.n_ctx_train
                            );
                                skipped += 1;
                                continue;
                            }
                            // Warm-up (page in the weights, start the pool), as llama-bench does.
                            run_once(&lm, types, 0, pp.min(16), tg.min(1), &mut rng)?;
                            let mut samples_ns = Vec::with_capacity(a.repetitions);
                            for _ in 0..a.repetitions {
                                samples_ns.push(run_once(&lm, types, depth, pp, tg, &mut rng)?);
                            }
                            let samples_ts: Vec<f64> = samples_ns
                                .iter()
                                .map(|&ns| (pp + tg) as f64 * 1e9 / ns as f64)
                                .collect();
                            let ns: Vec<f64> = samples_ns.iter().map(|&n| n as f64).collect();
                            let (avg_ns, std_ns) = mean_std(&ns);
                            let (avg_ts, std_ts) = mean_std(&samples_ts);
                            let mut name = match (pp, tg) {
                                (p, 0) => format!("pp{p}"),
                                (0, n) => format!("tg{n}"),
                                (p, n) => format!("pp{p}+tg{n}"),
                            };
                            if depth > 0 {
                                name.push_str(&format!(" @ d{depth}"));
                            }
                            let bw_gbs = (pp == 0).then(|| bytes_per_token * avg_ts / 1e9);
                            let rec = Record {
                                build: env!("CARGO_PKG_VERSION").to_string(),
                                cpu_info: std::env::consts::ARCH.to_string(),
                                backends: backends.clone(),
                                n_gpu_layers: ngl,
                                model_filename: path.display().to_string(),
                                model_type: lm.description.clone(),
                                model_size: lm.size_bytes,
                                model_n_params: lm.n_params,
                                n_threads: t,
                                type_k: types.k.name().to_string(),
                                type_v: types.v.name().to_string(),
                                n_prompt: pp,
                                n_gen: tg,
                                n_depth: depth,
                                test: name,
                                avg_ns: avg_ns as u64,
                                stddev_ns: std_ns as u64,
                                avg_ts,
                                stddev_ts: std_ts,
                                samples_ns,
                                samples_ts,
                                bw_gbs,
                                roofline_gbs: roof.filter(|_| pp == 0),
                                roofline_pct: roof.zip(bw_gbs).map(|(r, b)| b / r * 100.0),
                            };
                            print_streaming(&a.output, cols, &rec, &mut printed_header)?;
                            records.push(rec);
                        }
                    }
                }
                Ok(())
            };
            if let Err(e) = one() {
                // The results so far stay; the next model still runs.
                eprintln!("error: {e:#}");
                failures += 1;
            }
        }
    }
    if a.output == "json" {
        let s = serde_json::to_string_pretty(&records).map_err(anyhow::Error::from)?;
        super::output::Out::new().write(format!("{s}\n").as_bytes())?;
    }
    if records.is_empty() {
        let why = match (failures, skipped) {
            (0, 0) => "no test was asked for (-p 0 -n 0)".to_string(),
            (0, _) => "every requested test exceeds the model's context".to_string(),
            (f, _) => format!("{f} {} failed", super::common::plural(f, "run", "runs")),
        };
        return Err(Exit::Runtime(anyhow::anyhow!(
            "nothing was measured: {why}"
        )));
    }
    Ok(())
}

/// Optional markdown columns.
#[derive(Clone, Copy)]
struct Columns {
    /// `type_k`/`type_v` (shown when a test uses a non-f16 KV cache, as llama-bench does).
    types: bool,
    /// `roofline GB/s` and `% roofline`.
    roofline: bool,
}

fn opt(x: Option<f64>, digits: usize, none: &str) -> String {
    x.map_or(none.into(), |b| format!("{b:.digits$}"))
}

/// Print one record as soon as it is measured (md, csv, jsonl); json prints the array at the end.
fn print_streaming(fmt: &str, cols: Columns, r: &Record, header: &mut bool) -> anyhow::Result<()> {
    let mut out = super::output::Out::new();
    let mut s = String::new();
    match fmt {
        "md" => {
            if !*header {
                let mut h = String::from("| model | size | params | backend | threads |");
                let mut sep = String::from("| --- | ---: | ---: | --- | ---: |");
                if cols.types {
                    h.push_str(" type_k | type_v |");
                    sep.push_str(" ---: | ---: |");
                }
                h.push_str(" test | t/s | bw GB/s |");
                sep.push_str(" ---: | ---: | ---: |");
                if cols.roofline {
                    h.push_str(" roofline GB/s | % roofline |");
                    sep.push_str(" ---: | ---: |");
                }
                s.push_str(&format!("{h}\n{sep}\n"));
            }
            let name = std::path::Path::new(&r.model_filename)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            s.push_str(&format!(
                "| {name} | {:.2} MiB | {:.2} M | {} | {} |",
                r.model_size as f64 / (1024.0 * 1024.0),
                r.model_n_params as f64 / 1e6,
                r.backends,
                r.n_threads,
            ));
            if cols.types {
                s.push_str(&format!(" {} | {} |", r.type_k, r.type_v));
            }
            s.push_str(&format!(
                " {} | {:.2} ± {:.2} | {} |",
                r.test,
                r.avg_ts,
                r.stddev_ts,
                opt(r.bw_gbs, 2, "-")
            ));
            if cols.roofline {
                s.push_str(&format!(
                    " {} | {} |",
                    opt(r.roofline_gbs, 2, "-"),
                    opt(r.roofline_pct, 1, "-")
                ));
            }
            s.push('\n');
        }
        "csv" => {
            if !*header {
                s.push_str("build,cpu_info,backends,model_filename,model_size,model_n_params,n_threads,type_k,type_v,n_prompt,n_gen,n_depth,test,avg_ns,stddev_ns,avg_ts,stddev_ts,bw_gbs,roofline_gbs,roofline_pct\n");
            }
            s.push_str(&format!(
                "{},{},\"{}\",\"{}\",{},{},{},{},{},{},{},{},\"{}\",{},{},{:.6},{:.6},{},{},{}\n",
                r.build,
                r.cpu_info,
                r.backends,
                r.model_filename,
                r.model_size,
                r.model_n_params,
                r.n_threads,
                r.type_k,
                r.type_v,
                r.n_prompt,
                r.n_gen,
                r.n_depth,
                r.test,
                r.avg_ns,
                r.stddev_ns,
                r.avg_ts,
                r.stddev_ts,
                opt(r.bw_gbs, 4, ""),
                opt(r.roofline_gbs, 4, ""),
                opt(r.roofline_pct, 2, ""),
            ));
        }
        "jsonl" => {
            s = serde_json::to_string(r)?;
            s.push('\n');
        }
        _ => return Ok(()),
    }
    *header = true;
    out.write(s.as_bytes())?;
    Ok(())
}
