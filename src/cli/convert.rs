//! `brisk convert CHECKPOINT [OUT.gguf] [--outtype auto|f32|f16|bf16|q8_0|TYPE]`: a Hugging
//! Face safetensors checkpoint to the GGUF llama.cpp's `convert_hf_to_gguf.py` writes, through
//! the reader and writer `brisk quantize` uses for checkpoints. `--outtype` as the converter's
//! (every matrix in that type, 1-D tensors and routers F32; `auto`: the stored matrices' BF16 or
//! F16, F16 for an all-F32 checkpoint); any other llama-quantize TYPE quantizes on the way with
//! llama-quantize's mixture rules.
use super::quantize::write;
use super::{CliResult, Exit};
use crate::quantize::source::is_checkpoint;
use crate::quantize::{parse_target, plan, Request, Source};
use brisk_kernels::QuantType;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The checkpoint: its directory, a `.safetensors` shard or `model.safetensors.index.json`.
    #[arg(value_name = "CHECKPOINT")]
    pub input: PathBuf,
    /// Output file (default: CHECKPOINT/ggml-model-OUTTYPE.gguf).
    #[arg(value_name = "OUT.gguf")]
    pub output: Option<PathBuf>,
    /// auto, f32, f16, bf16, q8_0 (the converter's), or any `brisk quantize` TYPE.
    #[arg(long = "outtype", default_value = "auto", value_name = "TYPE")]
    pub outtype: String,
    /// Threads (default: all cores).
    #[arg(short = 't', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    #[arg(long = "quiet")]
    pub quiet: bool,
}

/// The converter's `auto`: the first matrix's BF16 or F16; F16 when every matrix is F32. A
/// GPTQ/AWQ checkpoint (its layers read as Q4_1) is copied as it is: its 4-bit layers stay
/// 4-bit, its other tensors keep their stored type.
fn auto_type(g: &Source) -> &'static str {
    let matrices = || {
        g.tensors()
            .iter()
            .filter(|t| t.dims.iter().filter(|&&d| d > 1).count() >= 2)
            .map(|t| t.ty)
    };
    let float = |ty: QuantType| matches!(ty, QuantType::F32 | QuantType::F16 | QuantType::BF16);
    if matrices().any(|ty| !float(ty)) {
        return "COPY";
    }
    match matrices().find(|&ty| ty == QuantType::BF16 || ty == QuantType::F16) {
        Some(QuantType::BF16) => "BF16",
        _ => "F16",
    }
}

pub fn main(a: ConvertArgs) -> CliResult {
    if !is_checkpoint(&a.input) {
        return Err(Exit::Usage(format!(
            "'{}' is not a Hugging Face checkpoint (a directory, .safetensors file or index); \
             to requantize a GGUF file use brisk quantize",
            a.input.display()
        )));
    }
    let g = Source::open(&a.input)?;
    let outtype = match a.outtype.to_ascii_lowercase().as_str() {
        "auto" => auto_type(&g).to_string(),
        _ => a.outtype.clone(),
    };
    let target = parse_target(&outtype).ok_or_else(|| {
        Exit::Usage(format!(
            "invalid --outtype '{}' (auto, f32, f16, bf16, q8_0 or a brisk quantize TYPE)",
            a.outtype
        ))
    })?;
    // The converter's own types apply to every matrix alike.
    let uniform = matches!(target.name, "F32" | "F16" | "BF16" | "Q8_0");
    let output = a.output.clone().unwrap_or_else(|| {
        let dir = if a.input.is_dir() {
            a.input.clone()
        } else {
            a.input.parent().map(PathBuf::from).unwrap_or_default()
        };
        dir.join(format!("ggml-model-{}.gguf", target.name))
    });
    let threads = a
        .threads
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut req = Request::new(a.input.clone(), output, target, threads);
    req.opts.pure = uniform;
    req.keep_key_order = true;
    let p = plan(&req, &g)?;
    if !a.quiet {
        for note in &p.notes {
            eprintln!("note: {note}");
        }
    }
    write(&req, &g, &p, a.quiet, 8192, "converted")
}
