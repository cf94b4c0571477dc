//! Opens a model file — GGUF, or a Hugging Face safetensors directory — and binds the model,
//! its tokenizer and its chat template.
use super::config::Config;
use super::forward::Model;
use super::weights::{Binder, Weights};
use super::ModelError;
use crate::backend::Cpu;
use crate::format::gguf::Gguf;
use crate::format::hf_config::TokenIds;
use crate::format::{SafetensorsModel, TensorView};
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
    if path.is_dir()
        || path
            .extension()
            .is_some_and(|e| e == "safetensors" || e == "json")
    {
        load_safetensors(path, threads)
    } else {
        load_gguf(path, threads)
    }
}

fn load_safetensors(path: &Path, threads: usize) -> Result<LoadedModel, ModelError> {
    let st = SafetensorsModel::open(path)?;
    // Only RoPE's cached inverse frequencies (recomputed from the config) may go unused.
    if let Some(name) = st
        .skipped
        .iter()
        .find(|n| !n.ends_with("rotary_emb.inv_freq"))
    {
        return Err(ModelError::Unsupported(format!(
            "tensor '{name}' of {} is not used by brisk's {} model; running without it would \
             give wrong output",
            st.dir.display(),
            st.config.arch.class_name()
        )));
    }
    let config = Config::from_hf(&st.config)?;
    if st.config.tie_word_embeddings == Some(false)
        && !st.tensors.iter().any(|t| t.name == "output.weight")
    {
        return Err(ModelError::Metadata(format!(
            "{}: config.json says tie_word_embeddings: false, but there is no lm_head.weight",
            st.dir.display()
        )));
    }
    let tokenizer_json = st.dir.join("tokenizer.json");
    if !tokenizer_json.is_file() {
        return Err(ModelError::Tokenizer(format!(
            "{} has no tokenizer.json",
            st.dir.display()
        )));
    }
    let tokenizer_config = st.dir.join("tokenizer_config.json");
    let tokenizer_config = tokenizer_config.is_file().then_some(tokenizer_config);
    let tokenizer = Tokenizer::from_hf_files(&tokenizer_json, tokenizer_config.as_deref())
        .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
    let chat_template = hf_chat_template(&st.dir, tokenizer_config.as_deref());
    for (key, ids) in [
        ("bos_token_id", &st.config.bos_token_id),
        ("eos_token_id", &st.config.eos_token_id),
    ] {
        for id in ids.iter().flat_map(TokenIds::to_vec) {
            if id as usize >= tokenizer.n_vocab() {
                eprintln!(
                    "brisk: warning: config.json {key} = {id} is outside the vocabulary ({} tokens); ignored",
                    tokenizer.n_vocab()
                );
            }
        }
    }
    let size_bytes = st.tensors.iter().map(|t| t.bytes.len() as u64).sum();
    let n_params = st
        .tensors
        .iter()
        .map(|t| t.dims.iter().product::<u64>())
        .sum();
    finish(
        config,
        st.tensors,
        tokenizer,
        threads,
        path,
        size_bytes,
        n_params,
        chat_template,
    )
}

/// `chat_template.jinja` beside the checkpoint, else `chat_template` in tokenizer_config.json.
fn hf_chat_template(dir: &Path, tokenizer_config: Option<&Path>) -> Option<String> {
    if let Ok(t) = std::fs::read_to_string(dir.join("chat_template.jinja")) {
        return Some(t);
    }
    let text = std::fs::read_to_string(tokenizer_config?).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    crate::chat::template::chat_template_of_config(&v)
}

fn load_gguf(path: &Path, threads: usize) -> Result<LoadedModel, ModelError> {
    let g = Gguf::open(path)?;
    let config = Config::from_gguf(&g)?;
    let tokenizer = Tokenizer::from_gguf(&g).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
    let views = g.tensor_views();
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
    // Checkpoints may pad the embedding past the tokenizer's vocabulary, never the reverse.
    if tokenizer.n_vocab() > config.n_vocab {
        return Err(ModelError::Metadata(format!(
            "the tokenizer has {} tokens but the model's vocabulary is {}",
            tokenizer.n_vocab(),
            config.n_vocab
        )));
    }
    let kernels = brisk_kernels::requested().map_err(ModelError::Kernels)?;
    let mut types: Vec<&str> = views.iter().map(|t| t.ty.name()).collect();
    types.sort_unstable();
    types.dedup();
    let mut weights = Weights::bind(&config, &Binder::new(views))?;
    let packed = super::repack::repack(&mut weights, kernels, threads);
    let repacked = if packed.tensors > 0 {
        format!(
            " · {} matrices repacked for {}",
            packed.tensors, kernels.name
        )
    } else {
        String::new()
    };
    let description = format!(
        "{} · {} layers · d={} · heads {}/{} · vocab {} · {:.1} M params · {:.1} MiB ({}){}",
        config.arch.name(),
        config.n_layer,
        config.n_embd,
        config.n_head,
        config.n_head_kv,
        config.n_vocab,
        n_params as f64 / 1e6,
        size_bytes as f64 / (1024.0 * 1024.0),
        types.join(", "),
        repacked
    );
    Ok(LoadedModel {
        model: Model {
            config,
            weights,
            backend: Cpu::new(threads, kernels).map_err(ModelError::Threads)?,
            #[cfg(feature = "wgpu")]
            offload: None,
        },
        tokenizer,
        path: path.to_path_buf(),
        description,
        size_bytes,
        n_params,
        chat_template,
    })
}
