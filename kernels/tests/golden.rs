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
