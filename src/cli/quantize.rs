//! `brisk quantize [OPTIONS] IN [OUT] TYPE [NTHREADS]`, with llama-quantize's options and
//! positional rules; the plan printed by `--dry-run`, a progress bar on a terminal, one summary
//! line otherwise.
use super::quantize_export::{
    calib_group, checkpoint_dir, export_request, format_arg, group_arg, group_size,
    keep_stored_types, OutFormat,
};
use super::{CliResult, Exit};
use crate::format::gguf::Value;
use crate::interrupt;
use crate::quantize::calib::{self, Method};
use crate::quantize::export;
use crate::quantize::ftype::{parse_tensor_type, OPTIONS};
use crate::quantize::run::{execute, Stop};
use crate::quantize::{parse_target, plan, Plan, Request, Source};
use anyhow::Context;
use clap::Args;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug)]
#[command(after_help = type_list())]
pub struct QuantizeArgs {
    /// IN [OUT] TYPE [NTHREADS]: the input GGUF (any part of a split model), the output path
    /// (default: IN's directory/ggml-model-TYPE.gguf), the type by name or number, threads.
    #[arg(num_args = 2..=4, required = true, value_name = "IN [OUT] TYPE [NTHREADS]")]
    pub positional: Vec<String>,
    /// Allow requantizing tensors that are already quantized (loses quality).
    #[arg(long = "allow-requantize")]
    pub allow_requantize: bool,
    /// Leave output.weight as it is.
    #[arg(long = "leave-output-tensor")]
    pub leave_output_tensor: bool,
    /// No k-quant mixture: every quantizable tensor gets TYPE's default type.
    #[arg(long = "pure")]
    pub pure: bool,
    /// Importance matrix (llama-imatrix's GGUF or legacy .dat format).
    #[arg(long = "imatrix", value_name = "FILE")]
    pub imatrix: Option<PathBuf>,
    /// Use the importance matrix only for tensors whose name contains this (repeatable).
    #[arg(
        long = "include-weights",
        value_name = "NAME",
        conflicts_with = "exclude_weights"
    )]
    pub include_weights: Vec<String>,
    /// Do not use the importance matrix for tensors whose name contains this (repeatable).
    #[arg(long = "exclude-weights", value_name = "NAME")]
    pub exclude_weights: Vec<String>,
    /// Type of output.weight.
    #[arg(long = "output-tensor-type", value_name = "GGML_TYPE", value_parser = ggml_type)]
    pub output_tensor_type: Option<brisk_kernels::QuantType>,
    /// Type of the token embeddings.
    #[arg(long = "token-embedding-type", value_name = "GGML_TYPE", value_parser = ggml_type)]
    pub token_embedding_type: Option<brisk_kernels::QuantType>,
    /// PATTERN=TYPE: tensors whose name matches the regex PATTERN get TYPE (repeatable; the
    /// first matching pattern wins), e.g. --tensor-type attn_v=q8_0.
    #[arg(long = "tensor-type", value_name = "PATTERN=TYPE", value_parser = tensor_type_arg)]
    pub tensor_type: Vec<(String, brisk_kernels::QuantType)>,
    /// A file of PATTERN=TYPE entries separated by spaces or newlines.
    #[arg(long = "tensor-type-file", value_name = "FILE")]
    pub tensor_type_file: Option<PathBuf>,
    /// Comma-separated layer numbers to remove from the model.
    #[arg(long = "prune-layers", value_name = "L0,L1,...", value_parser = layer_list)]
    pub prune_layers: Option<Vec<i64>>,
    /// Write one output file per input split.
    #[arg(long = "keep-split")]
    pub keep_split: bool,
    /// KEY=TYPE:VALUE (TYPE int, float, bool or str): set metadata in the output (repeatable).
    #[arg(long = "override-kv", value_name = "KEY=TYPE:VALUE", value_parser = kv_override)]
    pub override_kv: Vec<(String, Value)>,
    /// Print the per-tensor plan and the resulting size; write nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Most MiB of rows kept in memory while quantizing one tensor.
    #[arg(long = "max-buffer-size", value_name = "MiB", default_value_t = 8192,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_buffer_size: u64,
    /// Log nothing but errors.
    #[arg(long = "quiet")]
    pub quiet: bool,
    /// How weights are rounded: rtn (llama-quantize's), gptq (error feedback through the
    /// inverse Hessian of calibration inputs), awq (activation-aware scales folded into the
    /// norms, clipping search), awq+gptq. All but rtn need --calib.
    #[arg(long = "method", value_name = "METHOD", default_value = "rtn", value_parser = method_arg)]
    pub method: Method,
    /// Calibration text for --method.
    #[arg(long = "calib", value_name = "FILE")]
    pub calib: Option<PathBuf>,
    /// Most calibration tokens used.
    #[arg(long = "calib-tokens", value_name = "N", default_value_t = 65536,
          value_parser = clap::value_parser!(u64).range(2..))]
    pub calib_tokens: u64,
    /// Tokens per calibration sample (each starts with BOS when the model adds one).
    #[arg(long = "calib-ctx", value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(2..=1048576))]
    pub calib_ctx: u64,
    /// GPTQ's damping, as a fraction of the Hessian's mean diagonal.
    #[arg(long = "gptq-damp", value_name = "F", default_value_t = 0.01, value_parser = damp_arg)]
    pub gptq_damp: f32,
    /// GPTQ: round columns in order of decreasing activation energy, block scales from the
    /// original weights (GGUF stores no permutation: "static groups"). The default; it
    /// measured better than the natural order on every type tried.
    #[arg(long = "act-order", overrides_with = "no_act_order")]
    pub act_order: bool,
    /// GPTQ: round columns in their natural order, each block's scales chosen from the
    /// error-updated weights when its first column is reached.
    #[arg(long = "no-act-order")]
    pub no_act_order: bool,
    /// What to write: gguf (the default), or gptq / awq — a Hugging Face checkpoint directory
    /// in AutoGPTQ's or AutoAWQ's 4-bit layout for vLLM, TGI and SGLang (IN a checkpoint, OUT a
    /// new directory, no TYPE; needs --method gptq, awq or awq+gptq).
    #[arg(long = "format", value_name = "FORMAT", default_value = "gguf", value_parser = format_arg)]
    pub format: OutFormat,
    /// Round Q4_1 tensors in groups of N columns sharing one scale and an integer zero (the
    /// GPTQ/AWQ grid; N a multiple of 32; default 128 with --format gptq|awq).
    #[arg(long = "group-size", value_name = "N", value_parser = group_arg)]
    pub group_size: Option<usize>,
}

fn method_arg(s: &str) -> Result<Method, String> {
    Method::parse(s).ok_or_else(|| format!("unknown method '{s}' (rtn, gptq, awq, awq+gptq)"))
}

fn damp_arg(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("invalid damping '{s}' (a number from 0 to 1)")),
    }
}

fn type_list() -> String {
    let mut s = String::from("Types:\n");
    for o in OPTIONS {
        if o.name == "COPY" {
            s.push_str(&format!("          {:<9} : {}\n", o.name, o.desc));
        } else {
            s.push_str(&format!(
                "  {:>2}  or  {:<9} : {}\n",
                o.ftype.0, o.name, o.desc
            ));
        }
    }
    s
}

fn ggml_type(s: &str) -> Result<brisk_kernels::QuantType, String> {
    parse_tensor_type(s).ok_or_else(|| format!("unknown ggml type '{s}'"))
}

fn tensor_type_arg(s: &str) -> Result<(String, brisk_kernels::QuantType), String> {
    let (name, ty) = s
        .split_once('=')
        .ok_or_else(|| format!("malformed tensor type '{s}' (want PATTERN=TYPE)"))?;
    if name.is_empty() {
        return Err(format!("missing tensor name in '{s}'"));
    }
    if ty.is_empty() {
        return Err(format!("missing quantization type in '{s}'"));
    }
    let pattern = name.to_lowercase();
    fancy_regex::Regex::new(&pattern).map_err(|e| format!("bad pattern '{name}': {e}"))?;
    Ok((pattern, ggml_type(ty)?))
}

fn layer_list(s: &str) -> Result<Vec<i64>, String> {
    let mut v = Vec::new();
    for part in s.split(',') {
        match part.trim().parse::<i64>() {
            Ok(n) if n >= 0 => v.push(n),
            _ => return Err(format!("invalid layer id '{part}'")),
        }
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

fn kv_override(s: &str) -> Result<(String, Value), String> {
    let (key, rest) = s
        .split_once('=')
        .filter(|(k, _)| k.len() < 128)
        .ok_or_else(|| format!("malformed KV override '{s}'"))?;
    let (ty, val) = rest
        .split_once(':')
        .ok_or_else(|| format!("invalid type for KV override '{s}'"))?;
    let v = match ty {
        // llama-quantize writes integer overrides as u32 of the absolute value.
        "int" => Value::U32(
            val.trim()
                .parse::<i64>()
                .map_err(|_| format!("invalid integer in KV override '{s}'"))?
                .unsigned_abs() as u32,
        ),
        "float" => Value::F32(
            val.trim()
                .parse::<f64>()
                .map_err(|_| format!("invalid float in KV override '{s}'"))? as f32,
        ),
        "bool" => match val {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(format!("invalid boolean value for KV override '{s}'")),
        },
        "str" if val.len() <= 127 => Value::String(val.to_string()),
        "str" => {
            return Err(format!(
                "KV override '{key}': value cannot exceed 127 bytes"
            ))
        }
        _ => return Err(format!("invalid type for KV override '{s}'")),
    };
    Ok((key.to_string(), v))
}

fn tensor_type_file(path: &Path) -> Result<Vec<(String, brisk_kernels::QuantType)>, Exit> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.split_whitespace()
        .map(|w| tensor_type_arg(w).map_err(|e| Exit::Usage(format!("{}: {e}", path.display()))))
        .collect()
}

/// Builds the request from the command line (positional rules as llama-quantize's).
fn request(a: &QuantizeArgs) -> Result<Request, Exit> {
    if let OutFormat::Export(f) = a.format {
        return export_request(a, f);
    }
    let mut pos = a.positional.iter();
    let missing = || Exit::Usage("usage: brisk quantize [OPTIONS] IN [OUT] TYPE [NTHREADS]".into());
    let input = PathBuf::from(pos.next().ok_or_else(missing)?);
    let second = pos.next().ok_or_else(missing)?;
    let (output, target) = match parse_target(second) {
        Some(t) => {
            // Beside a GGUF input; inside a checkpoint directory.
            let dir = match input.is_dir() {
                true => input.as_path(),
                false => input.parent().unwrap_or(Path::new("")),
            };
            let suffix = if a.keep_split { "" } else { ".gguf" };
            (dir.join(format!("ggml-model-{}{suffix}", t.name)), t)
        }
        None => {
            let ty = pos
                .next()
                .ok_or_else(|| Exit::Usage("missing TYPE after OUT".into()))?;
            let t = parse_target(ty).ok_or_else(|| {
                Exit::Usage(format!("invalid type '{ty}' (see brisk quantize --help)"))
            })?;
            let mut out = second.clone();
            if a.keep_split {
                if let Some(stem) = out.strip_suffix(".gguf") {
                    out = stem.to_string();
                }
            }
            (PathBuf::from(out), t)
        }
    };
    let threads = match pos.next() {
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| Exit::Usage(format!("invalid thread count '{n}'")))?,
        None => 0,
    };
    if let Some(extra) = pos.next() {
        return Err(Exit::Usage(format!("unexpected argument '{extra}'")));
    }
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let mut patterns = a.tensor_type.clone();
    if let Some(f) = &a.tensor_type_file {
        patterns.extend(tensor_type_file(f)?);
    }
    let compiled = patterns
        .iter()
        .map(|(p, t)| {
            fancy_regex::Regex::new(p)
                .map(|r| (r, *t))
                .map_err(|e| Exit::Usage(format!("bad pattern '{p}': {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut req = Request::new(input, output, target, threads);
    req.opts = crate::quantize::rules::TypeOptions {
        only_copy: false,
        pure: a.pure,
        quantize_output_tensor: !a.leave_output_tensor,
        output_tensor_type: a.output_tensor_type,
        token_embedding_type: a.token_embedding_type,
        tensor_types: compiled,
    };
    req.imatrix = a.imatrix.clone();
    req.include_weights = a.include_weights.clone();
    req.exclude_weights = a.exclude_weights.clone();
    req.allow_requantize = a.allow_requantize;
    req.keep_split = a.keep_split;
    req.dry_run = a.dry_run;
    req.kv_overrides = a.override_kv.clone();
    req.prune_layers = a.prune_layers.clone().unwrap_or_default();
    Ok(req)
}

fn mib(b: u64) -> f64 {
    b as f64 / 1024.0 / 1024.0
}

fn shape(dims: &[u64]) -> String {
    let d: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    d.join(", ")
}

fn print_plan(p: &Plan) {
    let n = p.tensors.len();
    for (i, t) in p.tensors.iter().enumerate() {
        let change = if t.converts() {
            format!(
                "{:>6} -> {:<6} {:>9.2} MiB -> {:>9.2} MiB{}",
                t.source.ty.name(),
                t.ty.name(),
                mib(t.source.n_bytes),
                mib(t.n_bytes),
                if t.importance.is_some() {
                    "  imatrix"
                } else {
                    ""
                }
            )
        } else {
            format!("{:>6} (kept)    {:>9.3} MiB", t.ty.name(), mib(t.n_bytes))
        };
        println!(
            "[{:>4}/{n:>4}] {:<36} [{}] {change}",
            i + 1,
            t.name,
            shape(&t.dims)
        );
    }
    println!(
        "model size = {:.2} MiB ({:.2} BPW), quantized size = {:.2} MiB ({:.2} BPW)",
        mib(p.size_in()),
        p.size_in() as f64 * 8.0 / p.n_elements.max(1) as f64,
        mib(p.size_out()),
        p.size_out() as f64 * 8.0 / p.n_elements.max(1) as f64
    );
}

/// The files `plan` would replace must not be the input itself.
fn refuse_overwriting_input(p: &Plan, g: &Source) -> Result<(), Exit> {
    let inputs: Vec<PathBuf> = g
        .files()
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    for f in &p.files {
        if let Ok(out) = std::fs::canonicalize(&f.path) {
            if inputs.contains(&out) {
                return Err(Exit::Usage(format!(
                    "input and output are the same file: '{}'",
                    out.display()
                )));
            }
        }
    }
    Ok(())
}

/// Every `--tensor-type` pattern must name some tensor (a typo would silently do nothing).
fn check_patterns(req: &Request, g: &Source) -> Result<(), Exit> {
    for (re, _) in &req.opts.tensor_types {
        if !g
            .tensors()
            .iter()
            .any(|t| re.is_match(&t.name).unwrap_or(false))
        {
            return Err(Exit::Runtime(anyhow::anyhow!(
                "--tensor-type pattern '{}' matches no tensor of {}",
                re.as_str(),
                req.input.display()
            )));
        }
    }
    Ok(())
}

pub fn main(a: QuantizeArgs) -> CliResult {
    let mut req = request(&a)?;
    let g = Source::open(&req.input)?;
    if matches!(a.format, OutFormat::Export(_)) {
        keep_stored_types(&mut req, &g);
    }
    check_patterns(&req, &g)?;
    let p = plan(&req, &g)?;
    for note in &p.notes {
        if !a.quiet {
            eprintln!("note: {note}");
        }
    }
    let target = req.target;
    check_method(&a, &req, &p)?;
    if req.dry_run {
        print_plan(&p);
        if p.would_need_imatrix {
            eprintln!(
                "warning: an actual run of {} needs an importance matrix (--imatrix)",
                target.name
            );
        }
        if a.method != Method::Rtn {
            println!(
                "calibration: {} on up to {} tokens of {} in samples of {}",
                a.method.name(),
                a.calib_tokens,
                a.calib.as_deref().unwrap_or(Path::new("")).display(),
                a.calib_ctx
            );
        }
        return Ok(());
    }
    let mut p = p;
    if a.method != Method::Rtn {
        calibrate(&a, &req, &g, &mut p)?;
    }
    let OutFormat::Export(format) = a.format else {
        return write(&req, &g, &p, a.quiet, a.max_buffer_size, "quantized");
    };
    let files = g.files();
    export::write(
        &p,
        &export::Export {
            input_dir: &checkpoint_dir(&req.input),
            files: &files,
            out_dir: &req.output,
            format,
            group: group_size(&a),
            damp: a.gptq_damp,
        },
    )?;
    if !a.quiet {
        eprintln!(
            "wrote {} ({} layout, groups of {})",
            req.output.display(),
            format.name(),
            group_size(&a)
        );
    }
    Ok(())
}

/// `--method` and `--calib` must come together, with something to calibrate.
fn check_method(a: &QuantizeArgs, req: &Request, p: &Plan) -> Result<(), Exit> {
    if let Some(group) = calib_group(a) {
        if a.method == Method::Rtn {
            return Err(Exit::Usage(
                "--group-size applies to calibrated Q4_1: give --method gptq, awq or awq+gptq"
                    .into(),
            ));
        }
        let export = matches!(a.format, OutFormat::Export(_));
        for t in &p.tensors {
            if t.ty != brisk_kernels::QuantType::Q4_1 || !t.converts() {
                continue;
            }
            let cols = t.source.dims[0] as usize;
            let rows = t.source.dims.get(1).copied().unwrap_or(1) as usize;
            if !cols.is_multiple_of(group) {
                return Err(Exit::Runtime(anyhow::anyhow!(
                    "{}: rows of {cols} columns cannot be cut in groups of {group} (--group-size)",
                    t.name
                )));
            }
            if export && !rows.is_multiple_of(8) {
                return Err(Exit::Runtime(anyhow::anyhow!(
                    "{}: {rows} outputs; the packed layout needs a multiple of 8",
                    t.name
                )));
            }
        }
    }
    if a.method == Method::Rtn {
        if a.calib.is_some() {
            return Err(Exit::Usage(
                "--calib is used only with --method gptq, awq or awq+gptq".into(),
            ));
        }
        return Ok(());
    }
    let Some(calib) = &a.calib else {
        return Err(Exit::Usage(format!(
            "--method {} needs calibration text: --calib FILE",
            a.method.name()
        )));
    };
    if !calib.is_file() {
        return Err(Exit::Usage(format!(
            "cannot read calibration text {}: no such file",
            calib.display()
        )));
    }
    if !req.prune_layers.is_empty() {
        return Err(Exit::Usage(
            "--prune-layers cannot be combined with --method (calibration runs every block)".into(),
        ));
    }
    let any = p
        .tensors
        .iter()
        .any(|t| t.source.name.starts_with("blk.") && t.converts() && calib::calibrates(t.ty));
    if !any {
        return Err(Exit::Usage(format!(
            "--method {} cannot target {}: it rounds no weight to a quantized type",
            a.method.name(),
            req.target.name
        )));
    }
    Ok(())
}

/// Runs the calibration and fills the plan's calibrated tensors; prints each matrix's output
/// error on the calibration inputs (round-to-nearest vs the method) unless `--quiet`.
fn calibrate(a: &QuantizeArgs, req: &Request, g: &Source, p: &mut Plan) -> Result<(), Exit> {
    let path = a.calib.as_ref().expect("checked by check_method");
    let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(raw).map_err(|e| {
        Exit::Runtime(anyhow::anyhow!(
            "{}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let t0 = Instant::now();
    let mut lm = crate::model::loader::load(&req.input, req.threads).map_err(|e| {
        Exit::Runtime(anyhow::anyhow!(
            "cannot run {} to calibrate: {e}",
            req.input.display()
        ))
    })?;
    let tokens = super::chunk_args::tokenize(&lm.tokenizer, &text, false)?;
    let bos = super::chunk_args::chunk_bos(&lm.tokenizer);
    let samples = calib::samples(&tokens, bos, a.calib_ctx as usize, a.calib_tokens as usize)
        .map_err(Exit::Runtime)?;
    if !a.quiet {
        eprintln!(
            "calibrate: {} over {} samples of {} tokens ({} of the text's {} tokens)",
            a.method.name(),
            samples.len(),
            a.calib_ctx,
            samples.len() * a.calib_ctx as usize,
            tokens.len()
        );
    }
    interrupt::install();
    let opts = calib::Options {
        method: a.method,
        ctx: a.calib_ctx as usize,
        max_tokens: a.calib_tokens as usize,
        damp: a.gptq_damp,
        act_order: !a.no_act_order,
        group: calib_group(a),
        quiet: a.quiet,
    };
    let reports = match calib::calibrate(p, g, &mut lm, &samples, &opts) {
        Ok(r) => r,
        Err(Stop::Interrupted) => {
            eprintln!("interrupted; no output written");
            return Err(Exit::Interrupted);
        }
        Err(Stop::Failed(e)) => return Err(Exit::Runtime(e)),
    };
    if !a.quiet {
        eprintln!("calibrate: output error ‖(W−Ŵ)X‖²/‖WX‖² on the calibration inputs:");
        eprintln!(
            "{:<40} {:<7} {:>10} {:>10}",
            "matrix",
            "type",
            "rtn",
            a.method.name()
        );
        let (mut sum_rtn, mut sum_out) = (0.0, 0.0);
        for r in &reports {
            eprintln!(
                "{:<40} {:<7} {:>10.3e} {:>10.3e} {}",
                r.name,
                r.ty.name(),
                r.err_rtn,
                r.err_out,
                r.note
            );
            sum_rtn += r.err_rtn;
            sum_out += r.err_out;
        }
        eprintln!(
            "calibrate: mean output error rtn {:.3e}, {} {:.3e}; {:.1} s",
            sum_rtn / reports.len().max(1) as f64,
            a.method.name(),
            sum_out / reports.len().max(1) as f64,
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Writes the planned file(s) with a progress bar on a terminal and one summary line after
/// (`verb`: "quantized", "converted"). Shared by `quantize` and `convert`.
pub fn write(
    req: &Request,
    g: &Source,
    p: &Plan,
    quiet: bool,
    max_buffer_mib: u64,
    verb: &str,
) -> CliResult {
    refuse_overwriting_input(p, g)?;
    interrupt::install();
    let start = Instant::now();
    let total = p.size_in();
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:40!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    });
    let report = |i: usize, done: u64| {
        if let Some(b) = &bar {
            let t = &p.tensors[i];
            b.set_message(format!("{} -> {}", t.name, t.ty.name()));
            b.set_position(done.min(total));
        }
    };
    let max_buffer = (max_buffer_mib as usize).saturating_mul(1 << 20);
    let result = execute(p, g, req.threads, max_buffer, &report);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match result {
        Ok(()) => {}
        Err(Stop::Interrupted) => {
            eprintln!("interrupted; no output written");
            return Err(Exit::Interrupted);
        }
        Err(Stop::Failed(e)) => return Err(Exit::Runtime(e)),
    }
    if !quiet {
        let secs = start.elapsed().as_secs_f64();
        let bpw = |b: u64| b as f64 * 8.0 / p.n_elements.max(1) as f64;
        let out = p
            .files
            .first()
            .map_or(String::new(), |f| f.path.display().to_string());
        eprintln!(
            "{verb} {} -> {} as {}: {:.2} MiB ({:.2} bpw) -> {:.2} MiB ({:.2} bpw), {} tensors in {:.2} s on {} threads",
            req.input.display(),
            out,
            req.target.name,
            mib(total),
            bpw(total),
            mib(p.size_out()),
            bpw(p.size_out()),
            p.tensors.len(),
            secs,
            req.threads
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_overrides_parse_like_llama_cpp() {
        assert_eq!(
            kv_override("a.b=int:-7").unwrap(),
            ("a.b".to_string(), Value::U32(7))
        );
        assert_eq!(
            kv_override("x=bool:true").unwrap(),
            ("x".to_string(), Value::Bool(true))
        );
        assert!(kv_override("x=bool:yes").is_err());
        assert!(kv_override("x=blob:1").is_err());
        assert!(kv_override("novalue").is_err());
        assert!(kv_override(&format!("k=str:{}", "a".repeat(128))).is_err());
    }

    #[test]
    fn tensor_type_patterns_are_lowercased_and_checked() {
        let (p, t) = tensor_type_arg("ATTN_V=Q8_0").unwrap();
        assert_eq!((p.as_str(), t), ("attn_v", brisk_kernels::QuantType::Q8_0));
        assert!(tensor_type_arg("attn_v").is_err());
        assert!(tensor_type_arg("=q8_0").is_err());
        assert!(tensor_type_arg("attn_v=").is_err());
        assert!(tensor_type_arg("attn_v=q9").is_err());
        assert!(tensor_type_arg("attn_v(=q8_0").is_err());
    }

    #[test]
    fn layer_lists_sort_and_dedup() {
        assert_eq!(layer_list("3,1,3").unwrap(), vec![1, 3]);
        assert!(layer_list("1,-2").is_err());
        assert!(layer_list("a").is_err());
    }
}
