//! Context shift on the paged KV cache, StreamingLLM-style (Xiao et al. 2023, "Efficient
//! Streaming Language Models with Attention Sinks"): a range of positions is dropped and every
//! later position moves down by the same delta. Keys are cached after RoPE, and RoPE at position
//! `p − d` is RoPE at `p` followed by a rotation of `−d`, so moved keys are re-rotated in place
//! instead of being recomputed; values carry no position and are copied as they are.
use super::flash::PagedSeqCache;
use super::paged::KvError;
use crate::backend::rope::Rope;

impl PagedSeqCache {
    /// Forget positions `start..start + n_drop` and move `start + n_drop..len` down to
    /// `start..`, re-rotating their keys by `−n_drop` with `rope(layer)`, the rotation that
    /// layer's keys were stored with. Positions before `start` (attention sinks, the system
    /// prompt) are untouched. Ranges past the end are clipped.
    pub fn shift_down<'r>(
        &mut self,
        start: usize,
        n_drop: usize,
        rope: impl Fn(usize) -> &'r Rope,
    ) -> Result<(), KvError> {
        let len = self.len();
        if start >= len || n_drop == 0 {
            return Ok(());
        }
        let n_drop = n_drop.min(len - start);
        let seq = self.seq();
        let n_kvh = self.cache().n_head_kv();
        let (hd, hdv) = (self.cache().head_dim(), self.cache().head_dim_v());
        let mut k = vec![0.0f32; n_kvh * hd];
        let mut v = vec![0.0f32; n_kvh * hdv];
        for src in start + n_drop..len {
            let dst = src - n_drop;
            for layer in 0..self.n_layer() {
                let rope = rope(layer);
                for h in 0..n_kvh {
                    let kh = &mut k[h * hd..(h + 1) * hd];
                    kh.copy_from_slice(&self.cache().key(seq, layer, src, h)?);
                    rope.rerotate(kh, -(n_drop as f64));
                    v[h * hdv..(h + 1) * hdv]
                        .copy_from_slice(&self.cache().value(seq, layer, src, h)?);
                }
                self.store(layer, dst, &k, &v)?;
            }
        }
        self.truncate(len - n_drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attn::paged::KvType;
    use crate::backend::rope::{RopeScaling, RopeSpec, RopeStyle};

    fn pseudo(i: usize) -> f32 {
        ((i as f32) * 0.7311).sin() * 1.5
    }

    /// Keys shifted down by `d` equal keys rotated at their new positions from the start.
    #[test]
    fn shifted_keys_equal_keys_roped_at_the_new_positions() {
        for style in [RopeStyle::Adjacent, RopeStyle::NeoX] {
            // Layer 1 rotates differently from layer 0 (YaRN, another base): each layer's keys
            // must be re-rotated with their own rotation.
            let ropes = [
                Rope::new(&RopeSpec::plain(style, 16, 10000.0)),
                Rope::new(&RopeSpec {
                    scaling: RopeScaling::Yarn {
                        factor: 4.0,
                        orig_ctx: 32,
                        ext_factor: 1.0,
                        beta_fast: 32.0,
                        beta_slow: 1.0,
                    },
                    ..RopeSpec::plain(style, 12, 1e6)
                }),
            ];
            let (n_layer, n_kvh, hd) = (2, 2, 16);
            let mut kv = PagedSeqCache::new(96, n_layer, n_kvh, hd, hd, KvType::F16).unwrap();
            let raw = |pos: usize, layer: usize| -> Vec<f32> {
                (0..n_kvh * hd)
                    .map(|i| pseudo(pos * 131 + layer * 17 + i))
                    .collect()
            };
            let roped = |pos_src: usize, pos_rot: usize, layer: usize| -> Vec<f32> {
                let mut k = raw(pos_src, layer);
                ropes[layer].apply(&mut k, hd, hd, pos_rot);
                k
            };
            let len = 70;
            for pos in 0..len {
                for layer in 0..n_layer {
                    let k = roped(pos, pos, layer);
                    let v = raw(pos + 1000, layer);
                    kv.store(layer, pos, &k, &v).unwrap();
                }
            }
            kv.advance(len).unwrap();
            let (start, d) = (4, 37);
            kv.shift_down(start, d, |l| &ropes[l]).unwrap();
            assert_eq!(kv.len(), len - d);
            for new_pos in 0..len - d {
                let src = if new_pos < start {
                    new_pos
                } else {
                    new_pos + d
                };
                for layer in 0..n_layer {
                    let want_k = roped(src, new_pos, layer);
                    let want_v = raw(src + 1000, layer);
                    for h in 0..n_kvh {
                        let k = kv.cache().key(kv.seq(), layer, new_pos, h).unwrap();
                        let v = kv.cache().value(kv.seq(), layer, new_pos, h).unwrap();
                        for (a, b) in k.iter().zip(&want_k[h * hd..(h + 1) * hd]) {
                            assert!((a - b).abs() < 4e-3, "{style:?} pos {new_pos}: {a} vs {b}");
                        }
                        for (a, b) in v.iter().zip(&want_v[h * hd..(h + 1) * hd]) {
                            assert!((a - b).abs() < 2e-3, "value moved intact");
                        }
                    }
                }
            }
            kv.cache().check_invariants().unwrap();
        }
    }

    #[test]
    fn shift_past_the_end_is_clipped_and_harmless() {
        let rope = Rope::new(&RopeSpec::plain(RopeStyle::Adjacent, 8, 10000.0));
        let mut kv = PagedSeqCache::new(32, 1, 1, 8, 8, KvType::F16).unwrap();
        for pos in 0..5 {
            kv.store(0, pos, &[1.0; 8], &[2.0; 8]).unwrap();
        }
        kv.advance(5).unwrap();
        kv.shift_down(9, 3, |_| &rope).unwrap();
        assert_eq!(kv.len(), 5);
        kv.shift_down(3, 100, |_| &rope).unwrap();
        assert_eq!(kv.len(), 3);
    }
}
