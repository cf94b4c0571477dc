//! Whole models on the GPU against exact arithmetic: the GPU decodes weights exactly and keeps
//! activations f32, so on any quantized model it must match the CPU running a copy of the same
//! model whose matrices are decoded to F32 (F32 weights meet f32 activations on the CPU too).
//! Also: context shift and speculative-style truncation with the device cache.
#![cfg(feature = "wgpu")]
mod common;

use brisk::backend::QTensor;
use brisk::format::TensorBytes;
use brisk::generate::Session;
use brisk::model::{loader, Logits};
use brisk_kernels::QuantType;
use std::path::PathBuf;
use std::sync::Arc;

fn to_f32(m: &mut QTensor) {
    let mut out = Vec::with_capacity(m.rows * m.cols * 4);
    let mut row = vec![0f32; m.cols];
    for r in 0..m.rows {
        m.dequantize_row(r, &mut row);
        out.extend(row.iter().flat_map(|v| v.to_le_bytes()));
    }
    m.ty = QuantType::F32;
    m.bytes = TensorBytes::Owned(Arc::new(out));
    m.packed = None;
}

/// The largest element-wise difference of two logit vectors.
fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

fn models() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = [
        "rand-qwen3moe-mxfp4",
        "rand-gemma3-q8_0",
        "rand-qwen3-q4_k_m",
        "rand-qwen3-iq2_xs",
    ]
    .iter()
    .map(|m| common::arch_fixtures().join(format!("{m}.gguf")))
    .collect();
    if let Some(fx) = common::fixtures() {
        for m in [
            "rand-llama-256-q2_k",
            "rand-llama-256-q5_1",
            "prose-5m-q4_k_m",
        ] {
            out.push(fx.join("models").join(format!("{m}.gguf")));
        }
    }
    out
}

#[test]
fn gpu_matches_exact_f32_arithmetic() {
    for path in models() {
        let Ok(gpu) = brisk::backend::gpu::open(None) else {
            eprintln!("SKIP: no GPU adapter");
            return;
        };
        let mut exact = loader::load(&path, 1).expect("load");
        let w = &mut exact.model.weights;
        to_f32(&mut w.output);
        to_f32(&mut w.token_embd);
        for l in &mut w.layers {
            for m in l.matrices_mut() {
                to_f32(m);
            }
        }
        let mut on_gpu = loader::load(&path, 1).expect("load");
        on_gpu.model.offload(gpu, 999).expect("offload");
        let toks: Vec<u32> = (0..40u32).map(|i| 1 + (i * 37) % 200).collect();
        let n_vocab = exact.model.config.n_vocab;
        let mut a = Session::new(&exact.model, 128);
        let mut b = Session::new(&on_gpu.model, 128);
        // A prompt, then decode steps through the cache.
        let mut la = a.eval(&toks[..30], Logits::All).expect("eval");
        let mut lb = b.eval(&toks[..30], Logits::All).expect("eval");
        for &t in &toks[30..] {
            la.extend(a.eval(&[t], Logits::Last).expect("eval"));
            lb.extend(b.eval(&[t], Logits::Last).expect("eval"));
        }
        let scale = la.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = max_abs_diff(&la, &lb);
        eprintln!(
            "{}: max |Δlogit| {worst} (logits up to {scale}, vocab {n_vocab})",
            path.display()
        );
        assert!(
            worst <= 1e-3 * scale.max(1.0),
            "{}: {worst}",
            path.display()
        );
    }
}

#[test]
fn context_shift_and_truncation_keep_the_device_cache_in_step() {
    let path = common::arch_fixtures().join("rand-llama3.gguf");
    let Ok(gpu) = brisk::backend::gpu::open(None) else {
        eprintln!("SKIP: no GPU adapter");
        return;
    };
    let cpu = loader::load(&path, 1).expect("load");
    let mut split = loader::load(&path, 1).expect("load");
    let n_layer = split.model.config.n_layer;
    split.model.offload(gpu, n_layer / 2 + 1).expect("offload");
    let toks: Vec<u32> = (0..48u32).map(|i| 2 + (i * 53) % 300).collect();
    let run = |m: &brisk::model::Model| {
        let mut s = Session::new(m, 64);
        let mut out = Vec::new();
        s.eval(&toks[..40], Logits::Last).expect("eval");
        s.truncate(36);
        s.eval(&toks[36..44], Logits::Last).expect("eval");
        s.shift(4, 10);
        out.extend(s.eval(&toks[44..], Logits::All).expect("eval"));
        out
    };
    let (a, b) = (run(&cpu.model), run(&split.model));
    let worst = max_abs_diff(&a, &b);
    assert!(
        worst < 0.01,
        "after truncate and shift, CPU and -ngl differ by {worst}"
    );
}

/// The real Qwen2.5-Coder-0.5B (`scripts/fetch-qwen-coder.sh`) with every layer on the GPU
/// writes the CPU's greedy text.
#[test]
fn real_qwen_coder_on_the_gpu_writes_the_cpus_greedy_text() {
    let path = common::models_cache().join("qwen2.5-coder-0.5b-instruct.gguf");
    if !path.is_file() {
        eprintln!(
            "SKIP: {} is absent (scripts/fetch-qwen-coder.sh)",
            path.display()
        );
        return;
    }
    let Ok(gpu) = brisk::backend::gpu::open(None) else {
        eprintln!("SKIP: no GPU adapter");
        return;
    };
    let cpu = loader::load(&path, 2).expect("load");
    let mut dev = loader::load(&path, 2).expect("load");
    dev.model.offload(gpu, 99).expect("offload");
    let prompt = cpu.tokenizer.encode(
        "Write a Python function that checks whether a number is prime.",
        true,
        true,
    );
    let greedy = |lm: &loader::LoadedModel| {
        let mut s = Session::new(&lm.model, 256);
        let mut logits = s.eval(&prompt, Logits::Last).expect("prefill");
        let mut out = Vec::new();
        for _ in 0..20 {
            let next = brisk::generate::sampler::argmax(&logits);
            out.push(next);
            logits = s.eval(&[next], Logits::Last).expect("decode");
        }
        let bytes: Vec<u8> = out
            .iter()
            .flat_map(|&t| lm.tokenizer.token_to_piece(t, false))
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let (a, b) = (greedy(&cpu), greedy(&dev));
    assert_eq!(a, b, "CPU and -ngl 99 greedy texts differ");
    assert!(a.contains("prime"), "{a}");
}

/// A prompt larger than the device takes at once runs as sub-batches with the same logits.
#[test]
fn batches_beyond_the_device_limits_run_in_sub_batches() {
    let path = common::arch_fixtures().join("rand-qwen3moe.gguf");
    let (Ok(g1), Ok(g2)) = (
        brisk::backend::gpu::open(None),
        brisk::backend::gpu::open(None),
    ) else {
        eprintln!("SKIP: no GPU adapter");
        return;
    };
    let mut whole = loader::load(&path, 1).expect("load");
    whole.model.offload(g1, 999).expect("offload");
    let mut split = loader::load(&path, 1).expect("load");
    split.model.offload(g2, 999).expect("offload");
    let n_vocab = split.model.config.n_vocab;
    let off = split.model.offload.as_ref().expect("offloaded");
    let toks: Vec<u32> = (0..37u32).map(|i| 1 + (i * 29) % 400).collect();
    for want in [Logits::All, Logits::Last, Logits::From(20)] {
        let a = Session::new(&whole.model, 64)
            .eval(&toks, want)
            .expect("eval");
        let mut s = Session::new(&split.model, 64);
        // Room for 7 rows of logits per binding: 37 tokens run as 6 sub-batches.
        off.gpu.cap_binding_for_tests(7 * 4 * n_vocab);
        let b = s.eval(&toks, want).expect("eval");
        off.gpu.cap_binding_for_tests(0);
        assert_eq!(a.len(), b.len(), "{want:?}");
        let worst = max_abs_diff(&a, &b);
        assert!(worst < 1e-3, "{want:?}: sub-batches differ by {worst}");
    }
}

/// A Q8_0 KV cache (`-ctk q8_0 -ctv q8_0`) on the GPU quantizes as the CPU's: a split F32 model
/// gives the CPU's logits, also after a context shift re-rotated the quantized keys.
#[test]
fn q8_0_kv_cache_on_the_gpu_matches_the_cpus() {
    use brisk::attn::paged::{KvType, KvTypes};
    let path = common::arch_fixtures().join("rand-llama3.gguf");
    let Ok(gpu) = brisk::backend::gpu::open(None) else {
        eprintln!("SKIP: no GPU adapter");
        return;
    };
    let cpu = loader::load(&path, 1).expect("load");
    let mut split = loader::load(&path, 1).expect("load");
    let n_layer = split.model.config.n_layer;
    split.model.offload(gpu, n_layer / 2 + 1).expect("offload");
    let types = KvTypes {
        k: KvType::Q8_0,
        v: KvType::Q8_0,
    };
    let toks: Vec<u32> = (0..40u32).map(|i| 3 + (i * 41) % 300).collect();
    let run = |m: &brisk::model::Model| {
        let mut s = Session::with_kv_types(m, 64, types).expect("q8_0 cache");
        let mut out = s.eval(&toks[..30], Logits::All).expect("eval");
        s.shift(2, 6);
        out.extend(s.eval(&toks[30..], Logits::All).expect("eval"));
        out
    };
    let (a, b) = (run(&cpu.model), run(&split.model));
    let worst = max_abs_diff(&a, &b);
    assert!(worst < 0.02, "q8_0 KV: CPU and -ngl differ by {worst}");
}
