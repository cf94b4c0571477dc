//! Golden vectors from gguf-py and ggml's reference quantizers (scripts/make_quant_golden.py):
//! brisk's quantized bytes and dequantized floats must match them exactly.

mod common;

use brisk_kernels::{bf16_to_f32, f16_to_f32, f32_to_bf16, f32_to_f16, scalar, QuantType};
use common::*;

const LEGACY: [QuantType; 5] = [
    QuantType::Q4_0,
    QuantType::Q4_1,
    QuantType::Q5_0,
    QuantType::Q5_1,
    QuantType::Q8_0,
];

const GGML_QUANT: [QuantType; 12] = [
    QuantType::Q4_0,
    QuantType::Q4_1,
    QuantType::Q5_0,
    QuantType::Q5_1,
    QuantType::Q8_0,
    QuantType::Q8_1,
    QuantType::Q2_K,
    QuantType::Q3_K,
    QuantType::Q4_K,
    QuantType::Q5_K,
    QuantType::Q6_K,
    QuantType::Q8_K,
];

fn quantize_golden_input(ty: QuantType) -> Vec<u8> {
    let x = read_f32("quant_input.f32");
    assert_eq!(x.len() % 256, 0);
    let mut out = vec![0u8; ty.row_bytes(x.len()).unwrap()];
    // Quantize row by row (256 elements), as a tensor would be.
    let rb = ty.row_bytes(256).unwrap();
    for (xs, o) in x.chunks_exact(256).zip(out.chunks_exact_mut(rb)) {
        scalar::quantize_row(ty, xs, o);
    }
    out
}

#[test]
fn legacy_quantize_matches_gguf_py() {
    for ty in LEGACY {
        let want = read_bytes(&format!("{}.quant.gguf.bin", ty.name().to_lowercase()));
        let got = quantize_golden_input(ty);
        if let Some(d) = first_diff(&got, &want, ty.block_bytes()) {
            panic!("{}: quantized bytes differ from gguf-py at {}", ty, d);
        }
    }
}

#[test]
fn quantize_matches_ggml_reference() {
    for ty in GGML_QUANT {
        let name = format!("{}.quant.ggml.bin", ty.name().to_lowercase());
        if !golden_path(&name).exists() {
            // Generated only where llama.cpp's source and gcc are available.
            eprintln!("skipping {}: {} not generated", ty, name);
            continue;
        }
        let want = read_bytes(&name);
        let got = quantize_golden_input(ty);
        if let Some(d) = first_diff(&got, &want, ty.block_bytes()) {
            panic!(
                "{}: quantized bytes differ from ggml's reference at {}",
                ty, d
            );
        }
    }
}

#[test]
fn dequantize_matches_gguf_py_bitwise() {
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
    for ty in types {
        let stem = ty.name().to_lowercase();
        let blocks = read_bytes(&format!("{}.dequant.blocks.bin", stem));
        let want = read_f32(&format!("{}.dequant.f32", stem));
        assert_eq!(ty.row_bytes(want.len()), Some(blocks.len()), "{}", ty);
        assert!(
            want.len() >= 16 * ty.block_len(),
            "{}: too few golden blocks",
            ty
        );
        let mut got = vec![0.0f32; want.len()];
        scalar::dequantize_row(ty, &blocks, &mut got);
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!(
                same_f32(g, w),
                "{}: element {} (block {}): {} ({:#010x}) vs gguf {} ({:#010x})",
                ty,
                i,
                i / ty.block_len(),
                g,
                g.to_bits(),
                w,
                w.to_bits()
            );
        }
    }
}

#[test]
fn f16_and_bf16_conversions_match_numpy() {
    let x = read_f32("f16.in.f32");
    let h = read_u16("f16.out.u16");
    let b = read_u16("bf16.out.u16");
    assert_eq!(x.len(), h.len());
    assert_eq!(x.len(), b.len());
    for i in 0..x.len() {
        assert_eq!(
            f32_to_f16(x[i]),
            h[i],
            "f32_to_f16({:e} = {:#010x})",
            x[i],
            x[i].to_bits()
        );
        assert_eq!(
            f32_to_bf16(x[i]),
            b[i],
            "f32_to_bf16({:#010x})",
            x[i].to_bits()
        );
    }
    let all = read_f32("f16_all.f32");
    assert_eq!(all.len(), 65536);
    for (bits, &want) in all.iter().enumerate() {
        let got = f16_to_f32(bits as u16);
        // numpy keeps signalling NaNs signalling, brisk (like `half` and F16C) quiets them.
        let ok = if want.is_nan() {
            got.is_nan() && (got.to_bits() | 0x0040_0000) == (want.to_bits() | 0x0040_0000)
        } else {
            got.to_bits() == want.to_bits()
        };
        assert!(
            ok,
            "f16_to_f32({:#06x}) = {:e}, numpy {:e}",
            bits, got, want
        );
    }
    for bits in [0u16, 0x3f80, 0x8001, 0x7f80, 0xff80, 0x7fc1] {
        let f = bf16_to_f32(bits);
        assert_eq!(f.to_bits(), (bits as u32) << 16);
        assert_eq!(f32_to_bf16(f), bits);
    }
}

#[test]
fn golden_files_are_small() {
    let dir = golden_path("");
    let total: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        total < 2 * 1024 * 1024,
        "golden vectors take {} bytes",
        total
    );
}

/// ggml's generic scalar dot products (`ggml_vec_dot_*_generic`), per 256-element row of the
/// golden weights and over all rows at once. Legacy types and Q2_K use ggml's exact f32
/// expression order, so they must match bitwise; for Q3_K…Q6_K ggml keeps 8 f32 lane partial
/// sums where brisk adds one f32 per block (see scalar/dot.rs), so those may differ by f32
/// rounding only: a few ulps of the row's Σ|block contribution|, bounded here by 1e-5 relative
/// to Σ|dequant(w)·dequant(a)|.
#[test]
fn vec_dot_matches_ggml_generic() {
    let x = read_f32("quant_input.f32");
    let act_name = "vec_dot_act.f32";
    if !golden_path(act_name).exists() {
        eprintln!("skipping: {} not generated", act_name);
        return;
    }
    let act = read_f32(act_name);
    let rows = x.len() / 256;
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
    for ty in types {
        let stem = ty.name().to_lowercase();
        let w = read_bytes(&format!("{}.quant.ggml.bin", stem));
        let want = read_f32(&format!("{}.vec_dot.ggml.f32", stem));
        assert_eq!(want.len(), rows + 1);
        let at = ty.vec_dot_type();
        let mut a = vec![0u8; at.row_bytes(act.len()).unwrap()];
        scalar::quantize_row(at, &act, &mut a);
        let (wr, ar) = (ty.row_bytes(256).unwrap(), at.row_bytes(256).unwrap());
        let bitwise = ty.block_len() == 32 || ty == QuantType::Q2_K;
        for r in 0..=rows {
            let (ws, as_, n) = if r < rows {
                (&w[r * wr..(r + 1) * wr], &a[r * ar..(r + 1) * ar], 256)
            } else {
                (&w[..], &a[..], x.len())
            };
            let got = scalar::vec_dot(ty, ws, as_, n);
            if bitwise || !want[r].is_finite() {
                assert!(
                    same_f32(got, want[r]),
                    "{} row {}: {} vs ggml {}",
                    ty,
                    r,
                    got,
                    want[r]
                );
            } else {
                let mut wd = vec![0.0f32; n];
                let mut ad = vec![0.0f32; n];
                scalar::dequantize_row(ty, ws, &mut wd);
                scalar::dequantize_row(at, as_, &mut ad);
                let abs: f64 = wd
                    .iter()
                    .zip(&ad)
                    .map(|(&p, &q)| (p * q).abs() as f64)
                    .sum();
                let diff = (got as f64 - want[r] as f64).abs();
                assert!(
                    diff <= 1e-5 * abs,
                    "{} row {}: {} vs ggml {} (Σ|w·a| {})",
                    ty,
                    r,
                    got,
                    want[r],
                    abs
                );
            }
        }
    }
}

/// The IQ, TQ and MXFP4 types: dequantization bitwise equal to gguf-py (itself checked
/// against ggml's `dequantize_row_*` when the golden script ran), and the dot product with
/// ggml-quantized activations bitwise equal to ggml's `ggml_vec_dot_*_generic`, per 256-element
/// row and over all rows — through `scalar::`, so the traits table's wiring is what is tested.
#[test]
fn iq_tq_mxfp4_types_match_ggml() {
    let read_only: Vec<QuantType> = QuantType::weights()
        .filter(|&t| t.ggml_id() >= QuantType::IQ2_XXS.ggml_id() && t != QuantType::BF16)
        .collect();
    assert_eq!(read_only.len(), 12);
    let act_all = read_f32("vec_dot_act.f32");
    for ty in read_only {
        let stem = ty.name().to_lowercase();
        let blocks = read_bytes(&format!("{}.dequant.blocks.bin", stem));
        let want = read_f32(&format!("{}.dequant.f32", stem));
        let mut got = vec![0.0f32; want.len()];
        scalar::dequantize_row(ty, &blocks, &mut got);
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!(same_f32(g, w), "{} dequant [{}]: {} vs {}", ty, i, g, w);
        }
        let vwant = read_f32(&format!("{}.vec_dot.ggml.f32", stem));
        let rows = want.len() / 256;
        assert_eq!(vwant.len(), rows + 1);
        let at = ty.vec_dot_type();
        let act = &act_all[..rows * 256];
        let mut a = vec![0u8; at.row_bytes(act.len()).unwrap()];
        scalar::quantize_row(at, act, &mut a);
        let (wr, ar) = (blocks.len() / rows, a.len() / rows);
        for r in 0..=rows {
            let (ws, as_, n) = if r < rows {
                (&blocks[r * wr..(r + 1) * wr], &a[r * ar..(r + 1) * ar], 256)
            } else {
                (&blocks[..], &a[..], rows * 256)
            };
            let g = scalar::vec_dot(ty, ws, as_, n);
            assert!(
                same_f32(g, vwant[r]),
                "{} vec_dot row {}: {} vs ggml {}",
                ty,
                r,
                g,
                vwant[r]
            );
        }
    }
}
