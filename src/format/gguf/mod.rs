//! GGUF: memory-mapped reading (versions 2 and 3, split files, zero-copy tensor views) and
//! writing. Layout facts in `../shared/REFERENCE.md`; every header field is validated against the
//! file size before it is used (see `reader`).
mod reader;
pub mod value;
pub mod writer;

pub use reader::{tensor_byte_size, DEFAULT_ALIGNMENT, MAX_DIMS};
pub use value::{Value, ValueType};
pub use writer::GgufWriter;

use super::error::{FormatError, Result};
use super::storage::TensorBytes;
use super::TensorView;
use crate::format::storage::{open_model_file, FileData};
use brisk_kernels::QuantType;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One tensor's directory entry.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous row length.
    pub dims: Vec<u64>,
    pub ty: QuantType,
    /// Offset from the start of the data section of its split file.
    pub offset: u64,
    pub n_bytes: u64,
    /// Which split file holds the data (0 for single files).
    pub split: usize,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

struct Split {
    map: Arc<FileData>,
    data_start: u64,
}

/// An open GGUF model (one file or all parts of a split model).
pub struct Gguf {
    path: PathBuf,
    pub version: u32,
    pub alignment: u64,
    metadata: Vec<(String, Value)>,
    index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    splits: Vec<Split>,
}

/// Sets `key` where it stands in `meta`, appending it when absent (gguf-py's writer: a key
/// written again keeps its first position).
pub fn set_in_place(meta: &mut Vec<(String, Value)>, key: &str, v: Value) {
    match meta.iter_mut().find(|(k, _)| k == key) {
        Some((_, old)) => *old = v,
        None => meta.push((key.to_string(), v)),
    }
}

/// Removes `key` from `meta` and appends it, as ggml's `gguf_set_val_*` does (the key moves to
/// the end).
pub fn set_last(meta: &mut Vec<(String, Value)>, key: &str, v: Value) {
    meta.retain(|(k, _)| k != key);
    meta.push((key.to_string(), v));
}

/// The dimension count ggml reports (`ggml_n_dims`): trailing 1s do not count, at least one.
pub fn n_dims(dims: &[u64]) -> usize {
    let mut n = dims.len();
    while n > 1 && dims[n - 1] == 1 {
        n -= 1;
    }
    n.max(1)
}

/// If `path` names part of a split model (`…-00002-of-00005.gguf`), the paths of all parts.
pub fn split_paths(path: &Path) -> Option<Vec<PathBuf>> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gguf")?;
    let (head, count) = stem.rsplit_once("-of-")?;
    let (prefix, no) = head.rsplit_once('-')?;
    if no.len() != 5 || count.len() != 5 {
        return None;
    }
    let _: u32 = no.parse().ok()?;
    let n: u32 = count.parse().ok()?;
    if n == 0 {
        return None;
    }
    let dir = path.parent().unwrap_or(Path::new(""));
    Some(
        (1..=n)
            .map(|i| dir.join(format!("{prefix}-{i:05}-of-{n:05}.gguf")))
            .collect(),
    )
}

impl Gguf {
    /// Open and validate a GGUF file. A split model (`…-00002-of-00005.gguf`) is opened whole from
    /// any of its parts: metadata comes from the first part, tensors from all of them in order.
    pub fn open(path: impl AsRef<Path>) -> Result<Gguf> {
        let path = path.as_ref();
        let map = open_model_file(path)?;
        let header = reader::parse_header(&map).map_err(|msg| FormatError::invalid(path, msg))?;
        let key = |h: &reader::Header, k: &str| {
            h.metadata
                .iter()
                .find(|(name, _)| name == k)
                .and_then(|(_, v)| v.as_u64())
        };
        // A split model is one whose keys say so (`split.count` > 1); its parts are found by
        // gguf-split's naming, from whichever part was named.
        let n_parts = key(&header, "split.count").unwrap_or(1).max(1);
        let mut headers = Vec::new();
        if n_parts == 1 {
            headers.push((path.to_path_buf(), map, header));
        } else {
            let parts = split_paths(path).ok_or_else(|| {
                FormatError::invalid(
                    path,
                    format!(
                        "file is one part of a {n_parts}-part split model, but its name is not \
                         PREFIX-0000i-of-{n_parts:05}.gguf so the other parts cannot be found"
                    ),
                )
            })?;
            if parts.len() as u64 != n_parts {
                return Err(FormatError::invalid(
                    path,
                    format!(
                        "split.count is {n_parts} but the file name says {} parts",
                        parts.len()
                    ),
                ));
            }
            let mut given = Some((map, header));
            for (i, part) in parts.iter().enumerate() {
                if part.as_path() == path {
                    if let Some((m, h)) = given.take() {
                        headers.push((part.clone(), m, h));
                        continue;
                    }
                }
                if !part.exists() {
                    return Err(FormatError::invalid(
                        part,
                        format!(
                            "part {} of the {n_parts}-part split model is missing",
                            i + 1
                        ),
                    ));
                }
                let m = open_model_file(part)?;
                let h = reader::parse_header(&m).map_err(|msg| FormatError::invalid(part, msg))?;
                headers.push((part.clone(), m, h));
            }
        }
        Self::assemble(path, headers)
    }

    /// A single GGUF file already in memory (`name` for messages): fuzzing, and tools that
    /// build models in memory. A file that says it is one part of a split model is refused.
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Gguf> {
        let header = reader::parse_header(&bytes).map_err(|msg| FormatError::invalid(name, msg))?;
        let count = header
            .metadata
            .iter()
            .find(|(k, _)| k == "split.count")
            .and_then(|(_, v)| v.as_u64());
        if let Some(n @ 2..) = count {
            return Err(FormatError::invalid(
                name,
                format!("is one part of a {n}-part split model; open it from its file"),
            ));
        }
        Self::assemble(
            name,
            vec![(name.to_path_buf(), FileData::Read(bytes), header)],
        )
    }

    /// Check the parts' split keys against each other and gather their tensors.
    fn assemble(path: &Path, headers: Vec<(PathBuf, FileData, reader::Header)>) -> Result<Gguf> {
        let key = |h: &reader::Header, k: &str| {
            h.metadata
                .iter()
                .find(|(name, _)| name == k)
                .and_then(|(_, v)| v.as_u64())
        };
        let shown = |v: Option<u64>| v.map_or("missing".to_string(), |n| n.to_string());
        let n_files = headers.len();
        let mut headers = headers.into_iter();
        let Some((first_path, first_map, first)) = headers.next() else {
            return Err(FormatError::invalid(path, "no GGUF file to open"));
        };
        if n_files > 1 {
            let no = key(&first, "split.no");
            if no != Some(0) {
                return Err(FormatError::invalid(
                    &first_path,
                    format!("split.no is {}, expected 0 in the first part", shown(no)),
                ));
            }
            let count = key(&first, "split.count");
            if count != Some(n_files as u64) {
                return Err(FormatError::invalid(
                    &first_path,
                    format!(
                        "split.count is {} but the file name says {n_files} parts",
                        shown(count)
                    ),
                ));
            }
        }
        let index = first
            .metadata
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        let mut g = Gguf {
            path: path.to_path_buf(),
            version: first.version,
            alignment: first.alignment,
            metadata: first.metadata,
            index,
            tensors: Vec::new(),
            tensor_index: HashMap::new(),
            splits: Vec::new(),
        };
        g.add_split(&first_path, first_map, first.tensors, first.data_start)?;
        for (i, (part, map, header)) in headers.enumerate() {
            let i = i + 1;
            let no = key(&header, "split.no");
            if no != Some(i as u64) {
                return Err(FormatError::invalid(
                    &part,
                    format!("split.no is {}, expected {i}", shown(no)),
                ));
            }
            let count = key(&header, "split.count");
            if count != Some(n_files as u64) {
                return Err(FormatError::invalid(
                    &part,
                    format!(
                        "split.count is {} but the file name says {n_files} parts",
                        shown(count)
                    ),
                ));
            }
            g.add_split(&part, map, header.tensors, header.data_start)?;
        }
        if let Some(expected) = g.get_u64("split.tensors.count") {
            if expected != g.tensors.len() as u64 {
                return Err(FormatError::invalid(
                    path,
                    format!(
                        "split.tensors.count is {expected} but the parts hold {} tensors",
                        g.tensors.len()
                    ),
                ));
            }
        } else if n_files > 1 {
            return Err(FormatError::invalid(
                first_path,
                "split model without split.tensors.count in its first part",
            ));
        }
        Ok(g)
    }

    /// Append one part's tensors (rejecting a name already seen in an earlier part).
    fn add_split(
        &mut self,
        part: &Path,
        map: FileData,
        tensors: Vec<TensorInfo>,
        data_start: u64,
    ) -> Result<()> {
        let split_no = self.splits.len();
        for mut t in tensors {
            t.split = split_no;
            if self.tensor_index.contains_key(&t.name) {
                return Err(FormatError::invalid(
                    part,
                    format!("tensor '{}' appears in two split files", t.name),
                ));
            }
            self.tensor_index.insert(t.name.clone(), self.tensors.len());
            self.tensors.push(t);
        }
        self.splits.push(Split {
            map: Arc::new(map),
            data_start,
        });
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Metadata in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.metadata[i].1)
    }
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }
    pub fn get_array(&self, key: &str) -> Option<&[Value]> {
        self.get(key)?.as_array()
    }

    /// Tensors in file order (across splits).
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// Zero-copy view of a tensor's bytes (bounds were checked when the file was opened).
    pub fn tensor_bytes(&self, info: &TensorInfo) -> TensorBytes {
        let split = &self.splits[info.split];
        let start = (split.data_start + info.offset) as usize;
        TensorBytes::Mapped {
            map: split.map.clone(),
            range: start..start + info.n_bytes as usize,
        }
    }

    /// A tensor as a [`TensorView`] (name, dims, type and zero-copy bytes).
    pub fn tensor_view(&self, info: &TensorInfo) -> TensorView {
        TensorView {
            name: info.name.clone(),
            dims: info.dims.clone(),
            ty: info.ty,
            bytes: self.tensor_bytes(info),
        }
    }

    /// Every tensor as a [`TensorView`], in file order (across splits).
    pub fn tensor_views(&self) -> Vec<TensorView> {
        self.tensors.iter().map(|t| self.tensor_view(t)).collect()
    }

    /// Number of files this model was read from (1 unless split).
    pub fn split_count(&self) -> usize {
        self.splits.len()
    }

    /// Total bytes of tensor data.
    pub fn tensor_data_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }
}
