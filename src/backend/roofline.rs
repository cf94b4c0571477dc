//! The memory roofline of token generation: the streaming read bandwidth of this machine with the
//! backend's own threads. Generation reads every weight once per token, so `bw_gbs` (weight bytes
//! × tokens/s) divided by this is how close decoding runs to the memory limit.
//!
//! The buffer is at least as large as the model's weights (far beyond the caches), filled before
//! timing (so page faults are not measured), and read with the kernel table's `sum_u64` (SIMD
//! loads summed); the sums go through `black_box` so the reads cannot be optimised away. The
//! buffer is split into `8 × threads` chunks handed out by the pool; the best of `passes` passes
//! is reported.
use super::Cpu;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// What [`measure`] found.
#[derive(Clone, Copy, Debug)]
pub struct Roofline {
    /// Best read bandwidth, GB/s (10⁹ bytes per second).
    pub gbs: f64,
    /// Bytes read per pass.
    pub bytes: usize,
    pub threads: usize,
    pub passes: usize,
}

/// Time `passes` (at least 1) streaming reads of a buffer of at least `min_bytes` (at least
/// 64 MiB) on `cpu`'s threads.
pub fn measure(cpu: &Cpu, min_bytes: usize, passes: usize) -> Roofline {
    let words = min_bytes.max(64 << 20).div_ceil(8);
    let chunks = 8 * cpu.threads;
    let per = words.div_ceil(chunks);
    // Distinct values, written now: the pages are resident before the first timed pass.
    let buf: Vec<u64> = (0..words as u64)
        .map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    let sum_u64 = cpu.kernels.sum_u64;
    let total = AtomicU64::new(0);
    let mut best = f64::INFINITY;
    let passes = passes.max(1);
    for _ in 0..passes {
        let t0 = Instant::now();
        cpu.parallel(chunks, &|c| {
            let lo = (c * per).min(words);
            let hi = ((c + 1) * per).min(words);
            let s = sum_u64(black_box(&buf[lo..hi]));
            total.fetch_add(s, Ordering::Relaxed);
        });
        best = best.min(t0.elapsed().as_secs_f64());
    }
    black_box(total.load(Ordering::Relaxed));
    Roofline {
        gbs: (words * 8) as f64 / best / 1e9,
        bytes: words * 8,
        threads: cpu.threads,
        passes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_positive_bandwidth_on_every_thread_count() {
        for t in [1, 3] {
            let cpu = Cpu::new(t, brisk_kernels::selected()).unwrap();
            let r = measure(&cpu, 1 << 20, 2);
            assert!(r.gbs.is_finite() && r.gbs > 0.0, "{r:?}");
            assert_eq!((r.threads, r.passes), (t, 2));
            assert!(r.bytes >= 64 << 20);
        }
    }
}
