//! quantize → dequantize error budgets per type, on the field's `0.1 + 2·cos(i)` vector and on
//! random normal rows, plus edge rows (zeros, constants, huge and tiny values) and sizes.
//!
//! Budgets are relative RMSE (RMS of the error / RMS of the signal). A symmetric b-bit block
//! format has step d = amax/2^(b−1) and error RMS ≈ d/√12; for the cos vector (block amax ≈ 2,
//! RMS ≈ 1.42) that predicts Q8 ≈ 0.0032, Q5 ≈ 0.025, Q4 ≈ 0.051, which is what the reference
//! algorithms measure (Q8_0 0.0034, Q5_0 0.027, Q4_0 0.051); the K-quants' searched sub-block
//! scales do as well per bit (Q6_K 0.012, Q4_K 0.044, Q3_K 0.11, Q2_K 0.21). Random normal rows
//! have a larger amax/RMS ratio, hence larger errors (256-element Q8_K more than 32-element Q8_0).
//! Each budget is the measured value (brisk reproduces ggml's reference bit for bit) times
//! ~1.25: an off-by-one in rounding, a swapped nibble or a lost scale bit fails it, a refactor
//! that keeps the algorithm does not.

mod common;

use brisk_kernels::testutil::Rng;
use brisk_kernels::{scalar, QuantType};
use common::rel_rmse;

fn roundtrip(ty: QuantType, x: &[f32]) -> Vec<f32> {
    let mut q = vec![0u8; ty.row_bytes(x.len()).unwrap()];
    scalar::quantize_row(ty, x, &mut q);
    let mut y = vec![0.0f32; x.len()];
    scalar::dequantize_row(ty, &q, &mut y);
    y
}

/// (type, budget on the cos vector, budget on random normal rows)
const BUDGETS: [(QuantType, f64, f64); 15] = [
    (QuantType::F32, 0.0, 0.0),
    (QuantType::F16, 0.00025, 0.00026),
    (QuantType::BF16, 0.002, 0.0021),
    (QuantType::Q4_0, 0.063, 0.10),
    (QuantType::Q4_1, 0.065, 0.095),
    (QuantType::Q5_0, 0.034, 0.051),
    (QuantType::Q5_1, 0.032, 0.046),
    (QuantType::Q8_0, 0.0042, 0.0063),
    (QuantType::Q8_1, 0.0042, 0.0063),
    (QuantType::Q2_K, 0.27, 0.36),
    (QuantType::Q3_K, 0.14, 0.18),
    (QuantType::Q4_K, 0.056, 0.087),
    (QuantType::Q5_K, 0.030, 0.044),
    (QuantType::Q6_K, 0.015, 0.022),
    (QuantType::Q8_K, 0.0043, 0.0077),
];

fn cos_vector(n: usize) -> Vec<f32> {
    (0..n).map(|i| 0.1 + 2.0 * (i as f32).cos()).collect()
}

#[test]
fn rmse_budgets() {
    let n = 4096;
    let cosv = cos_vector(n);
    let mut rng = Rng::new(1);
    let normal = rng.normals(n, 0.7);
    let mut report = String::new();
    let mut failures = String::new();
    for &(ty, b_cos, b_rand) in BUDGETS.iter() {
        let e_cos = rel_rmse(&roundtrip(ty, &cosv), &cosv);
        let e_rand = rel_rmse(&roundtrip(ty, &normal), &normal);
        report += &format!("{:5} cos {:.5} random {:.5}\n", ty.name(), e_cos, e_rand);
        failures += &if e_cos <= b_cos && e_rand <= b_rand {
            String::new()
        } else {
            format!(
                "{}: rel RMSE cos {} (budget {}), random {} (budget {})\n",
                ty, e_cos, b_cos, e_rand, b_rand
            )
        };
    }
    println!("{}", report);
    assert!(failures.is_empty(), "{}", failures);
}

#[test]
fn more_bits_means_less_error() {
    let x = cos_vector(2048);
    let e = |ty| rel_rmse(&roundtrip(ty, &x), &x);
    assert!(e(QuantType::Q2_K) > e(QuantType::Q3_K));
    assert!(e(QuantType::Q3_K) > e(QuantType::Q4_K));
    assert!(e(QuantType::Q4_K) > e(QuantType::Q5_K));
    assert!(e(QuantType::Q5_K) > e(QuantType::Q6_K));
    assert!(e(QuantType::Q6_K) > e(QuantType::Q8_0));
    assert!(e(QuantType::Q4_0) > e(QuantType::Q5_0));
    assert!(e(QuantType::Q4_1) > e(QuantType::Q5_1));
}

#[test]
fn zeros_round_trip_to_zeros() {
    for ty in QuantType::quantizable() {
        let x = vec![0.0f32; 512];
        let y = roundtrip(ty, &x);
        assert!(y.iter().all(|&v| v == 0.0), "{}", ty);
    }
}

#[test]
fn edge_rows_do_not_panic_and_stay_finite() {
    let mut rows: Vec<Vec<f32>> = Vec::new();
    rows.push(vec![1.5; 256]); // constant
    rows.push(vec![-3.0; 256]);
    let mut spike = vec![0.0f32; 256];
    spike[3] = 1000.0;
    rows.push(spike);
    rows.push(
        (0..256)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect(),
    );
    let mut rng = Rng::new(5);
    rows.push(rng.normals(256, 1e-6));
    rows.push(rng.normals(256, 1e-30));
    rows.push(rng.normals(256, 1e4));
    for ty in QuantType::quantizable() {
        for x in &rows {
            let y = roundtrip(ty, x);
            assert!(y.iter().all(|v| v.is_finite()), "{}: non-finite output", ty);
            let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            if amax < 1e-3 || ty == QuantType::IQ1_M {
                // Scales in the f16 subnormal range are coarse (ggml's output is the same), and
                // IQ1_M cannot code a zero: every element is ±(1 ± δ) times its sub-block scale.
                continue;
            }
            // Never wildly off: within the largest magnitude of the input (plus rounding).
            for (a, b) in x.iter().zip(&y) {
                assert!(
                    (a - b).abs() <= amax * 1.01 + 1e-30,
                    "{}: {} -> {}",
                    ty,
                    a,
                    b
                );
            }
        }
    }
    // Constant rows are exact for the asymmetric types (min/max encoding, f16-representable).
    for ty in [QuantType::Q4_1, QuantType::Q5_1] {
        assert!(
            roundtrip(ty, &[1.5; 32]).iter().all(|&v| v == 1.5),
            "{}",
            ty
        );
    }
    // Small integers in [-8, 7] with an -8 present are exact in Q4_0 (d = 1).
    let ints: Vec<f32> = (0..32).map(|i| ((i * 5) % 16) as f32 - 8.0).collect();
    assert_eq!(roundtrip(QuantType::Q4_0, &ints), ints);
}

#[test]
fn huge_values_saturate_like_ggml() {
    // |x| = 1e6 makes the Q4_0 scale overflow f16 (d = inf): ggml stores inf, so does brisk;
    // the format cannot represent such a block, dequantization yields inf/NaN as in ggml.
    let mut x = vec![0.0f32; 32];
    x[0] = 1.0e6;
    let mut q = vec![0u8; 18];
    scalar::quantize_row(QuantType::Q4_0, &x, &mut q);
    assert_eq!(u16::from_le_bytes([q[0], q[1]]), 0xfc00); // -inf (d = max / -8)
}

#[test]
fn every_type_handles_several_blocks() {
    for ty in QuantType::quantizable() {
        for blocks in [1usize, 2, 3, 7] {
            let n = blocks * 256;
            let x = cos_vector(n);
            let y = roundtrip(ty, &x);
            assert_eq!(y.len(), n);
            // IQ1_M (1.75 bpw, here without the importance matrix it is made for) is coarse.
            let bound = if ty == QuantType::IQ1_M { 0.8 } else { 0.4 };
            let e = rel_rmse(&y, &x);
            assert!(e < bound, "{} with {} elements: {}", ty, n, e);
        }
    }
}

#[test]
#[should_panic]
fn length_mismatch_is_reported() {
    let mut q = vec![0u8; 17];
    scalar::quantize_row(QuantType::Q4_0, &[0.0; 32], &mut q);
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Any byte pattern is a valid block (NaN/inf scales included): decoding and dot products
    // must not panic (tests run with overflow checks on).
    let mut rng = Rng::new(77);
    for ty in QuantType::ALL {
        for _ in 0..20 {
            let n = 512;
            let w = rng.bytes(ty.row_bytes(n).unwrap());
            let a = rng.bytes(ty.vec_dot_type().row_bytes(n).unwrap());
            let mut y = vec![0.0f32; n];
            scalar::dequantize_row(ty, &w, &mut y);
            if ty.traits().vec_dot.is_some() {
                let _ = scalar::vec_dot(ty, &w, &a, n);
            }
            let x: Vec<f32> = rng
                .bytes(4 * n)
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if ty.traits().quantize.is_some() {
                let mut q = vec![0u8; ty.row_bytes(n).unwrap()];
                scalar::quantize_row(ty, &x, &mut q); // NaN/inf/huge inputs included
            }
        }
    }
}
