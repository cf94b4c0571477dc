//! brisk's kernels against ggml's, in one process (`cargo test --features ggml-ref --test
//! ggml_ref`): every quantizer byte for byte against `ggml_quantize_chunk` with and without an
//! importance matrix, on random and edge rows; every dequantizer against ggml's `to_float`; every
//! dot product, on every kernel table this CPU runs, against ggml's CPU `vec_dot`.

#[path = "common/ggml.rs"]
mod ggml;

use brisk_kernels::scalar::{self, weighted, weighted::quantize_row_weighted};
use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, QuantType};

/// A named test tensor: `rows` rows of `n_per_row` values.
struct Case {
    name: &'static str,
    n_per_row: usize,
    data: Vec<f32>,
}

/// Random rows with outliers, and the edge rows: zeros, zero sub-blocks, one huge value (beyond f16), all
/// denormals, constant rows, a negative maximum, alternating signs, a ramp, tiny-but-normal.
fn cases(block: usize) -> Vec<Case> {
    let mut rng = Rng::new(0x9e37);
    let n = 4 * 256usize.max(block);
    let mut random = rng.normals(3 * n, 1.0);
    for i in (0..random.len()).step_by(97) {
        random[i] *= 20.0; // outliers, as real weight rows have
    }
    let one = |f: &dyn Fn(usize) -> f32| -> Vec<f32> { (0..n).map(f).collect() };
    let mut huge = rng.normals(n, 0.02);
    huge[n / 3] = 1.0e30;
    huge[n / 2] = -7.0e4;
    // Zero runs of 16, 32 and 64 elements inside random rows: the i-quants skip such
    // sub-blocks (IQ3_S without advancing its cursors).
    let mut holes = rng.normals(n, 1.0);
    for (start, len) in [(0usize, 32usize), (272, 16), (576, 64)] {
        holes[start..start + len].iter_mut().for_each(|v| *v = 0.0);
    }
    let mut mixed_tiny = rng.normals(n, 1.0e-20);
    mixed_tiny[5] = 3.0e-39;
    vec![
        Case {
            name: "random normal rows with outliers",
            n_per_row: n,
            data: random,
        },
        Case {
            name: "one block per row",
            n_per_row: block.max(256),
            data: rng.normals(8 * block.max(256), 0.1),
        },
        Case {
            // Not a multiple of eight blocks: the legacy searches run eight blocks at a time,
            // then the rest one by one.
            name: "rows of nine blocks",
            n_per_row: 9 * block,
            data: rng.normals(2 * 9 * block, 0.5),
        },
        Case {
            name: "zeros",
            n_per_row: n,
            data: vec![0.0; n],
        },
        Case {
            name: "zero sub-blocks",
            n_per_row: n,
            data: holes,
        },
        Case {
            name: "one huge value",
            n_per_row: n,
            data: huge,
        },
        Case {
            name: "denormals",
            n_per_row: n,
            data: one(&|i| f32::from_bits(1 + (i as u32 * 7919) % 0x7f_ffff)),
        },
        Case {
            name: "tiny normals and one denormal",
            n_per_row: n,
            data: mixed_tiny,
        },
        Case {
            name: "constant 0.5",
            n_per_row: n,
            data: vec![0.5; n],
        },
        Case {
            name: "constant -3",
            n_per_row: n,
            data: vec![-3.0; n],
        },
        Case {
            name: "alternating ±1",
            n_per_row: n,
            data: one(&|i| if i % 2 == 0 { 1.0 } else { -1.0 }),
        },
        Case {
            name: "negative maximum",
            n_per_row: n,
            data: one(&|i| -((i % 37) as f32) * 0.25 + 1.0),
        },
        Case {
            name: "ramp",
            n_per_row: n,
            data: one(&|i| i as f32 / n as f32 - 0.3),
        },
    ]
}

/// Importance matrices: none, random positive, some zero columns, all zero, one dominant column.
fn imatrices(rng: &mut Rng, n: usize) -> Vec<(&'static str, Option<Vec<f32>>)> {
    let positive: Vec<f32> = (0..n).map(|_| rng.uniform() * 4.0 + 1e-3).collect();
    let mut gaps = positive.clone();
    for v in gaps.iter_mut().step_by(3) {
        *v = 0.0;
    }
    let mut dominant = vec![1.0f32; n];
    dominant[n / 5] = 1.0e6;
    vec![
        ("no imatrix", None),
        ("random imatrix", Some(positive)),
        ("imatrix with zero columns", Some(gaps)),
        ("all-zero imatrix", Some(vec![0.0; n])),
        ("one dominant column", Some(dominant)),
    ]
}

/// brisk's quantization of `data` in rows of `n`, as `brisk quantize` calls it.
fn brisk_quantize(ty: QuantType, data: &[f32], n: usize, imatrix: Option<&[f32]>) -> Vec<u8> {
    let rb = ty.row_bytes(n).unwrap();
    let mut out = vec![0u8; data.len() / n * rb];
    for (row, dst) in data.chunks_exact(n).zip(out.chunks_exact_mut(rb)) {
        quantize_row_weighted(ty, row, imatrix, dst);
    }
    out
}

/// Where two byte strings first differ, as "block B byte K".
fn first_difference(ty: QuantType, a: &[u8], b: &[u8]) -> Option<String> {
    let i = a.iter().zip(b).position(|(x, y)| x != y)?;
    let bb = ty.block_bytes();
    Some(format!(
        "block {} byte {}: brisk {:#04x}, ggml {:#04x}",
        i / bb,
        i % bb,
        a[i],
        b[i]
    ))
}

/// Whether ggml's quantizer for `ty` aborts on `data`: the grid i-quants' searches assert a
/// finite neighbour distance, which a value whose square overflows f32 breaks (brisk takes the
/// first neighbour; the test still runs brisk on such rows, so they must not panic).
fn ggml_aborts(ty: QuantType, data: &[f32]) -> bool {
    use QuantType::*;
    let grid = matches!(
        ty,
        IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S | IQ1_S | IQ1_M
    );
    grid && data.iter().any(|v| !(v * v).is_finite())
}

/// Whether ggml (and brisk) can quantize `ty` without an importance matrix.
fn unweighted(ty: QuantType) -> bool {
    !weighted::requires_importance(ty)
}

#[test]
fn quantizers_match_ggml_quantize_chunk_byte_for_byte() {
    let mut rng = Rng::new(17);
    let mut failures = Vec::new();
    let mut checked = 0;
    for ty in QuantType::weights() {
        for case in cases(ty.block_len()) {
            for (what, imatrix) in imatrices(&mut rng, case.n_per_row) {
                let im = imatrix.as_deref();
                if im.is_none() && !unweighted(ty) {
                    continue;
                }
                let got = brisk_quantize(ty, &case.data, case.n_per_row, im);
                if ggml_aborts(ty, &case.data) {
                    continue;
                }
                let want = ggml::quantize_chunk(ty, &case.data, case.n_per_row, im);
                checked += 1;
                if let Some(d) = first_difference(ty, &got, &want) {
                    failures.push(format!("{} {} ({}): {}", ty, case.name, what, d));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        checked,
        failures.join("\n")
    );
}

#[test]
fn activation_quantizers_match_ggml_reference() {
    for ty in [QuantType::Q8_0, QuantType::Q8_1, QuantType::Q8_K] {
        for case in cases(ty.block_len()) {
            let want = ggml::from_float_ref(ty, &case.data).expect("a reference quantizer");
            let mut got = vec![0u8; want.len()];
            scalar::quantize_row(ty, &case.data, &mut got);
            if let Some(d) = first_difference(ty, &got, &want) {
                panic!("{} {} (scalar): {}", ty, case.name, d);
            }
            for k in available() {
                k.quantize_row(ty, &case.data, &mut got);
                if let Some(d) = first_difference(ty, &got, &want) {
                    panic!("{} {} ({}): {}", ty, case.name, k.name, d);
                }
            }
        }
    }
}

fn same_f32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Random bytes (every block pattern, NaN and infinite scales included) and, for the types
/// brisk quantizes, ggml-quantized rows: brisk's decode equals ggml's bit for bit.
#[test]
fn dequantizers_match_ggml_to_float() {
    let mut rng = Rng::new(23);
    for ty in QuantType::ALL {
        let n = 8 * ty.block_len().max(256);
        let mut inputs = vec![("random bytes", rng.bytes(ty.row_bytes(n).unwrap()))];
        if ty.traits().vec_dot.is_some() {
            inputs.push(("quantized rows", ggml_weights(ty, &rng.normals(n, 0.5))));
        }
        for (what, bytes) in inputs {
            let Some(want) = ggml::to_float(ty, &bytes, n) else {
                assert!(
                    matches!(ty, QuantType::F32 | QuantType::Q8_1),
                    "ggml has no to_float for {}",
                    ty
                );
                continue;
            };
            let mut got = vec![0.0f32; n];
            scalar::dequantize_row(ty, &bytes, &mut got);
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same_f32(g, w),
                    "{} {} [{}]: {} vs ggml {}",
                    ty,
                    what,
                    i,
                    g,
                    w
                );
            }
        }
    }
}

/// ggml's own quantization of a row (IQ2_XXS, IQ2_XS and IQ1_S need an importance matrix in
/// ggml; ones stand in for it).
fn ggml_weights(ty: QuantType, x: &[f32]) -> Vec<u8> {
    let ones = vec![1.0f32; x.len()];
    let imatrix = if unweighted(ty) {
        None
    } else {
        Some(&ones[..])
    };
    ggml::quantize_chunk(ty, x, x.len(), imatrix)
}

/// Every dot product on every table against ggml's CPU `vec_dot` on the same bytes: equal up to
/// the order of the float sums (F16/BF16: ggml rounds the activations to the weight type first,
/// brisk keeps them f32).
#[test]
fn dots_match_ggml_vec_dot() {
    let mut rng = Rng::new(29);
    for ty in QuantType::weights() {
        let (brisk_act, ggml_act) = (ty.vec_dot_type(), ggml::vec_dot_type(ty));
        let float_weights = matches!(ty, QuantType::F16 | QuantType::BF16);
        if !float_weights {
            assert_eq!(brisk_act, ggml_act, "{}: activation type", ty);
        }
        for n in [256usize, 1024, 4096] {
            let w = ggml_weights(ty, &rng.normals(n, 0.3));
            let x = rng.normals(n, 1.0);
            let mut a = vec![0u8; brisk_act.row_bytes(n).unwrap()];
            scalar::quantize_row(brisk_act, &x, &mut a);
            let ga = if float_weights {
                ggml::from_float_cpu(ggml_act, &x).expect("f16/bf16 conversion")
            } else {
                a.clone()
            };
            let want = ggml::vec_dot(ty, &w, &ga, n);
            let mut wd = vec![0.0f32; n];
            let mut ad = vec![0.0f32; n];
            scalar::dequantize_row(ty, &w, &mut wd);
            scalar::dequantize_row(brisk_act, &a, &mut ad);
            let mag: f64 = wd
                .iter()
                .zip(&ad)
                .map(|(&p, &q)| (p * q).abs() as f64)
                .sum();
            let rel = match ty {
                QuantType::F16 => 2f64.powi(-10),
                QuantType::BF16 => 2f64.powi(-7),
                _ => 1e-5,
            };
            let tol = rel * mag + 1e-6;
            let got = scalar::vec_dot(ty, &w, &a, n);
            assert!(
                (got as f64 - want as f64).abs() <= tol,
                "{} n={} scalar: {} vs ggml {} (tol {})",
                ty,
                n,
                got,
                want,
                tol
            );
            for k in available() {
                let got = k.vec_dot(ty, &w, &a, n);
                assert!(
                    (got as f64 - want as f64).abs() <= tol,
                    "{} n={} {}: {} vs ggml {} (tol {})",
                    ty,
                    n,
                    k.name,
                    got,
                    want,
                    tol
                );
            }
        }
    }
}
