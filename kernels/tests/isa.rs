//! Every kernel table this CPU can run, every function, against the `SCALAR` reference.
//!
//! - Quantized dots: integer block sums are exact in every table, so the only difference is
//!   f32 reassociation. Tolerance: `(blocks + 32)·2⁻²¹·S`, where `S = Σᵢ (|scale part of wᵢ| +
//!   |min part of wᵢ|)·|aᵢ|` (the sum of the magnitudes of every term the kernels add up; for
//!   types without a min field the min part is 0). A kernel that drops or misreads a single
//!   element is off by far more than that.
//! - Float dots: `(n + 16)·2⁻²³·Σ|wᵢ·xᵢ|` (f32 lane sums instead of the reference's f64 sum).
//! - `quantize_row_q8_0/q8_1/q8_k`: byte-identical, including ties (half away from zero for
//!   Q8_0/Q8_1, half to even for Q8_K), zero/subnormal/huge/infinite blocks.
//! - `add`, `scale`: bitwise equal; `rms_norm`: 2⁻¹⁶ relative; `silu_mul`: 2⁻²⁰
//!   relative (plus 1e-30 absolute), so vector `exp` approximations fit later.
//!
//! NaN inputs are outside the contract of the quantizers' byte equality (the reference's own
//! NaN handling depends on element order) and are not tested.

use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, f32_to_bf16, f32_to_f16, scalar, Kernels, QuantType, SCALAR};

fn tables() -> Vec<&'static Kernels> {
    let t: Vec<_> = available()
        .into_iter()
        .filter(|k| k.name != "scalar")
        .collect();
    eprintln!(
        "isa tests on: {:?}",
        t.iter().map(|k| k.name).collect::<Vec<_>>()
    );
    t
}

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

/// Byte offsets of the (scale, min) f16 fields of a block, if the type has them.
fn scale_fields(ty: QuantType) -> (Option<usize>, Option<usize>) {
    use QuantType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => (Some(0), None),
        Q4_1 | Q5_1 => (Some(0), Some(2)),
        Q8_1 => (Some(0), None),
        Q2_K => (Some(80), Some(82)),
        Q3_K => (Some(108), None),
        Q4_K | Q5_K => (Some(0), Some(2)),
        Q6_K => (Some(208), None),
        _ => (None, None),
    }
}

fn with_field(ty: QuantType, w: &[u8], at: usize, bits: u16) -> Vec<u8> {
    let mut v = w.to_vec();
    for blk in v.chunks_exact_mut(ty.block_bytes()) {
        blk[at..at + 2].copy_from_slice(&bits.to_le_bytes());
    }
    v
}

/// Σᵢ (|scale part| + |min part|)·|aᵢ| (see the module comment).
fn magnitude(ty: QuantType, w: &[u8], ad: &[f32]) -> f64 {
    let n = ad.len();
    let parts: Vec<Vec<f32>> = match scale_fields(ty) {
        (Some(s), Some(m)) => vec![
            dequantize(ty, &with_field(ty, w, m, 0), n),
            dequantize(ty, &with_field(ty, w, s, 0), n),
        ],
        _ => vec![dequantize(ty, w, n)],
    };
    let mut s = 0.0f64;
    for p in &parts {
        s += p
            .iter()
            .zip(ad)
            .map(|(&x, &y)| (x as f64 * y as f64).abs())
            .sum::<f64>();
    }
    // Q4_1/Q5_1: the min term uses the Q8_1 field s = f16(d·Σq) ≈ Σ aᵢ.
    s
}

/// The float, legacy and K-quant weight types, whose test rows are made by quantizing and whose
/// scale fields the extreme-scale tests know. The IQ/TQ/MXFP4 types have their own random-block
/// test below (`vec_dot_read_only_types_with_simd`), which places each type's scale.
fn quantized_weights() -> impl Iterator<Item = QuantType> {
    QuantType::weights()
        .filter(|&t| t.ggml_id() < QuantType::IQ2_XXS.ggml_id() || t == QuantType::BF16)
}

/// Compares every table's `vec_dot` for `ty` with the scalar one on weights `w`, activations `a`.
fn check_dot(ty: QuantType, w: &[u8], a: &[u8], n: usize, what: &str) {
    let want = SCALAR.vec_dot(ty, w, a, n);
    let at = ty.vec_dot_type();
    let ad = dequantize(at, a, n);
    let blocks = (n / ty.block_len().max(1)) as f64;
    let tol = if ty.block_len() == 1 {
        let wd = dequantize(ty, w, n);
        let s: f64 = wd
            .iter()
            .zip(&ad)
            .map(|(&x, &y)| (x as f64 * y as f64).abs())
            .sum();
        (n as f64 + 16.0) * 2f64.powi(-23) * s
    } else {
        (blocks + 32.0) * 2f64.powi(-21) * magnitude(ty, w, &ad)
    } + 1e-30;
    for k in tables() {
        let got = k.vec_dot(ty, w, a, n);
        if !want.is_finite() {
            assert!(
                got.is_nan() && want.is_nan() || got == want,
                "{} {} on {}: got {} want {}",
                ty,
                what,
                k.name,
                got,
                want
            );
            continue;
        }
        assert!(
            ((got as f64) - (want as f64)).abs() <= tol,
            "{} {} n={} on {}: got {} want {} (tol {})",
            ty,
            what,
            n,
            k.name,
            got,
            want,
            tol
        );
    }
}

/// Random weight bytes for `ty` with the f16 scale fields set to `d` and `m` (bits).
fn random_weights(rng: &mut Rng, ty: QuantType, n: usize, d: u16, m: u16) -> Vec<u8> {
    match ty {
        QuantType::F32 | QuantType::F16 | QuantType::BF16 | QuantType::Q8_1 | QuantType::Q8_K => {
            return quantize(ty, &rng.normals(n, 1.0));
        }
        _ => {}
    }
    let mut w = rng.bytes(ty.row_bytes(n).unwrap());
    let (s, mm) = scale_fields(ty);
    if let Some(s) = s {
        w = with_field(ty, &w, s, d);
    }
    if let Some(mm) = mm {
        w = with_field(ty, &w, mm, m);
    }
    w
}

const F16_ONE: u16 = 0x3c00;
const F16_MAX: u16 = 0x7bff;
const F16_SUB_MIN: u16 = 0x0001;
const F16_SUB_MAX: u16 = 0x03ff;

#[test]
fn vec_dot_random_weights_all_types_and_lengths() {
    let mut rng = Rng::new(7);
    for ty in quantized_weights() {
        let bl = ty.block_len().max(32);
        for &blocks in &[1usize, 2, 3, 7, 16, 33] {
            let n = bl * blocks;
            let w = random_weights(&mut rng, ty, n, F16_ONE, 0x3800);
            let a = quantize(ty.vec_dot_type(), &rng.normals(n, 1.0));
            check_dot(ty, &w, &a, n, "random bytes");
            let wq = quantize(ty, &rng.normals(n, 0.05));
            check_dot(ty, &wq, &a, n, "quantized weights");
        }
    }
}

#[test]
fn vec_dot_4096_rows() {
    let mut rng = Rng::new(11);
    for ty in quantized_weights() {
        let n = 4096;
        let w = quantize(ty, &rng.normals(n, 0.02));
        let a = quantize(ty.vec_dot_type(), &rng.normals(n, 1.0));
        check_dot(ty, &w, &a, n, "4096");
    }
}

#[test]
fn vec_dot_extreme_scales() {
    let mut rng = Rng::new(13);
    for ty in quantized_weights() {
        let n = ty.block_len().max(32) * 4;
        for &(d, m) in &[
            (F16_MAX, F16_MAX),
            (F16_SUB_MIN, F16_SUB_MAX),
            (F16_SUB_MAX, 0x8001),
            (0, 0),
            (0xfbff, 0x7bff),
        ] {
            let w = random_weights(&mut rng, ty, n, d, m);
            for &sx in &[1.0f32, 1e-6, 1e4, 1e-30] {
                let a = quantize(ty.vec_dot_type(), &rng.normals(n, sx));
                check_dot(ty, &w, &a, n, &format!("d={:#x} m={:#x} x~{}", d, m, sx));
            }
        }
    }
}

#[test]
fn vec_dot_zeros_and_all_max_quants() {
    let mut rng = Rng::new(17);
    for ty in quantized_weights() {
        let n = ty.block_len().max(32) * 3;
        let at = ty.vec_dot_type();
        let zeros = vec![0.0f32; n];
        let plus = vec![3.0f32; n];
        let minus = vec![-3.0f32; n];
        let w_rand = quantize(ty, &rng.normals(n, 1.0));
        // Every quantized byte 0xff / 0x00 / 0x77 / 0x88 with a normal scale.
        let mut weights = vec![quantize(ty, &zeros), w_rand];
        if ty.block_len() > 1 {
            for &fill in &[0xffu8, 0x00, 0x77, 0x88] {
                let mut w = vec![fill; ty.row_bytes(n).unwrap()];
                let (s, m) = scale_fields(ty);
                for f in [s, m].iter().flatten() {
                    w = with_field(ty, &w, *f, F16_ONE);
                }
                if ty == QuantType::Q8_K {
                    w = quantize(ty, &plus);
                }
                weights.push(w);
            }
        }
        for w in &weights {
            for x in [&zeros, &plus, &minus] {
                check_dot(ty, w, &quantize(at, x), n, "zeros/all-max");
            }
        }
    }
}

/// Rows that start at an odd address (a tensor inside an mmap need not be aligned).
#[test]
fn vec_dot_unaligned_rows() {
    let mut rng = Rng::new(31);
    for ty in quantized_weights() {
        let n = ty.block_len().max(32) * 5;
        let w = quantize(ty, &rng.normals(n, 0.5));
        let a = quantize(ty.vec_dot_type(), &rng.normals(n, 1.0));
        let mut wb = vec![0u8; w.len() + 1];
        let mut ab = vec![0u8; a.len() + 3];
        wb[1..].copy_from_slice(&w);
        ab[3..].copy_from_slice(&a);
        check_dot(ty, &wb[1..], &ab[3..], n, "unaligned");
        let want = SCALAR.vec_dot(ty, &w, &a, n);
        for k in tables() {
            // Same bytes, same kernel: the address must not change the result.
            let got = k.vec_dot(ty, &wb[1..], &ab[3..], n);
            let aligned = k.vec_dot(ty, &w, &a, n);
            assert_eq!(got.to_bits(), aligned.to_bits(), "{} on {}", ty, k.name);
            assert!(want.is_finite() == got.is_finite(), "{} on {}", ty, k.name);
        }
    }
}

#[test]
fn float_dots_odd_lengths() {
    let mut rng = Rng::new(19);
    for &n in &[
        0usize, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 4096, 4099,
    ] {
        let a = rng.normals(n, 1.0);
        let b = rng.normals(n, 2.0);
        let h: Vec<u8> = b
            .iter()
            .flat_map(|&v| f32_to_f16(v).to_le_bytes())
            .collect();
        let bf: Vec<u8> = b
            .iter()
            .flat_map(|&v| f32_to_bf16(v).to_le_bytes())
            .collect();
        let s: f64 = a.iter().zip(&b).map(|(&x, &y)| (x * y).abs() as f64).sum();
        let tol = (n as f64 + 16.0) * 2f64.powi(-23) * s * 1.01 + 1e-30;
        for k in tables() {
            let cases = [
                ("dot_f32", (k.dot_f32)(&a, &b), (SCALAR.dot_f32)(&a, &b)),
                (
                    "dot_f16_f32",
                    (k.dot_f16_f32)(&h, &a),
                    (SCALAR.dot_f16_f32)(&h, &a),
                ),
                (
                    "dot_bf16_f32",
                    (k.dot_bf16_f32)(&bf, &a),
                    (SCALAR.dot_bf16_f32)(&bf, &a),
                ),
            ];
            for (name, got, want) in cases.iter() {
                assert!(
                    ((got - want) as f64).abs() <= tol,
                    "{} n={} on {}: {} vs {}",
                    name,
                    n,
                    k.name,
                    got,
                    want
                );
            }
        }
        for ty in [QuantType::F32, QuantType::F16, QuantType::BF16] {
            let w = quantize(ty, &b);
            let x = quantize(QuantType::F32, &a);
            check_dot(ty, &w, &x, n, "odd length");
        }
    }
}

fn check_quantize(x: &[f32], what: &str) {
    for ty in [QuantType::Q8_0, QuantType::Q8_1, QuantType::Q8_K] {
        if x.len() % ty.block_len() != 0 {
            continue;
        }
        let want = quantize(ty, x);
        for k in tables() {
            let mut got = vec![0xa5u8; want.len()];
            k.quantize_row(ty, x, &mut got);
            if got != want {
                let at = got.iter().zip(&want).position(|(a, b)| a != b).unwrap();
                panic!(
                    "quantize_row {} {} on {}: first difference at byte {} ({:#x} vs {:#x})",
                    ty, what, k.name, at, got[at], want[at]
                );
            }
        }
    }
}

#[test]
fn quantize_rows_byte_identical() {
    let mut rng = Rng::new(23);
    // 32 and 96: one and three Q8_0/Q8_1 blocks (no whole Q8_K block, which is skipped).
    for &n in &[32usize, 96, 256, 512, 4096] {
        for &s in &[1.0f32, 1e-3, 1e3, 1e-6, 1e-40, 1e30] {
            check_quantize(&rng.normals(n, s), &format!("normals n={} scale={}", n, s));
        }
        check_quantize(&vec![0.0; n], "zeros");
        check_quantize(&vec![-0.0; n], "negative zeros");
        let mut x = rng.normals(n, 1.0);
        x[3] = f32::INFINITY;
        x[300 % n] = f32::NEG_INFINITY;
        check_quantize(&x, "infinities");
        let mut x = rng.normals(n, 1.0);
        x[5] = 65504.0 * 127.0 * 4.0; // f16 overflow of the Q8_0 scale
        check_quantize(&x, "f16 overflow");
    }
}

#[test]
fn quantize_rows_ties_and_sign_of_max() {
    // amax = 127 gives d = 1, id = 1 (Q8_0/Q8_1): x·id lands exactly on .5 ties.
    let mut x = vec![0.0f32; 256];
    for (i, v) in x.iter_mut().enumerate() {
        *v = ((i as f32) - 128.0) * 0.5;
    }
    x[0] = 127.0;
    x[32] = -127.0;
    for b in 0..8 {
        x[32 * b] = if b % 2 == 0 { 127.0 } else { -127.0 };
    }
    check_quantize(&x, "ties");
    // Q8_K: max = −127 gives iscale = 1 exactly; equal magnitudes with both signs.
    let mut y: Vec<f32> = (0..256).map(|i| ((i % 64) as f32 - 32.0) * 0.5).collect();
    y[10] = -127.0;
    y[20] = 127.0;
    check_quantize(&y, "q8_k ties, first max negative");
    y[10] = 127.0;
    y[20] = -127.0;
    check_quantize(&y, "q8_k ties, first max positive");
    let all_max = vec![5.0f32; 256];
    check_quantize(&all_max, "constant");
}

#[test]
fn vector_ops_match_scalar() {
    let mut rng = Rng::new(29);
    for &n in &[0usize, 1, 3, 7, 8, 9, 16, 17, 31, 64, 65, 1000, 4096, 4101] {
        let x = rng.normals(n, 2.0);
        let w = rng.normals(n, 1.0);
        let y = rng.normals(n, 5.0);
        for k in tables() {
            let mut a1 = x.clone();
            let mut a2 = x.clone();
            (k.add)(&mut a1, &y);
            (SCALAR.add)(&mut a2, &y);
            assert_eq!(bits(&a1), bits(&a2), "add n={} on {}", n, k.name);
            (k.scale)(&mut a1, 0.37);
            (SCALAR.scale)(&mut a2, 0.37);
            assert_eq!(bits(&a1), bits(&a2), "scale n={} on {}", n, k.name);

            let mut o1 = vec![0.0f32; n];
            let mut o2 = vec![0.0f32; n];
            (k.rms_norm)(&x, &w, 1e-6, &mut o1);
            (SCALAR.rms_norm)(&x, &w, 1e-6, &mut o2);
            close(
                &o1,
                &o2,
                2f32.powi(-16),
                &format!("rms_norm n={} {}", n, k.name),
            );

            (k.silu_mul)(&x, &y, &mut o1);
            (SCALAR.silu_mul)(&x, &y, &mut o2);
            close(
                &o1,
                &o2,
                2f32.powi(-20),
                &format!("silu_mul n={} {}", n, k.name),
            );
        }
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn close(got: &[f32], want: &[f32], rel: f32, what: &str) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w || (g.is_nan() && w.is_nan()) || (g - w).abs() <= rel * w.abs() + 1e-30,
            "{}: element {}: {} vs {}",
            what,
            i,
            g,
            w
        );
    }
}

#[test]
fn selection_reports_a_supported_table() {
    let av = available();
    assert_eq!(av.last().unwrap().name, "scalar");
    for k in &av {
        assert!((k.supported)());
        assert_eq!(brisk_kernels::by_name(k.name).unwrap().name, k.name);
    }
    assert!(brisk_kernels::by_name("no-such-isa").is_none());
    let s = brisk_kernels::selected();
    assert!(av.iter().any(|k| k.name == s.name));
}

#[test]
fn silu_extreme_values() {
    // A dense sweep through the whole exp range, including overflow and subnormal results.
    let mut g: Vec<f32> = (0..20_001)
        .map(|i| (i as f32 - 10_000.0) * 0.0105)
        .collect();
    g.extend_from_slice(&[
        88.72, 88.73, -88.72, -88.73, 89.0, -89.0, 1e4, -1e4, 0.0, -0.0,
    ]);
    g.extend_from_slice(&[f32::MAX, -f32::MAX, f32::INFINITY, f32::NEG_INFINITY, 1e-40]);
    let up: Vec<f32> = (0..g.len()).map(|i| 1.0 + (i % 7) as f32).collect();
    for k in tables() {
        let mut o1 = vec![0.0f32; g.len()];
        let mut o2 = vec![0.0f32; g.len()];
        (k.silu_mul)(&g, &up, &mut o1);
        (SCALAR.silu_mul)(&g, &up, &mut o2);
        close(
            &o1,
            &o2,
            2f32.powi(-20),
            &format!("silu_mul sweep {}", k.name),
        );
    }
}

/// The IQ/TQ/MXFP4 types with SIMD dots (IQ4_NL, IQ4_XS, the IQ2/IQ3 grid types): random blocks
/// (every byte pattern is a valid block of these types) with sane, huge and subnormal f16
/// scales (at bytes 0..2 in each), against the scalar reference.
#[test]
fn vec_dot_read_only_types_with_simd() {
    let mut rng = Rng::new(4242);
    for ty in [
        QuantType::IQ4_NL,
        QuantType::IQ4_XS,
        QuantType::IQ2_XXS,
        QuantType::IQ2_XS,
        QuantType::IQ2_S,
        QuantType::IQ3_XXS,
        QuantType::IQ3_S,
        QuantType::MXFP4,
        QuantType::TQ2_0,
        QuantType::IQ1_S,
        QuantType::IQ1_M,
    ] {
        // The scale's place: TQ2_0 keeps its f16 last; MXFP4's E8M0 byte takes the low byte.
        let at = if ty == QuantType::TQ2_0 { 64 } else { 0 };
        for &d in &[F16_ONE, F16_MAX, F16_SUB_MIN, F16_SUB_MAX, 0x2e66] {
            for &n in &[256usize, 512, 4096] {
                let mut w = rng.bytes(ty.row_bytes(n).unwrap());
                for blk in w.chunks_exact_mut(ty.block_bytes()) {
                    if ty == QuantType::IQ1_M {
                        // No scale field: its f16 is the top nibbles of the 4 scale words.
                        for k in 0..4 {
                            let nib = ((d >> (4 * k)) & 0xf) as u8;
                            blk[48 + 2 * k + 1] = (blk[48 + 2 * k + 1] & 0x0f) | (nib << 4);
                        }
                    } else {
                        blk[at..at + 2].copy_from_slice(&d.to_le_bytes());
                    }
                }
                let a = quantize(ty.vec_dot_type(), &rng.normals(n, 1.0));
                check_dot(ty, &w, &a, n, "random blocks");
            }
        }
    }
}
