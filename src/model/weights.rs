//! The model's weights: GGUF tensor names bound to typed, shape-checked `QTensor`s (zero-copy
//! views of the file; fused QKV and gate/up matrices split into row ranges) and small f32
//! vectors (norms, biases) decoded once at load. Every tensor of the file must be bound: one
//! the model does not use is an error, never silently ignored.
use super::config::Config;
use super::ModelError;
use crate::backend::packed::PackedMatrix;
use crate::backend::rope::{LayerRope, Rope, RopeSpec};
use crate::format::{TensorBytes, TensorView};
use brisk_kernels::QuantType;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A 2-D weight matrix of any ggml type: `rows` output features, each `cols` elements long.
#[derive(Clone, Debug)]
pub struct QTensor {
    pub name: String,
    pub ty: QuantType,
    pub rows: usize,
    pub cols: usize,
    pub bytes: TensorBytes,
    /// The same matrix repacked for the kernel table's microkernels (see `model::repack`);
    /// when present, matmuls read it instead of `bytes`.
    pub packed: Option<Arc<PackedMatrix>>,
}

impl QTensor {
    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.bytes.len() / self.rows
    }

    /// The encoded bytes of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.row_bytes();
        &self.bytes.as_bytes()[r * rb..(r + 1) * rb]
    }

    /// Rows `start..start + n` as their own matrix (a part of a fused tensor), zero-copy.
    fn rows_part(&self, name: &str, start: usize, n: usize) -> QTensor {
        let rb = self.row_bytes();
        QTensor {
            name: name.to_string(),
            ty: self.ty,
            rows: n,
            cols: self.cols,
            bytes: self.bytes.slice(start * rb..(start + n) * rb),
            packed: None,
        }
    }

    /// Row `r` decoded to f32 (used for embedding lookup).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        brisk_kernels::scalar::dequantize_row(self.ty, self.row(r), &mut out[..self.cols]);
    }
}

/// One transformer block. Shapes: d = n_embd, q = n_head·head_dim, kv = n_head_kv·head_dim,
/// f = n_ff.
pub struct Layer {
    pub attn_norm: Vec<f32>,  // [d]
    pub wq: QTensor,          // q × d
    pub wk: QTensor,          // kv × d
    pub wv: QTensor,          // kv_v × d
    pub wo: QTensor,          // d × q
    pub bq: Option<Vec<f32>>, // [q] (qwen2)
    pub bk: Option<Vec<f32>>, // [kv] (qwen2)
    pub bv: Option<Vec<f32>>, // [kv_v] (qwen2)
    /// Per-head RMSNorm weights of Q and K, `[head_dim]` (qwen3, gemma3).
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    /// RMSNorm of the attention output before the residual add (gemma2/3).
    pub post_attn_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>, // [d]
    pub w_gate: QTensor,    // f × d
    pub w_up: QTensor,      // f × d
    pub w_down: QTensor,    // d × f
    /// RMSNorm of the feed-forward output before the residual add (gemma2/3).
    pub post_ffn_norm: Option<Vec<f32>>,
    /// This layer's RoPE (local layers may differ from global ones).
    pub rope: Arc<LayerRope>,
    /// Sliding-window span for local layers.
    pub window: Option<usize>,
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

    /// A vector that the architecture requires (`want`) or that must be absent (an unexpected
    /// norm would otherwise change nothing and go unnoticed).
    fn vector_if(
        &self,
        want: bool,
        name: &str,
        len: usize,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        if want {
            self.vector(name, len).map(Some)
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

/// Gate and up of one layer: two matrices, or Phi-3's `ffn_up` of 2·n_ff rows (gate first).
fn bind_gate_up(cfg: &Config, b: &Binder, i: usize) -> Result<[QTensor; 2], ModelError> {
    let n = |s: &str| format!("blk.{i}.{s}");
    let (f, d) = (cfg.n_ff, cfg.n_embd);
    if !b.has(&n("ffn_gate.weight")) && b.has(&n("ffn_up.weight")) {
        let up = b.matrix(&n("ffn_up.weight"), 2 * f, d)?;
        return Ok([
            up.rows_part(&n("ffn_up.weight[gate]"), 0, f),
            up.rows_part(&n("ffn_up.weight[up]"), f, f),
        ]);
    }
    Ok([
        b.matrix(&n("ffn_gate.weight"), f, d)?,
        b.matrix(&n("ffn_up.weight"), f, d)?,
    ])
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
    let global = if b.has("rope_factors_long.weight") || b.has("rope_factors_short.weight") {
        let short = b.vector("rope_factors_short.weight", half)?;
        let long = b.vector("rope_factors_long.weight", half)?;
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
            let [w_gate, w_up] = bind_gate_up(cfg, b, i)?;
            let local = cfg.swa_layers[i];
            layers.push(Layer {
                attn_norm: b.vector(&n("attn_norm.weight"), d)?,
                wq,
                wk,
                wv,
                wo: b.matrix(&n("attn_output.weight"), d, cfg.n_head * cfg.head_dim_v)?,
                bq: b.optional_vector(&n("attn_q.bias"), cfg.q_dim())?,
                bk: b.optional_vector(&n("attn_k.bias"), cfg.kv_dim())?,
                bv: b.optional_vector(&n("attn_v.bias"), cfg.v_dim())?,
                q_norm: b.vector_if(spec.qk_norm, &n("attn_q_norm.weight"), cfg.head_dim)?,
                k_norm: b.vector_if(spec.qk_norm, &n("attn_k_norm.weight"), cfg.head_dim)?,
                post_attn_norm: b.vector_if(
                    spec.post_norms,
                    &n("post_attention_norm.weight"),
                    d,
                )?,
                ffn_norm: b.vector(&n("ffn_norm.weight"), d)?,
                w_gate,
                w_up,
                w_down: b.matrix(&n("ffn_down.weight"), d, cfg.n_ff)?,
                post_ffn_norm: b.vector_if(spec.post_norms, &n("post_ffw_norm.weight"), d)?,
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
            output_norm: b.vector("output_norm.weight", d)?,
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

    /// Bytes of weight data read per generated token (every matrix once; the embedding row only).
    pub fn bytes_per_token(&self) -> usize {
        let mut total = self.output.bytes.len();
        for l in &self.layers {
            for m in [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down] {
                total += m.bytes.len();
            }
        }
        total
    }
}
