//! Hugging Face safetensors: memory-mapped, validated reading of `model.safetensors` (u64 LE
//! header length · JSON header of `dtype`/`shape`/`data_offsets` and optional `__metadata__` ·
//! data) and of sharded checkpoints (`model.safetensors.index.json` → `weight_map`), producing
//! zero-copy [`TensorView`]s under GGUF names.
//!
//! Tensors are passed through exactly as stored. In particular a Llama checkpoint's Q/K rows are
//! *not* permuted as llama.cpp's converter permutes them: HF Llama uses half-split (NeoX-style)
//! RoPE, rotating (x[i], x[i + d/2]), so a model built from these views must rotate that way.
//! Views are byte ranges of the map; their start is only as aligned as the file makes it.
use super::error::{FormatError, Result};
use super::gptq_awq;
use super::hf_config::HfConfig;
use super::hf_names::gguf_tensor_name;
use super::{TensorBytes, TensorView};
use crate::format::storage::{open_model_file, FileData};
use brisk_kernels::QuantType;
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A header larger than this is refused before it is parsed (the reference implementation uses
/// the same bound).
pub const MAX_HEADER_LEN: u64 = 100 << 20;

/// safetensors element types (the format's full list; brisk computes with F32, F16 and BF16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    Bool,
    U8,
    I8,
    F8E5M2,
    F8E4M3,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

const DTYPES: &[(Dtype, &str, usize)] = &[
    (Dtype::Bool, "BOOL", 1),
    (Dtype::U8, "U8", 1),
    (Dtype::I8, "I8", 1),
    (Dtype::F8E5M2, "F8_E5M2", 1),
    (Dtype::F8E4M3, "F8_E4M3", 1),
    (Dtype::I16, "I16", 2),
    (Dtype::U16, "U16", 2),
    (Dtype::F16, "F16", 2),
    (Dtype::BF16, "BF16", 2),
    (Dtype::I32, "I32", 4),
    (Dtype::U32, "U32", 4),
    (Dtype::F32, "F32", 4),
    (Dtype::F64, "F64", 8),
    (Dtype::I64, "I64", 8),
    (Dtype::U64, "U64", 8),
];

impl Dtype {
    pub fn from_name(name: &str) -> Option<Dtype> {
        DTYPES.iter().find(|d| d.1 == name).map(|d| d.0)
    }

    /// The name as written in headers (`F32`, `BF16`, …).
    pub fn name(self) -> &'static str {
        DTYPES.iter().find(|d| d.0 == self).map_or("?", |d| d.1)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        DTYPES.iter().find(|d| d.0 == self).map_or(1, |d| d.2)
    }

    /// The ggml type brisk computes with, for the dtypes it supports.
    pub fn quant_type(self) -> Option<QuantType> {
        match self {
            Dtype::F32 => Some(QuantType::F32),
            Dtype::F16 => Some(QuantType::F16),
            Dtype::BF16 => Some(QuantType::BF16),
            _ => None,
        }
    }
}

/// One tensor of a safetensors file.
#[derive(Clone, Debug, PartialEq)]
pub struct StTensor {
    /// The name as stored (Hugging Face naming).
    pub name: String,
    pub dtype: Dtype,
    /// PyTorch order (outermost first): the reverse of ggml's `dims`.
    pub shape: Vec<u64>,
    /// Absolute byte range in the file.
    pub range: Range<usize>,
}

/// A parsed header: tensors in data order, `__metadata__`, and where data begins.
#[derive(Debug)]
pub struct StHeader {
    pub tensors: Vec<StTensor>,
    pub metadata: BTreeMap<String, String>,
    pub data_start: usize,
}

/// A JSON object's entries in file order, refusing a key that appears twice.
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut seen = HashSet::new();
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    if !seen.insert(k.clone()) {
                        return Err(A::Error::custom(format!("key '{k}' appears twice")));
                    }
                    entries.push((k, v));
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct RawInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// Parse and validate the header of a safetensors file whose whole contents are `buf`.
pub fn parse_header(buf: &[u8]) -> std::result::Result<StHeader, String> {
    let file_len = buf.len() as u64;
    let Some(len_bytes) = buf.get(..8) else {
        return Err(format!(
            "not a safetensors file: {file_len} bytes, too short for the 8-byte header length"
        ));
    };
    let mut le = [0u8; 8];
    le.copy_from_slice(len_bytes);
    let header_len = u64::from_le_bytes(le);
    if header_len > file_len - 8 {
        return Err(format!(
            "header length {header_len} runs past the end of the file ({file_len} bytes)"
        ));
    }
    if header_len > MAX_HEADER_LEN {
        return Err(format!(
            "header length {header_len} exceeds the {MAX_HEADER_LEN}-byte limit"
        ));
    }
    let data_start = 8 + header_len as usize;
    let text = std::str::from_utf8(&buf[8..data_start])
        .map_err(|e| format!("header is not UTF-8 JSON: {e}"))?;
    if !text.starts_with('{') {
        return Err("header is not a JSON object (it must start with '{')".into());
    }
    let Entries(entries) =
        serde_json::from_str(text).map_err(|e| format!("header is not valid JSON: {e}"))?;
    let data_len = (file_len - data_start as u64) as usize;
    let mut tensors = Vec::with_capacity(entries.len());
    let mut metadata = BTreeMap::new();
    for (name, value) in entries {
        if name == "__metadata__" {
            metadata = serde_json::from_value(value)
                .map_err(|e| format!("__metadata__ must map strings to strings: {e}"))?;
            continue;
        }
        let info: RawInfo =
            serde_json::from_value(value).map_err(|e| format!("tensor '{name}': {e}"))?;
        let dtype = Dtype::from_name(&info.dtype)
            .ok_or_else(|| format!("tensor '{name}': unknown dtype '{}'", info.dtype))?;
        let [begin, end] = info.data_offsets;
        if begin > end {
            return Err(format!(
                "tensor '{name}': data_offsets [{begin}, {end}] end before they begin"
            ));
        }
        if end > data_len as u64 {
            return Err(format!(
                "tensor '{name}': data_offsets [{begin}, {end}] run past the end of the data \
                 ({data_len} bytes)"
            ));
        }
        let n_bytes = info
            .shape
            .iter()
            .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("tensor '{name}': shape {:?} overflows", info.shape))?;
        if n_bytes != end - begin {
            return Err(format!(
                "tensor '{name}': data_offsets [{begin}, {end}] hold {} bytes but shape {:?} of \
                 {} needs {n_bytes}",
                end - begin,
                info.shape,
                dtype.name()
            ));
        }
        tensors.push(StTensor {
            name,
            dtype,
            shape: info.shape,
            range: data_start + begin as usize..data_start + end as usize,
        });
    }
    tensors.sort_by_key(|t| (t.range.start, t.range.end));
    for pair in tensors.windows(2) {
        if pair[0].range.end > pair[1].range.start {
            return Err(format!(
                "tensor '{}': data overlaps tensor '{}'",
                pair[1].name, pair[0].name
            ));
        }
    }
    Ok(StHeader {
        tensors,
        metadata,
        data_start,
    })
}

/// One open, validated `.safetensors` file.
pub struct SafetensorsFile {
    path: PathBuf,
    map: Arc<FileData>,
    header: StHeader,
}

impl SafetensorsFile {
    pub fn open(path: impl AsRef<Path>) -> Result<SafetensorsFile> {
        let path = path.as_ref();
        let map = open_model_file(path)?;
        let header = parse_header(&map).map_err(|msg| FormatError::invalid(path, msg))?;
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            map: Arc::new(map),
            header,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tensors in data order.
    pub fn tensors(&self) -> &[StTensor] {
        &self.header.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&StTensor> {
        self.header.tensors.iter().find(|t| t.name == name)
    }

    /// The `__metadata__` map (empty when absent).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.header.metadata
    }

    /// Zero-copy bytes of a tensor of this file (its range was checked at open).
    pub fn bytes(&self, t: &StTensor) -> TensorBytes {
        TensorBytes::Mapped {
            map: self.map.clone(),
            range: t.range.clone(),
        }
    }

    /// A tensor as a [`TensorView`] named `name`: ggml dims (reversed shape; a scalar is `[1]`)
    /// and the ggml type of its dtype. Fails for dtypes other than F32/F16/BF16, for more than
    /// four dimensions and for empty tensors.
    pub fn view(&self, t: &StTensor, name: String) -> std::result::Result<TensorView, String> {
        let ty = t.dtype.quant_type().ok_or_else(|| {
            format!(
                "tensor '{}' has dtype {}; brisk reads F32, F16 and BF16 safetensors",
                t.name,
                t.dtype.name()
            )
        })?;
        if t.shape.len() > crate::format::gguf::MAX_DIMS {
            return Err(format!(
                "tensor '{}' has {} dimensions (at most {} supported)",
                t.name,
                t.shape.len(),
                crate::format::gguf::MAX_DIMS
            ));
        }
        if t.shape.contains(&0) {
            return Err(format!(
                "tensor '{}' is empty (shape {:?})",
                t.name, t.shape
            ));
        }
        let mut dims: Vec<u64> = t.shape.iter().rev().copied().collect();
        if dims.is_empty() {
            dims.push(1);
        }
        Ok(TensorView {
            name,
            dims,
            ty,
            bytes: self.bytes(t),
        })
    }
}

pub const INDEX_FILE: &str = "model.safetensors.index.json";
pub const SINGLE_FILE: &str = "model.safetensors";

#[derive(Deserialize)]
struct RawIndex {
    weight_map: BTreeMap<String, String>,
}

/// The shard files named by an index (sorted, each once) and its tensor → file map.
pub fn read_index(path: &Path) -> Result<(Vec<String>, BTreeMap<String, String>)> {
    let text = std::fs::read_to_string(path).map_err(|e| FormatError::io(path, e))?;
    let index: RawIndex = serde_json::from_str(&text)
        .map_err(|e| FormatError::invalid(path, format!("not a valid index: {e}")))?;
    let mut files: Vec<String> = index.weight_map.values().cloned().collect();
    files.sort();
    files.dedup();
    for f in &files {
        // Shards live beside the index: a path that could leave the directory is refused.
        let plain = Path::new(f).file_name().is_some_and(|n| n == f.as_str());
        if !plain || f == ".." || f == "." {
            return Err(FormatError::invalid(
                path,
                format!("weight_map names '{f}', which is not a plain file name"),
            ));
        }
    }
    if files.is_empty() {
        return Err(FormatError::invalid(path, "weight_map is empty"));
    }
    Ok((files, index.weight_map))
}

/// A Hugging Face checkpoint directory: `config.json` plus one or more safetensors files.
pub struct SafetensorsModel {
    pub config: HfConfig,
    /// Tensors brisk uses, under GGUF names, in file then data order.
    pub tensors: Vec<TensorView>,
    pub dir: PathBuf,
    /// The safetensors files read.
    pub files: Vec<PathBuf>,
    /// Stored names that map to no GGUF tensor and were left out (e.g. `rotary_emb.inv_freq`),
    /// for a verbose log.
    pub skipped: Vec<String>,
}

/// Which files to read: the index (sharded) or one safetensors file.
enum Layout {
    Sharded(PathBuf),
    Single(PathBuf),
}

fn find_layout(dir: &Path, file: Option<&Path>) -> Result<Layout> {
    let index = dir.join(INDEX_FILE);
    if let Some(file) = file {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".index.json") {
            return Ok(Layout::Sharded(file.to_path_buf()));
        }
        // A shard named directly still opens the whole sharded checkpoint.
        if index.is_file() {
            let (files, _) = read_index(&index)?;
            if files.iter().any(|f| f == name) {
                return Ok(Layout::Sharded(index));
            }
        }
        return Ok(Layout::Single(file.to_path_buf()));
    }
    if index.is_file() {
        return Ok(Layout::Sharded(index));
    }
    let single = dir.join(SINGLE_FILE);
    if single.is_file() {
        return Ok(Layout::Single(single));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| FormatError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    match found.len() {
        1 => Ok(Layout::Single(found.remove(0))),
        0 => Err(FormatError::invalid(
            dir,
            format!("no {SINGLE_FILE}, {INDEX_FILE} or other .safetensors file"),
        )),
        n => Err(FormatError::invalid(
            dir,
            format!("{n} .safetensors files but no {INDEX_FILE} saying how they fit together"),
        )),
    }
}

impl SafetensorsModel {
    /// Open a checkpoint from its directory, its `.safetensors` file (a shard opens the whole
    /// sharded checkpoint) or its `model.safetensors.index.json`. `config.json` must sit beside.
    pub fn open(dir_or_file: &Path) -> Result<SafetensorsModel> {
        let meta = std::fs::metadata(dir_or_file).map_err(|e| FormatError::io(dir_or_file, e))?;
        let (dir, file) = if meta.is_dir() {
            (dir_or_file.to_path_buf(), None)
        } else {
            let parent = dir_or_file.parent().unwrap_or(Path::new(""));
            let dir = if parent.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                parent.to_path_buf()
            };
            (dir, Some(dir_or_file))
        };
        let config_path = dir.join("config.json");
        let config = HfConfig::from_file(&config_path)?;
        let quant = quantization_of(&config_path)?;
        let files = match find_layout(&dir, file)? {
            Layout::Single(path) => vec![SafetensorsFile::open(path)?],
            Layout::Sharded(index_path) => open_shards(&index_path)?,
        };
        let mut tensors = Vec::new();
        let mut skipped = Vec::new();
        let mut seen = HashMap::new();
        let mut packed: BTreeMap<String, Vec<gptq_awq::Raw>> = BTreeMap::new();
        for f in &files {
            for t in f.tensors() {
                if let Some(base) = quant.and_then(|_| gptq_awq::packed_base(&t.name)) {
                    packed
                        .entry(base.to_string())
                        .or_default()
                        .push(gptq_awq::Raw {
                            name: t.name.clone(),
                            dtype: t.dtype,
                            shape: t.shape.clone(),
                            bytes: f.bytes(t),
                        });
                    continue;
                }
                let Some(gguf) = gguf_tensor_name(&t.name, config.arch) else {
                    skipped.push(t.name.clone());
                    continue;
                };
                if let Some(other) = seen.insert(gguf.clone(), t.name.clone()) {
                    return Err(FormatError::invalid(
                        f.path(),
                        format!("tensors '{other}' and '{}' both map to '{gguf}'", t.name),
                    ));
                }
                let view = f
                    .view(t, gguf)
                    .map_err(|msg| FormatError::invalid(f.path(), msg))?;
                tensors.push(view);
            }
        }
        if let Some(q) = quant {
            for (base, parts) in packed {
                let Some(gguf) = gguf_tensor_name(&format!("{base}.weight"), config.arch) else {
                    skipped.extend(parts.into_iter().map(|p| p.name));
                    continue;
                };
                let view = gptq_awq::layer(&q, &base, &parts, gguf.clone())
                    .map_err(|msg| FormatError::invalid(&dir, msg))?;
                if let Some(other) = seen.insert(gguf.clone(), base.clone()) {
                    return Err(FormatError::invalid(
                        &dir,
                        format!("tensors '{other}' and '{base}' both map to '{gguf}'"),
                    ));
                }
                tensors.push(view);
            }
        }
        Ok(SafetensorsModel {
            config,
            tensors,
            dir,
            files: files.iter().map(|f| f.path().to_path_buf()).collect(),
            skipped,
        })
    }

    /// A tensor by GGUF name.
    pub fn tensor(&self, gguf_name: &str) -> Option<&TensorView> {
        self.tensors.iter().find(|t| t.name == gguf_name)
    }
}

/// The GPTQ/AWQ packing `config.json` declares, if any.
fn quantization_of(config_path: &Path) -> Result<Option<gptq_awq::QuantConfig>> {
    let text = std::fs::read_to_string(config_path).map_err(|e| FormatError::io(config_path, e))?;
    let raw: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| FormatError::invalid(config_path, e.to_string()))?;
    gptq_awq::quant_config(&raw).map_err(|msg| FormatError::invalid(config_path, msg))
}

/// Open every shard an index names and check each tensor is where the index says.
fn open_shards(index_path: &Path) -> Result<Vec<SafetensorsFile>> {
    let (names, weight_map) = read_index(index_path)?;
    let dir = index_path.parent().unwrap_or(Path::new(""));
    let files = names
        .iter()
        .map(|n| SafetensorsFile::open(dir.join(n)))
        .collect::<Result<Vec<_>>>()?;
    let mut owner: HashMap<&str, &str> = HashMap::new();
    for (f, name) in files.iter().zip(&names) {
        for t in f.tensors() {
            if let Some(prev) = owner.insert(&t.name, name) {
                return Err(FormatError::invalid(
                    f.path(),
                    format!("tensor '{}' is also in shard {prev}", t.name),
                ));
            }
        }
    }
    for (tensor, file) in &weight_map {
        if owner.get(tensor.as_str()) != Some(&file.as_str()) {
            return Err(FormatError::invalid(
                index_path,
                format!("weight_map puts '{tensor}' in {file}, which does not hold it"),
            ));
        }
    }
    Ok(files)
}
