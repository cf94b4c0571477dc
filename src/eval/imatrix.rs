//! Collecting an importance matrix as llama-imatrix does: for every `blk.*` weight, the sum of
//! squared activations per input column over the calibration text and the number of rows
//! summed — per expert for a mixture's expert stacks (each routed token counts once for each
//! expert it reaches). Dense products of fewer than 16 tokens are skipped, as llama-imatrix skips
//! them; `output.weight` only when asked (a tied output, which reads `token_embd`, never).
use crate::backend::cpu::MatmulObserver;
use crate::model::weights::QTensor;
use crate::quantize::imatrix_file::{Imatrix, ImatrixEntry};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// llama-imatrix ignores dense products of fewer tokens than this.
const MIN_DENSE_TOKENS: usize = 16;

/// Sums for one weight, in f64 (llama-imatrix sums in f32; the difference is below its
/// rounding).
struct Sums {
    values: Vec<f64>,
    counts: Vec<i64>,
}

pub struct Collector {
    n_expert: usize,
    process_output: bool,
    sums: Mutex<BTreeMap<String, Sums>>,
    /// The first weight whose activations were not finite.
    non_finite: Mutex<Option<String>>,
}

/// Which statistics a matrix feeds: its own (`expert: None`) or one expert's of a stack.
struct Target<'a> {
    name: &'a str,
    expert: Option<usize>,
}

/// The weight a bound matrix's products count for. Rows of a fused tensor
/// (`blk.0.attn_qkv.weight[k]`, Phi-3's `ffn_up.weight[up]`) belong to the tensor, counted once
/// per product (at its first part); `…_exps.weight[E]` is expert E of the stack.
fn target(name: &str) -> Option<Target<'_>> {
    let Some(open) = name.strip_suffix(']').and_then(|n| n.rfind('[')) else {
        return Some(Target { name, expert: None });
    };
    let (base, part) = (&name[..open], &name[open + 1..name.len() - 1]);
    match part.parse::<usize>() {
        Ok(e) => Some(Target {
            name: base,
            expert: Some(e),
        }),
        Err(_) if part == "q" || part == "gate" => Some(Target {
            name: base,
            expert: None,
        }),
        Err(_) => None,
    }
}

impl Collector {
    pub fn new(n_expert: usize, process_output: bool) -> Collector {
        Collector {
            n_expert: n_expert.max(1),
            process_output,
            sums: Mutex::new(BTreeMap::new()),
            non_finite: Mutex::new(None),
        }
    }

    /// The weight whose activations were NaN or infinite, if any was.
    pub fn non_finite(&self) -> Option<String> {
        self.non_finite
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The statistics so far, as an imatrix file holds them.
    pub fn snapshot(&self, datasets: Vec<String>, chunk_count: u32, chunk_size: u32) -> Imatrix {
        let sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        let entries = sums
            .iter()
            .map(|(name, s)| {
                let e = ImatrixEntry {
                    sums: s.values.iter().map(|&v| v as f32).collect(),
                    counts: s.counts.clone(),
                };
                (name.clone(), e)
            })
            .collect();
        Imatrix {
            entries,
            datasets,
            chunk_count,
            chunk_size,
            is_legacy: false,
        }
    }

    /// How many weights have statistics.
    pub fn len(&self) -> usize {
        self.sums.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no weight has statistics yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries with at least one expert that no token reached: `(name, % of experts reached)`.
    pub fn partial(&self) -> Vec<(String, f64)> {
        let sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        sums.iter()
            .filter(|(_, s)| s.counts.contains(&0))
            .map(|(n, s)| {
                let reached = s.counts.iter().filter(|&&c| c > 0).count();
                (n.clone(), 100.0 * reached as f64 / s.counts.len() as f64)
            })
            .collect()
    }
}

impl MatmulObserver for Collector {
    fn observe(&self, w: &QTensor, x: &[f32], n: usize) {
        let Some(t) = target(&w.name) else { return };
        let wanted =
            t.name.starts_with("blk.") || (self.process_output && t.name == "output.weight");
        if !wanted || (t.expert.is_none() && n < MIN_DENSE_TOKENS) {
            return;
        }
        let cols = w.cols;
        let (n_mat, at) = match t.expert {
            Some(e) if e < self.n_expert => (self.n_expert, e),
            Some(_) => return,
            None => (1, 0),
        };
        let mut sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        let s = sums.entry(t.name.to_string()).or_insert_with(|| Sums {
            values: vec![0.0; cols * n_mat],
            counts: vec![0; n_mat],
        });
        if s.values.len() != cols * n_mat {
            return;
        }
        let acc = &mut s.values[at * cols..(at + 1) * cols];
        for row in x.chunks_exact(cols).take(n) {
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += (v * v) as f64;
            }
        }
        s.counts[at] += n as i64;
        if acc.iter().any(|v| !v.is_finite()) {
            let mut bad = self.non_finite.lock().unwrap_or_else(|e| e.into_inner());
            bad.get_or_insert_with(|| t.name.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::TensorBytes;
    use brisk_kernels::QuantType;

    fn matrix(name: &str, cols: usize) -> QTensor {
        QTensor {
            name: name.into(),
            ty: QuantType::F32,
            rows: 1,
            cols,
            bytes: TensorBytes::Owned(std::sync::Arc::new(vec![0u8; 4 * cols])),
            packed: None,
        }
    }

    #[test]
    fn sums_squares_per_column_and_counts_rows() {
        let c = Collector::new(4, false);
        let x: Vec<f32> = (0..32).map(|i| (i % 2) as f32 + 1.0).collect();
        c.observe(&matrix("blk.0.attn_qkv.weight[q]", 2), &x, 16);
        c.observe(&matrix("blk.0.attn_qkv.weight[k]", 2), &x, 16);
        c.observe(&matrix("blk.0.ffn_up_exps.weight[2]", 2), &x[..4], 2);
        c.observe(&matrix("blk.0.attn_q.weight", 2), &x[..30], 15);
        c.observe(&matrix("output.weight", 2), &x, 16);
        c.observe(&matrix("token_embd.weight", 2), &x, 16);
        let m = c.snapshot(vec!["t".into()], 1, 16);
        let names: Vec<&str> = m.entries.keys().map(String::as_str).collect();
        assert_eq!(names, ["blk.0.attn_qkv.weight", "blk.0.ffn_up_exps.weight"]);
        let qkv = &m.entries["blk.0.attn_qkv.weight"];
        assert_eq!(
            (qkv.sums.clone(), qkv.counts.clone()),
            (vec![16.0, 64.0], vec![16])
        );
        let e = &m.entries["blk.0.ffn_up_exps.weight"];
        assert_eq!(e.counts, [0, 0, 2, 0]);
        assert_eq!(e.sums[4..6], [2.0, 8.0]);
        assert_eq!(
            c.partial(),
            [("blk.0.ffn_up_exps.weight".to_string(), 25.0)]
        );
    }
}
