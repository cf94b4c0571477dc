//! What calibration collects from one block's matrix products: for each group of matrices that
//! read the same input (q/k/v after the attention norm, gate/up after the FFN norm, the output
//! and down projections, each expert's own), the inputs of the current sample as a
//! [`MatmulObserver`] sees them, then summed into `H = Σ x·xᵀ` on the thread pool, and the
//! per-column mean |x| AWQ scales by.
use crate::backend::cpu::MatmulObserver;
use crate::backend::Cpu;
use crate::model::weights::QTensor;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The input group of the matrix bound as `name`: matrices that read the same activations
/// share one (`attn_k`/`attn_v` → `attn_q`, `ffn_up` → `ffn_gate`, a fused tensor's parts →
/// the tensor); an expert's is its own (`…_exps.weight[E]`).
pub fn group_of(name: &str) -> String {
    let mut base = name.to_string();
    let mut expert = None;
    if let Some(open) = name.strip_suffix(']').and_then(|n| n.rfind('[')) {
        let part = &name[open + 1..name.len() - 1];
        base = name[..open].to_string();
        if part.parse::<usize>().is_ok() {
            expert = Some(part.to_string());
        }
    }
    for (from, to) in [
        (".attn_k.", ".attn_q."),
        (".attn_v.", ".attn_q."),
        (".ffn_up.", ".ffn_gate."),
        (".ffn_up_exps.", ".ffn_gate_exps."),
    ] {
        base = base.replace(from, to);
    }
    match expert {
        Some(e) => format!("{base}[{e}]"),
        None => base,
    }
}

/// Statistics of one input group.
pub struct Stats {
    pub cols: usize,
    /// `cols × cols`, Σ x·xᵀ.
    pub h: Vec<f32>,
    /// Σ |x| per column.
    pub abs_sum: Vec<f64>,
    /// Input rows summed.
    pub count: usize,
}

/// Records the inputs of the matrices of one block (names starting with `prefix`), once per
/// group per sample.
#[derive(Default)]
pub struct Recorder {
    prefix: Mutex<Option<String>>,
    pending: Mutex<BTreeMap<String, (usize, Vec<f32>)>>,
}

impl Recorder {
    /// Record the matrices whose names start with `prefix` (`None`: record nothing).
    pub fn watch(&self, prefix: Option<String>) {
        *self.prefix.lock().unwrap_or_else(|e| e.into_inner()) = prefix;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Adds the sample's recorded inputs into `stats` (H on `be`'s threads) and forgets them.
    pub fn flush(&self, be: &Cpu, stats: &mut BTreeMap<String, Stats>) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (group, (cols, x)) in pending {
            let n = x.len() / cols;
            if n == 0 {
                continue;
            }
            let s = stats.entry(group).or_insert_with(|| Stats {
                cols,
                h: vec![0.0; cols * cols],
                abs_sum: vec![0.0; cols],
                count: 0,
            });
            if s.cols != cols {
                continue;
            }
            add_gram(be, &x, n, cols, &mut s.h);
            for row in x.chunks_exact(cols) {
                for (a, &v) in s.abs_sum.iter_mut().zip(row) {
                    *a += v.abs() as f64;
                }
            }
            s.count += n;
        }
    }
}

impl MatmulObserver for Recorder {
    fn observe(&self, w: &QTensor, x: &[f32], n: usize) {
        let prefix = self.prefix.lock().unwrap_or_else(|e| e.into_inner());
        match prefix.as_deref() {
            Some(p) if w.name.starts_with(p) => {}
            _ => return,
        }
        let group = group_of(&w.name);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .entry(group)
            .or_insert_with(|| (w.cols, x[..n * w.cols].to_vec()));
    }
}

/// `h += xᵀ·x` for `n` rows of `cols`: one product on the backend, the transposed rows as
/// both the matrix and the activations.
pub fn add_gram(be: &Cpu, x: &[f32], n: usize, cols: usize, h: &mut [f32]) {
    let mut xt = vec![0.0f32; cols * n];
    for (t, row) in x.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            xt[c * n + t] = v;
        }
    }
    let m = super::gptq::f32_matrix("calib.gram", cols, n, &xt);
    let mut out = vec![0.0f32; cols * cols];
    be.matmul(&m, &xt, cols, &mut out);
    for (a, b) in h.iter_mut().zip(&out) {
        *a += b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_join_matrices_that_read_the_same_input() {
        assert_eq!(group_of("blk.1.attn_v.weight"), "blk.1.attn_q.weight");
        assert_eq!(
            group_of("blk.1.attn_output.weight"),
            "blk.1.attn_output.weight"
        );
        assert_eq!(group_of("blk.1.ffn_up.weight"), "blk.1.ffn_gate.weight");
        assert_eq!(
            group_of("blk.1.attn_qkv.weight[k]"),
            "blk.1.attn_qkv.weight"
        );
        assert_eq!(
            group_of("blk.1.ffn_up_exps.weight[3]"),
            "blk.1.ffn_gate_exps.weight[3]"
        );
    }

    #[test]
    fn the_gram_matrix_matches_the_definition() {
        let be = Cpu::new(2, brisk_kernels::selected()).unwrap();
        let (n, cols) = (37, 19);
        let x: Vec<f32> = (0..n * cols)
            .map(|i| ((i * 7919) % 23) as f32 / 7.0 - 1.5)
            .collect();
        let mut h = vec![1.0f32; cols * cols];
        add_gram(&be, &x, n, cols, &mut h);
        for a in 0..cols {
            for b in 0..cols {
                let want: f32 = 1.0
                    + (0..n)
                        .map(|t| x[t * cols + a] * x[t * cols + b])
                        .sum::<f32>();
                assert!((h[a * cols + b] - want).abs() < 1e-3 * want.abs().max(1.0));
            }
        }
    }
}
