//! The llama-family forward pass (Llama 2/3, Mistral, TinyLlama, SmolLM, and Qwen2, whose q/k/v
//! biases and NeoX RoPE come from its weights and config): pre-norm blocks of grouped-query
//! attention with RoPE and a SwiGLU feed-forward, as in Touvron et al. 2023.
use super::config::Config;
use super::weights::Weights;
use crate::attn::flash::PagedSeqCache;
use crate::attn::paged::{KvError, KvType, KvTypes};
use crate::attn::{AttnShape, KvStore};
use crate::backend::ops::rope;
use crate::backend::Cpu;

/// Which positions' logits the caller wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// Only the last token's (generation).
    Last,
    /// Every token's (perplexity, golden tests, speculative verification).
    All,
}

pub struct Model {
    pub config: Config,
    pub weights: Weights,
    pub backend: Cpu,
}

impl Model {
    /// A paged F16 KV cache for one sequence of up to `n_ctx` positions.
    pub fn new_kv_cache(&self, n_ctx: usize) -> PagedSeqCache {
        self.new_kv_cache_typed(n_ctx, KvType::F16.into())
            .expect("an F16 cache takes every validated model shape")
    }

    /// A paged KV cache storing keys and values as `types` (Q8_0 needs head dims divisible
    /// by 32: an error otherwise).
    pub fn new_kv_cache_typed(
        &self,
        n_ctx: usize,
        types: KvTypes,
    ) -> Result<PagedSeqCache, KvError> {
        let c = &self.config;
        PagedSeqCache::new(
            n_ctx,
            c.n_layer,
            c.n_head_kv,
            c.head_dim,
            c.head_dim_v,
            types,
        )
    }

    /// Run `tokens` (at positions `kv.len()..`) through the model, appending to the cache.
    /// Returns logits: `n_vocab` floats for `Logits::Last`, `tokens.len() × n_vocab` for `All`.
    /// The caller ensures `tokens` is non-empty, fits in the cache and holds valid ids.
    pub fn forward<C: KvStore>(&self, tokens: &[u32], kv: &mut C, want: Logits) -> Vec<f32> {
        let c = &self.config;
        let w = &self.weights;
        let be = &self.backend;
        let n = tokens.len();
        let d = c.n_embd;
        let start = kv.kv_len();
        assert!(
            n > 0 && start + n <= kv.kv_n_ctx(),
            "forward: batch does not fit the context"
        );

        let mut x = vec![0.0f32; n * d];
        for (t, &tok) in tokens.iter().enumerate() {
            w.token_embd
                .dequantize_row(tok as usize, &mut x[t * d..(t + 1) * d]);
        }
        let shape = AttnShape {
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: c.head_dim,
            head_dim_v: c.head_dim_v,
        };
        let (qd, kd, vd) = (c.q_dim(), c.kv_dim(), c.v_dim());
        let attn_out_dim = c.n_head * c.head_dim_v;
        let mut h = vec![0.0f32; n * d];
        let mut q = vec![0.0f32; n * qd];
        let mut k = vec![0.0f32; n * kd];
        let mut v = vec![0.0f32; n * vd];
        let mut att = vec![0.0f32; n * attn_out_dim];
        let mut proj = vec![0.0f32; n * d];
        let mut gate = vec![0.0f32; n * c.n_ff];
        let mut up = vec![0.0f32; n * c.n_ff];
        let mut act = vec![0.0f32; n * c.n_ff];
        // The element-wise ops run on the selected kernel table too.
        let kt = be.kernels;
        let rms_norm = kt.rms_norm;
        let add_assign = kt.add;

        for (li, l) in w.layers.iter().enumerate() {
            // Attention block.
            for t in 0..n {
                rms_norm(
                    &x[t * d..(t + 1) * d],
                    &l.attn_norm,
                    c.rms_eps,
                    &mut h[t * d..(t + 1) * d],
                );
            }
            be.matmuls(
                &h,
                n,
                &mut [(&l.wq, &mut q), (&l.wk, &mut k), (&l.wv, &mut v)],
            );
            for (buf, bias, dim) in [
                (&mut q, &l.bq, qd),
                (&mut k, &l.bk, kd),
                (&mut v, &l.bv, vd),
            ] {
                if let Some(b) = bias {
                    for row in buf.chunks_exact_mut(dim) {
                        add_assign(row, b);
                    }
                }
            }
            for t in 0..n {
                let pos = start + t;
                for head in q[t * qd..(t + 1) * qd].chunks_exact_mut(c.head_dim) {
                    rope(
                        head,
                        pos,
                        c.rope_dim,
                        c.rope_base,
                        c.rope_freq_scale,
                        c.rope_style,
                    );
                }
                for head in k[t * kd..(t + 1) * kd].chunks_exact_mut(c.head_dim) {
                    rope(
                        head,
                        pos,
                        c.rope_dim,
                        c.rope_base,
                        c.rope_freq_scale,
                        c.rope_style,
                    );
                }
                kv.kv_store(li, pos, &k[t * kd..(t + 1) * kd], &v[t * vd..(t + 1) * vd])
                    .expect("positions below n_ctx are always storable");
            }
            kv.kv_attend(be, li, shape, &q, start, &mut att)
                .expect("the batch's keys and values were stored above");
            be.matmul(&l.wo, &att, n, &mut proj);
            add_assign(&mut x, &proj);

            // Feed-forward block.
            for t in 0..n {
                rms_norm(
                    &x[t * d..(t + 1) * d],
                    &l.ffn_norm,
                    c.rms_eps,
                    &mut h[t * d..(t + 1) * d],
                );
            }
            be.matmuls(&h, n, &mut [(&l.w_gate, &mut gate), (&l.w_up, &mut up)]);
            (kt.silu_mul)(&gate, &up, &mut act);
            be.matmul(&l.w_down, &act, n, &mut proj);
            add_assign(&mut x, &proj);
        }
        kv.kv_advance(n).expect("checked against n_ctx above");

        let rows: Vec<usize> = match want {
            Logits::Last => vec![n - 1],
            Logits::All => (0..n).collect(),
        };
        let mut normed = vec![0.0f32; rows.len() * d];
        for (i, &t) in rows.iter().enumerate() {
            rms_norm(
                &x[t * d..(t + 1) * d],
                &w.output_norm,
                c.rms_eps,
                &mut normed[i * d..(i + 1) * d],
            );
        }
        let mut logits = vec![0.0f32; rows.len() * c.n_vocab];
        be.matmul(&w.output, &normed, rows.len(), &mut logits);
        logits
    }
}

#[cfg(test)]
#[path = "llama_cache_tests.rs"]
mod cache_tests;
