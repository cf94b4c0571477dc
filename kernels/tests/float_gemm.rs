//! `float_gemm` of every table this CPU can run against the scalar reference, and its batch
//! invariance: a (row, token) output has the same bits whatever block of rows and tokens it
//! was computed in (one row or many, one token or a batch) — what makes a token verified in a
//! speculative batch get the logits it gets alone.
//!
//! Tolerance against the f64 reference: `(cols + 16)·2⁻²³·Σ|w·x|` (f32 lane sums).

use brisk_kernels::float_gemm::{float_gemm, FloatType};
use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, f32_to_bf16, f32_to_f16, Kernels};

fn tables() -> Vec<(&'static Kernels, brisk_kernels::float_gemm::FloatGemmFn)> {
    let t: Vec<_> = available()
        .into_iter()
        .filter_map(|k| k.float_gemm.map(|g| (k, g)))
        .collect();
    eprintln!(
        "float_gemm on: {:?}",
        t.iter().map(|k| k.0.name).collect::<Vec<_>>()
    );
    t
}

/// `rows × cols` weights of `ty` (and their f32 values) with some edge values mixed in.
fn weights(ty: FloatType, rows: usize, cols: usize, rng: &mut Rng) -> (Vec<u8>, Vec<f32>) {
    let mut bytes = Vec::new();
    let mut vals = Vec::new();
    for i in 0..rows * cols {
        let v = match i % 97 {
            0 => 0.0,
            1 => -0.0,
            2 => 6.0e-8, // an f16 subnormal
            3 => 60000.0,
            _ => rng.normal(),
        };
        match ty {
            FloatType::F32 => {
                bytes.extend(v.to_le_bytes());
                vals.push(v);
            }
            FloatType::F16 => {
                let h = f32_to_f16(v);
                bytes.extend(h.to_le_bytes());
                vals.push(brisk_kernels::f16_to_f32(h));
            }
            FloatType::BF16 => {
                let h = f32_to_bf16(v);
                bytes.extend(h.to_le_bytes());
                vals.push(brisk_kernels::bf16_to_f32(h));
            }
        }
    }
    (bytes, vals)
}

const TYPES: [FloatType; 3] = [FloatType::F32, FloatType::F16, FloatType::BF16];

#[test]
fn every_table_matches_the_reference() {
    let mut rng = Rng::new(41);
    for (k, g) in tables() {
        for ty in TYPES {
            for (rows, cols, ntok) in [
                (1, 1, 1),
                (5, 17, 3),
                (9, 64, 7),
                (4, 33, 13),
                (13, 256, 50),
                (7, 1000, 2),
            ] {
                let (w, wv) = weights(ty, rows, cols, &mut rng);
                let x = rng.normals(ntok * cols, 1.0);
                let mut want = vec![0f32; rows * ntok];
                float_gemm(ty, &w, rows, cols, &x, ntok, &mut want);
                let mut got = vec![f32::NAN; rows * ntok];
                g(ty, &w, rows, cols, &x, ntok, &mut got);
                for t in 0..ntok {
                    for r in 0..rows {
                        let mag: f32 = (0..cols)
                            .map(|c| (wv[r * cols + c] * x[t * cols + c]).abs())
                            .sum();
                        let tol = (cols + 16) as f32 * f32::EPSILON * mag + 1e-30;
                        let (a, b) = (got[t * rows + r], want[t * rows + r]);
                        assert!(
                            (a - b).abs() <= tol,
                            "{} {ty:?} {rows}×{cols}×{ntok} row {r} token {t}: {a} vs {b}",
                            k.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn outputs_do_not_depend_on_the_batch() {
    let mut rng = Rng::new(7);
    for (k, g) in tables() {
        for ty in TYPES {
            for cols in [8, 15, 16, 100, 896] {
                let (rows, ntok) = (11, 17);
                let (w, _) = weights(ty, rows, cols, &mut rng);
                let x = rng.normals(ntok * cols, 1.0);
                let mut all = vec![0f32; rows * ntok];
                g(ty, &w, rows, cols, &x, ntok, &mut all);
                let rb = cols * ty.bytes();
                for t in 0..ntok {
                    for r in 0..rows {
                        // Alone: one row, one token.
                        let mut one = [0f32];
                        g(
                            ty,
                            &w[r * rb..(r + 1) * rb],
                            1,
                            cols,
                            &x[t * cols..(t + 1) * cols],
                            1,
                            &mut one,
                        );
                        assert_eq!(
                            one[0].to_bits(),
                            all[t * rows + r].to_bits(),
                            "{} {ty:?} cols {cols} row {r} token {t}",
                            k.name
                        );
                    }
                    // Rows 3.. with tokens t..: another block shape.
                    let sub_rows = rows - 3;
                    let n = ntok - t;
                    let mut sub = vec![0f32; sub_rows * n];
                    g(
                        ty,
                        &w[3 * rb..],
                        sub_rows,
                        cols,
                        &x[t * cols..],
                        n,
                        &mut sub,
                    );
                    for r in 0..sub_rows {
                        assert_eq!(sub[r].to_bits(), all[t * rows + r + 3].to_bits());
                    }
                }
            }
        }
    }
}

#[test]
fn lengths_are_checked() {
    for (_, g) in tables() {
        let r = std::panic::catch_unwind(|| {
            let mut out = vec![0f32; 2];
            g(FloatType::F16, &[0u8; 6], 2, 2, &[0f32; 2], 1, &mut out);
        });
        assert!(
            r.is_err(),
            "a short weight slice must panic, not read past it"
        );
    }
}
