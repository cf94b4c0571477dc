//! Parses a GGUF header (metadata and tensor directory) from bytes, validating every count,
//! length, offset, dimension and type against the file size before using it.
use super::value::{Value, ValueType};
use super::TensorInfo;
use brisk_kernels::QuantType;
use std::collections::HashSet;

/// Arrays may nest; deeper than this is treated as malformed (real files nest at most twice).
const MAX_ARRAY_DEPTH: usize = 8;
/// ggml tensors have at most 4 dimensions.
pub const MAX_DIMS: usize = 4;
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// What the header says: metadata in file order, tensors in file order, and where data starts.
pub struct Header {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset of the tensor data section.
    pub data_start: u64,
}

/// A bounds-checked little-endian reader over a byte slice.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "truncated: {what} needs {n} bytes at offset {} but the file has {}",
                    self.pos,
                    self.buf.len()
                )
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let len = self.u64(what)?;
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.remaining())
            .ok_or_else(|| {
                format!(
                    "{what}: string length {len} at offset {} runs past the end of the file",
                    self.pos - 8
                )
            })?;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| {
            format!(
                "{what}: string at offset {} is not valid UTF-8",
                self.pos - len
            )
        })
    }

    fn value(&mut self, ty: ValueType, depth: usize, what: &str) -> Result<Value, String> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.u8(what)?),
            ValueType::I8 => Value::I8(self.u8(what)? as i8),
            ValueType::U16 => Value::U16(self.u16(what)?),
            ValueType::I16 => Value::I16(self.u16(what)? as i16),
            ValueType::U32 => Value::U32(self.u32(what)?),
            ValueType::I32 => Value::I32(self.u32(what)? as i32),
            ValueType::F32 => Value::F32(f32::from_bits(self.u32(what)?)),
            ValueType::Bool => match self.u8(what)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("{what}: bool value {b} is neither 0 nor 1")),
            },
            ValueType::String => Value::String(self.string(what)?),
            ValueType::U64 => Value::U64(self.u64(what)?),
            ValueType::I64 => Value::I64(self.u64(what)? as i64),
            ValueType::F64 => Value::F64(f64::from_bits(self.u64(what)?)),
            ValueType::Array => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(format!(
                        "{what}: arrays nested deeper than {MAX_ARRAY_DEPTH}"
                    ));
                }
                let elem_id = self.u32(what)?;
                let elem = ValueType::from_id(elem_id)
                    .ok_or_else(|| format!("{what}: unknown array element type {elem_id}"))?;
                let count = self.u64(what)?;
                // Never trust the count for allocation: it must fit in the bytes that remain.
                let max_fit = (self.remaining() / elem.min_encoded_len()) as u64;
                if count > max_fit {
                    return Err(format!(
                        "{what}: array of {count} elements cannot fit in the {} bytes left",
                        self.remaining()
                    ));
                }
                // Bounded above by the file size; capped further so a large-but-fitting count
                // of one-byte elements cannot reserve 32 bytes of `Value` per file byte up front.
                let mut items = Vec::with_capacity((count as usize).min(1 << 16));
                for _ in 0..count {
                    items.push(self.value(elem, depth + 1, what)?);
                }
                Value::Array(elem, items)
            }
        })
    }
}

/// Parse and validate the header of a GGUF file whose whole contents are `buf`.
pub fn parse_header(buf: &[u8]) -> Result<Header, String> {
    let mut c = Cursor { buf, pos: 0 };
    let magic = c
        .take(4, "magic")
        .map_err(|_| "not a GGUF file (too short)".to_string())?;
    if magic != b"GGUF" {
        return Err("not a GGUF file (bad magic)".into());
    }
    let version = c.u32("version")?;
    if matches!(version.swap_bytes(), 2 | 3) {
        return Err(format!(
            "big-endian GGUF (version {} byte-swapped) is not supported",
            version.swap_bytes()
        ));
    }
    if version != 2 && version != 3 {
        return Err(format!(
            "unsupported GGUF version {version} (2 and 3 are supported)"
        ));
    }
    let tensor_count = c.u64("tensor count")?;
    let kv_count = c.u64("metadata count")?;
    // Each key/value pair takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor
    // entry at least 8 + 4 + 8 + 4 + 8.
    if kv_count > (c.remaining() / 13) as u64 {
        return Err(format!(
            "metadata count {kv_count} is larger than the file can hold"
        ));
    }
    if tensor_count > (c.remaining() / 32) as u64 {
        return Err(format!(
            "tensor count {tensor_count} is larger than the file can hold"
        ));
    }

    let mut metadata = Vec::with_capacity(kv_count as usize);
    let mut seen_keys = HashSet::new();
    for i in 0..kv_count {
        let key = c.string(&format!("metadata key #{i}"))?;
        let ty_id = c.u32(&key)?;
        let ty = ValueType::from_id(ty_id)
            .ok_or_else(|| format!("metadata key '{key}': unknown value type {ty_id}"))?;
        let value = c.value(ty, 0, &format!("metadata key '{key}'"))?;
        if !seen_keys.insert(key.clone()) {
            return Err(format!("metadata key '{key}' appears twice"));
        }
        metadata.push((key, value));
    }

    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v {
            Value::U32(a) if a.is_power_of_two() => *a as u64,
            other => {
                return Err(format!(
                    "general.alignment must be a u32 power of two, found {other:?}"
                ))
            }
        },
    };

    let mut tensors = Vec::with_capacity(tensor_count as usize);
    let mut seen_names = HashSet::new();
    for i in 0..tensor_count {
        let name = c.string(&format!("tensor name #{i}"))?;
        let n_dims = c.u32(&name)?;
        if n_dims == 0 || n_dims as usize > MAX_DIMS {
            return Err(format!(
                "tensor '{name}': {n_dims} dimensions (1 to {MAX_DIMS} allowed)"
            ));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(c.u64(&name)?);
        }
        let type_id = c.u32(&name)?;
        let offset = c.u64(&name)?;
        let ty = QuantType::from_ggml_id(type_id).ok_or_else(|| {
            format!("tensor '{name}': unsupported or unknown ggml type id {type_id}")
        })?;
        let n_bytes = tensor_byte_size(&name, &dims, ty)?;
        if !offset.is_multiple_of(alignment) {
            return Err(format!(
                "tensor '{name}': data offset {offset} is not a multiple of the alignment {alignment}"
            ));
        }
        if !seen_names.insert(name.clone()) {
            return Err(format!("tensor '{name}' appears twice"));
        }
        tensors.push(TensorInfo {
            name,
            dims,
            ty,
            offset,
            n_bytes,
            split: 0,
        });
    }

    let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
    let file_len = buf.len() as u64;
    check_no_overlap(&tensors)?;
    for t in &tensors {
        let end = data_start
            .checked_add(t.offset)
            .and_then(|s| s.checked_add(t.n_bytes));
        match end {
            Some(end) if end <= file_len => {}
            _ => {
                return Err(format!(
                    "tensor '{}': data ({} bytes at offset {}) runs past the end of the file ({} bytes)",
                    t.name, t.n_bytes, t.offset, file_len
                ))
            }
        }
    }
    Ok(Header {
        version,
        metadata,
        tensors,
        alignment,
        data_start,
    })
}

/// Two tensors whose data ranges share a byte are malformed (a writer bug or a crafted file that
/// would alias one tensor's bytes as another's).
fn check_no_overlap(tensors: &[TensorInfo]) -> Result<(), String> {
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    for pair in order.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // Offsets past the end are reported by the caller; saturate so this check never overflows.
        if a.offset.saturating_add(a.n_bytes) > b.offset {
            return Err(format!(
                "tensor '{}': data at offset {} overlaps tensor '{}' ({} bytes at offset {})",
                b.name, b.offset, a.name, a.n_bytes, a.offset
            ));
        }
    }
    Ok(())
}

/// Bytes of a tensor of `dims` (ne[0] first) and type `ty`, rejecting zero, overflow and rows
/// that are not whole blocks.
pub fn tensor_byte_size(name: &str, dims: &[u64], ty: QuantType) -> Result<u64, String> {
    if dims.is_empty() || dims.len() > MAX_DIMS {
        return Err(format!(
            "tensor '{name}': {} dimensions (1 to {MAX_DIMS} allowed)",
            dims.len()
        ));
    }
    if dims.contains(&0) {
        return Err(format!("tensor '{name}': a dimension is zero ({dims:?})"));
    }
    let mut elems: u64 = 1;
    for &d in dims {
        elems = elems
            .checked_mul(d)
            .filter(|&e| e <= i64::MAX as u64)
            .ok_or_else(|| format!("tensor '{name}': dimensions {dims:?} overflow"))?;
    }
    let block = ty.block_len() as u64;
    if !dims[0].is_multiple_of(block) {
        return Err(format!(
            "tensor '{name}': row length {} is not a multiple of the {} block size {block}",
            dims[0],
            ty.name()
        ));
    }
    (elems / block)
        .checked_mul(ty.block_bytes() as u64)
        .ok_or_else(|| format!("tensor '{name}': byte size overflows"))
}
