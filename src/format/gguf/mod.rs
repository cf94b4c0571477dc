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
use brisk_kernels::QuantType;
use memmap2::Mmap;
use std::collections::HashMap;
use std::fs::File;
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
    map: Arc<Mmap>,
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

fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| FormatError::io(path, e))?;
    // SAFETY: the map is read-only; brisk never writes model files while they are open, and a
    // file truncated underneath by another process is outside what any mmap reader can defend.
    unsafe { Mmap::map(&file) }.map_err(|e| FormatError::io(path, e))
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
    /// Open and validate a GGUF file; a split model's parts are found from its name.
    pub fn open(path: impl AsRef<Path>) -> Result<Gguf> {
        let path = path.as_ref();
        let parts = split_paths(path).unwrap_or_else(|| vec![path.to_path_buf()]);
        let mut gguf: Option<Gguf> = None;
        for (i, part) in parts.iter().enumerate() {
            let map = map_file(part)?;
            let header =
                reader::parse_header(&map).map_err(|msg| FormatError::invalid(part, msg))?;
            let split = Split {
                map: Arc::new(map),
                data_start: header.data_start,
            };
            match gguf.as_mut() {
                None => {
                    let index = header
                        .metadata
                        .iter()
                        .enumerate()
                        .map(|(i, (k, _))| (k.clone(), i))
                        .collect();
                    let g = Gguf {
                        path: path.to_path_buf(),
                        version: header.version,
                        alignment: header.alignment,
                        metadata: header.metadata,
                        index,
                        tensors: Vec::new(),
                        tensor_index: HashMap::new(),
                        splits: Vec::new(),
                    };
                    if parts.len() > 1 {
                        let count = g.get_u64("split.count");
                        if count != Some(parts.len() as u64) {
                            return Err(FormatError::invalid(
                                part,
                                format!(
                                    "split.count is {count:?} but the file name says {} parts",
                                    parts.len()
                                ),
                            ));
                        }
                    }
                    gguf = Some(g);
                }
                Some(_) => {
                    let no = header
                        .metadata
                        .iter()
                        .find(|(k, _)| k == "split.no")
                        .and_then(|(_, v)| v.as_u64());
                    if no != Some(i as u64) {
                        return Err(FormatError::invalid(
                            part,
                            format!("split.no is {no:?}, expected {i}"),
                        ));
                    }
                }
            }
            let g = gguf.as_mut().expect("set above");
            for mut t in header.tensors {
                t.split = i;
                if g.tensor_index.contains_key(&t.name) {
                    return Err(FormatError::invalid(
                        part,
                        format!("tensor '{}' appears in two split files", t.name),
                    ));
                }
                g.tensor_index.insert(t.name.clone(), g.tensors.len());
                g.tensors.push(t);
            }
            g.splits.push(split);
        }
        let g = gguf.expect("at least one part");
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
        }
        Ok(g)
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

    /// Total bytes of tensor data.
    pub fn tensor_data_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }
}
