//! A Hugging Face safetensors checkpoint seen as the GGUF file llama.cpp's
//! `convert_hf_to_gguf.py` writes from it: the same metadata keys (architecture, tokenizer,
//! special tokens, chat template), tensor names, Llama's Q/K row permutation, stacked experts,
//! Gemma's `1 + w` norms and the computed RoPE factor tensors — so that `brisk quantize` (and
//! `brisk convert`) can read a checkpoint as it reads a GGUF file, one tensor at a time.
pub mod metadata;
mod special;
pub mod spm_model;
pub mod tensors;
pub mod vocab;

use crate::format::gguf::{n_dims, tensor_byte_size, TensorInfo, Value};
use crate::format::hf_config::HfArch;
use crate::format::{SafetensorsModel, TensorBytes, TensorView};
use crate::model::config::Config;
use anyhow::{bail, Context, Result};
use brisk_kernels::QuantType;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tensors::{output_type, Data, Recipe, Transform};

/// The converted view of a checkpoint.
pub struct HfGguf {
    pub metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    recipes: Vec<Recipe>,
    index: HashMap<String, usize>,
    /// The checkpoint's directory and its safetensors files.
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

/// A per-expert tensor name, `blk.N.ffn_gate_exps.E.weight` → (`blk.N.ffn_gate_exps.weight`, E).
pub(crate) fn expert_of(name: &str) -> Option<(String, usize)> {
    let stem = name.strip_suffix(".weight")?;
    let (head, e) = stem.rsplit_once('.')?;
    if !head.ends_with("_exps") {
        return None;
    }
    Some((format!("{head}.weight"), e.parse().ok()?))
}

/// What the converter does to the tensor `name` (a GGUF name) of a `arch` checkpoint.
fn transform_of(name: &str, n_dims: usize, arch: HfArch, cfg: &Config) -> Transform {
    let llama = matches!(arch, HfArch::Llama | HfArch::Mistral | HfArch::Mixtral);
    if llama && name.ends_with("attn_q.weight") {
        return Transform::PermuteQk { n_head: cfg.n_head };
    }
    if llama && name.ends_with("attn_k.weight") {
        return Transform::PermuteQk {
            n_head: cfg.n_head_kv,
        };
    }
    let forced_f32 = n_dims <= 1
        || name.ends_with("_norm.weight")
        || name.contains("ffn_gate_inp")
        || !name.ends_with(".weight");
    if forced_f32 {
        let add_one = arch.norm_plus_one() && name.ends_with("norm.weight");
        return Transform::ToF32 { add_one };
    }
    Transform::Keep
}

fn recipe(name: String, dims: Vec<u64>, ty: QuantType, data: Data, t: Transform) -> Result<Recipe> {
    let n_bytes = tensor_byte_size(&name, &dims, ty).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(Recipe {
        info: TensorInfo {
            name,
            dims,
            ty,
            offset: 0,
            n_bytes,
            split: 0,
        },
        data,
        transform: t,
    })
}

/// Stacks per-expert views into one tensor each, at the position of the first expert seen.
fn stack_experts(views: Vec<TensorView>) -> Result<Vec<(String, Vec<TensorView>)>> {
    let mut out: Vec<(String, Vec<Option<TensorView>>)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for v in views {
        let Some((stack, e)) = expert_of(&v.name) else {
            out.push((v.name.clone(), vec![Some(v)]));
            continue;
        };
        let i = *at.entry(stack.clone()).or_insert_with(|| {
            out.push((stack, Vec::new()));
            out.len() - 1
        });
        let parts = &mut out[i].1;
        if parts.len() <= e {
            parts.resize(e + 1, None);
        }
        parts[e] = Some(v);
    }
    out.into_iter()
        .map(|(name, parts)| {
            let parts: Vec<TensorView> = parts
                .into_iter()
                .enumerate()
                .map(|(e, p)| p.with_context(|| format!("{name}: expert {e} is missing")))
                .collect::<Result<_>>()?;
            if parts
                .iter()
                .any(|p| p.dims != parts[0].dims || p.ty != parts[0].ty)
            {
                bail!("{name}: its experts differ in shape or type");
            }
            Ok((name, parts))
        })
        .collect()
}

/// GGUF file type of the tensors as stored: the first matrix's dtype (F32 0, F16 1, BF16 32).
fn stored_file_type(views: &[TensorView]) -> u32 {
    let first = views.iter().find(|v| n_dims(&v.dims) >= 2).map(|v| v.ty);
    match first {
        Some(QuantType::F16) => 1,
        Some(QuantType::BF16) => 32,
        _ => 0,
    }
}

impl HfGguf {
    /// Opens the checkpoint at `path` (its directory, a `.safetensors` file or the index).
    pub fn open(path: &Path) -> Result<HfGguf> {
        let st = SafetensorsModel::open(path)?;
        let h = &st.config;
        let config_path = st.dir.join("config.json");
        let raw: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&config_path)
                .with_context(|| format!("{}", config_path.display()))?,
        )
        .with_context(|| format!("{}", config_path.display()))?;
        let cfg =
            Config::from_hf(h).map_err(|e| anyhow::anyhow!("{}: {e}", config_path.display()))?;
        let dir_name = std::fs::canonicalize(&st.dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let mut meta =
            metadata::model_keys(h, &cfg, &raw, &dir_name, stored_file_type(&st.tensors)).0;
        let tokenizer = vocab::tokenizer_keys(&st.dir, h.arch, Some(h.vocab_size), &raw)?;
        let n_tokens = tokenizer.iter().find_map(|(k, v)| match v {
            Value::Array(_, items) if k == "tokenizer.ggml.tokens" => Some(items.len()),
            _ => None,
        });
        meta.extend(tokenizer);

        let mut recipes = Vec::new();
        let computed = |name: &str, v: &[f32]| {
            recipe(
                name.into(),
                vec![v.len() as u64],
                QuantType::F32,
                Data::Computed(Arc::new(v.to_vec())),
                Transform::Keep,
            )
        };
        if let Some(f) = &cfg.rope.freq_factors {
            recipes.push(computed("rope_freqs.weight", f)?);
        }
        if let Some((short, long)) = &cfg.longrope {
            recipes.push(computed("rope_factors_long.weight", long)?);
            recipes.push(computed("rope_factors_short.weight", short)?);
        }
        let mut views = st.tensors.clone();
        if h.arch == HfArch::Gemma2 {
            views.retain(|v| v.name != "output.weight");
        }
        for (name, parts) in stack_experts(views)? {
            let first = &parts[0];
            let mut dims = first.dims.clone();
            let mut data_parts = parts.clone();
            if parts.len() > 1 || expert_of(&first.name).is_some() {
                dims.push(parts.len() as u64);
            } else if h.arch == HfArch::Gemma3 && name == "token_embd.weight" {
                // The converter keeps only the rows of real tokens.
                if let Some(n) = n_tokens.filter(|&n| (n as u64) < dims[1]) {
                    let row = first.ty.row_bytes(dims[0] as usize).unwrap_or(0);
                    let mut v = first.clone();
                    v.bytes = first.bytes.slice(0..n * row);
                    dims[1] = n as u64;
                    v.dims = dims.clone();
                    data_parts = vec![v];
                }
            }
            let transform = transform_of(&name, n_dims(&dims), h.arch, &cfg);
            let ty = output_type(first.ty, transform);
            recipes.push(recipe(name, dims, ty, Data::Stored(data_parts), transform)?);
        }
        let mut offset = 0;
        for r in &mut recipes {
            r.info.offset = offset;
            offset += r.info.n_bytes;
        }
        let tensors = recipes.iter().map(|r| r.info.clone()).collect();
        let index = recipes
            .iter()
            .enumerate()
            .map(|(i, r)| (r.info.name.clone(), i))
            .collect();
        Ok(HfGguf {
            metadata: meta,
            tensors,
            recipes,
            index,
            dir: st.dir.clone(),
            files: st.files.clone(),
        })
    }

    /// The tensor directory, in the converter's order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// One tensor's bytes as the GGUF would hold them.
    pub fn tensor_bytes(&self, name: &str) -> Result<TensorBytes> {
        let i = *self
            .index
            .get(name)
            .with_context(|| format!("no tensor {name} in the checkpoint"))?;
        self.recipes[i].materialize()
    }
}
