//! `brisk quantize --format gptq|awq` and `--group-size` on the command line: the export's
//! request (`IN OUT_DIR [NTHREADS]`, every block matrix as grouped Q4_1, the rest as stored)
//! and the group size calibration uses.
use super::quantize::QuantizeArgs;
use super::Exit;
use crate::quantize::calib::Method;
use crate::quantize::export;
use crate::quantize::{parse_target, Request, Source};
use std::path::{Path, PathBuf};

/// `--format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutFormat {
    Gguf,
    Export(export::Format),
}

pub fn format_arg(s: &str) -> Result<OutFormat, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "gguf" => OutFormat::Gguf,
        "gptq" => OutFormat::Export(export::Format::Gptq),
        "awq" => OutFormat::Export(export::Format::Awq),
        _ => return Err(format!("unknown format '{s}' (gguf, gptq, awq)")),
    })
}

pub fn group_arg(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 32 && n % 32 == 0 && n <= 8192 => Ok(n),
        _ => Err(format!(
            "invalid group size '{s}' (a multiple of 32, up to 8192)"
        )),
    }
}

/// `--format gptq|awq IN OUT [NTHREADS]`: every linear layer of the blocks as grouped Q4_1,
/// the rest as stored (set from the input's types once it is open, [`keep_stored_types`]).
pub fn export_request(a: &QuantizeArgs, f: export::Format) -> Result<Request, Exit> {
    let usage = || {
        Exit::Usage(format!(
            "usage: brisk quantize --format {} --method gptq|awq|awq+gptq --calib FILE CHECKPOINT OUT_DIR [NTHREADS]",
            f.name()
        ))
    };
    let (input, output, threads) = match a.positional.as_slice() {
        [i, o] => (i, o, None),
        [i, o, t] => (i, o, Some(t)),
        _ => return Err(usage()),
    };
    let input = PathBuf::from(input);
    if !crate::quantize::source::is_checkpoint(&input) {
        return Err(Exit::Usage(format!(
            "--format {} writes a Hugging Face checkpoint and needs one as input; '{}' is not",
            f.name(),
            input.display()
        )));
    }
    if a.method == Method::Rtn {
        return Err(Exit::Usage(format!(
            "--format {} needs --method gptq, awq or awq+gptq (and --calib)",
            f.name()
        )));
    }
    let config = checkpoint_dir(&input).join("config.json");
    let packed = std::fs::read_to_string(&config)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|c| c.get("quantization_config").is_some());
    if packed {
        return Err(Exit::Usage(format!(
            "{} is already a quantized checkpoint (quantization_config); export from its float original",
            input.display()
        )));
    }
    let threads = match threads {
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| Exit::Usage(format!("invalid thread count '{n}'")))?,
        None => 0,
    };
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let target = parse_target("Q4_1").expect("Q4_1 is a type");
    let mut req = Request::new(input, PathBuf::from(output), target, threads);
    req.opts.pure = true;
    Ok(req)
}

/// An export keeps the embeddings and the output projection in their stored types.
pub fn keep_stored_types(req: &mut Request, g: &Source) {
    let stored = |name: &str| g.tensors().iter().find(|t| t.name == name).map(|t| t.ty);
    req.opts.token_embedding_type = stored("token_embd.weight");
    req.opts.output_tensor_type = stored("output.weight");
}

/// The directory of a checkpoint given as its directory, a shard or its index.
pub fn checkpoint_dir(input: &Path) -> PathBuf {
    match input.is_dir() {
        true => input.to_path_buf(),
        false => input.parent().map(PathBuf::from).unwrap_or_default(),
    }
}

/// The columns per shared scale: `--group-size`, else 128 for an export; `None` (ggml's own
/// blocks) for a GGUF without it.
pub fn group_size(a: &QuantizeArgs) -> usize {
    a.group_size.unwrap_or(128)
}

pub fn calib_group(a: &QuantizeArgs) -> Option<usize> {
    match a.format {
        OutFormat::Export(_) => Some(group_size(a)),
        OutFormat::Gguf => a.group_size,
    }
}
