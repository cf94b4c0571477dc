//! Micro-benchmark: ns per 4096-element row for every dot product, quantizer and vector op, on
//! every kernel table this CPU can run, with the speedup over the scalar table.
//!
//! Run: `cargo bench -p brisk-kernels --bench vec_dot` (optional argument: a filter on the
//! operation name). 64 distinct rows are cycled (about L2-resident), so this measures compute,
//! not DRAM bandwidth.

use std::time::Instant;

use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, scalar, Kernels, QuantType};

const N: usize = 4096;
const ROWS: usize = 64;

/// Median over 5 runs of the time per call of `f(row)`, in ns.
fn time_per_row(mut f: impl FnMut(usize) -> f32) -> (f64, f32) {
    let mut sink = 0.0f32;
    // Calibrate to about 20 ms per run.
    let mut iters = 64usize;
    loop {
        let t = Instant::now();
        for i in 0..iters {
            sink += f(i % ROWS);
        }
        if t.elapsed().as_secs_f64() > 0.02 || iters > 1 << 24 {
            break;
        }
        iters *= 2;
    }
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for i in 0..iters {
            sink += f(i % ROWS);
        }
        runs.push(t.elapsed().as_secs_f64() * 1e9 / iters as f64);
    }
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (runs[2], sink)
}

fn report(name: &str, tables: &[&'static Kernels], mut bench: impl FnMut(&Kernels) -> (f64, f32)) {
    let mut line = format!("{:<22}", name);
    let mut base = None;
    let mut sink = 0.0f32;
    for k in tables.iter().rev() {
        let (ns, s) = bench(k);
        sink += s;
        let base_ns = *base.get_or_insert(ns);
        line.push_str(&format!(
            "  {:>7}: {:>9.1} ns ({:>5.1}x)",
            k.name,
            ns,
            base_ns / ns
        ));
    }
    // Print the sink so the work cannot be optimised away.
    println!("{}   [{:e}]", line, sink);
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let tables = available();
    let want = |name: &str| filter.as_deref().map_or(true, |f| name.contains(f));
    let mut rng = Rng::new(1);
    println!("ns per {}-element row (speedup vs scalar)", N);

    for ty in QuantType::weights() {
        let name = format!("vec_dot {}", ty.name());
        if !want(&name) {
            continue;
        }
        let at = ty.vec_dot_type();
        let rows: Vec<Vec<u8>> = (0..ROWS)
            .map(|_| {
                if ty.traits().quantize.is_none() {
                    // Read-only types: random blocks with a small f16 scale (every byte
                    // pattern of these types decodes; only the speed is measured).
                    let mut w = rng.bytes(ty.row_bytes(N).unwrap());
                    for blk in w.chunks_exact_mut(ty.block_bytes()) {
                        blk[0..2].copy_from_slice(&0x2000u16.to_le_bytes());
                    }
                    return w;
                }
                let mut w = vec![0u8; ty.row_bytes(N).unwrap()];
                scalar::quantize_row(ty, &rng.normals(N, 0.02), &mut w);
                w
            })
            .collect();
        let mut a = vec![0u8; at.row_bytes(N).unwrap()];
        scalar::quantize_row(at, &rng.normals(N, 1.0), &mut a);
        report(&name, &tables, |k| {
            let f = k.vec_dot_fn(ty);
            time_per_row(|r| f(&rows[r], &a, N))
        });
    }

    let xs: Vec<Vec<f32>> = (0..ROWS).map(|_| rng.normals(N, 1.0)).collect();
    for ty in [QuantType::Q8_0, QuantType::Q8_1, QuantType::Q8_K] {
        let name = format!("quantize_row {}", ty.name());
        if !want(&name) {
            continue;
        }
        let mut out = vec![0u8; ty.row_bytes(N).unwrap()];
        report(&name, &tables, |k| {
            time_per_row(|r| {
                k.quantize_row(ty, &xs[r], &mut out);
                out[r] as f32
            })
        });
    }

    let w = rng.normals(N, 1.0);
    let mut out = vec![0.0f32; N];
    if want("rms_norm") {
        report("rms_norm", &tables, |k| {
            time_per_row(|r| {
                (k.rms_norm)(&xs[r], &w, 1e-6, &mut out);
                out[r]
            })
        });
    }
    if want("silu_mul") {
        report("silu_mul", &tables, |k| {
            time_per_row(|r| {
                (k.silu_mul)(&xs[r], &w, &mut out);
                out[r]
            })
        });
    }
    if want("add") {
        report("add", &tables, |k| {
            time_per_row(|r| {
                (k.add)(&mut out, &xs[r]);
                out[r]
            })
        });
    }
    if want("dot_f32") {
        report("dot_f32", &tables, |k| {
            time_per_row(|r| (k.dot_f32)(&xs[r], &w))
        });
    }
}
