//! A weight matrix of any ggml type: a zero-copy view of the file's bytes with its shape, and
//! the repacked layout the CPU microkernels read when one was made.
use super::packed::PackedMatrix;
use crate::format::TensorBytes;
use brisk_kernels::QuantType;
use std::sync::Arc;

/// A 2-D weight matrix of any ggml type: `rows` output features, each `cols` elements long.
#[derive(Clone, Debug)]
pub struct QTensor {
    pub name: String,
    pub ty: QuantType,
    pub rows: usize,
    pub cols: usize,
    pub bytes: TensorBytes,
    /// The same matrix repacked for the kernel table's microkernels (see `model::repack`);
    /// when present, matmuls read it instead of `bytes`.
    pub packed: Option<Arc<PackedMatrix>>,
}

impl QTensor {
    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.bytes.len() / self.rows
    }

    /// The encoded bytes of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.row_bytes();
        &self.bytes.as_bytes()[r * rb..(r + 1) * rb]
    }

    /// Rows `start..start + n` as their own matrix (a part of a fused tensor), zero-copy.
    pub(crate) fn rows_part(&self, name: &str, start: usize, n: usize) -> QTensor {
        let rb = self.row_bytes();
        QTensor {
            name: name.to_string(),
            ty: self.ty,
            rows: n,
            cols: self.cols,
            bytes: self.bytes.slice(start * rb..(start + n) * rb),
            packed: None,
        }
    }

    /// Row `r` decoded to f32 (used for embedding lookup).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        brisk_kernels::scalar::dequantize_row(self.ty, self.row(r), &mut out[..self.cols]);
    }
}
