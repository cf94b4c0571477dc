//! Opens a model file — GGUF, or a Hugging Face safetensors directory — and binds the model,
//! its tokenizer and its chat template.
use super::config::Config;
use super::llama::Model;
use super::weights::{Binder, Weights};
use super::ModelError;
use crate::backend::Cpu;
use crate::format::gguf::Gguf;
use crate::format::TensorView;
use crate::tokenizer::Tokenizer;
use std::path::{Path, PathBuf};

pub struct LoadedModel {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub path: PathBuf,
    /// Human-readable description (architecture, size, weight types) for logs.
    pub description: String,
    /// Bytes of tensor data.
    pub size_bytes: u64,
    /// Parameter count.
    pub n_params: u64,
    pub chat_template: Option<String>,
}

/// Open `path` and build a model using `threads` threads.
pub fn load(path: &Path, threads: usize) -> Result<LoadedModel, ModelError> {
    if !path.exists() {
        return Err(ModelError::Format(crate::format::error::FormatError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        )));
    }
    load_gguf(path, threads)
}

fn load_gguf(path: &Path, threads: usize) -> Result<LoadedModel, ModelError> {
    let g = Gguf::open(path)?;
    let config = Config::from_gguf(&g)?;
    let tokenizer = Tokenizer::from_gguf(&g).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
    let views: Vec<TensorView> = g
        .tensors()
        .iter()
        .map(|t| TensorView {
            name: t.name.clone(),
            dims: t.dims.clone(),
            ty: t.ty,
            bytes: g.tensor_bytes(t),
        })
        .collect();
    let size_bytes = g.tensor_data_bytes();
    let n_params = g.tensors().iter().map(|t| t.n_elements()).sum();
    let chat_template = g.get_str("tokenizer.chat_template").map(str::to_string);
    finish(
        config,
        views,
        tokenizer,
        threads,
        path,
        size_bytes,
        n_params,
        chat_template,
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    config: Config,
    views: Vec<TensorView>,
    tokenizer: Tokenizer,
    threads: usize,
    path: &Path,
    size_bytes: u64,
    n_params: u64,
    chat_template: Option<String>,
) -> Result<LoadedModel, ModelError> {
    if tokenizer.n_vocab() != config.n_vocab {
        return Err(ModelError::Metadata(format!(
            "the tokenizer has {} tokens but the model's vocabulary is {}",
            tokenizer.n_vocab(),
            config.n_vocab
        )));
    }
    let mut types: Vec<&str> = views.iter().map(|t| t.ty.name()).collect();
    types.sort_unstable();
    types.dedup();
    let weights = Weights::bind(&config, &Binder::new(views))?;
    let description = format!(
        "{} · {} layers · d={} · heads {}/{} · vocab {} · {:.1} M params · {:.1} MiB ({})",
        config.arch.name(),
        config.n_layer,
        config.n_embd,
        config.n_head,
        config.n_head_kv,
        config.n_vocab,
        n_params as f64 / 1e6,
        size_bytes as f64 / (1024.0 * 1024.0),
        types.join(", ")
    );
    Ok(LoadedModel {
        model: Model {
            config,
            weights,
            backend: Cpu::new(threads),
        },
        tokenizer,
        path: path.to_path_buf(),
        description,
        size_bytes,
        n_params,
        chat_template,
    })
}
