//! The CPU backend: matrix × activations for every weight type, split across threads by weight
//! rows, with activations quantized once per row to the weight type's partner (as ggml does) so
//! dot products run in integers.
use crate::model::weights::QTensor;
use brisk_kernels::{Kernels, QuantType};
use std::borrow::Cow;

/// Below this many multiply-adds a matmul runs on the calling thread alone.
const MIN_PARALLEL_WORK: usize = 1 << 16;

pub struct Cpu {
    pub threads: usize,
    pub kernels: &'static Kernels,
}

/// Activation rows prepared for one weight type.
enum Activations<'a> {
    F32(&'a [f32]),
    Quantized { bytes: Vec<u8>, row_bytes: usize },
}

/// Reinterpret little-endian f32 bytes as f32s, copying only if the bytes are misaligned.
fn f32s(bytes: &[u8]) -> Cow<'_, [f32]> {
    // SAFETY: every bit pattern is a valid f32; align_to only yields the aligned middle part.
    let (head, mid, tail) = unsafe { bytes.align_to::<f32>() };
    if head.is_empty() && tail.is_empty() {
        Cow::Borrowed(mid)
    } else {
        Cow::Owned(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

impl Cpu {
    pub fn new(threads: usize) -> Cpu {
        Cpu {
            threads: threads.max(1),
            kernels: brisk_kernels::selected(),
        }
    }

    /// `out[t][r] = Σ_c w[r][c] · x[t][c]` for `n` token rows of `x` (each `w.cols` long);
    /// `out` is `n × w.rows`.
    pub fn matmul(&self, w: &QTensor, x: &[f32], n: usize, out: &mut [f32]) {
        let (rows, cols) = (w.rows, w.cols);
        debug_assert_eq!(x.len(), n * cols);
        debug_assert_eq!(out.len(), n * rows);
        let act_ty = w.ty.vec_dot_type();
        let acts = if act_ty == QuantType::F32 {
            Activations::F32(x)
        } else {
            let row_bytes = act_ty
                .row_bytes(cols)
                .expect("weight rows are whole blocks");
            let mut bytes = vec![0u8; n * row_bytes];
            for (src, dst) in x.chunks_exact(cols).zip(bytes.chunks_exact_mut(row_bytes)) {
                self.kernels.quantize_row(act_ty, src, dst);
            }
            Activations::Quantized { bytes, row_bytes }
        };
        let threads = if rows * cols * n < MIN_PARALLEL_WORK {
            1
        } else {
            self.threads.min(rows)
        };
        if threads == 1 {
            let mut buf = vec![0.0; n * rows];
            self.rows_into(w, &acts, n, 0..rows, &mut buf);
            transpose_into(&buf, rows, n, out);
            return;
        }
        let chunk = rows.div_ceil(threads);
        let parts: Vec<(usize, Vec<f32>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|i| {
                    let start = (i * chunk).min(rows);
                    let end = ((i + 1) * chunk).min(rows);
                    let acts = &acts;
                    s.spawn(move || {
                        let mut buf = vec![0.0; n * (end - start)];
                        self.rows_into(w, acts, n, start..end, &mut buf);
                        (start, buf)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("matmul worker panicked"))
                .collect()
        });
        for (start, buf) in parts {
            let len = buf.len() / n.max(1);
            for r in 0..len {
                for t in 0..n {
                    out[t * rows + start + r] = buf[r * n + t];
                }
            }
        }
    }

    /// Compute rows `range` of the product into `buf`, laid out `[row][token]`.
    fn rows_into(
        &self,
        w: &QTensor,
        acts: &Activations,
        n: usize,
        range: std::ops::Range<usize>,
        buf: &mut [f32],
    ) {
        let k = self.kernels;
        let cols = w.cols;
        for (i, r) in range.enumerate() {
            let wrow = w.row(r);
            let dst = &mut buf[i * n..(i + 1) * n];
            match acts {
                Activations::F32(x) => match w.ty {
                    QuantType::F32 => {
                        let wr = f32s(wrow);
                        for (t, d) in dst.iter_mut().enumerate() {
                            *d = (k.dot_f32)(&wr, &x[t * cols..(t + 1) * cols]);
                        }
                    }
                    QuantType::F16 => {
                        for (t, d) in dst.iter_mut().enumerate() {
                            *d = (k.dot_f16_f32)(wrow, &x[t * cols..(t + 1) * cols]);
                        }
                    }
                    QuantType::BF16 => {
                        for (t, d) in dst.iter_mut().enumerate() {
                            *d = (k.dot_bf16_f32)(wrow, &x[t * cols..(t + 1) * cols]);
                        }
                    }
                    other => unreachable!("{} has a quantized activation partner", other.name()),
                },
                Activations::Quantized { bytes, row_bytes } => {
                    for (t, d) in dst.iter_mut().enumerate() {
                        let a = &bytes[t * row_bytes..(t + 1) * row_bytes];
                        *d = k.vec_dot(w.ty, wrow, a, cols);
                    }
                }
            }
        }
    }
}

/// `buf` is `[rows][n]`; write it as `out[n][rows]`.
fn transpose_into(buf: &[f32], rows: usize, n: usize, out: &mut [f32]) {
    if n == 1 {
        out.copy_from_slice(buf);
        return;
    }
    for r in 0..rows {
        for t in 0..n {
            out[t * rows + r] = buf[r * n + t];
        }
    }
}
