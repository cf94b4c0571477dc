//! Importance-matrix files as llama.cpp writes them: the GGUF format (`<name>.in_sum2` and
//! `<name>.counts` F32 tensors, `imatrix.*` metadata) and the legacy `.dat` format, read into
//! per-tensor sums and counts, and turned into the per-column importance llama-quantize uses.
use crate::format::gguf::{Gguf, GgufWriter, Value, ValueType};
use anyhow::{bail, Context, Result};
use brisk_kernels::QuantType;
use std::collections::BTreeMap;
use std::path::Path;

/// One matrix's statistics: Σx² per input column (per expert, expert-major) and the number of
/// rows summed per expert.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImatrixEntry {
    pub sums: Vec<f32>,
    pub counts: Vec<i64>,
}

#[derive(Clone, Debug, Default)]
pub struct Imatrix {
    pub entries: BTreeMap<String, ImatrixEntry>,
    pub datasets: Vec<String>,
    pub chunk_count: u32,
    pub chunk_size: u32,
    /// Read from a legacy `.dat` file (sums there are already means times `ncall`).
    pub is_legacy: bool,
}

impl Imatrix {
    /// Reads either format (GGUF when the file starts with the GGUF magic).
    pub fn load(path: &Path) -> Result<Imatrix> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let m = if bytes.starts_with(b"GGUF") {
            let g = Gguf::from_bytes(path, bytes)?;
            from_gguf(&g)
        } else {
            from_legacy(&bytes)
        };
        m.with_context(|| format!("{} is not a usable imatrix file", path.display()))
    }

    /// The per-column importance of each matrix, as llama-quantize derives it: GGUF sums over
    /// each expert's count (1 where an expert saw no rows), legacy sums over `ncall`.
    pub fn importance(&self) -> BTreeMap<String, Vec<f32>> {
        let mut out = BTreeMap::new();
        for (name, e) in &self.entries {
            let mut v = vec![0.0f32; e.sums.len()];
            if !self.is_legacy {
                let ncounts = e.counts.len().max(1);
                let ne0 = e.sums.len() / ncounts;
                for j in 0..ncounts {
                    let count = e.counts.get(j).copied().unwrap_or(0) as f32;
                    for i in 0..ne0 {
                        v[j * ne0 + i] = if count > 0.0 {
                            e.sums[j * ne0 + i] / count
                        } else {
                            1.0
                        };
                    }
                }
            } else {
                let ncall = e.counts.first().copied().unwrap_or(0);
                for (d, &s) in v.iter_mut().zip(&e.sums) {
                    *d = if ncall > 0 { s / ncall as f32 } else { s };
                }
            }
            out.insert(name.clone(), v);
        }
        out
    }
}

/// A matrix's `.in_sum2` and `.counts` tensors, as found.
type SumsAndCounts = (Option<Vec<f32>>, Option<Vec<f32>>);

fn from_gguf(g: &Gguf) -> Result<Imatrix> {
    if g.tensors().is_empty() {
        bail!("it holds no tensors");
    }
    let mut m = Imatrix::default();
    if let Some(items) = g.get_array("imatrix.datasets") {
        m.datasets = items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
    }
    let has_metadata = g.get("imatrix.datasets").is_some()
        && g.get("imatrix.chunk_count").is_some()
        && g.get("imatrix.chunk_size").is_some();
    if !has_metadata {
        bail!("it lacks the imatrix.datasets / chunk_count / chunk_size metadata");
    }
    let u32_of = |k: &str| match g.get(k) {
        Some(Value::U32(v)) => Ok(*v),
        Some(v) => bail!("{k} is {:?}, not a u32", v.value_type()),
        None => Ok(0),
    };
    m.chunk_count = u32_of("imatrix.chunk_count")?;
    m.chunk_size = u32_of("imatrix.chunk_size")?;
    let mut pairs: BTreeMap<String, SumsAndCounts> = BTreeMap::new();
    for t in g.tensors() {
        let (base, is_sums) = if let Some(b) = t.name.strip_suffix(".in_sum2") {
            (b, true)
        } else if let Some(b) = t.name.strip_suffix(".counts") {
            (b, false)
        } else {
            continue;
        };
        if t.ty != QuantType::F32 {
            bail!("{} is {}, not F32", t.name, t.ty.name());
        }
        let data = f32s(g.tensor_bytes(t).as_bytes());
        let slot = pairs.entry(base.to_string()).or_default();
        if is_sums {
            slot.0 = Some(data);
        } else {
            slot.1 = Some(data);
        }
    }
    for (name, (sums, counts)) in pairs {
        let (sums, counts) = match (sums, counts) {
            (Some(s), Some(c)) => (s, c),
            _ => bail!("mismatched sums and counts for {name}"),
        };
        if counts.is_empty() || sums.len() % counts.len() != 0 {
            bail!(
                "{name}: {} sums do not split into {} experts",
                sums.len(),
                counts.len()
            );
        }
        let counts = counts.iter().map(|&c| c.round() as i64).collect();
        m.entries.insert(name, ImatrixEntry { sums, counts });
    }
    Ok(m)
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// A little-endian reader that refuses to read past the end.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        match self.at.checked_add(n) {
            Some(end) if end <= self.b.len() => {
                let s = &self.b[self.at..end];
                self.at = end;
                Ok(s)
            }
            _ => bail!("truncated at byte {} (reading {what})", self.at),
        }
    }
    fn i32(&mut self, what: &str) -> Result<i32> {
        let s = self.take(4, what)?;
        Ok(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn len(&mut self, what: &str) -> Result<usize> {
        let n = self.i32(what)?;
        usize::try_from(n).map_err(|_| anyhow::anyhow!("negative {what} {n}"))
    }
}

fn from_legacy(b: &[u8]) -> Result<Imatrix> {
    let mut c = Cursor { b, at: 0 };
    let n_entries = c.i32("the entry count")?;
    if n_entries < 1 {
        bail!("not a GGUF file, and not a legacy imatrix either (entry count {n_entries})");
    }
    let mut m = Imatrix {
        is_legacy: true,
        ..Default::default()
    };
    for i in 0..n_entries {
        let len = c.len("a name length")?;
        let raw = c.take(len, "a name")?;
        let raw = raw.split(|&x| x == 0).next().unwrap_or(&[]);
        let name = String::from_utf8(raw.to_vec())
            .map_err(|_| anyhow::anyhow!("entry {} has a name that is not UTF-8", i + 1))?;
        let ncall = c.i32("a call count")?;
        let nval = c.len("a value count")?;
        if nval < 1 {
            bail!("entry {name} has no values");
        }
        let bytes = c.take(nval.saturating_mul(4), "the values")?;
        m.entries.insert(
            name,
            ImatrixEntry {
                sums: f32s(bytes),
                counts: vec![ncall as i64],
            },
        );
    }
    if c.at < b.len() {
        if let Ok(n) = c.i32("the chunk count") {
            m.chunk_count = n.max(0) as u32;
            if let Ok(len) = c.len("the dataset name length") {
                if let Ok(s) = c.take(len, "the dataset name") {
                    if len > 0 {
                        let s = s.split(|&x| x == 0).next().unwrap_or(&[]);
                        m.datasets.push(String::from_utf8_lossy(s).into_owned());
                    }
                }
            }
        }
    }
    Ok(m)
}

/// The GGUF imatrix file llama-imatrix writes: `general.type`, `imatrix.datasets`,
/// `imatrix.chunk_count`, `imatrix.chunk_size`, then per matrix (sorted by name) its raw sums
/// `NAME.in_sum2` (`[n_per_row]`, or `[n_per_row, n_expert]`) and `NAME.counts` (`[1]` or
/// `[1, n_expert]`), F32.
pub fn to_gguf(m: &Imatrix) -> Result<GgufWriter> {
    let mut w = GgufWriter::new();
    w.set("general.type", Value::String("imatrix".into()));
    let datasets = m
        .datasets
        .iter()
        .map(|d| Value::String(d.clone()))
        .collect();
    w.set(
        "imatrix.datasets",
        Value::Array(ValueType::String, datasets),
    );
    w.set("imatrix.chunk_count", Value::U32(m.chunk_count));
    w.set("imatrix.chunk_size", Value::U32(m.chunk_size));
    let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    for (name, e) in &m.entries {
        let n_mat = e.counts.len() as u64;
        if n_mat == 0 || e.sums.is_empty() {
            continue;
        }
        let ne0 = e.sums.len() as u64 / n_mat;
        // ggml drops trailing dimensions of 1 from the directory.
        let (sums_dims, counts_dims) = if n_mat == 1 {
            (vec![ne0], vec![1])
        } else {
            (vec![ne0, n_mat], vec![1, n_mat])
        };
        let counts: Vec<f32> = e.counts.iter().map(|&c| c as f32).collect();
        w.add_tensor(
            &format!("{name}.in_sum2"),
            &sums_dims,
            QuantType::F32,
            f32_bytes(&e.sums),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
        w.add_tensor(
            &format!("{name}.counts"),
            &counts_dims,
            QuantType::F32,
            f32_bytes(&counts),
        )
        .map_err(|e| anyhow::anyhow!(e))?;
    }
    Ok(w)
}

/// The legacy `.dat` file (`--output-format dat`): per matrix with data, sorted by name, its
/// name, `ncall` = ⌈largest count / chunk size⌉ and the means times `ncall` (an expert no token
/// reached gets `ncall`: importance 1); then the chunk count and the last dataset's name.
/// Returns the bytes and the names left out for having no data at all.
pub fn to_legacy(m: &Imatrix) -> (Vec<u8>, Vec<String>) {
    let mut skipped = Vec::new();
    let kept: Vec<(&String, &ImatrixEntry)> = m
        .entries
        .iter()
        .filter(|(name, e)| {
            let any = e.counts.iter().any(|&c| c > 0) && !e.sums.is_empty();
            if !any {
                skipped.push(name.to_string());
            }
            any
        })
        .collect();
    let mut b = Vec::new();
    let i32_le = |b: &mut Vec<u8>, v: i64| b.extend_from_slice(&(v as i32).to_le_bytes());
    i32_le(&mut b, kept.len() as i64);
    let chunk = (m.chunk_size as i64).max(1);
    for (name, e) in kept {
        i32_le(&mut b, name.len() as i64);
        b.extend_from_slice(name.as_bytes());
        let max = e.counts.iter().copied().max().unwrap_or(0);
        let ncall = (max + chunk - 1) / chunk;
        i32_le(&mut b, ncall);
        i32_le(&mut b, e.sums.len() as i64);
        let per = e.sums.len() / e.counts.len();
        for (i, &v) in e.sums.iter().enumerate() {
            let count = e.counts[i / per] as f32;
            let (v, count) = if count == 0.0 { (1.0, 1.0) } else { (v, count) };
            b.extend_from_slice(&((v / count) * ncall as f32).to_le_bytes());
        }
    }
    i32_le(&mut b, m.chunk_count as i64);
    let dataset = m.datasets.last().map_or("", String::as_str);
    i32_le(&mut b, dataset.len() as i64);
    b.extend_from_slice(dataset.as_bytes());
    (b, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy_bytes() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&1i32.to_le_bytes());
        let name = b"blk.0.attn_q.weight";
        b.extend_from_slice(&(name.len() as i32).to_le_bytes());
        b.extend_from_slice(name);
        b.extend_from_slice(&4i32.to_le_bytes()); // ncall
        b.extend_from_slice(&2i32.to_le_bytes()); // nval
        b.extend_from_slice(&8.0f32.to_le_bytes());
        b.extend_from_slice(&2.0f32.to_le_bytes());
        b.extend_from_slice(&10i32.to_le_bytes());
        b.extend_from_slice(&3i32.to_le_bytes());
        b.extend_from_slice(b"wiki");
        b
    }

    #[test]
    fn legacy_files_read_and_normalise_by_ncall() {
        let m = from_legacy(&legacy_bytes()).unwrap();
        assert_eq!(m.chunk_count, 10);
        assert_eq!(m.datasets, vec!["wik".to_string()]);
        let imp = m.importance();
        assert_eq!(imp["blk.0.attn_q.weight"], vec![2.0, 0.5]);
    }

    #[test]
    fn truncated_or_foreign_legacy_files_are_errors() {
        let b = legacy_bytes();
        for cut in [3, 10, 30, 34] {
            assert!(from_legacy(&b[..cut]).is_err(), "cut at {cut}");
        }
        assert!(from_legacy(b"\x00\x00\x00\x00junk").is_err());
        assert!(from_legacy(&[0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0]).is_err());
    }

    #[test]
    fn gguf_counts_of_zero_give_unit_importance() {
        let m = Imatrix {
            entries: [(
                "x".to_string(),
                ImatrixEntry {
                    sums: vec![4.0, 8.0, 3.0, 3.0],
                    counts: vec![2, 0],
                },
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        assert_eq!(m.importance()["x"], vec![2.0, 4.0, 1.0, 1.0]);
    }
}
