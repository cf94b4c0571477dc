//! The model's weights: GGUF tensor names bound to typed, shape-checked `QTensor`s (zero-copy
//! views of the file) and small f32 vectors (norms, biases) decoded once at load.
use super::config::Config;
use super::ModelError;
use crate::backend::packed::PackedMatrix;
use crate::format::{TensorBytes, TensorView};
use brisk_kernels::QuantType;
use std::collections::HashMap;
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
    pub ffn_norm: Vec<f32>,   // [d]
    pub w_gate: QTensor,      // f × d
    pub w_up: QTensor,        // f × d
    pub w_down: QTensor,      // d × f
}

pub struct Weights {
    pub token_embd: QTensor,   // n_vocab × d
    pub output_norm: Vec<f32>, // [d]
    /// n_vocab × d; the embedding matrix itself when the model ties them (no `output.weight`).
    pub output: QTensor,
    pub layers: Vec<Layer>,
}

/// Looks tensors up by GGUF name and checks their shapes.
pub struct Binder {
    tensors: HashMap<String, TensorView>,
}

impl Binder {
    pub fn new(views: impl IntoIterator<Item = TensorView>) -> Binder {
        Binder {
            tensors: views.into_iter().map(|t| (t.name.clone(), t)).collect(),
        }
    }

    fn get(&self, name: &str) -> Result<&TensorView, ModelError> {
        self.tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor(name.to_string()))
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
}

impl Weights {
    pub fn bind(cfg: &Config, b: &Binder) -> Result<Weights, ModelError> {
        let d = cfg.n_embd;
        let token_embd = b.matrix("token_embd.weight", cfg.n_vocab, d)?;
        let output = if b.has("output.weight") {
            b.matrix("output.weight", cfg.n_vocab, d)?
        } else {
            token_embd.clone()
        };
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}");
            layers.push(Layer {
                attn_norm: b.vector(&n("attn_norm.weight"), d)?,
                wq: b.matrix(&n("attn_q.weight"), cfg.q_dim(), d)?,
                wk: b.matrix(&n("attn_k.weight"), cfg.kv_dim(), d)?,
                wv: b.matrix(&n("attn_v.weight"), cfg.v_dim(), d)?,
                wo: b.matrix(&n("attn_output.weight"), d, cfg.n_head * cfg.head_dim_v)?,
                bq: b.optional_vector(&n("attn_q.bias"), cfg.q_dim())?,
                bk: b.optional_vector(&n("attn_k.bias"), cfg.kv_dim())?,
                bv: b.optional_vector(&n("attn_v.bias"), cfg.v_dim())?,
                ffn_norm: b.vector(&n("ffn_norm.weight"), d)?,
                w_gate: b.matrix(&n("ffn_gate.weight"), cfg.n_ff, d)?,
                w_up: b.matrix(&n("ffn_up.weight"), cfg.n_ff, d)?,
                w_down: b.matrix(&n("ffn_down.weight"), d, cfg.n_ff)?,
            });
        }
        Ok(Weights {
            token_embd,
            output_norm: b.vector("output_norm.weight", d)?,
            output,
            layers,
        })
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
