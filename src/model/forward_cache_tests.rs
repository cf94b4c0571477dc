//! The forward pass over the paged KV cache and tiled attention against the same forward pass over
//! the contiguous reference cache and naive attention (`attn::KvCache`, `attn::attend_one`), on a
//! trained fixture model, and the Q8_0 cache against the F16 one.
use super::*;
use crate::attn::paged::KvType;
use crate::attn::KvCache;
use crate::model::loader;
use std::path::PathBuf;

fn fixture(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/models"
    ))
    .join(name);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIP: {} is absent", p.display());
        None
    }
}

/// Deterministic token ids below `n_vocab`.
fn tokens(n: usize, n_vocab: usize, seed: u64) -> Vec<u32> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n_vocab as u64) as u32
        })
        .collect()
}

/// Largest |a − b| over the rows, relative to the largest |b| of the row.
fn max_rel_diff(a: &[f32], b: &[f32], n_vocab: usize) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f32;
    for (ra, rb) in a.chunks(n_vocab).zip(b.chunks(n_vocab)) {
        let scale = rb.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-6);
        for (x, y) in ra.iter().zip(rb) {
            worst = worst.max((x - y).abs() / scale);
        }
    }
    worst
}

/// Prefill in the given chunks, then decode `steps` tokens one at a time, through the paged cache
/// and through the contiguous reference, comparing every logit of every step relative to the
/// row's largest logit magnitude.
///
/// Tolerance: 1e-5 on the random-weight qwen2 fixture (2 layers). The trained prose-5m (6 layers,
/// peaked attention) amplifies f32 reassociation (tiled f64-summed dots and an online softmax
/// against sequential f32 sums): with the scalar table, before any block boundary, the 4th
/// position already differs by 1.1e-5, and the worst over these runs is 2.2e-4 (scalar) to 9.2e-4
/// (AVX-512), growing with position and with no jump at block boundaries; so 2e-3 there. A wrong tile, slot or mask is off by far more (the logits of
/// a different context).
#[test]
fn paged_forward_matches_contiguous_reference() {
    for (name, tol) in [
        ("rand-qwen2-gpt2-64-f16.gguf", 1e-5f32),
        ("prose-5m.gguf", 2e-3),
    ] {
        let Some(path) = fixture(name) else { return };
        let lm = loader::load(&path, 1).unwrap();
        let m = &lm.model;
        let c = &m.config;
        let bs = crate::attn::flash::DEFAULT_BLOCK_SIZE;
        // Prompts ending inside a block, on a block boundary, and a prefill split in two chunks.
        for (chunks, steps) in [(vec![45], 6), (vec![2 * bs], 3), (vec![20, 2 * bs - 9], 4)] {
            let total: usize = chunks.iter().sum::<usize>() + steps;
            let toks = tokens(total, c.n_vocab, total as u64);
            let mut paged = m.new_kv_cache(total);
            let mut flat = KvCache::new(total, c.n_layer, c.n_head_kv, c.head_dim, c.head_dim_v);
            let mut at = 0;
            let mut worst = 0.0f32;
            for &n in &chunks {
                let a = m.forward(&toks[at..at + n], &mut paged, Logits::All);
                let b = m.forward(&toks[at..at + n], &mut flat, Logits::All);
                // Position 0 attends to itself alone: bit-identical.
                if at == 0 {
                    assert_eq!(a[..c.n_vocab], b[..c.n_vocab], "{name}: position 0");
                }
                worst = worst.max(max_rel_diff(&a, &b, c.n_vocab));
                at += n;
            }
            for &t in &toks[at..] {
                let a = m.forward(&[t], &mut paged, Logits::Last);
                let b = m.forward(&[t], &mut flat, Logits::Last);
                worst = worst.max(max_rel_diff(&a, &b, c.n_vocab));
            }
            assert_eq!((paged.len(), flat.len()), (total, total));
            eprintln!(
                "{name}: paged vs contiguous, chunks {chunks:?} + {steps} steps: {worst:.2e}"
            );
            assert!(
                worst <= tol,
                "{name}, chunks {chunks:?}: relative difference {worst}"
            );
        }
    }
}

/// A Q8_0 cache (keys, values, or both) gives logits close to the F16 cache's: within 2% of the
/// logit range on a trained model over a 3-block prompt and 8 decode steps, and the same argmax
/// wherever the F16 top-1 margin exceeds that.
#[test]
fn q8_0_cache_close_to_f16() {
    let Some(path) = fixture("prose-5m.gguf") else {
        return;
    };
    let lm = loader::load(&path, 1).unwrap();
    let m = &lm.model;
    let nv = m.config.n_vocab;
    let toks = tokens(75 + 8, nv, 7);
    let run = |types: KvTypes| -> Vec<f32> {
        let mut kv = m.new_kv_cache_typed(toks.len(), types).unwrap();
        let mut out = m.forward(&toks[..75], &mut kv, Logits::All);
        for &t in &toks[75..] {
            out.extend(m.forward(&[t], &mut kv, Logits::Last));
        }
        out
    };
    let f16 = run(KvType::F16.into());
    let (f, q) = (KvType::F16, KvType::Q8_0);
    for types in [
        KvTypes { k: q, v: q },
        KvTypes { k: q, v: f },
        KvTypes { k: f, v: q },
    ] {
        let got = run(types);
        let mut worst = 0.0f32;
        for (rg, rf) in got.chunks(nv).zip(f16.chunks(nv)) {
            let (lo, hi) = rf
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &x| {
                    (l.min(x), h.max(x))
                });
            let tol = 0.02 * (hi - lo);
            let d = rg
                .iter()
                .zip(rf)
                .fold(0.0f32, |w, (a, b)| w.max((a - b).abs()));
            worst = worst.max(d / (hi - lo));
            assert!(
                d <= tol,
                "{types:?}: logits differ by {d} (range {})",
                hi - lo
            );
            let mut sorted = rf.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if sorted[0] - sorted[1] > 2.0 * tol {
                assert_eq!(
                    crate::generate::sampler::argmax(rg),
                    crate::generate::sampler::argmax(rf),
                    "{types:?}"
                );
            }
        }
        eprintln!("{types:?} vs f16: worst difference {worst:.2e} of the logit range");
    }
}

#[test]
fn q8_0_cache_rejects_head_dims_not_divisible_by_32() {
    let Some(path) = fixture("stories260K.gguf") else {
        return;
    };
    let lm = loader::load(&path, 1).unwrap();
    assert_eq!(lm.model.config.head_dim, 8);
    let err = lm.model.new_kv_cache_typed(64, KvType::Q8_0.into()).err();
    assert_eq!(err, Some(KvError::BadHeadDim(8)));
}
