//! The CPU backend: matrix × activations for every weight type, split across threads by weight
//! rows, with activations quantized once per row to the weight type's partner (as ggml does) so
//! dot products run in integers.
use super::packed::{AlignedBytes, PackedMatrix};
use super::pool::Pool;
use super::tensor::QTensor;
use brisk_kernels::float_gemm::FloatType;
use brisk_kernels::packed::{ActLayout, PackedGemmFn, MAX_TOKENS, ROWS};
use brisk_kernels::{Kernels, QuantType};
use std::borrow::Cow;
use std::sync::Arc;

/// Below this many multiply-adds a matmul runs on the calling thread alone.
const MIN_PARALLEL_WORK: usize = 1 << 16;

/// Tokens whose packed activations one sweep over a task's row groups reuses (their
/// activations, ≤ 64 × 2 bytes per column, stay in L2).
const TOKEN_BLOCK: usize = 64;

pub struct Cpu {
    pub threads: usize,
    pub kernels: &'static Kernels,
    pool: Arc<Pool>,
    /// Sees the activations of every matmul before it runs (`brisk imatrix`).
    observer: Option<Arc<dyn MatmulObserver>>,
}

/// Something that watches the inputs of a model's matrix multiplications: called with the
/// weight matrix and its `n` activation rows (each `w.cols` long) before each product.
pub trait MatmulObserver: Send + Sync {
    fn observe(&self, w: &QTensor, x: &[f32], n: usize);
}

/// Activation rows prepared for one weight type.
enum Activations<'a> {
    F32(&'a [f32]),
    Quantized {
        bytes: Vec<u8>,
        row_bytes: usize,
    },
    /// Quantized and rearranged for a packed layout (`brisk_kernels::packed`).
    Packed(AlignedBytes),
}

/// How a matrix wants its activations: quantized to a type in rows (or f32 as they are), or
/// quantized and packed for a layout. Matrices that agree share one preparation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prep {
    Plain(QuantType),
    Packed(ActLayout),
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

/// One packed matrix of a dispatch: its weights, microkernel, output and activation stride.
struct PackedJob<'a> {
    p: &'a PackedMatrix,
    gemm: PackedGemmFn,
    rows: usize,
    /// Bytes of one token's packed activations.
    ab: usize,
    out: SharedOut,
}

impl PackedJob<'_> {
    /// Row groups `groups` for every token: per block of tokens, sweep the groups with the
    /// microkernel (a group's weights stay in L1 or L2 while up to `MAX_TOKENS` tokens reuse
    /// them).
    fn run_groups(&self, groups: std::ops::Range<usize>, acts: &[u8], n: usize) {
        let (p, rows, ab) = (self.p, self.rows, self.ab);
        let mut tile = [0f32; ROWS * MAX_TOKENS];
        for t0 in (0..n).step_by(TOKEN_BLOCK) {
            let t_end = (t0 + TOKEN_BLOCK).min(n);
            for g in groups.clone() {
                let wg = p.group(g);
                for t in (t0..t_end).step_by(MAX_TOKENS) {
                    let nt = MAX_TOKENS.min(t_end - t);
                    (self.gemm)(wg, &acts[t * ab..], ab, nt, &mut tile);
                    // The group's rows that exist (the last group may be padded).
                    let (row0, nr) = (g * ROWS, ROWS.min(rows - g * ROWS));
                    for j in 0..nt {
                        let vals = &tile[j * ROWS..j * ROWS + nr];
                        self.out.set_run((t + j) * rows + row0, vals);
                    }
                }
            }
        }
    }
}

/// A byte buffer whose rows are filled by different tasks, each row by exactly one.
struct SharedRows {
    ptr: *mut u8,
    row_bytes: usize,
    n: usize,
}

// SAFETY: as for `SharedOut`: tasks take distinct rows, and the buffer stays mutably borrowed
// until `Pool::run` has returned.
unsafe impl Sync for SharedRows {}

impl SharedRows {
    /// Row `i`. Callers guarantee each row is taken by one task only.
    #[allow(clippy::mut_from_ref)]
    fn row(&self, i: usize) -> &mut [u8] {
        assert!(i < self.n);
        // SAFETY: in bounds (checked above) and not aliased (one task per row).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.row_bytes), self.row_bytes) }
    }
}

impl SharedOut {
    /// Write element `i`. Callers guarantee no two tasks write the same `i`.
    fn set(&self, i: usize, v: f32) {
        assert!(i < self.len);
        // SAFETY: in bounds (checked above) and not written concurrently (see the Sync impl).
        unsafe { *self.ptr.add(i) = v }
    }

    /// Write `vals` at elements `i..i + vals.len()`. Callers guarantee no two tasks write the
    /// same elements.
    fn set_run(&self, i: usize, vals: &[f32]) {
        assert!(i <= self.len && vals.len() <= self.len - i);
        // SAFETY: in bounds (checked above) and not written concurrently (see the Sync impl).
        unsafe { std::ptr::copy_nonoverlapping(vals.as_ptr(), self.ptr.add(i), vals.len()) }
    }
}

impl Cpu {
    /// A backend on `threads` threads using `kernels` (see `brisk_kernels::requested`).
    pub fn new(threads: usize, kernels: &'static Kernels) -> std::io::Result<Cpu> {
        let threads = threads.max(1);
        Ok(Cpu {
            threads,
            kernels,
            pool: Arc::new(Pool::new(threads)?),
            observer: None,
        })
    }

    /// Show every later matmul's activations to `observer` (or to nobody again with `None`).
    pub fn set_observer(&mut self, observer: Option<Arc<dyn MatmulObserver>>) {
        self.observer = observer;
    }

    /// Run on `other`'s thread pool from now on (a draft model beside its target: one set of
    /// workers, still spinning from the last forward when the next one starts). Only when
    /// both have the same thread count.
    pub fn share_pool_of(&mut self, other: &Cpu) {
        if self.pool.threads() == other.pool.threads() {
            self.pool = other.pool.clone();
        }
    }

    /// Call `f(i)` for every `i < n` on the backend's thread pool (the caller included).
    pub fn parallel(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        self.pool.run(n, f);
    }

    /// `out[t][r] = Σ_c w[r][c] · x[t][c]` for `n` token rows of `x` (each `w.cols` long);
    /// `out` is `n × w.rows`.
    pub fn matmul(&self, w: &QTensor, x: &[f32], n: usize, out: &mut [f32]) {
        self.matmul_slices(x, n, &mut [(w, out)]);
    }

    /// Several matmuls of the same activations (Q/K/V, gate/up, routed experts): the
    /// activations are quantized and packed once for every run of matrices that wants them
    /// alike, and a run of packed matrices is one dispatch to the thread pool (their row groups
    /// split across the threads together), not one per matrix.
    pub fn matmul_slices(&self, x: &[f32], n: usize, jobs: &mut [(&QTensor, &mut [f32])]) {
        if let Some(o) = &self.observer {
            for (w, _) in jobs.iter() {
                o.observe(w, x, n);
            }
        }
        let plans: Vec<(Prep, Option<(&PackedMatrix, PackedGemmFn)>)> = jobs
            .iter()
            .map(|(w, out)| {
                assert_eq!(x.len(), n * w.cols, "matmul: activation shape");
                assert_eq!(out.len(), n * w.rows, "matmul: output shape");
                let packed = w
                    .packed
                    .as_ref()
                    .and_then(|p| self.kernels.packed_gemm(p.layout).map(|g| (&**p, g)));
                let prep = match packed {
                    Some((p, _)) => Prep::Packed(p.layout.act_layout()),
                    None => Prep::Plain(w.ty.vec_dot_type()),
                };
                (prep, packed)
            })
            .collect();
        let mut start = 0;
        while start < jobs.len() {
            let prep = plans[start].0;
            let end = (start..jobs.len())
                .find(|&k| plans[k].0 != prep)
                .unwrap_or(jobs.len());
            let acts = self.prepare(prep, jobs[start].0.cols, x, n);
            match &acts {
                Activations::Packed(a) => {
                    let batch: Vec<PackedJob> = (start..end)
                        .map(|k| {
                            let (p, gemm) = plans[k].1.expect("a packed prep has a packed matrix");
                            let (w, out) = &mut jobs[k];
                            PackedJob {
                                p,
                                gemm,
                                rows: w.rows,
                                ab: p.layout.act_layout().bytes(w.cols),
                                out: SharedOut {
                                    ptr: out.as_mut_ptr(),
                                    len: out.len(),
                                },
                            }
                        })
                        .collect();
                    self.run_packed(&batch, a.as_bytes(), n);
                }
                _ => {
                    for (w, out) in jobs[start..end].iter_mut() {
                        self.run_plain(w, &acts, n, out);
                    }
                }
            }
            start = end;
        }
    }

    /// Activations as the weights of kind `prep` want them (`cols` per token row).
    fn prepare<'x>(&self, prep: Prep, cols: usize, x: &'x [f32], n: usize) -> Activations<'x> {
        match prep {
            Prep::Plain(QuantType::F32) => Activations::F32(x),
            Prep::Plain(act_ty) => {
                let row_bytes = act_ty
                    .row_bytes(cols)
                    .expect("weight rows are whole blocks");
                let mut bytes = vec![0u8; n * row_bytes];
                self.per_row(&mut bytes, row_bytes, |t, dst| {
                    self.kernels
                        .quantize_row(act_ty, &x[t * cols..(t + 1) * cols], dst)
                });
                Activations::Quantized { bytes, row_bytes }
            }
            Prep::Packed(act) => {
                let act_ty = act.quant_type();
                let q8_bytes = act_ty
                    .row_bytes(cols)
                    .expect("weight rows are whole blocks");
                let ab = act.bytes(cols);
                let mut acts = AlignedBytes::zeroed(n * ab);
                self.per_row(acts.as_bytes_mut(), ab, |t, dst| {
                    let mut q8 = vec![0u8; q8_bytes];
                    let src = &x[t * cols..(t + 1) * cols];
                    self.kernels.quantize_row(act_ty, src, &mut q8);
                    act.pack(&q8, cols, dst);
                });
                Activations::Packed(acts)
            }
        }
    }

    /// Weights in their ggml layout: rows split across the pool.
    fn run_plain(&self, w: &QTensor, acts: &Activations, n: usize, out: &mut [f32]) {
        let (rows, cols) = (w.rows, w.cols);
        let shared = SharedOut {
            ptr: out.as_mut_ptr(),
            len: out.len(),
        };
        if rows * cols * n < MIN_PARALLEL_WORK || self.pool.threads() == 1 {
            self.rows_into(w, acts, n, 0..rows, &shared);
            return;
        }
        // Several chunks per thread balance uneven progress; each is a whole number of rows.
        let chunk = rows.div_ceil(self.pool.threads() * 4).max(4);
        let tasks = rows.div_ceil(chunk);
        self.pool.run(tasks, &|i| {
            let range = i * chunk..((i + 1) * chunk).min(rows);
            self.rows_into(w, acts, n, range, &shared);
        });
    }

    /// Runs `f(i, row_i)` for every `row_bytes`-long row of `buf`, spread over the pool
    /// when there are enough rows to pay for it (prompt activations).
    fn per_row(&self, buf: &mut [u8], row_bytes: usize, f: impl Fn(usize, &mut [u8]) + Sync) {
        let n = buf.len() / row_bytes;
        if n < 8 || self.pool.threads() == 1 {
            for (i, row) in buf.chunks_exact_mut(row_bytes).enumerate() {
                f(i, row);
            }
            return;
        }
        let shared = SharedRows {
            ptr: buf.as_mut_ptr(),
            row_bytes,
            n,
        };
        let per_task = n.div_ceil(self.pool.threads() * 2);
        self.pool.run(n.div_ceil(per_task), &|task| {
            for i in task * per_task..((task + 1) * per_task).min(n) {
                f(i, shared.row(i));
            }
        });
    }

    /// The packed path, on activations already packed (`acts`, shared by every job): each task
    /// takes a run of one job's row groups; the tasks of all jobs go to the pool at once.
    fn run_packed(&self, jobs: &[PackedJob], acts: &[u8], n: usize) {
        let work: usize = jobs.iter().map(|j| j.p.groups * j.p.group_bytes * n).sum();
        if work < MIN_PARALLEL_WORK || self.pool.threads() == 1 {
            for j in jobs {
                j.run_groups(0..j.p.groups, acts, n);
            }
            return;
        }
        let all_groups: usize = jobs.iter().map(|j| j.p.groups).sum();
        let chunk = all_groups.div_ceil(self.pool.threads() * 4).max(1);
        let tasks: Vec<(usize, std::ops::Range<usize>)> = jobs
            .iter()
            .enumerate()
            .flat_map(|(k, j)| {
                (0..j.p.groups)
                    .step_by(chunk)
                    .map(move |g0| (k, g0..(g0 + chunk).min(j.p.groups)))
            })
            .collect();
        self.pool.run(tasks.len(), &|i| {
            let (k, groups) = &tasks[i];
            jobs[*k].run_groups(groups.clone(), acts, n)
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
                if let (Some(gemm), Some(ft)) = (k.float_gemm, FloatType::of(w.ty)) {
                    // Every token at once, each weight converted once (and the same bits for
                    // a token alone as in a batch).
                    let rb = w.row_bytes();
                    let wb = &w.bytes.as_bytes()[range.start * rb..range.end * rb];
                    let nr = range.len();
                    let mut tile = vec![0f32; nr * n];
                    gemm(ft, wb, nr, cols, x, n, &mut tile);
                    for t in 0..n {
                        out.set_run(t * rows + range.start, &tile[t * nr..(t + 1) * nr]);
                    }
                    return;
                }
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
            Activations::Packed(_) => {
                unreachable!("packed activations are prepared only for packed matrices")
            }
            Activations::Quantized { bytes, row_bytes } => {
                let (mat, wrb, ab) = (w.bytes.as_bytes(), w.row_bytes(), *row_bytes);
                let dot = k.vec_dot_fn(w.ty);
                for r in range {
                    let wrow = &mat[r * wrb..(r + 1) * wrb];
                    for t in 0..n {
                        let a = &bytes[t * ab..(t + 1) * ab];
                        out.set(t * rows + r, dot(wrow, a, cols));
                    }
                }
            }
        }
    }
}
