//! Repacking at load: every weight matrix whose type has a packed layout that the selected
//! kernel table can multiply is copied once into that layout (in parallel), and the file pages
//! it came from are released so resident memory counts the packed copy only.
use super::weights::{QTensor, Weights};
use crate::backend::packed::PackedMatrix;
use brisk_kernels::packed::Layout;
use brisk_kernels::Kernels;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What repacking did.
#[derive(Clone, Copy, Debug, Default)]
pub struct RepackStats {
    pub tensors: usize,
    pub bytes: usize,
}

/// The packed layout `kernels` can multiply for this tensor, if any.
fn layout_for(t: &QTensor, kernels: &Kernels) -> Option<Layout> {
    let layout = Layout::for_type(t.ty)?;
    kernels.packed_gemm(layout).map(|_| layout)
}

/// Repacks every eligible matrix of `weights` on up to `threads` threads. The embedding table
/// keeps its ggml layout (it is read a row at a time); a tied output matrix is packed as a copy.
pub fn repack(weights: &mut Weights, kernels: &Kernels, threads: usize) -> RepackStats {
    let mut all: Vec<&mut QTensor> = Vec::new();
    for l in &mut weights.layers {
        all.extend(l.matrices_mut());
    }
    all.push(&mut weights.output);
    let targets: Vec<(Layout, &mut QTensor)> = all
        .into_iter()
        .filter_map(|t| Some((layout_for(t, kernels)?, t)))
        .collect();
    let jobs: Vec<(Layout, &QTensor)> = targets.iter().map(|(l, t)| (*l, &**t)).collect();
    let results: Mutex<Vec<Option<PackedMatrix>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&(layout, t)) = jobs.get(i) else {
            break;
        };
        let p = PackedMatrix::pack(layout, t.bytes.as_bytes(), t.rows, t.cols);
        t.bytes.release_pages();
        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(p);
    };
    std::thread::scope(|s| {
        for _ in 1..threads.max(1) {
            // A worker that cannot be spawned just leaves more work for the others.
            let _ = std::thread::Builder::new().spawn_scoped(s, work);
        }
        work();
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut stats = RepackStats::default();
    for ((_, t), p) in targets.into_iter().zip(results) {
        let p = p.expect("every job ran: the calling thread drains the queue");
        stats.tensors += 1;
        stats.bytes += p.size_bytes();
        t.packed = Some(Arc::new(p));
    }
    stats
}
