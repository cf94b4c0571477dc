//! The CPU backend: matrix × activations for every weight type, split across threads by weight
//! rows, with activations quantized once per row to the weight type's partner (as ggml does) so
//! dot products run in integers.
use super::pool::Pool;
use crate::model::weights::QTensor;
use brisk_kernels::{Kernels, QuantType};
use std::borrow::Cow;

/// Below this many multiply-adds a matmul runs on the calling thread alone.
const MIN_PARALLEL_WORK: usize = 1 << 16;

pub struct Cpu {
    pub threads: usize,
    pub kernels: &'static Kernels,
    pool: Pool,
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

/// The output matrix shared by the tasks of one matmul, each writing its own rows.
struct SharedOut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: tasks write disjoint elements (distinct weight rows), and `Pool::run` returns only
// after every task has finished, while the `&mut [f32]` it came from is still borrowed.
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// Write element `i`. Callers guarantee no two tasks write the same `i`.
    fn set(&self, i: usize, v: f32) {
        assert!(i < self.len);
        // SAFETY: in bounds (checked above) and not written concurrently (see the Sync impl).
        unsafe { *self.ptr.add(i) = v }
    }
}

impl Cpu {
    /// A backend on `threads` threads using `kernels` (see `brisk_kernels::requested`).
    pub fn new(threads: usize, kernels: &'static Kernels) -> std::io::Result<Cpu> {
        let threads = threads.max(1);
        Ok(Cpu {
            threads,
            kernels,
            pool: Pool::new(threads)?,
        })
    }

    /// Call `f(i)` for every `i < n` on the backend's thread pool (the caller included).
    pub fn parallel(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        self.pool.run(n, f);
    }

    /// `out[t][r] = Σ_c w[r][c] · x[t][c]` for `n` token rows of `x` (each `w.cols` long);
    /// `out` is `n × w.rows`.
    pub fn matmul(&self, w: &QTensor, x: &[f32], n: usize, out: &mut [f32]) {
        let (rows, cols) = (w.rows, w.cols);
        assert_eq!(x.len(), n * cols, "matmul: activation shape");
        assert_eq!(out.len(), n * rows, "matmul: output shape");
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
        let shared = SharedOut {
            ptr: out.as_mut_ptr(),
            len: out.len(),
        };
        if rows * cols * n < MIN_PARALLEL_WORK || self.pool.threads() == 1 {
            self.rows_into(w, &acts, n, 0..rows, &shared);
            return;
        }
        // Several chunks per thread balance uneven progress; each is a whole number of rows.
        let chunk = rows.div_ceil(self.pool.threads() * 4).max(4);
        let tasks = rows.div_ceil(chunk);
        self.pool.run(tasks, &|i| {
            let range = i * chunk..((i + 1) * chunk).min(rows);
            self.rows_into(w, &acts, n, range, &shared);
        });
    }

    /// Compute rows `range` of the product for every token into `out` (`[token][row]`).
    fn rows_into(
        &self,
        w: &QTensor,
        acts: &Activations,
        n: usize,
        range: std::ops::Range<usize>,
        out: &SharedOut,
    ) {
        let k = self.kernels;
        let (rows, cols) = (w.rows, w.cols);
        match acts {
            Activations::F32(x) => {
                for r in range {
                    let wrow = w.row(r);
                    for t in 0..n {
                        let xt = &x[t * cols..(t + 1) * cols];
                        let v = match w.ty {
                            QuantType::F32 => (k.dot_f32)(&f32s(wrow), xt),
                            QuantType::F16 => (k.dot_f16_f32)(wrow, xt),
                            QuantType::BF16 => (k.dot_bf16_f32)(wrow, xt),
                            other => unreachable!("{} has a quantized partner", other.name()),
                        };
                        out.set(t * rows + r, v);
                    }
                }
            }
            Activations::Quantized { bytes, row_bytes } => {
                let dot = k.vec_dot_fn(w.ty);
                for r in range {
                    let wrow = w.row(r);
                    for t in 0..n {
                        let a = &bytes[t * row_bytes..(t + 1) * row_bytes];
                        out.set(t * rows + r, dot(wrow, a, cols));
                    }
                }
            }
        }
    }
}
