//! Dot products of every weight type against its activation partner.
//!
//! Two checks per case:
//! 1. Consistency: `vec_dot(w, a)` equals Σ dequant(w)ᵢ·dequant(a)ᵢ (computed in f64) up to f32
//!    rounding. The integer block sums are exact, so the only error is a few f32 roundings per
//!    block plus the f32 accumulation across blocks: tolerance `(blocks + 16)·2⁻²²·Σ|wᵢ·aᵢ|`
//!    (about two ulps per operation on the chain). Q4_1/Q5_1 also use the Q8_1 field
//!    `s = f16(d·Σq)`, whose f16 rounding adds up to `2⁻¹¹·|m|·Σ|aᵢ|` per block.
//! 2. Approximation: `vec_dot(w, quantize(x))` vs Σ dequant(w)ᵢ·xᵢ. By Cauchy–Schwarz the
//!    difference is at most the tolerance of (1) plus ‖w‖·‖dequant(a) − x‖, and ‖dequant(a) − x‖
//!    is itself bounded by the activation type's round-trip budget (Q8_0/Q8_1 0.0063, Q8_K
//!    0.0077 relative RMSE on normal rows, see roundtrip.rs), so we also require
//!    |difference| ≤ 0.008·‖w‖·‖x‖ (plus the tolerance of (1)) whenever the activation scale
//!    is representable (Q8_0/Q8_1 keep d as f16).

mod common;

use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, f16_to_f32, f32_to_f16, scalar, selected, QuantType, SCALAR};

fn quantize(ty: QuantType, x: &[f32]) -> Vec<u8> {
    let mut q = vec![0u8; ty.row_bytes(x.len()).unwrap()];
    scalar::quantize_row(ty, x, &mut q);
    q
}

fn dequantize(ty: QuantType, q: &[u8], n: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; n];
    scalar::dequantize_row(ty, q, &mut y);
    y
}

fn norm(x: &[f32]) -> f64 {
    x.iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum::<f64>()
        .sqrt()
}

/// Tolerance of check (1) for weights `w` (bytes) and activations `a` (bytes).
fn consistency_tol(ty: QuantType, w: &[u8], wd: &[f32], ad: &[f32]) -> f64 {
    let n = wd.len();
    let blocks = (n / ty.block_len()) as f64;
    let abs: f64 = wd
        .iter()
        .zip(ad)
        .map(|(&x, &y)| (x as f64 * y as f64).abs())
        .sum();
    let mut tol = (blocks + 16.0) * 2f64.powi(-22) * abs;
    if matches!(ty, QuantType::Q4_1 | QuantType::Q5_1) {
        for (b, blk) in w.chunks_exact(ty.block_bytes()).enumerate() {
            let m = f16_to_f32(u16::from_le_bytes([blk[2], blk[3]])) as f64;
            let sa: f64 = ad[32 * b..32 * b + 32].iter().map(|v| v.abs() as f64).sum();
            tol += 2f64.powi(-10) * m.abs() * sa;
        }
    }
    tol + 1e-30
}

/// Runs both checks for weights `w` of type `ty` and activations `x`.
fn check(ty: QuantType, w: &[u8], x: &[f32], what: &str) {
    let n = x.len();
    let at = ty.vec_dot_type();
    let a = quantize(at, x);
    let wd = dequantize(ty, w, n);
    let ad = dequantize(at, &a, n);
    let got = scalar::vec_dot(ty, w, &a, n) as f64;
    assert!(got.is_finite(), "{} {}: non-finite result", ty, what);

    let exact: f64 = wd.iter().zip(&ad).map(|(&p, &q)| p as f64 * q as f64).sum();
    let tol = consistency_tol(ty, w, &wd, &ad);
    assert!(
        (got - exact).abs() <= tol,
        "{} {}: vec_dot {} vs dequantized dot {} (tol {})",
        ty,
        what,
        got,
        exact,
        tol
    );

    let ideal: f64 = wd.iter().zip(x).map(|(&p, &q)| p as f64 * q as f64).sum();
    let err_a: Vec<f32> = ad.iter().zip(x).map(|(&p, &q)| p - q).collect();
    let cs = norm(&wd) * norm(&err_a);
    let budget = 0.008 * norm(&wd) * norm(x);
    let diff = (got - ideal).abs();
    // Q8_0/Q8_1 store d = amax/127 as f16: below the f16 normal range (amax < 127·2⁻¹⁴) the
    // scale loses precision or flushes to zero, as in ggml, and only Cauchy–Schwarz applies.
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let f16_scale = matches!(at, QuantType::Q8_0 | QuantType::Q8_1);
    let budget = if f16_scale && amax / 127.0 < 6.2e-5 {
        f64::INFINITY
    } else {
        budget
    };
    assert!(
        diff <= tol + cs * (1.0 + 1e-6) && diff <= tol + budget,
        "{} {}: vec_dot {} vs f32 dot {} (Cauchy-Schwarz {}, budget {})",
        ty,
        what,
        got,
        ideal,
        cs,
        budget
    );

    // Every kernel table agrees with the scalar reference (bitwise for the scalar table).
    for k in available() {
        let v = k.vec_dot(ty, w, &a, n) as f64;
        if k.name == "scalar" {
            assert_eq!(v.to_bits(), got.to_bits(), "{} {}", ty, what);
        } else {
            assert!((v - got).abs() <= tol, "{} {} on {}", ty, what, k.name);
        }
    }
}

#[test]
fn random_weights_all_types() {
    let mut rng = Rng::new(42);
    for ty in QuantType::weights().filter(|t| t.traits().quantize.is_some()) {
        for &n in &[256usize, 512, 2048] {
            let wx = rng.normals(n, 0.05);
            let w = quantize(ty, &wx);
            let x = rng.normals(n, 1.0);
            check(ty, &w, &x, &format!("random n={}", n));
        }
    }
}

#[test]
fn one_block_each_type() {
    let mut rng = Rng::new(3);
    for ty in QuantType::weights().filter(|t| t.traits().quantize.is_some()) {
        let n = ty.block_len().max(32);
        let w = quantize(ty, &rng.normals(n, 1.0));
        check(ty, &w, &rng.normals(n, 3.0), "one block");
    }
}

#[test]
fn zeros() {
    let mut rng = Rng::new(4);
    for ty in QuantType::weights().filter(|t| t.traits().quantize.is_some()) {
        let n = 256;
        let wz = quantize(ty, &vec![0.0; n]);
        let x = rng.normals(n, 1.0);
        assert_eq!(
            scalar::vec_dot(ty, &wz, &quantize(ty.vec_dot_type(), &x), n),
            0.0,
            "{}",
            ty
        );
        let w = quantize(ty, &rng.normals(n, 1.0));
        check(ty, &w, &vec![0.0; n], "zero activations");
    }
}

/// Random block bytes with the f16 scale fields set to `d` (sane or extreme), for each type.
fn random_blocks(ty: QuantType, blocks: usize, d: f32, rng: &mut Rng) -> Vec<u8> {
    let bb = ty.block_bytes();
    let mut w = rng.bytes(blocks * bb);
    let fields: &[usize] = match ty {
        QuantType::Q4_0 | QuantType::Q5_0 | QuantType::Q8_0 => &[0],
        QuantType::Q4_1 | QuantType::Q5_1 | QuantType::Q4_K | QuantType::Q5_K => &[0, 2],
        QuantType::Q2_K => &[80, 82],
        QuantType::Q3_K => &[108],
        QuantType::Q6_K => &[208],
        _ => &[],
    };
    for blk in w.chunks_exact_mut(bb) {
        for &off in fields {
            let h = f32_to_f16(d * (0.5 + rng.uniform())).to_le_bytes();
            blk[off..off + 2].copy_from_slice(&h);
        }
    }
    w
}

#[test]
fn random_bytes_and_extreme_scales() {
    let mut rng = Rng::new(9);
    let types = [
        QuantType::Q4_0,
        QuantType::Q4_1,
        QuantType::Q5_0,
        QuantType::Q5_1,
        QuantType::Q8_0,
        QuantType::Q2_K,
        QuantType::Q3_K,
        QuantType::Q4_K,
        QuantType::Q5_K,
        QuantType::Q6_K,
    ];
    // Sane, large, f16-max-ish and f16-subnormal scales.
    for &d in &[0.01f32, 30.0, 40000.0, 1e-6] {
        for ty in types {
            let n = 512;
            let w = random_blocks(ty, n / ty.block_len(), d, &mut rng);
            let x = rng.normals(n, 1.0);
            check(ty, &w, &x, &format!("random bytes d~{}", d));
        }
    }
}

#[test]
fn extreme_activations() {
    let mut rng = Rng::new(10);
    for ty in QuantType::weights().filter(|t| t.traits().quantize.is_some()) {
        let n = 512;
        let w = quantize(ty, &rng.normals(n, 0.1));
        for &s in &[1e-20f32, 1e-3, 1e3, 1e4] {
            // Q8_1 keeps s = d·Σq as f16, which overflows (to inf, as in ggml) once a block's
            // |Σx| passes 65504: 1e4-scale activations are outside the format for Q4_1/Q5_1.
            if s > 1e3 && ty.vec_dot_type() == QuantType::Q8_1 {
                continue;
            }
            check(ty, &w, &rng.normals(n, s), &format!("activations x{}", s));
        }
        let mut spike = vec![0.0f32; n];
        spike[77] = 5000.0;
        check(ty, &w, &spike, "single spike");
    }
}

#[test]
fn float_dots() {
    let mut rng = Rng::new(11);
    let x = rng.normals(1000, 1.0);
    let y = rng.normals(1000, 1.0);
    let exact: f64 = x.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
    assert!((scalar::dot_f32(&x, &y) as f64 - exact).abs() < 1e-4);
    let wh = quantize(QuantType::F16, &x);
    let wb = quantize(QuantType::BF16, &x);
    let xh = dequantize(QuantType::F16, &wh, 1000);
    let xb = dequantize(QuantType::BF16, &wb, 1000);
    let eh: f64 = xh.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
    let eb: f64 = xb.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
    assert!((scalar::dot_f16_f32(&wh, &y) as f64 - eh).abs() < 1e-4);
    assert!((scalar::dot_bf16_f32(&wb, &y) as f64 - eb).abs() < 1e-4);
    let ab = quantize(QuantType::F32, &y);
    assert_eq!(
        scalar::vec_dot(QuantType::F16, &wh, &ab, 1000),
        scalar::dot_f16_f32(&wh, &y)
    );
    assert_eq!(
        scalar::vec_dot(QuantType::BF16, &wb, &ab, 1000),
        scalar::dot_bf16_f32(&wb, &y)
    );
    let ax = quantize(QuantType::F32, &x);
    assert_eq!(
        scalar::vec_dot(QuantType::F32, &ax, &ab, 1000),
        scalar::dot_f32(&x, &y)
    );
    assert_eq!(scalar::dot_f32(&[], &[]), 0.0);
}

#[test]
fn kernels_table_matches_scalar() {
    let mut rng = Rng::new(12);
    assert_eq!(SCALAR.name, "scalar");
    assert!(available().iter().any(|k| k.name == selected().name));
    for ty in [
        QuantType::Q8_0,
        QuantType::Q8_1,
        QuantType::Q8_K,
        QuantType::Q4_K,
    ] {
        let x = rng.normals(512, 1.0);
        let want = quantize(ty, &x);
        for k in available() {
            let mut got = vec![0u8; want.len()];
            k.quantize_row(ty, &x, &mut got);
            assert_eq!(got, want, "{} quantize_row {}", k.name, ty);
        }
    }
    let x = rng.normals(64, 1.0);
    let w = rng.normals(64, 1.0);
    let mut a = vec![0.0f32; 64];
    let mut b = vec![0.0f32; 64];
    (SCALAR.rms_norm)(&x, &w, 1e-6, &mut a);
    scalar::rms_norm(&x, &w, 1e-6, &mut b);
    assert_eq!(a, b);
}

#[test]
#[should_panic]
fn wrong_activation_length_panics() {
    let w = quantize(QuantType::Q4_0, &[0.5; 64]);
    let a = quantize(QuantType::Q8_0, &[0.5; 32]);
    scalar::vec_dot(QuantType::Q4_0, &w, &a, 64);
}
