//! Writes GGUF version 3 files: metadata, a tensor directory and aligned tensor data, through a
//! temporary file renamed into place so no half-written file is ever left behind.
use super::value::{Value, ValueType};
use super::{tensor_byte_size, DEFAULT_ALIGNMENT};
use crate::format::error::{FormatError, Result};
use brisk_kernels::QuantType;
use std::io::Write;
use std::path::Path;

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    ty: QuantType,
    data: Vec<u8>,
}

/// Collects metadata and tensors, then writes them in one go with [`GgufWriter::write`].
///
/// A value that cannot be written faithfully (an array whose elements differ from its declared
/// element type, a `general.alignment` that is not a u32 power of two) is refused: `try_set`
/// returns the reason, `set` remembers the first such reason and `write` reports it, so a writer
/// never produces a file its own reader would reject.
#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor>,
    error: Option<String>,
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Set a metadata key (replacing an earlier value of the same key, in its place). An invalid
    /// value is not stored; the first such refusal is reported by [`GgufWriter::write`].
    pub fn set(&mut self, key: &str, value: Value) -> &mut Self {
        if let Err(e) = self.try_set(key, value) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Set a metadata key, or say why the value cannot be written.
    pub fn try_set(&mut self, key: &str, value: Value) -> std::result::Result<&mut Self, String> {
        check_value(key, &value)?;
        if key == "general.alignment" && !matches!(value, Value::U32(a) if a.is_power_of_two()) {
            return Err(format!(
                "general.alignment must be a u32 power of two, not {value:?}"
            ));
        }
        if let Some(slot) = self.metadata.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
        } else {
            self.metadata.push((key.to_string(), value));
        }
        Ok(self)
    }

    /// The first value `set` refused, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Metadata in the order it will be written.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// Add a tensor; `dims` in ggml order (row length first), `data` its encoded bytes.
    pub fn add_tensor(
        &mut self,
        name: &str,
        dims: &[u64],
        ty: QuantType,
        data: Vec<u8>,
    ) -> std::result::Result<&mut Self, String> {
        let size = tensor_byte_size(name, dims, ty)?;
        if size != data.len() as u64 {
            return Err(format!(
                "tensor '{name}': {} bytes given, {size} expected for {dims:?} {}",
                data.len(),
                ty.name()
            ));
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(format!("tensor '{name}' added twice"));
        }
        self.tensors.push(PendingTensor {
            name: name.to_string(),
            dims: dims.to_vec(),
            ty,
            data,
        });
        Ok(self)
    }

    fn alignment(&self) -> u64 {
        alignment_of(&self.metadata)
    }

    /// Serialise to bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let align = self.alignment();
        let infos: Vec<HeaderTensor> = self
            .tensors
            .iter()
            .map(|t| HeaderTensor {
                name: &t.name,
                dims: &t.dims,
                ty: t.ty,
                n_bytes: t.data.len() as u64,
            })
            .collect();
        let (mut out, offsets) = encode_header(&self.metadata, &infos, align);
        let data_start = out.len() as u64;
        for (t, off) in self.tensors.iter().zip(offsets) {
            out.resize((data_start + off) as usize, 0);
            out.extend_from_slice(&t.data);
        }
        pad_to(&mut out, align);
        out
    }

    /// Write to `path` via a temporary file in the same directory, renamed when complete.
    /// Fails, writing nothing, if `set` refused a value earlier.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        if let Some(e) = &self.error {
            return Err(FormatError::invalid(path.as_ref(), e.clone()));
        }
        write_atomically(path.as_ref(), &self.to_bytes())
    }
}

/// The data alignment a file with this metadata uses: `general.alignment` if it is a u32 power
/// of two, else 32.
pub fn alignment_of(metadata: &[(String, Value)]) -> u64 {
    match metadata.iter().find(|(k, _)| k == "general.alignment") {
        Some((_, Value::U32(a))) if a.is_power_of_two() => *a as u64,
        _ => DEFAULT_ALIGNMENT,
    }
}

/// One tensor's directory entry for [`encode_header`].
pub struct HeaderTensor<'a> {
    pub name: &'a str,
    /// ggml order; trailing 1s are written as given.
    pub dims: &'a [u64],
    pub ty: QuantType,
    pub n_bytes: u64,
}

/// The bytes of a GGUF v3 header (magic, counts, metadata, tensor directory, padding to
/// `align`) and each tensor's offset in the data section that follows it, so a caller can
/// stream the tensor data after it (each tensor padded to `align`).
pub fn encode_header(
    metadata: &[(String, Value)],
    tensors: &[HeaderTensor],
    align: u64,
) -> (Vec<u8>, Vec<u64>) {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut out, k);
        out.extend_from_slice(&(v.value_type() as u32).to_le_bytes());
        put_value(&mut out, v);
    }
    let mut offset = 0u64;
    let mut offsets = Vec::with_capacity(tensors.len());
    for t in tensors {
        put_str(&mut out, t.name);
        out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
        for d in t.dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&t.ty.ggml_id().to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        offsets.push(offset);
        offset = (offset + t.n_bytes).div_ceil(align) * align;
    }
    pad_to(&mut out, align);
    (out, offsets)
}

/// Write `bytes` to `path` through a temporary file + rename, so readers never see a partial
/// file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let result = (|| {
        let mut f = crate::format::atomic_file::AtomicFile::create(path)?;
        f.write_all(bytes)?;
        f.commit()
    })();
    result.map_err(|e| FormatError::io(path, e))
}

/// Arrays must hold elements of their declared type only (checked through nested arrays).
fn check_value(key: &str, value: &Value) -> std::result::Result<(), String> {
    if let Value::Array(elem, items) = value {
        for (i, item) in items.iter().enumerate() {
            if item.value_type() != *elem {
                return Err(format!(
                    "metadata key '{key}': array element {i} is {:?} but the array holds {elem:?}",
                    item.value_type()
                ));
            }
            check_value(key, item)?;
        }
    }
    Ok(())
}

fn pad_to(out: &mut Vec<u8>, align: u64) {
    let len = (out.len() as u64).div_ceil(align) * align;
    out.resize(len as usize, 0);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => put_str(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array(elem, items) => {
            out.extend_from_slice(&(*elem as u32).to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, item);
            }
        }
    }
}

impl Value {
    /// Convenience: an array of strings.
    pub fn string_array<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Value {
        Value::Array(
            ValueType::String,
            items.into_iter().map(|s| Value::String(s.into())).collect(),
        )
    }
}
