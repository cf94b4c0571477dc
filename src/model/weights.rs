//! The model's weights: GGUF tensor names bound to typed, shape-checked `QTensor`s (zero-copy
//! views of the file; fused QKV and gate/up matrices split into row ranges) and small f32
//! vectors (norms, biases) decoded once at load. Every tensor of the file must be bound: one
//! the model does not use is an error, never silently ignored.
use super::config::Config;
use super::ModelError;
use crate::backend::rope::{LayerRope, Rope, RopeSpec};
use crate::backend::{Backend, Cpu};
use crate::format::TensorView;
use brisk_kernels::QuantType;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub use crate::backend::QTensor;

/// One transformer block, its matrices and vectors held by backend `B` (the CPU's are the
/// file's zero-copy views). Shapes: d = n_embd, q = n_head·head_dim, kv = n_head_kv·head_dim,
/// f = n_ff.
pub struct Layer<B: Backend = Cpu> {
    pub attn_norm: B::Vector,  // [d]
    pub wq: B::Weight,         // q × d
    pub wk: B::Weight,         // kv × d
    pub wv: B::Weight,         // kv_v × d
    pub wo: B::Weight,         // d × q
    pub bq: Option<B::Vector>, // [q] (qwen2)
    pub bk: Option<B::Vector>, // [kv] (qwen2)
    pub bv: Option<B::Vector>, // [kv_v] (qwen2)
    /// Per-head RMSNorm weights of Q and K, `[head_dim]` (qwen3, gemma3).
    pub q_norm: Option<B::Vector>,
    pub k_norm: Option<B::Vector>,
    /// RMSNorm of the attention output before the residual add (gemma2/3).
    pub post_attn_norm: Option<B::Vector>,
    pub ffn_norm: B::Vector, // [d]
    pub ffn: Ffn<B>,
    /// RMSNorm of the feed-forward output before the residual add (gemma2/3).
    pub post_ffn_norm: Option<B::Vector>,
    /// This layer's RoPE (local layers may differ from global ones).
    pub rope: Arc<LayerRope>,
    /// Sliding-window span for local layers.
    pub window: Option<usize>,
}

/// A gated feed-forward: `down · (act(gate · x) ⊙ up · x)`.
pub struct Mlp<B: Backend = Cpu> {
    pub gate: B::Weight, // f × d
    pub up: B::Weight,   // f × d
    pub down: B::Weight, // d × f
}

/// Mixture of experts (Mixtral, Qwen3-MoE): a router picks `n_used` of the experts per token
/// (softmax over all, top-k, weights renormalised to sum 1, as llama.cpp's `build_moe_ffn`).
pub struct Moe<B: Backend = Cpu> {
    /// `n_expert × d`: the router logits.
    pub router: B::Weight,
    pub experts: Vec<Mlp<B>>,
    pub n_used: usize,
}

/// A layer's feed-forward block.
pub enum Ffn<B: Backend = Cpu> {
    Dense(Mlp<B>),
    Moe(Moe<B>),
}

/// How to move a layer's tensors to another backend: one function for matrices, one for
/// vectors (they may fail: a device out of memory).
pub trait Upload<B: Backend> {
    type Error;
    fn weight(&mut self, w: &QTensor) -> Result<B::Weight, Self::Error>;
    fn vector(&mut self, v: &[f32]) -> Result<B::Vector, Self::Error>;
}

impl Layer<Cpu> {
    /// The same layer with every tensor moved by `up` (the GPU's copy of a CPU layer).
    pub fn upload<B: Backend, U: Upload<B>>(&self, up: &mut U) -> Result<Layer<B>, U::Error> {
        let mut opt = |v: &Option<Vec<f32>>| v.as_deref().map(|v| up.vector(v)).transpose();
        let (bq, bk, bv) = (opt(&self.bq)?, opt(&self.bk)?, opt(&self.bv)?);
        let (q_norm, k_norm) = (opt(&self.q_norm)?, opt(&self.k_norm)?);
        let (post_attn_norm, post_ffn_norm) =
            (opt(&self.post_attn_norm)?, opt(&self.post_ffn_norm)?);
        let mut mlp = |m: &Mlp| -> Result<Mlp<B>, U::Error> {
            Ok(Mlp {
                gate: up.weight(&m.gate)?,
                up: up.weight(&m.up)?,
                down: up.weight(&m.down)?,
            })
        };
        let ffn = match &self.ffn {
            Ffn::Dense(m) => Ffn::Dense(mlp(m)?),
            Ffn::Moe(moe) => Ffn::Moe(Moe {
                experts: moe.experts.iter().map(&mut mlp).collect::<Result<_, _>>()?,
                router: up.weight(&moe.router)?,
                n_used: moe.n_used,
            }),
        };
        Ok(Layer {
            attn_norm: up.vector(&self.attn_norm)?,
            wq: up.weight(&self.wq)?,
            wk: up.weight(&self.wk)?,
            wv: up.weight(&self.wv)?,
            wo: up.weight(&self.wo)?,
            bq,
            bk,
            bv,
            q_norm,
            k_norm,
            post_attn_norm,
            ffn_norm: up.vector(&self.ffn_norm)?,
            ffn,
            post_ffn_norm,
            rope: self.rope.clone(),
            window: self.window,
        })
    }
}

impl Layer {
    /// Every weight matrix of the layer (attention, then feed-forward; experts in order).
    pub fn matrices(&self) -> Vec<&QTensor> {
        let mut out = vec![&self.wq, &self.wk, &self.wv, &self.wo];
        match &self.ffn {
            Ffn::Dense(m) => out.extend([&m.gate, &m.up, &m.down]),
            Ffn::Moe(moe) => {
                out.push(&moe.router);
                for m in &moe.experts {
                    out.extend([&m.gate, &m.up, &m.down]);
                }
            }
        }
        out
    }

    /// [`Layer::matrices`], mutable (repacking).
    pub fn matrices_mut(&mut self) -> Vec<&mut QTensor> {
        let mut out = vec![&mut self.wq, &mut self.wk, &mut self.wv, &mut self.wo];
        match &mut self.ffn {
            Ffn::Dense(m) => out.extend([&mut m.gate, &mut m.up, &mut m.down]),
            Ffn::Moe(moe) => {
                out.push(&mut moe.router);
                for m in &mut moe.experts {
                    out.extend([&mut m.gate, &mut m.up, &mut m.down]);
                }
            }
        }
        out
    }

    /// Weight bytes one token reads in this layer: the routed experts' share of the experts.
    fn bytes_per_token(&self) -> usize {
        let attn: usize = [&self.wq, &self.wk, &self.wv, &self.wo]
            .iter()
            .map(|m| m.bytes.len())
            .sum();
        let mlp = |m: &Mlp| m.gate.bytes.len() + m.up.bytes.len() + m.down.bytes.len();
        attn + match &self.ffn {
            Ffn::Dense(m) => mlp(m),
            Ffn::Moe(moe) => {
                let all: usize = moe.experts.iter().map(mlp).sum();
                moe.router.bytes.len() + all * moe.n_used / moe.experts.len()
            }
        }
    }
}

pub struct Weights {
    pub token_embd: QTensor,   // n_vocab × d
    pub output_norm: Vec<f32>, // [d]
    /// n_vocab × d; the embedding matrix itself when the model ties them (no `output.weight`).
    pub output: QTensor,
    pub layers: Vec<Layer>,
}

/// Looks tensors up by GGUF name, checks their shapes, and remembers which were taken.
pub struct Binder {
    tensors: HashMap<String, TensorView>,
    bound: RefCell<HashSet<String>>,
}

impl Binder {
    pub fn new(views: impl IntoIterator<Item = TensorView>) -> Binder {
        Binder {
            tensors: views.into_iter().map(|t| (t.name.clone(), t)).collect(),
            bound: RefCell::new(HashSet::new()),
        }
    }

    fn get(&self, name: &str) -> Result<&TensorView, ModelError> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_string()))?;
        self.bound.borrow_mut().insert(name.to_string());
        Ok(t)
    }

    /// A matrix of `rows` × `cols` (ggml dims `[cols, rows]`).
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<QTensor, ModelError> {
        let t = self.get(name)?;
        let dims: Vec<u64> = t.dims.iter().copied().filter(|&d| d != 1).collect();
        let ok = t.dims.len() >= 2
            && t.dims[0] == cols as u64
            && t.dims[1] == rows as u64
            && t.dims[2..].iter().all(|&d| d == 1);
        if !ok {
            return Err(ModelError::Shape(format!(
                "tensor '{name}' has dims {:?} ({dims:?} without ones), expected [{cols}, {rows}]",
                t.dims
            )));
        }
        if matches!(t.ty, QuantType::Q8_1 | QuantType::Q8_K) {
            return Err(ModelError::Unsupported(format!(
                "tensor '{name}' has type {}, which is not a weight type",
                t.ty.name()
            )));
        }
        Ok(QTensor {
            name: name.to_string(),
            ty: t.ty,
            rows,
            cols,
            bytes: t.bytes.clone(),
            packed: None,
        })
    }

    /// A 3-D stack of `n` matrices of `rows` × `cols` (ggml dims `[cols, rows, n]`), each
    /// expert a zero-copy part of the stack.
    pub fn experts(
        &self,
        name: &str,
        n: usize,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<QTensor>, ModelError> {
        if !self.has(name) {
            // A Hugging Face checkpoint: one tensor per expert (`….ffn_gate_exps.E.weight`).
            let base = name.strip_suffix(".weight").unwrap_or(name);
            return (0..n)
                .map(|e| self.matrix(&format!("{base}.{e}.weight"), rows, cols))
                .collect();
        }
        let t = self.get(name)?;
        if t.dims.len() != 3 || t.dims[..] != [cols as u64, rows as u64, n as u64] {
            return Err(ModelError::Shape(format!(
                "tensor '{name}' has dims {:?}, expected [{cols}, {rows}, {n}]",
                t.dims
            )));
        }
        if matches!(t.ty, QuantType::Q8_1 | QuantType::Q8_K) {
            return Err(ModelError::Unsupported(format!(
                "tensor '{name}' has type {}, which is not a weight type",
                t.ty.name()
            )));
        }
        let stack = QTensor {
            name: name.to_string(),
            ty: t.ty,
            rows: rows * n,
            cols,
            bytes: t.bytes.clone(),
            packed: None,
        };
        Ok((0..n)
            .map(|e| stack.rows_part(&format!("{name}[{e}]"), e * rows, rows))
            .collect())
    }

    /// A vector of `len` elements decoded to f32.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let t = self.get(name)?;
        let n: u64 = t.dims.iter().product();
        if n != len as u64 || t.dims[0] != len as u64 {
            return Err(ModelError::Shape(format!(
                "tensor '{name}' has dims {:?}, expected [{len}]",
                t.dims
            )));
        }
        let mut out = vec![0.0; len];
        brisk_kernels::scalar::dequantize_row(t.ty, t.bytes.as_bytes(), &mut out);
        Ok(out)
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn optional_vector(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>, ModelError> {
        if self.has(name) {
            self.vector(name, len).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A norm's weights; `plus_one` adds the 1 of Gemma's `1 + w` (HF checkpoints).
    fn norm(&self, name: &str, len: usize, plus_one: bool) -> Result<Vec<f32>, ModelError> {
        let mut w = self.vector(name, len)?;
        // Cheap and decisive: a non-finite norm weight turns every activation after it to NaN.
        if let Some(bad) = w.iter().find(|x| !x.is_finite()) {
            return Err(ModelError::Metadata(format!(
                "tensor '{name}' holds {bad}: the file is corrupt"
            )));
        }
        if plus_one {
            w.iter_mut().for_each(|x| *x += 1.0);
        }
        Ok(w)
    }

    /// A norm that the architecture requires (`want`) or that must be absent (an unexpected
    /// norm is then reported as an unbound tensor, never silently ignored).
    fn norm_if(
        &self,
        want: bool,
        name: &str,
        len: usize,
        plus_one: bool,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        if want {
            self.norm(name, len, plus_one).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Tensors present in the file that nothing bound, sorted.
    pub fn unbound(&self) -> Vec<String> {
        let bound = self.bound.borrow();
        let mut out: Vec<String> = self
            .tensors
            .keys()
            .filter(|k| !bound.contains(*k))
            .cloned()
            .collect();
        out.sort();
        out
    }
}

/// Q, K and V of one layer: three matrices, or one fused `attn_qkv` split by rows.
fn bind_qkv(cfg: &Config, b: &Binder, i: usize) -> Result<[QTensor; 3], ModelError> {
    let n = |s: &str| format!("blk.{i}.{s}");
    let (qd, kd, vd, d) = (cfg.q_dim(), cfg.kv_dim(), cfg.v_dim(), cfg.n_embd);
    if b.has(&n("attn_qkv.weight")) {
        let qkv = b.matrix(&n("attn_qkv.weight"), qd + kd + vd, d)?;
        return Ok([
            qkv.rows_part(&n("attn_qkv.weight[q]"), 0, qd),
            qkv.rows_part(&n("attn_qkv.weight[k]"), qd, kd),
            qkv.rows_part(&n("attn_qkv.weight[v]"), qd + kd, vd),
        ]);
    }
    Ok([
        b.matrix(&n("attn_q.weight"), qd, d)?,
        b.matrix(&n("attn_k.weight"), kd, d)?,
        b.matrix(&n("attn_v.weight"), vd, d)?,
    ])
}

/// The feed-forward of one layer: experts when the model has them; else gate, up and down, or
/// Phi-3's `ffn_up` of 2·n_ff rows (gate first) with down.
fn bind_ffn(cfg: &Config, b: &Binder, i: usize) -> Result<Ffn, ModelError> {
    let n = |s: &str| format!("blk.{i}.{s}");
    let d = cfg.n_embd;
    if let Some(moe) = &cfg.moe {
        let (ne, f) = (moe.n_expert, moe.n_ff_exp);
        let gates = b.experts(&n("ffn_gate_exps.weight"), ne, f, d)?;
        let ups = b.experts(&n("ffn_up_exps.weight"), ne, f, d)?;
        let downs = b.experts(&n("ffn_down_exps.weight"), ne, d, f)?;
        let experts = gates
            .into_iter()
            .zip(ups)
            .zip(downs)
            .map(|((gate, up), down)| Mlp { gate, up, down })
            .collect();
        return Ok(Ffn::Moe(Moe {
            router: b.matrix(&n("ffn_gate_inp.weight"), ne, d)?,
            experts,
            n_used: moe.n_used,
        }));
    }
    let f = cfg.n_ff;
    let down = b.matrix(&n("ffn_down.weight"), d, f)?;
    if !b.has(&n("ffn_gate.weight")) && b.has(&n("ffn_up.weight")) {
        let up = b.matrix(&n("ffn_up.weight"), 2 * f, d)?;
        return Ok(Ffn::Dense(Mlp {
            gate: up.rows_part(&n("ffn_up.weight[gate]"), 0, f),
            up: up.rows_part(&n("ffn_up.weight[up]"), f, f),
            down,
        }));
    }
    Ok(Ffn::Dense(Mlp {
        gate: b.matrix(&n("ffn_gate.weight"), f, d)?,
        up: b.matrix(&n("ffn_up.weight"), f, d)?,
        down,
    }))
}

/// The RoPE of global and local layers, with frequency factors from the file: Llama 3's
/// `rope_freqs`, or Phi-3's short/long longrope factors.
fn bind_ropes(cfg: &Config, b: &Binder) -> Result<(Arc<LayerRope>, Arc<LayerRope>), ModelError> {
    let half = cfg.rope.dim / 2;
    let with = |factors: Option<Vec<f32>>| -> Result<Rope, ModelError> {
        if let Some(f) = &factors {
            if let Some(bad) = f.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                return Err(ModelError::Metadata(format!(
                    "RoPE frequency factor {bad} is not a positive number"
                )));
            }
        }
        Ok(Rope::new(&RopeSpec {
            freq_factors: factors.or_else(|| cfg.rope.freq_factors.clone()),
            ..cfg.rope.clone()
        }))
    };
    let factors = if b.has("rope_factors_long.weight") || b.has("rope_factors_short.weight") {
        Some((
            b.vector("rope_factors_short.weight", half)?,
            b.vector("rope_factors_long.weight", half)?,
        ))
    } else {
        cfg.longrope.clone()
    };
    let global = if let Some((short, long)) = factors {
        LayerRope {
            short: with(Some(short))?,
            long: Some((cfg.n_ctx_orig, with(Some(long))?)),
        }
    } else {
        LayerRope::single(with(b.optional_vector("rope_freqs.weight", half)?)?)
    };
    let local = LayerRope::single(Rope::new(&cfg.rope_swa));
    Ok((Arc::new(global), Arc::new(local)))
}

impl Weights {
    pub fn bind(cfg: &Config, b: &Binder) -> Result<Weights, ModelError> {
        let spec = cfg.arch.spec();
        let p1 = cfg.norm_plus_one;
        let d = cfg.n_embd;
        let token_embd = b.matrix("token_embd.weight", cfg.n_vocab, d)?;
        let output = if b.has("output.weight") {
            b.matrix("output.weight", cfg.n_vocab, d)?
        } else {
            token_embd.clone()
        };
        let (rope_global, rope_local) = bind_ropes(cfg, b)?;
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}");
            let [wq, wk, wv] = bind_qkv(cfg, b, i)?;
            let local = cfg.swa_layers[i];
            layers.push(Layer {
                attn_norm: b.norm(&n("attn_norm.weight"), d, p1)?,
                wq,
                wk,
                wv,
                wo: b.matrix(&n("attn_output.weight"), d, cfg.n_head * cfg.head_dim_v)?,
                bq: b.optional_vector(&n("attn_q.bias"), cfg.q_dim())?,
                bk: b.optional_vector(&n("attn_k.bias"), cfg.kv_dim())?,
                bv: b.optional_vector(&n("attn_v.bias"), cfg.v_dim())?,
                q_norm: b.norm_if(spec.qk_norm, &n("attn_q_norm.weight"), cfg.head_dim, p1)?,
                k_norm: b.norm_if(spec.qk_norm, &n("attn_k_norm.weight"), cfg.head_dim, p1)?,
                post_attn_norm: b.norm_if(
                    spec.post_norms,
                    &n("post_attention_norm.weight"),
                    d,
                    p1,
                )?,
                ffn_norm: b.norm(&n("ffn_norm.weight"), d, p1)?,
                ffn: bind_ffn(cfg, b, i)?,
                post_ffn_norm: b.norm_if(spec.post_norms, &n("post_ffw_norm.weight"), d, p1)?,
                rope: if local {
                    rope_local.clone()
                } else {
                    rope_global.clone()
                },
                window: cfg.sliding_window.filter(|_| local),
            });
        }
        let weights = Weights {
            token_embd,
            output_norm: b.norm("output_norm.weight", d, p1)?,
            output,
            layers,
        };
        let unbound = b.unbound();
        if let Some(first) = unbound.first() {
            return Err(ModelError::Unsupported(format!(
                "tensor '{first}'{} is not used by brisk's {} model; running without it would \
                 give wrong output",
                if unbound.len() > 1 {
                    format!(" (and {} more)", unbound.len() - 1)
                } else {
                    String::new()
                },
                cfg.arch.name()
            )));
        }
        Ok(weights)
    }

    /// Bytes of weight data read per generated token (every matrix once, of the experts only
    /// the routed share; the embedding row only).
    pub fn bytes_per_token(&self) -> usize {
        self.output.bytes.len()
            + self
                .layers
                .iter()
                .map(Layer::bytes_per_token)
                .sum::<usize>()
    }
}
