//! The tensors of the GGUF that llama.cpp's converter writes from a Hugging Face checkpoint, as
//! recipes over the checkpoint's zero-copy safetensors views: which views (one, or every expert
//! of a stack), and what the converter does to them (Llama's Q/K row permutation, 1-D tensors
//! widened to F32, Gemma's norms stored as `1 + w`). A recipe is materialized only when its
//! tensor is read, so converting or quantizing holds one tensor in memory at a time.
use crate::format::gguf::TensorInfo;
use crate::format::TensorBytes;
use crate::format::TensorView;
use anyhow::{bail, Result};
use brisk_kernels::scalar::dequantize_row;
use brisk_kernels::QuantType;
use std::sync::Arc;

/// What the converter does to a tensor's values on the way into the GGUF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// The bytes as stored.
    Keep,
    /// Rows reordered from Hugging Face's half-split RoPE pairs to the adjacent pairs of
    /// llama.cpp's `llama` layout, head by head (`n_head` heads of the tensor's rows).
    PermuteQk { n_head: usize },
    /// Widened to F32 (the converter stores 1-D tensors so), plus one for Gemma's norms.
    ToF32 { add_one: bool },
}

/// Where a tensor's values come from.
#[derive(Clone, Debug)]
pub enum Data {
    /// Stored tensors, concatenated in order (one, or the experts of a stack).
    Stored(Vec<TensorView>),
    /// Values the converter computes (Llama 3's `rope_freqs`, Phi-3's longrope factors).
    Computed(Arc<Vec<f32>>),
}

/// One output tensor: its directory entry (GGUF name, ggml dims, output type, size) and how to
/// produce its bytes.
#[derive(Clone, Debug)]
pub struct Recipe {
    pub info: TensorInfo,
    pub data: Data,
    pub transform: Transform,
}

/// The output type of a stored tensor: 1-D tensors as F32, the rest as stored.
pub fn output_type(stored: QuantType, transform: Transform) -> QuantType {
    match transform {
        Transform::ToF32 { .. } => QuantType::F32,
        _ => stored,
    }
}

/// Widens little-endian F32/F16/BF16 elements to f32.
fn to_f32(ty: QuantType, src: &[u8]) -> Vec<f32> {
    let n = src.len() / ty.block_bytes().max(1);
    let mut out = vec![0.0f32; n];
    if ty == QuantType::F32 {
        for (d, c) in out.iter_mut().zip(src.chunks_exact(4)) {
            *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    } else {
        dequantize_row(ty, src, &mut out);
    }
    out
}

/// `rows` rows of `row_bytes` each, reordered within each of `n_head` heads so that output row
/// `2i + j` of a head is input row `j·(hd/2) + i` (the converter's `permute`).
pub fn permute_qk(src: &[u8], row_bytes: usize, n_head: usize) -> Result<Vec<u8>> {
    reorder_heads(src, row_bytes, n_head, true)
}

/// The inverse of [`permute_qk`]: llama.cpp's adjacent RoPE pairs back to HF's halves (for a
/// checkpoint written from GGUF-ordered rows).
pub fn unpermute_qk(src: &[u8], row_bytes: usize, n_head: usize) -> Result<Vec<u8>> {
    reorder_heads(src, row_bytes, n_head, false)
}

fn reorder_heads(src: &[u8], row_bytes: usize, n_head: usize, to_gguf: bool) -> Result<Vec<u8>> {
    let rows = src.len() / row_bytes.max(1);
    if n_head == 0 || !rows.is_multiple_of(n_head) || !(rows / n_head).is_multiple_of(2) {
        bail!("{rows} rows cannot be split into {n_head} heads of an even width");
    }
    let hd = rows / n_head;
    let mut out = vec![0u8; src.len()];
    for h in 0..n_head {
        for i in 0..hd / 2 {
            for j in 0..2 {
                let (gguf, hf) = (h * hd + 2 * i + j, h * hd + j * (hd / 2) + i);
                let (dst, from) = if to_gguf { (gguf, hf) } else { (hf, gguf) };
                out[dst * row_bytes..(dst + 1) * row_bytes]
                    .copy_from_slice(&src[from * row_bytes..(from + 1) * row_bytes]);
            }
        }
    }
    Ok(out)
}

fn transformed(view: &TensorView, transform: Transform) -> Result<Vec<u8>> {
    let src = view.bytes.as_bytes();
    Ok(match transform {
        Transform::Keep => src.to_vec(),
        Transform::PermuteQk { n_head } => {
            let row = view.ty.row_bytes(view.dims[0] as usize).unwrap_or(0);
            permute_qk(src, row, n_head)
                .map_err(|e| anyhow::anyhow!("{}: cannot permute its rows: {e}", view.name))?
        }
        Transform::ToF32 { add_one } => {
            let mut v = to_f32(view.ty, src);
            if add_one {
                v.iter_mut().for_each(|x| *x += 1.0);
            }
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        }
    })
}

impl Recipe {
    /// The tensor's bytes in its output type: the mapped bytes themselves when nothing changes
    /// (no copy), else one owned buffer.
    pub fn materialize(&self) -> Result<TensorBytes> {
        let bytes = match &self.data {
            Data::Stored(views) if views.len() == 1 && self.transform == Transform::Keep => {
                return Ok(views[0].bytes.clone())
            }
            Data::Stored(views) => {
                let mut out = Vec::with_capacity(self.info.n_bytes as usize);
                for v in views {
                    out.extend(transformed(v, self.transform)?);
                }
                out
            }
            Data::Computed(values) => values.iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        if bytes.len() as u64 != self.info.n_bytes {
            bail!(
                "{}: produced {} bytes, its shape needs {}",
                self.info.name,
                bytes.len(),
                self.info.n_bytes
            );
        }
        Ok(TensorBytes::Owned(Arc::new(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_interleaves_the_halves_of_each_head() {
        // Two heads of width 4, one byte per row: rows 0..8.
        let src: Vec<u8> = (0..8).collect();
        let out = permute_qk(&src, 1, 2).unwrap();
        assert_eq!(out, [0, 2, 1, 3, 4, 6, 5, 7]);
        assert_eq!(unpermute_qk(&out, 1, 2).unwrap(), src);
        assert!(permute_qk(&src, 1, 3).is_err());
        assert!(permute_qk(&src[..6], 1, 2).is_err());
    }
}
