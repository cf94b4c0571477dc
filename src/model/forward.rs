//! The one forward pass of every architecture brisk runs: pre-norm blocks of grouped-query
//! attention with RoPE and a gated feed-forward (Touvron et al. 2023), with what differs between
//! families taken as data from `Config` and the bound weights: q/k/v biases (Qwen2), per-head
//! Q/K norms (Qwen3, Gemma 3), post-block norms, √d embedding scale and GeGLU (Gemma),
//! soft-capped scores and logits (Gemma 2), sliding-window layers with their own RoPE (Gemma),
//! RoPE frequency factors (Llama 3, Phi-3), and mixture-of-experts feed-forwards (Mixtral,
//! Qwen3-MoE).
use super::arch::Activation;
use super::config::Config;
use super::weights::{Ffn, Layer, Mlp, Moe, QTensor, Weights};
use crate::attn::flash::PagedSeqCache;
use crate::attn::paged::{KvError, KvType, KvTypes};
use crate::attn::{AttnShape, KvStore};
use crate::backend::ops::softmax;
use crate::backend::Cpu;

/// Which positions' logits the caller wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// Only the last token's (generation).
    Last,
    /// Every token's (golden tests, speculative verification).
    All,
    /// The rows of tokens `k..` of the batch (perplexity scores only a chunk's second half, and
    /// the output projection is skipped for the rest).
    From(usize),
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
    /// Returns logits: `n_vocab` floats for `Logits::Last`, `tokens.len() × n_vocab` for `All`,
    /// `(tokens.len() − k) × n_vocab` for `From(k)` (none when `k ≥ tokens.len()`).
    /// The caller ensures `tokens` is non-empty, fits in the cache and holds valid ids.
    pub fn forward<C: KvStore>(&self, tokens: &[u32], kv: &mut C, want: Logits) -> Vec<f32> {
        self.forward_until(tokens, kv, want, &|| false)
            .expect("never cancelled")
    }

    /// `forward`, checking `cancelled` between layers: `None` when it said stop, with the cache
    /// left as it was before the call (its length unchanged; what the finished layers stored
    /// lies past the end and is overwritten by the next batch).
    pub fn forward_until<C: KvStore>(
        &self,
        tokens: &[u32],
        kv: &mut C,
        want: Logits,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Vec<f32>> {
        let c = &self.config;
        let w = &self.weights;
        let n = tokens.len();
        let start = kv.kv_len();
        assert!(
            n > 0 && start + n <= kv.kv_n_ctx(),
            "forward: batch does not fit the context"
        );

        let mut x = self.embed(tokens);
        let mut bufs = Buffers::new(c, n);
        for (li, l) in w.layers.iter().enumerate() {
            if cancelled() {
                return None;
            }
            self.attention_block(li, l, &mut x, kv, start, &mut bufs);
            self.ffn_block(l, &mut x, &mut bufs);
        }
        kv.kv_advance(n).expect("checked against n_ctx above");
        Some(self.logits(&x, n, want))
    }

    /// The input rows of the first block for `tokens`: their embeddings (scaled by √d where
    /// the family scales them).
    pub fn embed(&self, tokens: &[u32]) -> Vec<f32> {
        let d = self.config.n_embd;
        let mut x = vec![0.0f32; tokens.len() * d];
        for (t, &tok) in tokens.iter().enumerate() {
            self.weights
                .token_embd
                .dequantize_row(tok as usize, &mut x[t * d..(t + 1) * d]);
        }
        if self.config.arch.spec().embed_scale {
            (self.backend.kernels.scale)(&mut x, (d as f32).sqrt());
        }
        x
    }

    /// Block `li` alone over the rows `x` of one sequence at positions `start..`: its keys and
    /// values are stored in `kv` (whose length is left as it was), `x` becomes the block's
    /// output. Calibration runs a model this way, one block over every sample at a time.
    pub fn forward_layer<C: KvStore>(&self, li: usize, x: &mut [f32], kv: &mut C, start: usize) {
        let n = x.len() / self.config.n_embd;
        assert!(
            n > 0 && start + n <= kv.kv_n_ctx(),
            "forward_layer: batch does not fit the context"
        );
        let mut bufs = Buffers::new(&self.config, n);
        let l = &self.weights.layers[li];
        self.attention_block(li, l, x, kv, start, &mut bufs);
        self.ffn_block(l, x, &mut bufs);
    }

    /// `x += post_norm(Wo · attention(rope(norm(Q)), rope(norm(K)), V))` for one layer.
    fn attention_block<C: KvStore>(
        &self,
        li: usize,
        l: &Layer,
        x: &mut [f32],
        kv: &mut C,
        start: usize,
        b: &mut Buffers,
    ) {
        let c = &self.config;
        let be = &self.backend;
        let kt = be.kernels;
        let d = c.n_embd;
        let (qd, kd, vd) = (c.q_dim(), c.kv_dim(), c.v_dim());
        self.rms_rows(x, d, &l.attn_norm, &mut b.h);
        be.matmuls(
            &b.h,
            b.n,
            &mut [(&l.wq, &mut b.q), (&l.wk, &mut b.k), (&l.wv, &mut b.v)],
        );
        for (buf, bias, dim) in [
            (&mut b.q, &l.bq, qd),
            (&mut b.k, &l.bk, kd),
            (&mut b.v, &l.bv, vd),
        ] {
            if let Some(bias) = bias {
                for row in buf.chunks_exact_mut(dim) {
                    (kt.add)(row, bias);
                }
            }
        }
        if let (Some(qn), Some(kn)) = (&l.q_norm, &l.k_norm) {
            self.rms_rows(&b.q, c.head_dim, qn, &mut b.q_normed);
            std::mem::swap(&mut b.q, &mut b.q_normed);
            self.rms_rows(&b.k, c.head_dim, kn, &mut b.k_normed);
            std::mem::swap(&mut b.k, &mut b.k_normed);
        }
        let rope = l.rope.for_ctx(kv.kv_n_ctx());
        rope.apply(&mut b.q, qd, c.head_dim, start);
        rope.apply(&mut b.k, kd, c.head_dim, start);
        for t in 0..b.n {
            kv.kv_store(
                li,
                start + t,
                &b.k[t * kd..(t + 1) * kd],
                &b.v[t * vd..(t + 1) * vd],
            )
            .expect("positions below n_ctx are always storable");
        }
        let shape = AttnShape {
            scale: c.attn_scale,
            softcap: c.attn_softcap,
            window: l.window,
            ..AttnShape::causal(c.n_head, c.n_head_kv, c.head_dim, c.head_dim_v)
        };
        kv.kv_attend(be, li, shape, &b.q, start, &mut b.att)
            .expect("the batch's keys and values were stored above");
        be.matmul(&l.wo, &b.att, b.n, &mut b.proj);
        self.residual(x, &b.proj, l.post_attn_norm.as_deref(), &mut b.h);
    }

    /// `x += post_norm(FFN(norm(x)))` for one layer: one gated MLP, or the routed experts'.
    fn ffn_block(&self, l: &Layer, x: &mut [f32], b: &mut Buffers) {
        self.rms_rows(x, self.config.n_embd, &l.ffn_norm, &mut b.h);
        match &l.ffn {
            Ffn::Dense(m) => self.mlp(m, &b.h, b.n, &mut b.mlp, &mut b.proj),
            Ffn::Moe(moe) => self.moe(moe, &b.h, b.n, &mut b.mlp, &mut b.proj),
        }
        self.residual(x, &b.proj, l.post_ffn_norm.as_deref(), &mut b.h);
    }

    /// `out = W_down · (act(W_gate · x) ⊙ W_up · x)` for `n` token rows.
    fn mlp(&self, m: &Mlp, x: &[f32], n: usize, s: &mut MlpScratch, out: &mut [f32]) {
        let be = &self.backend;
        let f = m.gate.rows;
        for buf in [&mut s.gate, &mut s.up, &mut s.act] {
            buf.resize(n * f, 0.0);
        }
        be.matmuls(x, n, &mut [(&m.gate, &mut s.gate), (&m.up, &mut s.up)]);
        let act = match self.config.arch.spec().act {
            Activation::Silu => be.kernels.silu_mul,
            Activation::GeluTanh => be.kernels.gelu_mul,
        };
        act(&s.gate, &s.up, &mut s.act);
        be.matmul(&m.down, &s.act, n, out);
    }

    /// Mixture of experts: each token's router probabilities (softmax over all experts), its
    /// top `n_used` renormalised to sum 1 (clamped as llama.cpp clamps, at f16's smallest
    /// normal); then each expert runs once over the tokens routed to it, so a decode step reads
    /// only the routed experts' weights, and a prompt reads each chosen expert once.
    fn moe(&self, moe: &Moe, x: &[f32], n: usize, s: &mut MlpScratch, out: &mut [f32]) {
        let d = self.config.n_embd;
        let ne = moe.experts.len();
        let mut probs = vec![0.0f32; n * ne];
        self.backend.matmul(&moe.router, x, n, &mut probs);
        let mut routed: Vec<Vec<(usize, f32)>> = vec![Vec::new(); ne];
        let mut order: Vec<usize> = Vec::with_capacity(ne);
        for (t, row) in probs.chunks_exact_mut(ne).enumerate() {
            softmax(row);
            order.clear();
            order.extend(0..ne);
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            let top = &order[..moe.n_used];
            let sum: f32 = top.iter().map(|&e| row[e]).sum::<f32>().max(6.103_515_6e-5);
            for &e in top {
                routed[e].push((t, row[e] / sum));
            }
        }
        out.fill(0.0);
        if n == 1 {
            return self.moe_one_token(moe, x, &routed, s, out);
        }
        let mut xe = Vec::new();
        let mut ye = Vec::new();
        for (expert, tokens) in moe.experts.iter().zip(&routed) {
            if tokens.is_empty() {
                continue;
            }
            xe.clear();
            for &(t, _) in tokens {
                xe.extend_from_slice(&x[t * d..(t + 1) * d]);
            }
            ye.resize(tokens.len() * d, 0.0);
            self.mlp(expert, &xe, tokens.len(), s, &mut ye);
            for (&(t, w), y) in tokens.iter().zip(ye.chunks_exact(d)) {
                for (o, &v) in out[t * d..(t + 1) * d].iter_mut().zip(y) {
                    *o += w * v;
                }
            }
        }
    }

    /// One token's routed experts: every expert's gate and up in one matmul dispatch (they share
    /// the token's activations), then each down projection weighted into `out` (zeroed).
    fn moe_one_token(
        &self,
        moe: &Moe,
        x: &[f32],
        routed: &[Vec<(usize, f32)>],
        s: &mut MlpScratch,
        out: &mut [f32],
    ) {
        let be = &self.backend;
        let chosen: Vec<(&Mlp, f32)> = moe
            .experts
            .iter()
            .zip(routed)
            .filter_map(|(m, r)| r.first().map(|&(_, w)| (m, w)))
            .collect();
        let f = moe.experts[0].gate.rows;
        for buf in [&mut s.gate, &mut s.up, &mut s.act] {
            buf.resize(chosen.len() * f, 0.0);
        }
        let mut jobs: Vec<(&QTensor, &mut [f32])> = Vec::with_capacity(2 * chosen.len());
        for (((m, _), g), u) in chosen
            .iter()
            .zip(s.gate.chunks_exact_mut(f))
            .zip(s.up.chunks_exact_mut(f))
        {
            jobs.push((&m.gate, g));
            jobs.push((&m.up, u));
        }
        be.matmuls(x, 1, &mut jobs);
        let act = match self.config.arch.spec().act {
            Activation::Silu => be.kernels.silu_mul,
            Activation::GeluTanh => be.kernels.gelu_mul,
        };
        act(&s.gate, &s.up, &mut s.act);
        let mut y = vec![0.0f32; out.len()];
        for ((m, w), a) in chosen.iter().zip(s.act.chunks_exact(f)) {
            be.matmul(&m.down, a, 1, &mut y);
            for (o, &v) in out.iter_mut().zip(&y) {
                *o += w * v;
            }
        }
    }

    /// RMSNorm of every `width`-wide row of `x` into `out`.
    fn rms_rows(&self, x: &[f32], width: usize, w: &[f32], out: &mut [f32]) {
        let rms_norm = self.backend.kernels.rms_norm;
        for (src, dst) in x.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
            rms_norm(src, w, self.config.rms_eps, dst);
        }
    }

    /// `x += y`, with `y` RMS-normed (into `scratch`) first when the block has a post-norm.
    fn residual(&self, x: &mut [f32], y: &[f32], post_norm: Option<&[f32]>, scratch: &mut [f32]) {
        let y = match post_norm {
            Some(norm) => {
                self.rms_rows(y, self.config.n_embd, norm, scratch);
                &*scratch
            }
            None => y,
        };
        (self.backend.kernels.add)(x, y);
    }

    /// Final norm, output projection and soft-cap for the rows the caller wants.
    fn logits(&self, x: &[f32], n: usize, want: Logits) -> Vec<f32> {
        let c = &self.config;
        let w = &self.weights;
        let d = c.n_embd;
        let rows: Vec<usize> = match want {
            Logits::Last => vec![n - 1],
            Logits::All => (0..n).collect(),
            Logits::From(k) => (k.min(n)..n).collect(),
        };
        if rows.is_empty() {
            return Vec::new();
        }
        let mut normed = vec![0.0f32; rows.len() * d];
        for (i, &t) in rows.iter().enumerate() {
            (self.backend.kernels.rms_norm)(
                &x[t * d..(t + 1) * d],
                &w.output_norm,
                c.rms_eps,
                &mut normed[i * d..(i + 1) * d],
            );
        }
        let mut logits = vec![0.0f32; rows.len() * c.n_vocab];
        self.backend
            .matmul(&w.output, &normed, rows.len(), &mut logits);
        if let Some(cap) = c.final_softcap {
            for v in logits.iter_mut() {
                *v = cap * (*v / cap).tanh();
            }
        }
        logits
    }
}

/// Activations of one forward call, reused by every layer.
struct Buffers {
    n: usize,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// Q and K after their per-head norms (swapped with `q` / `k`).
    q_normed: Vec<f32>,
    k_normed: Vec<f32>,
    att: Vec<f32>,
    proj: Vec<f32>,
    mlp: MlpScratch,
}

/// Gate, up and activation rows of one MLP call (grown to the largest call).
#[derive(Default)]
struct MlpScratch {
    gate: Vec<f32>,
    up: Vec<f32>,
    act: Vec<f32>,
}

impl Buffers {
    fn new(c: &Config, n: usize) -> Buffers {
        let z = |len: usize| vec![0.0f32; n * len];
        let qk = |len: usize| {
            if c.arch.spec().qk_norm {
                z(len)
            } else {
                Vec::new()
            }
        };
        Buffers {
            n,
            h: z(c.n_embd),
            q: z(c.q_dim()),
            k: z(c.kv_dim()),
            v: z(c.v_dim()),
            q_normed: qk(c.q_dim()),
            k_normed: qk(c.kv_dim()),
            att: z(c.n_head * c.head_dim_v),
            proj: z(c.n_embd),
            mlp: MlpScratch::default(),
        }
    }
}

#[cfg(test)]
#[path = "forward_cache_tests.rs"]
mod cache_tests;
