//! The transformer's blocks written once over the backend verbs: pre-norm grouped-query
//! attention with RoPE and a gated feed-forward (Touvron et al. 2023), with what differs between
//! families taken as data from `Config` and the bound weights: q/k/v biases (Qwen2), per-head
//! Q/K norms (Qwen3, Gemma 3), post-block norms, GeGLU (Gemma), soft-capped scores (Gemma 2),
//! sliding-window layers with their own RoPE (Gemma), and mixture-of-experts feed-forwards
//! (Mixtral, Qwen3-MoE). The same code runs a layer on the CPU or on a GPU.
use super::config::Config;
use super::weights::{Ffn, Layer, Mlp, Moe};
use super::Logits;
use crate::backend::ops::softmax;
use crate::backend::{Attention, AttnShape, Backend};

/// One backend running layers of one model.
pub struct Blocks<'a, B: Attention> {
    pub be: &'a B,
    pub c: &'a Config,
}

/// Activations of one forward call, reused by every layer.
pub struct Buffers<B: Backend> {
    pub n: usize,
    h: B::Act,
    q: B::Act,
    k: B::Act,
    v: B::Act,
    /// Q and K after their per-head norms (swapped with `q` / `k`).
    q_normed: B::Act,
    k_normed: B::Act,
    att: B::Act,
    proj: B::Act,
    mlp: MlpScratch<B>,
    moe: MoeScratch<B>,
}

/// Gate, up and activation rows of one MLP call (grown to the largest call).
struct MlpScratch<B: Backend> {
    gate: B::Act,
    up: B::Act,
    act: B::Act,
}

/// Router scores, gathered token rows and outputs of the experts of one MoE call; per chosen
/// expert gate/up/activation buffers for a single token.
struct MoeScratch<B: Backend> {
    probs: B::Act,
    xe: B::Act,
    ye: B::Act,
    one: Vec<MlpScratch<B>>,
}

impl<B: Backend> MlpScratch<B> {
    fn new(be: &B) -> Self {
        MlpScratch {
            gate: be.act(0),
            up: be.act(0),
            act: be.act(0),
        }
    }
}

impl<B: Backend> Buffers<B> {
    pub fn new(be: &B, c: &Config, n: usize) -> Self {
        let z = |len: usize| be.act(n * len);
        let qk_norm = c.arch.spec().qk_norm;
        let qk = |len: usize| if qk_norm { z(len) } else { be.act(0) };
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
            mlp: MlpScratch::new(be),
            moe: MoeScratch {
                probs: be.act(0),
                xe: be.act(0),
                ye: be.act(0),
                one: Vec::new(),
            },
        }
    }
}

impl<B: Attention> Blocks<'_, B> {
    /// Layer `li` over the `b.n` rows `x` at positions `start..`: its keys and values stored in
    /// `kv`, `x` becomes the layer's output.
    #[allow(clippy::too_many_arguments)]
    pub fn layer(
        &self,
        li: usize,
        l: &Layer<B>,
        x: &mut B::Act,
        kv: &mut B::Kv,
        n_ctx: usize,
        start: usize,
        b: &mut Buffers<B>,
    ) {
        self.attention(li, l, x, kv, n_ctx, start, b);
        self.ffn(l, x, b);
    }

    /// `x += post_norm(Wo · attention(rope(norm(Q)), rope(norm(K)), V))` for one layer.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        li: usize,
        l: &Layer<B>,
        x: &mut B::Act,
        kv: &mut B::Kv,
        n_ctx: usize,
        start: usize,
        b: &mut Buffers<B>,
    ) {
        let (be, c) = (self.be, self.c);
        let (qd, kd) = (c.q_dim(), c.kv_dim());
        be.rms_norm(x, c.n_embd, &l.attn_norm, c.rms_eps, &mut b.h);
        be.matmuls(
            &b.h,
            b.n,
            &mut [(&l.wq, &mut b.q), (&l.wk, &mut b.k), (&l.wv, &mut b.v)],
        );
        for (buf, bias) in [(&mut b.q, &l.bq), (&mut b.k, &l.bk), (&mut b.v, &l.bv)] {
            if let Some(bias) = bias {
                be.add_bias(buf, bias);
            }
        }
        if let (Some(qn), Some(kn)) = (&l.q_norm, &l.k_norm) {
            be.rms_norm(&b.q, c.head_dim, qn, c.rms_eps, &mut b.q_normed);
            std::mem::swap(&mut b.q, &mut b.q_normed);
            be.rms_norm(&b.k, c.head_dim, kn, c.rms_eps, &mut b.k_normed);
            std::mem::swap(&mut b.k, &mut b.k_normed);
        }
        let rope = l.rope.for_ctx(n_ctx);
        be.rope(rope, &mut b.q, qd, c.head_dim, start);
        be.rope(rope, &mut b.k, kd, c.head_dim, start);
        be.kv_store(kv, li, start, b.n, &b.k, &b.v);
        let shape = AttnShape {
            scale: c.attn_scale,
            softcap: c.attn_softcap,
            window: l.window,
            ..AttnShape::causal(c.n_head, c.n_head_kv, c.head_dim, c.head_dim_v)
        };
        be.attend(kv, li, shape, &b.q, start, &mut b.att);
        be.matmul(&l.wo, &b.att, b.n, &mut b.proj);
        self.residual(x, &b.proj, l.post_attn_norm.as_ref(), &mut b.h);
    }

    /// `x += post_norm(FFN(norm(x)))` for one layer: one gated MLP, or the routed experts'.
    fn ffn(&self, l: &Layer<B>, x: &mut B::Act, b: &mut Buffers<B>) {
        let (be, c) = (self.be, self.c);
        be.rms_norm(x, c.n_embd, &l.ffn_norm, c.rms_eps, &mut b.h);
        match &l.ffn {
            Ffn::Dense(m) => self.mlp(m, &b.h, b.n, &mut b.mlp, &mut b.proj),
            Ffn::Moe(moe) => self.moe(moe, &b.h, b.n, &mut b.moe, &mut b.mlp, &mut b.proj),
        }
        self.residual(x, &b.proj, l.post_ffn_norm.as_ref(), &mut b.h);
    }

    /// `out = W_down · (act(W_gate · x) ⊙ W_up · x)` for `n` token rows.
    fn mlp(&self, m: &Mlp<B>, x: &B::Act, n: usize, s: &mut MlpScratch<B>, out: &mut B::Act) {
        let be = self.be;
        be.matmuls(x, n, &mut [(&m.gate, &mut s.gate), (&m.up, &mut s.up)]);
        be.glu(self.c.arch.spec().act, &s.gate, &s.up, &mut s.act);
        be.matmul(&m.down, &s.act, n, out);
    }

    /// Mixture of experts: each token's router probabilities (softmax over all experts), its
    /// top `n_used` renormalised to sum 1 (clamped as llama.cpp clamps, at f16's smallest
    /// normal); then each expert runs once over the tokens routed to it, so a decode step reads
    /// only the routed experts' weights, and a prompt reads each chosen expert once.
    fn moe(
        &self,
        moe: &Moe<B>,
        x: &B::Act,
        n: usize,
        s: &mut MoeScratch<B>,
        mlp: &mut MlpScratch<B>,
        out: &mut B::Act,
    ) {
        let be = self.be;
        let d = self.c.n_embd;
        let ne = moe.experts.len();
        be.matmul(&moe.router, x, n, &mut s.probs);
        let mut probs = be.read(&s.probs);
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
        be.resize(out, n * d);
        be.zero(out);
        if n == 1 {
            return self.moe_one_token(moe, x, &routed, s, out);
        }
        let mut rows = Vec::new();
        for (expert, tokens) in moe.experts.iter().zip(&routed) {
            if tokens.is_empty() {
                continue;
            }
            rows.clear();
            rows.extend(tokens.iter().map(|&(t, _)| t));
            be.gather_rows(x, d, &rows, &mut s.xe);
            self.mlp(expert, &s.xe, tokens.len(), mlp, &mut s.ye);
            be.add_rows_scaled(out, d, &s.ye, tokens);
        }
    }

    /// One token's routed experts: every expert's gate and up in one matmul dispatch (they share
    /// the token's activations), then each down projection weighted into `out` (zeroed).
    fn moe_one_token(
        &self,
        moe: &Moe<B>,
        x: &B::Act,
        routed: &[Vec<(usize, f32)>],
        s: &mut MoeScratch<B>,
        out: &mut B::Act,
    ) {
        let be = self.be;
        let chosen: Vec<(&Mlp<B>, f32)> = moe
            .experts
            .iter()
            .zip(routed)
            .filter_map(|(m, r)| r.first().map(|&(_, w)| (m, w)))
            .collect();
        while s.one.len() < chosen.len() {
            s.one.push(MlpScratch::new(be));
        }
        let mut jobs: Vec<(&B::Weight, &mut B::Act)> = Vec::with_capacity(2 * chosen.len());
        for ((m, _), e) in chosen.iter().zip(s.one.iter_mut()) {
            jobs.push((&m.gate, &mut e.gate));
            jobs.push((&m.up, &mut e.up));
        }
        be.matmuls(x, 1, &mut jobs);
        let act = self.c.arch.spec().act;
        for ((m, w), e) in chosen.iter().zip(s.one.iter_mut()) {
            be.glu(act, &e.gate, &e.up, &mut e.act);
            be.matmul(&m.down, &e.act, 1, &mut s.ye);
            be.add_rows_scaled(out, self.c.n_embd, &s.ye, &[(0, *w)]);
        }
    }

    /// `x += y`, with `y` RMS-normed (into `scratch`) first when the block has a post-norm.
    fn residual(
        &self,
        x: &mut B::Act,
        y: &B::Act,
        post_norm: Option<&B::Vector>,
        scratch: &mut B::Act,
    ) {
        let (be, c) = (self.be, self.c);
        match post_norm {
            Some(norm) => {
                be.rms_norm(y, c.n_embd, norm, c.rms_eps, scratch);
                be.add(x, scratch);
            }
            None => be.add(x, y),
        }
    }

    /// Final norm, output projection and soft-cap of the rows of `x` (`n` of them) the caller
    /// wants, read back to the host.
    pub fn logits(
        &self,
        output_norm: &B::Vector,
        output: &B::Weight,
        x: &B::Act,
        n: usize,
        want: Logits,
    ) -> Vec<f32> {
        let (be, c) = (self.be, self.c);
        let rows: Vec<usize> = match want {
            Logits::Last => vec![n - 1],
            Logits::All => (0..n).collect(),
            Logits::From(k) => (k.min(n)..n).collect(),
        };
        if rows.is_empty() {
            return Vec::new();
        }
        let mut picked = be.act(0);
        let x = if rows.len() == n {
            x
        } else {
            be.gather_rows(x, c.n_embd, &rows, &mut picked);
            &picked
        };
        let mut normed = be.act(0);
        be.rms_norm(x, c.n_embd, output_norm, c.rms_eps, &mut normed);
        let mut logits = be.act(0);
        be.matmul(output, &normed, rows.len(), &mut logits);
        if let Some(cap) = c.final_softcap {
            be.softcap(&mut logits, cap);
        }
        be.take(logits)
    }
}
