//! Tests of the paged KV cache: invariants under random operation sequences, copy-on-write,
//! errors, and Q8_0 storage.
#![cfg(test)]
use super::*;

/// xorshift64*: small deterministic PRNG for the property tests.
pub(crate) struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

const L: usize = 2;
const H: usize = 2;
const D: usize = 4;
const DV: usize = 3;

/// Reference model of one sequence: per position, per layer, (k, v) as stored (f16-rounded).
type Model = Vec<[(Vec<f32>, Vec<f32>); L]>;

fn check_contents(c: &PagedKvCache, live: &[(SeqId, Model)]) {
    for (s, model) in live {
        let len = c.seq_len(*s).unwrap();
        assert!(len <= model.len());
        for (pos, layers) in model.iter().enumerate().take(len) {
            for (l, (k, v)) in layers.iter().enumerate() {
                for h in 0..H {
                    assert_eq!(c.key(*s, l, pos, h).unwrap(), k[h * D..(h + 1) * D]);
                    assert_eq!(c.value(*s, l, pos, h).unwrap(), v[h * DV..(h + 1) * DV]);
                }
            }
        }
    }
}

fn round(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| f16::from_f32(v).to_f32()).collect()
}

#[test]
fn random_operations_keep_invariants_and_contents() {
    // (forks, failed reserves, writes that copied a shared block)
    let mut seen = (0, 0, 0);
    for seed in 1..=4u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let bs = [1, 2, 3, 4][seed as usize - 1];
        let mut c = PagedKvCache::new(24, bs, L, H, D, DV, KvType::F16).unwrap();
        let mut live: Vec<(SeqId, Model)> = Vec::new();
        for _ in 0..3000 {
            match rng.below(12) {
                0 if live.len() < 8 => live.push((c.new_seq(), Vec::new())),
                1 if !live.is_empty() => {
                    seen.0 += 1;
                    let i = rng.below(live.len());
                    let f = c.fork(live[i].0).unwrap();
                    let len = c.seq_len(f).unwrap();
                    let m = live[i].1[..len].to_vec();
                    live.push((f, m));
                }
                2 if !live.is_empty() => {
                    let i = rng.below(live.len());
                    c.free_seq(live.swap_remove(i).0).unwrap();
                }
                3 if !live.is_empty() => {
                    let i = rng.below(live.len());
                    let len = rng.below(live[i].1.len() + 2);
                    c.truncate(live[i].0, len).unwrap();
                    live[i].1.truncate(len);
                }
                4..=9 if !live.is_empty() => {
                    // Append n positions: reserve, store every layer, advance.
                    let i = rng.below(live.len());
                    let s = live[i].0;
                    let n = 1 + rng.below(5);
                    let free = c.n_free_blocks();
                    let growth = (c.seq_len(s).unwrap() + n)
                        .div_ceil(bs)
                        .saturating_sub(c.seq_capacity(s).unwrap() / bs);
                    match c.reserve(s, n) {
                        Err(KvError::OutOfBlocks { .. }) => {
                            seen.1 += 1;
                            assert_eq!(c.n_free_blocks(), free, "failed reserve changed state");
                        }
                        Err(e) => panic!("{e}"),
                        Ok(()) => {
                            if free - c.n_free_blocks() > growth {
                                seen.2 += 1;
                            }
                            let start = c.seq_len(s).unwrap();
                            for pos in start..start + n {
                                let entry: [(Vec<f32>, Vec<f32>); L] = std::array::from_fn(|l| {
                                    let k: Vec<f32> = (0..H * D).map(|_| rng.f32()).collect();
                                    let v: Vec<f32> = (0..H * DV).map(|_| rng.f32()).collect();
                                    let free = c.n_free_blocks();
                                    c.store(s, l, pos, &k, &v).unwrap();
                                    assert_eq!(
                                        c.n_free_blocks(),
                                        free,
                                        "store after reserve allocated"
                                    );
                                    (round(&k), round(&v))
                                });
                                live[i].1.push(entry);
                            }
                            c.advance(s, n).unwrap();
                        }
                    }
                }
                10 if !live.is_empty() => {
                    // Overwrite a valid position of one layer (copy on write if shared).
                    let i = rng.below(live.len());
                    if !live[i].1.is_empty() {
                        let pos = rng.below(live[i].1.len());
                        let l = rng.below(L);
                        let k: Vec<f32> = (0..H * D).map(|_| rng.f32()).collect();
                        let v: Vec<f32> = (0..H * DV).map(|_| rng.f32()).collect();
                        let free = c.n_free_blocks();
                        match c.store(live[i].0, l, pos, &k, &v) {
                            Ok(()) => {
                                if c.n_free_blocks() < free {
                                    seen.2 += 1;
                                }
                                live[i].1[pos][l] = (round(&k), round(&v));
                            }
                            Err(KvError::OutOfBlocks { .. }) => seen.1 += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                11 if c.n_free_blocks() < 4 && !live.is_empty() => {
                    let i = rng.below(live.len());
                    c.free_seq(live.swap_remove(i).0).unwrap();
                }
                _ => {}
            }
            c.check_invariants().unwrap();
            check_contents(&c, &live);
        }
        for (s, _) in live.drain(..) {
            c.free_seq(s).unwrap();
        }
        assert_eq!(c.n_free_blocks(), c.n_blocks());
        c.check_invariants().unwrap();
    }
    assert!(
        seen.0 > 100 && seen.1 > 100 && seen.2 > 100,
        "weak coverage: {seen:?}"
    );
}

#[test]
fn fork_shares_blocks_and_copy_on_write_isolates() {
    let mut c = PagedKvCache::new(8, 4, 1, 1, 2, 2, KvType::F16).unwrap();
    let a = c.new_seq();
    c.reserve(a, 6).unwrap();
    for p in 0..6 {
        let x = [p as f32, 0.5];
        c.store(a, 0, p, &x, &x).unwrap();
    }
    c.advance(a, 6).unwrap();
    assert_eq!(c.n_free_blocks(), 6);
    let b = c.fork(a).unwrap();
    assert_eq!(c.n_free_blocks(), 6, "fork allocates nothing");
    c.reserve(b, 1).unwrap();
    assert_eq!(
        c.n_free_blocks(),
        5,
        "writing into the shared last block copies it"
    );
    c.store(b, 0, 6, &[9.0, 9.0], &[9.0, 9.0]).unwrap();
    c.store(b, 0, 5, &[7.0, 7.0], &[7.0, 7.0]).unwrap();
    c.advance(b, 1).unwrap();
    assert_eq!(c.key(a, 0, 5, 0).unwrap(), vec![5.0, 0.5]);
    assert_eq!(c.key(b, 0, 5, 0).unwrap(), vec![7.0, 7.0]);
    assert_eq!(c.seq_len(a).unwrap(), 6);
    // The first block is still shared; storing there from `a` copies it too.
    c.store(a, 0, 0, &[3.0, 3.0], &[3.0, 3.0]).unwrap();
    assert_eq!(c.key(b, 0, 0, 0).unwrap(), vec![0.0, 0.5]);
    let blocks = c.seq_blocks(b).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[1].0, 4..7);
    let (k, v) = c.tile_f16(blocks[1].1, 0, 0).unwrap();
    assert_eq!(
        (k[2].to_f32(), k[4].to_f32(), v[1].to_f32()),
        (7.0, 9.0, 0.5)
    );
    c.check_invariants().unwrap();
    c.free_seq(a).unwrap();
    c.free_seq(b).unwrap();
    assert_eq!(c.n_free_blocks(), 8);
    assert_eq!(c.free_seq(a), Err(KvError::UnknownSeq(a)));
}

#[test]
fn out_of_blocks_and_range_errors() {
    let mut c = PagedKvCache::new(2, 4, 1, 1, 2, 2, KvType::F16).unwrap();
    let a = c.new_seq();
    assert_eq!(
        c.reserve(a, 9),
        Err(KvError::OutOfBlocks { needed: 3, free: 2 })
    );
    assert_eq!(c.n_free_blocks(), 2);
    c.reserve(a, 8).unwrap();
    assert!(matches!(c.advance(a, 9), Err(KvError::OutOfRange { .. })));
    c.advance(a, 8).unwrap();
    let b = c.new_seq();
    assert!(matches!(
        c.store(b, 0, 0, &[0.0; 2], &[0.0; 2]),
        Err(KvError::OutOfBlocks { .. })
    ));
    c.truncate(a, 3).unwrap();
    assert_eq!(c.n_free_blocks(), 1);
    c.store(b, 0, 0, &[0.0; 2], &[0.0; 2]).unwrap();
    c.check_invariants().unwrap();
    assert_eq!(
        PagedKvCache::new(1, 4, 1, 1, 16, 32, KvType::Q8_0).err(),
        Some(KvError::BadHeadDim(16))
    );
}

#[test]
fn q8_0_round_trip_within_budget() {
    let mut c = PagedKvCache::new(2, 4, 1, 2, 32, 64, KvType::Q8_0).unwrap();
    let s = c.new_seq();
    let k: Vec<f32> = (0..64).map(|i| 0.1 + 2.0 * (i as f32).cos()).collect();
    let v: Vec<f32> = (0..128)
        .map(|i| 0.1 + 2.0 * (i as f32 * 0.7).sin())
        .collect();
    c.store(s, 0, 5, &k, &v).unwrap();
    c.advance(s, 6).unwrap();
    for h in 0..2 {
        let got = c.key(s, 0, 5, h).unwrap();
        for (a, b) in got.iter().zip(&k[h * 32..]) {
            assert!((a - b).abs() < 2.2 / 127.0, "{a} vs {b}");
        }
        let got = c.value(s, 0, 5, h).unwrap();
        for (a, b) in got.iter().zip(&v[h * 64..]) {
            assert!((a - b).abs() < 2.2 / 127.0, "{a} vs {b}");
        }
    }
    assert_eq!(
        PagedKvCache::memory_bytes(2, 4, 1, 2, 32, 64, KvType::Q8_0),
        2 * 4 * 2 * 96 * 34 / 32
    );
}
