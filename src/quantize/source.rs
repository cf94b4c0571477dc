//! What `brisk quantize` reads: a GGUF file (split models included) or a Hugging Face
//! safetensors checkpoint seen as the GGUF llama.cpp's converter would write from it. Both give
//! metadata, a tensor directory under GGUF names, and each tensor's bytes on demand.
use crate::convert::HfGguf;
use crate::format::gguf::{split_paths, Gguf, TensorInfo, Value};
use crate::format::TensorBytes;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub enum Source {
    Gguf(Gguf),
    Hf(HfGguf),
}

/// Whether `path` names a Hugging Face checkpoint (its directory, a `.safetensors` file or the
/// shard index) rather than a GGUF file.
pub fn is_checkpoint(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    path.is_dir() || name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json")
}

impl Source {
    pub fn open(path: &Path) -> Result<Source> {
        if is_checkpoint(path) {
            let hf = HfGguf::open(path)
                .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
            return Ok(Source::Hf(hf));
        }
        let g =
            Gguf::open(path).with_context(|| format!("cannot open model {}", path.display()))?;
        Ok(Source::Gguf(g))
    }

    pub fn metadata(&self) -> &[(String, Value)] {
        match self {
            Source::Gguf(g) => g.metadata(),
            Source::Hf(h) => &h.metadata,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        match self {
            Source::Gguf(g) => g.tensors(),
            Source::Hf(h) => h.tensors(),
        }
    }

    /// One tensor's bytes, in the type its directory entry says.
    pub fn tensor_bytes(&self, t: &TensorInfo) -> Result<TensorBytes> {
        match self {
            Source::Gguf(g) => Ok(g.tensor_bytes(t)),
            Source::Hf(h) => h.tensor_bytes(&t.name),
        }
    }

    /// The files the model is read from (an output must not replace one of them).
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Source::Gguf(g) => {
                split_paths(g.path()).unwrap_or_else(|| vec![g.path().to_path_buf()])
            }
            Source::Hf(h) => h.files.clone(),
        }
    }
}
