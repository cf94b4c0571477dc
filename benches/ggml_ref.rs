//! brisk's kernels and ggml's side by side in one process: ns per 4096-element row for every
//! type's weight quantizer (with and without an importance matrix), dequantizer and dot product,
//! and ggml's time over brisk's (above 1: brisk is faster).
//!
//! Run: `cargo bench --features ggml-ref --bench ggml_ref` (optional argument: a filter on the
//! type name). brisk's dots use the kernel table brisk selects on this CPU (`BRISK_KERNELS`
//! overrides), ggml's the one its build selected; both see the same bytes. Single-threaded;
//! 64 distinct rows are cycled, so this measures compute, not DRAM bandwidth.

#[path = "../tests/common/ggml.rs"]
mod ggml;

use std::hint::black_box;
use std::time::Instant;

use brisk_kernels::scalar::{self, weighted};
use brisk_kernels::testutil::Rng;
use brisk_kernels::QuantType;

const N: usize = 4096;
const ROWS: usize = 64;

/// Median over 5 runs of the time per call of `f(row)`, in ns.
fn ns_per_row(mut f: impl FnMut(usize)) -> f64 {
    let mut iters = 4usize;
    loop {
        let t = Instant::now();
        for i in 0..iters {
            f(i % ROWS);
        }
        if t.elapsed().as_secs_f64() > 0.02 || iters > 1 << 22 {
            break;
        }
        iters *= 2;
    }
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for i in 0..iters {
                f(i % ROWS);
            }
            t.elapsed().as_secs_f64() * 1e9 / iters as f64
        })
        .collect();
    runs.sort_by(|a, b| a.total_cmp(b));
    runs[2]
}

fn line(ty: QuantType, op: &str, brisk: f64, ggml: f64) {
    println!(
        "{:<8} {:<22} brisk {:>10.0} ns   ggml {:>10.0} ns   ggml/brisk {:>5.2}x",
        ty.name(),
        op,
        brisk,
        ggml,
        ggml / brisk
    );
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map(|s| s.to_lowercase());
    let kernels = brisk_kernels::kernels::selected();
    eprintln!("brisk kernel table: {}", kernels.name);
    let mut rng = Rng::new(7);
    let x = rng.normals(N * ROWS, 0.5);
    let act = rng.normals(N * ROWS, 1.0);
    let imatrix: Vec<f32> = (0..N).map(|_| rng.uniform() * 4.0 + 1e-3).collect();
    for ty in QuantType::weights() {
        if let Some(f) = &filter {
            if !ty.name().to_lowercase().contains(f.as_str()) {
                continue;
            }
        }
        let rb = ty.row_bytes(N).unwrap();
        let mut out = vec![0u8; rb];
        let unweighted = !weighted::requires_importance(ty);
        let ones = vec![1.0f32; N];
        // Weight rows made by ggml (IQ2_XXS, IQ2_XS and IQ1_S need an importance matrix there).
        let mut w = vec![0u8; rb * ROWS];
        let im = if unweighted { None } else { Some(&ones[..]) };
        ggml::quantize_chunk_into(ty, &x, N, im, &mut w);

        let mut imatrices: Vec<(&str, Option<&[f32]>)> = Vec::new();
        if unweighted {
            imatrices.push(("quantize", None));
        }
        if weighted::uses_importance(ty) {
            imatrices.push(("quantize + imatrix", Some(&imatrix[..])));
        }
        for (op, im) in imatrices {
            let b = ns_per_row(|r| {
                let src = &x[r * N..(r + 1) * N];
                weighted::quantize_row_weighted(ty, src, im, &mut out);
                black_box(&out);
            });
            let g = ns_per_row(|r| {
                ggml::quantize_chunk_into(ty, &x[r * N..(r + 1) * N], N, im, &mut out);
                black_box(&out);
            });
            line(ty, op, b, g);
        }

        let mut y = vec![0.0f32; N];
        let b = ns_per_row(|r| {
            scalar::dequantize_row(ty, &w[r * rb..(r + 1) * rb], &mut y);
            black_box(&y);
        });
        if ggml::to_float_into(ty, &w[..rb], &mut y) {
            let g = ns_per_row(|r| {
                ggml::to_float_into(ty, &w[r * rb..(r + 1) * rb], &mut y);
                black_box(&y);
            });
            line(ty, "dequantize", b, g);
        }

        // Dots: the same activation bytes for both, except F16/BF16, whose ggml dot takes
        // activations of the weight type where brisk's takes f32.
        let at = ty.vec_dot_type();
        let gt = ggml::vec_dot_type(ty);
        let arb = at.row_bytes(N).unwrap();
        let mut a = vec![0u8; arb * ROWS];
        for (src, dst) in act.chunks_exact(N).zip(a.chunks_exact_mut(arb)) {
            scalar::quantize_row(at, src, dst);
        }
        let ga = if gt == at {
            a.clone()
        } else {
            ggml::from_float_cpu(gt, &act).expect("f16/bf16 conversion")
        };
        let grb = gt.row_bytes(N).unwrap();
        // Float weights take the table's float dots, as brisk's matmul does.
        let w_f32: Vec<f32> = match ty {
            QuantType::F32 => w
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            _ => Vec::new(),
        };
        let b = ns_per_row(|r| {
            let (wr, ar) = (&w[r * rb..(r + 1) * rb], &a[r * arb..(r + 1) * arb]);
            let xr = &act[r * N..(r + 1) * N];
            black_box(match ty {
                QuantType::F32 => (kernels.dot_f32)(&w_f32[r * N..(r + 1) * N], xr),
                QuantType::F16 => (kernels.dot_f16_f32)(wr, xr),
                QuantType::BF16 => (kernels.dot_bf16_f32)(wr, xr),
                _ => kernels.vec_dot(ty, wr, ar, N),
            });
        });
        let g = ns_per_row(|r| {
            let (wr, ar) = (&w[r * rb..(r + 1) * rb], &ga[r * grb..(r + 1) * grb]);
            black_box(ggml::vec_dot(ty, wr, ar, N));
        });
        line(ty, &format!("vec_dot ({})", gt.name()), b, g);
    }
}
