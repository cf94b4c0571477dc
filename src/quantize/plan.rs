//! The quantization plan, computed before any byte is written: output metadata (llama.cpp's
//! order of key edits), the tensors in llama.cpp's order with their new names, shapes and types,
//! which importance vector each gets, and the output file(s). `--dry-run` prints it.
use super::ftype::{can_write, FileType, Target};
use super::imatrix_file::Imatrix;
use super::rules::{layer_of, requires_imatrix, ModelFacts, TypeOptions, TypeRules};
use super::source::Source;
use crate::format::gguf::{n_dims, set_in_place, set_last, TensorInfo, Value};
use anyhow::{bail, Context, Result};
use brisk_kernels::scalar::weighted::requires_importance;
use brisk_kernels::QuantType;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Everything `brisk quantize` was asked to do.
pub struct Request {
    pub input: PathBuf,
    /// Output path (for `--keep-split`: the prefix before `-00001-of-0000N.gguf`).
    pub output: PathBuf,
    pub target: Target,
    pub threads: usize,
    pub opts: TypeOptions,
    pub imatrix: Option<PathBuf>,
    pub include_weights: Vec<String>,
    pub exclude_weights: Vec<String>,
    pub allow_requantize: bool,
    pub keep_split: bool,
    pub dry_run: bool,
    /// `--override-kv`, already typed (ints as u32, as llama-quantize writes them).
    pub kv_overrides: Vec<(String, Value)>,
    pub prune_layers: Vec<i64>,
    /// Edit `general.file_type` and `general.quantization_version` where they stand instead of
    /// moving them last as llama-quantize does (`brisk convert` keeps the converter's order).
    pub keep_key_order: bool,
}

impl Request {
    /// A request with llama-quantize's defaults: no imatrix, filters, overrides or pruning,
    /// the output tensor quantized, llama-quantize's key order.
    pub fn new(input: PathBuf, output: PathBuf, target: Target, threads: usize) -> Request {
        Request {
            input,
            output,
            target,
            threads,
            opts: TypeOptions {
                quantize_output_tensor: true,
                ..TypeOptions::default()
            },
            imatrix: None,
            include_weights: Vec::new(),
            exclude_weights: Vec::new(),
            allow_requantize: false,
            keep_split: false,
            dry_run: false,
            kv_overrides: Vec::new(),
            prune_layers: Vec::new(),
            keep_key_order: false,
        }
    }
}

/// One tensor of the output.
pub struct PlannedTensor {
    pub source: TensorInfo,
    pub name: String,
    /// ggml order without trailing 1s (`ggml_n_dims`), as gguf writes the directory.
    pub dims: Vec<u64>,
    pub ty: QuantType,
    pub n_bytes: u64,
    pub importance: Option<Arc<Vec<f32>>>,
    /// The tensor's output bytes, computed before writing (calibrated quantization, AWQ's
    /// folded norms); written instead of converting the input.
    pub prepared: Option<Arc<Vec<u8>>>,
    /// The weights as AWQ rescaled them (f32, the input's shape), quantized instead of the
    /// input's.
    pub rescaled: Option<Arc<Vec<f32>>>,
}

impl PlannedTensor {
    pub fn converts(&self) -> bool {
        self.ty != self.source.ty
    }
}

/// One output file: its path, metadata and the indices of its tensors in [`Plan::tensors`].
pub struct PlannedFile {
    pub path: PathBuf,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<usize>,
}

pub struct Plan {
    pub ftype: FileType,
    pub files: Vec<PlannedFile>,
    pub tensors: Vec<PlannedTensor>,
    /// Warnings worth a line on stderr (fallbacks, missing imatrix entries).
    pub notes: Vec<String>,
    /// `--dry-run` only: an actual run would need an importance matrix.
    pub would_need_imatrix: bool,
    pub n_elements: u64,
}

impl Plan {
    pub fn size_in(&self) -> u64 {
        self.tensors.iter().map(|t| t.source.n_bytes).sum()
    }
    pub fn size_out(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }
}

fn facts_of(meta: &[(String, Value)]) -> ModelFacts {
    let get = |k: &str| meta.iter().find(|(m, _)| m == k).map(|(_, v)| v);
    let arch = get("general.architecture")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string();
    let num = |k: &str| -> Option<u64> {
        match get(&format!("{arch}.{k}"))? {
            Value::Array(_, items) => items.first()?.as_u64(),
            v => v.as_u64(),
        }
    };
    let n_head = num("attention.head_count").unwrap_or(0);
    ModelFacts {
        n_layer: num("block_count").unwrap_or(0) as usize,
        n_head,
        n_head_kv: num("attention.head_count_kv").unwrap_or(n_head),
        n_expert: num("expert_count").unwrap_or(0),
        arch,
    }
}

/// llama.cpp's tensor order (`weight_name_comparer`): by layer (none first), then by name.
fn llama_order(tensors: &[TensorInfo]) -> Vec<TensorInfo> {
    let mut v = tensors.to_vec();
    v.sort_by(|a, b| {
        let la = layer_of(&a.name).unwrap_or(-1);
        let lb = layer_of(&b.name).unwrap_or(-1);
        la.cmp(&lb).then_with(|| a.name.cmp(&b.name))
    });
    v
}

/// The `blk.N.` number of a name and its byte range (for `--prune-layers` renames).
fn blk_digits(name: &str) -> Option<(usize, usize, i64)> {
    let start = name.find("blk.")? + 4;
    let rest = &name[start..];
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    if end == 0 || !rest[end..].starts_with('.') {
        return None;
    }
    Some((start, start + end, rest[..end].parse().ok()?))
}

/// `remap_layer`: pruned layers vanish, later ones are renumbered; `mapped` remembers
/// old → new numbers (`None` for pruned).
fn remap_layer(
    name: &str,
    prune: &[i64],
    mapped: &mut BTreeMap<i64, Option<i64>>,
    next_id: &mut i64,
) -> Option<String> {
    if prune.is_empty() {
        return Some(name.to_string());
    }
    let (s, e, blk) = match blk_digits(name) {
        Some(x) => x,
        None => return Some(name.to_string()),
    };
    let new = *mapped.entry(blk).or_insert_with(|| {
        if prune.contains(&blk) {
            None
        } else if blk < prune[0] {
            *next_id = blk + 1;
            Some(blk)
        } else {
            *next_id += 1;
            Some(*next_id - 1)
        }
    });
    new.map(|n| format!("{}{}{}", &name[..s], n, &name[e..]))
}

/// The input file type llama.cpp's loader reports (for `COPY`).
fn input_ftype(g: &Source, ordered: &[TensorInfo]) -> FileType {
    if let Some(v) = g.get("general.file_type").and_then(|v| v.as_u64()) {
        return FileType(v as u32);
    }
    let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
    let (mut best, mut best_n) = (QuantType::F32, 0u32);
    for t in ordered {
        let n = counts.entry(t.ty.ggml_id()).or_insert(0);
        *n += 1;
        if best_n < *n {
            best_n = *n;
            best = t.ty;
        }
    }
    FileType::guess_from(best)
}

/// Per-tensor importance vectors, by tensor name.
type ImportanceMap = BTreeMap<String, Arc<Vec<f32>>>;

/// Loads the importance matrix with `--include-weights` / `--exclude-weights` applied, and
/// the metadata llama-quantize records about it.
fn load_importance(req: &Request) -> Result<(ImportanceMap, Vec<(String, Value)>)> {
    let path = match &req.imatrix {
        Some(p) => p,
        None => return Ok((BTreeMap::new(), Vec::new())),
    };
    let m = Imatrix::load(path)?;
    let mut data = m.importance();
    if !req.exclude_weights.is_empty() {
        data.retain(|k, _| !req.exclude_weights.iter().any(|x| k.contains(x.as_str())));
    }
    if !req.include_weights.is_empty() {
        data.retain(|k, _| req.include_weights.iter().any(|x| k.contains(x.as_str())));
    }
    for (k, v) in &data {
        if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
            bail!(
                "imatrix {}: {k} holds a non-finite value {bad}",
                path.display()
            );
        }
    }
    let mut kv = Vec::new();
    if !data.is_empty() {
        let file: String = path.to_string_lossy().chars().take(127).collect();
        kv.push(("quantize.imatrix.file".to_string(), Value::String(file)));
        if let Some(d) = m.datasets.first() {
            let d: String = d.chars().take(127).collect();
            kv.push(("quantize.imatrix.dataset".to_string(), Value::String(d)));
        }
        kv.push((
            "quantize.imatrix.entries_count".to_string(),
            Value::U32(data.len() as u32),
        ));
        if m.chunk_count > 0 {
            kv.push((
                "quantize.imatrix.chunks_count".to_string(),
                Value::U32(m.chunk_count),
            ));
        }
    }
    Ok((
        data.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        kv,
    ))
}

/// Path of split `i` (0-based) of `n`: `PREFIX-0000i-of-0000n.gguf` (`llama_split_path`).
pub fn split_path(prefix: &Path, i: usize, n: usize) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(format!("-{:05}-of-{:05}.gguf", i + 1, n));
    PathBuf::from(s)
}

fn n_dims_of(dims: &[u64]) -> Vec<u64> {
    dims[..n_dims(dims)].to_vec()
}

/// Builds the plan for `req` over the opened input `g`.
pub fn plan(req: &Request, g: &Source) -> Result<Plan> {
    let target = req.target;
    let mut opts = req.opts.clone();
    opts.only_copy = target.copy_only;
    let ordered = llama_order(g.tensors());
    let ftype = if target.copy_only {
        input_ftype(g, &ordered)
    } else {
        target.ftype
    };
    let default = target
        .ftype
        .default_type()
        .with_context(|| format!("invalid output file type {}", target.ftype.0))?;
    let (importance, imatrix_kv) = load_importance(req)?;
    let has_imatrix = !importance.is_empty();

    // Metadata: the input's keys in order, then llama-quantize's edits in its order.
    let mut meta: Vec<(String, Value)> = g.metadata().to_vec();
    if req.keep_key_order {
        set_in_place(&mut meta, "general.quantization_version", Value::U32(2));
        set_in_place(&mut meta, "general.file_type", Value::U32(ftype.0));
    } else {
        set_last(&mut meta, "general.quantization_version", Value::U32(2));
        set_last(&mut meta, "general.file_type", Value::U32(ftype.0));
    }
    for k in ["split.no", "split.count", "split.tensors.count"] {
        meta.retain(|(m, _)| m != k);
    }
    for (k, v) in req.kv_overrides.iter().chain(&imatrix_kv) {
        set_last(&mut meta, k, v.clone());
    }
    let facts = facts_of(&meta);

    // Tensor names after pruning.
    let mut mapped = BTreeMap::new();
    let mut next_id = 0i64;
    let mut kept: Vec<(TensorInfo, String)> = Vec::new();
    for t in ordered {
        if let Some(n) = remap_layer(&t.name, &req.prune_layers, &mut mapped, &mut next_id) {
            kept.push((t, n));
        }
    }
    if !req.prune_layers.is_empty() {
        set_last(
            &mut meta,
            &format!("{}.block_count", facts.arch),
            Value::U32(next_id as u32),
        );
    }
    if req.keep_split {
        kept.sort_by_key(|(t, _)| (t.split, t.offset));
    }

    let names: Vec<&str> = kept.iter().map(|(_, n)| n.as_str()).collect();
    let mut rules = TypeRules::new(&facts, &opts, target.ftype, has_imatrix, &names);
    let mut tensors = Vec::with_capacity(kept.len());
    let mut notes = Vec::new();
    let mut would_need_imatrix = false;
    for (src, name) in kept {
        let ty = rules
            .choose(&name, &src.dims, src.ty, default)
            .map_err(anyhow::Error::msg)?;
        let converts = ty != src.ty;
        let dims = n_dims_of(&src.dims);
        let n_bytes = crate::format::gguf::tensor_byte_size(&name, &src.dims, ty)
            .map_err(|e| anyhow::anyhow!("cannot quantize {name} to {}: {e}", ty.name()))?;
        let mut imp = None;
        if converts {
            // The imatrix is keyed by the tensor's name in the model it was computed on.
            let key = match (blk_digits(&name), mapped.is_empty()) {
                (Some((s, e, new)), false) => {
                    let old = mapped
                        .iter()
                        .find(|(_, v)| **v == Some(new))
                        .map(|(k, _)| *k);
                    old.map_or(name.clone(), |o| {
                        format!("{}{}{}", &name[..s], o, &name[e..])
                    })
                }
                _ => name.clone(),
            };
            if has_imatrix {
                match importance.get(&key) {
                    None => notes.push(format!("no importance data for {name}")),
                    Some(v) => {
                        let want = src.dims[0] * src.dims.get(2).copied().unwrap_or(1);
                        if v.len() as u64 == want {
                            imp = Some(v.clone());
                        } else if name != "token_embd.weight"
                            && name != "per_layer_token_embd.weight"
                        {
                            bail!(
                                "the imatrix holds {} values for {name}, which needs {want} \
                                 (an imatrix of another model?)",
                                v.len()
                            );
                        }
                    }
                }
            }
            if imp.is_none() && requires_imatrix(&name, ty, target.ftype) {
                if req.dry_run {
                    would_need_imatrix = true;
                } else {
                    bail!(
                        "{name}: {} in a {} file needs an importance matrix (--imatrix FILE); \
                         without one the result would be garbage",
                        ty.name(),
                        target.name
                    );
                }
            }
            if !req.dry_run {
                if !can_write(ty, imp.is_some()) {
                    if requires_importance(ty) {
                        bail!(
                            "{name}: {} needs importance data for this tensor, and there is \
                             none (file type {})",
                            ty.name(),
                            target.name
                        );
                    }
                    bail!(
                        "{name}: {} is an activation type; brisk does not write it to files",
                        ty.name()
                    );
                }
                if src.ty.is_quantized() && !req.allow_requantize {
                    bail!(
                        "{name} is already {}; requantizing loses quality, pass \
                         --allow-requantize to do it anyway",
                        src.ty.name()
                    );
                }
            }
        }
        tensors.push(PlannedTensor {
            source: src,
            name,
            dims,
            ty,
            n_bytes,
            importance: imp,
            prepared: None,
            rescaled: None,
        });
    }
    notes.append(&mut rules.notes);
    let n_elements = tensors.iter().map(|t| t.source.n_elements()).sum();
    let files = split_files(req, meta, &tensors);
    Ok(Plan {
        ftype,
        files,
        tensors,
        notes,
        would_need_imatrix,
        n_elements,
    })
}

/// One output file, or one per input split with `--keep-split` (the first keeps the
/// metadata; each gets `split.*` keys, as llama-quantize writes them).
fn split_files(
    req: &Request,
    meta: Vec<(String, Value)>,
    tensors: &[PlannedTensor],
) -> Vec<PlannedFile> {
    let n_split = if req.keep_split {
        tensors
            .iter()
            .map(|t| t.source.split + 1)
            .max()
            .unwrap_or(1)
    } else {
        1
    };
    if n_split == 1 {
        return vec![PlannedFile {
            path: req.output.clone(),
            metadata: meta,
            tensors: (0..tensors.len()).collect(),
        }];
    }
    let mut files: Vec<PlannedFile> = (0..n_split)
        .map(|i| PlannedFile {
            path: split_path(&req.output, i, n_split),
            metadata: if i == 0 { meta.clone() } else { Vec::new() },
            tensors: Vec::new(),
        })
        .collect();
    for (i, t) in tensors.iter().enumerate() {
        files[t.source.split].tensors.push(i);
    }
    for (i, f) in files.iter_mut().enumerate() {
        set_last(&mut f.metadata, "split.no", Value::U16(i as u16));
        set_last(&mut f.metadata, "split.count", Value::U16(n_split as u16));
        set_last(
            &mut f.metadata,
            "split.tensors.count",
            Value::I32(tensors.len() as i32),
        );
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_renumbers_later_layers() {
        let prune = [1i64, 2];
        let mut mapped = BTreeMap::new();
        let mut next = 0;
        let mut r = |n: &str| remap_layer(n, &prune, &mut mapped, &mut next);
        assert_eq!(
            r("blk.0.attn_q.weight").as_deref(),
            Some("blk.0.attn_q.weight")
        );
        assert_eq!(r("blk.1.attn_q.weight"), None);
        assert_eq!(r("blk.2.ffn_up.weight"), None);
        assert_eq!(
            r("blk.3.attn_q.weight").as_deref(),
            Some("blk.1.attn_q.weight")
        );
        assert_eq!(
            r("blk.3.ffn_up.weight").as_deref(),
            Some("blk.1.ffn_up.weight")
        );
        assert_eq!(
            r("blk.4.attn_q.weight").as_deref(),
            Some("blk.2.attn_q.weight")
        );
        assert_eq!(r("output.weight").as_deref(), Some("output.weight"));
        assert_eq!(next, 3);
    }

    #[test]
    fn tensors_sort_by_layer_then_name() {
        let t = |n: &str| TensorInfo {
            name: n.into(),
            dims: vec![1],
            ty: QuantType::F32,
            offset: 0,
            n_bytes: 4,
            split: 0,
        };
        let v = llama_order(&[
            t("blk.10.a"),
            t("blk.2.b"),
            t("output.weight"),
            t("blk.2.a"),
            t("token_embd.weight"),
        ]);
        let names: Vec<&str> = v.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "output.weight",
                "token_embd.weight",
                "blk.2.a",
                "blk.2.b",
                "blk.10.a"
            ]
        );
    }

    #[test]
    fn trailing_unit_dims_are_dropped() {
        assert_eq!(n_dims_of(&[256, 1]), vec![256]);
        assert_eq!(n_dims_of(&[256, 4, 1]), vec![256, 4]);
        assert_eq!(n_dims_of(&[1]), vec![1]);
    }
}
