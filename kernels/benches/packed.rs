//! Micro-benchmark: packed-layout microkernels against the per-row `vec_dot` of the same table,
//! for Q4_0, Q8_0, Q4_K and Q6_K, in ns per (row · token) and weight GB/s, on one thread, timed in thread CPU time.
//!
//! Run: `cargo bench -p brisk-kernels --bench packed`. Two sizes: 64 rows × 4096 (L2-resident:
//! compute speed) and a matrix of about 512 MiB (DRAM: bandwidth). Compare ratios within a run.

use std::time::Instant;

use brisk_kernels::packed::{self, Layout, MAX_TOKENS, ROWS};
use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, scalar};

const COLS: usize = 4096;

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// This thread's CPU time in seconds (Linux `CLOCK_THREAD_CPUTIME_ID`), so that other
/// processes competing for the cores do not inflate the figures; wall time elsewhere.
fn cpu_seconds() -> f64 {
    if cfg!(target_os = "linux") {
        let mut ts = Timespec { sec: 0, nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; clock 3 is CLOCK_THREAD_CPUTIME_ID.
        if unsafe { clock_gettime(3, &mut ts) } == 0 {
            return ts.sec as f64 + ts.nsec as f64 * 1e-9;
        }
    }
    thread_local!(static START: Instant = Instant::now());
    START.with(|s| s.elapsed().as_secs_f64())
}

fn best_of(runs: usize, mut f: impl FnMut() -> f32) -> (f64, f32) {
    let mut best = f64::MAX;
    let mut sink = 0.0;
    for _ in 0..runs {
        let t = cpu_seconds();
        sink += f();
        best = best.min(cpu_seconds() - t);
    }
    (best, sink)
}

fn main() {
    let mut rng = Rng::new(3);
    for k in available() {
        for layout in [
            Layout::Q4_0x16,
            Layout::Q8_0x16,
            Layout::Q4_Kx16,
            Layout::Q6_Kx16,
        ] {
            let gemm = match k.packed_gemm(layout) {
                Some(g) => g,
                None => continue,
            };
            let ty = layout.source_type();
            let rb = ty.row_bytes(COLS).unwrap();
            let proto: Vec<u8> = (0..64)
                .flat_map(|_| {
                    let mut w = vec![0u8; rb];
                    scalar::quantize_row(ty, &rng.normals(COLS, 1.0), &mut w);
                    w
                })
                .collect();
            let act = layout.act_layout();
            let mut q8 = vec![0u8; act.quant_type().row_bytes(COLS).unwrap()];
            scalar::quantize_row(act.quant_type(), &rng.normals(COLS, 1.0), &mut q8);
            let ab = act.bytes(COLS);
            let nt_max = MAX_TOKENS;
            let mut acts = vec![0u8; nt_max * ab];
            for t in 0..nt_max {
                act.pack(&q8, COLS, &mut acts[t * ab..(t + 1) * ab]);
            }
            for &rows in &[64usize, (512 << 20) / rb / 64 * 64] {
                let w: Vec<u8> = proto.iter().copied().cycle().take(rows * rb).collect();
                let gb = packed::group_bytes(layout, COLS);
                let mut pw = vec![0u8; packed::row_groups(rows) * gb];
                for (g, dst) in pw.chunks_exact_mut(gb).enumerate() {
                    packed::pack_group(layout, &w, rows, COLS, g, dst);
                }
                let reps = if rows == 64 { 2000 } else { 3 };
                let dot = k.vec_dot_fn(ty);
                let (t_row, s1) = best_of(5, || {
                    let mut s = 0.0;
                    for _ in 0..reps {
                        for r in 0..rows {
                            s += dot(&w[r * rb..(r + 1) * rb], &q8, COLS);
                        }
                    }
                    s
                });
                let mut tile = [0f32; ROWS * MAX_TOKENS];
                let mut packed_time = |nt: usize| {
                    best_of(5, || {
                        let mut s = 0.0;
                        for _ in 0..reps {
                            for g in pw.chunks_exact(gb) {
                                gemm(g, &acts, ab, nt, &mut tile);
                                s += tile[0];
                            }
                        }
                        s
                    })
                };
                let (t1, s2) = packed_time(1);
                let (t4, s3) = packed_time(nt_max);
                let per = |t: f64, nt: usize| t * 1e9 / (reps * rows * nt) as f64;
                let gbs = |t: f64| (reps * rows * rb) as f64 / t / 1e9;
                println!(
                    "{:>7} {:?} {:>6} rows: vec_dot {:>6.2} ns/row ({:>5.1} GB/s) | packed×1 {:>6.2} ({:>5.1} GB/s, {:.2}x) | packed×{} {:>6.2} ns/row·tok ({:.2}x)  [{:e}]",
                    k.name, layout, rows, per(t_row, 1), gbs(t_row), per(t1, 1), gbs(t1),
                    t_row / t1, nt_max, per(t4, nt_max), per(t_row, 1) / per(t4, nt_max),
                    s1 + s2 + s3
                );
            }
        }
    }
}
