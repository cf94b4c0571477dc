//! `-ngl N`: the last `N` layers of a model uploaded to a GPU (llama.cpp's meaning: with
//! `N > n_layer` the output norm and projection too), run by the same blocks as the CPU's. The
//! CPU layers run first, their output rows cross to the device once, and only logits (or, with
//! the output left on the CPU, the last layer's rows) come back.
use super::blocks::{Blocks, Buffers};
use super::config::Config;
use super::weights::{Layer, Upload};
use super::{Logits, Model, ModelError};
use crate::attn::paged::{KvError, KvType, KvTypes};
use crate::backend::gpu::{Gpu, GpuBuf, GpuError, GpuKv, GpuWeight};
use crate::backend::rope::Rope;
use crate::backend::{Backend, QTensor};

pub struct Offload {
    pub gpu: Gpu,
    /// The first layer on the GPU.
    pub first: usize,
    pub layers: Vec<Layer<Gpu>>,
    /// The output norm and projection, when the GPU holds them.
    pub output: Option<(GpuBuf, GpuWeight)>,
}

struct ToGpu<'a>(&'a Gpu);

impl Upload<Gpu> for ToGpu<'_> {
    type Error = GpuError;
    fn weight(&mut self, w: &QTensor) -> Result<GpuWeight, GpuError> {
        self.0.upload_weight(w)
    }
    fn vector(&mut self, v: &[f32]) -> Result<GpuBuf, GpuError> {
        Ok(self.0.upload_vector(v))
    }
}

impl Model {
    /// Move the last `n_gpu_layers` layers (all and the output when it exceeds the layer
    /// count) to `gpu`. The CPU's repacked copies of those layers are dropped.
    pub fn offload(&mut self, gpu: Gpu, n_gpu_layers: usize) -> Result<(), ModelError> {
        let c = &self.config;
        let n_layer = self.weights.layers.len();
        let n = n_gpu_layers.min(n_layer);
        if n_gpu_layers == 0 {
            return Ok(());
        }
        if c.head_dim_v > 256 || !c.head_dim.is_multiple_of(2) {
            return Err(ModelError::Gpu(format!(
                "the GPU attention kernel takes head dims up to 256, this model's are {}/{}",
                c.head_dim, c.head_dim_v
            )));
        }
        let first = n_layer - n;
        let gpu_err = |e: GpuError| ModelError::Gpu(e.to_string());
        let w = &self.weights;
        let (layers, output) = gpu
            .out_of_memory_checked(|| {
                let mut up = ToGpu(&gpu);
                let layers = w.layers[first..]
                    .iter()
                    .map(|l| l.upload(&mut up))
                    .collect::<Result<Vec<_>, _>>()?;
                let output = if n_gpu_layers > n_layer {
                    Some((
                        gpu.upload_vector(&w.output_norm),
                        gpu.upload_weight(&w.output)?,
                    ))
                } else {
                    None
                };
                Ok((layers, output))
            })
            .map_err(gpu_err)?;
        for l in &mut self.weights.layers[first..] {
            for m in l.matrices_mut() {
                m.packed = None;
            }
        }
        self.offload = Some(Offload {
            gpu,
            first,
            layers,
            output,
        });
        Ok(())
    }

    /// Context shift of the device part of `kv` (see `PagedSeqCache::shift_down`), before the
    /// host part moves: positions `start + n_drop..len` move down by `n_drop`.
    pub fn shift_device_kv(
        &self,
        kv: &mut crate::attn::flash::PagedSeqCache,
        start: usize,
        n_drop: usize,
    ) {
        let (Some(off), len, n_ctx) = (&self.offload, kv.len(), kv.n_ctx()) else {
            return;
        };
        if let Some(dkv) = crate::attn::KvStore::device_kv(kv) {
            let layers = &self.weights.layers;
            off.gpu
                .shift_kv(dkv, start, n_drop, len, |l| layers[l].rope.for_ctx(n_ctx));
        }
    }
}

impl Offload {
    /// The device part of a cache of `n_ctx` positions.
    pub fn new_kv(&self, c: &Config, n_ctx: usize, types: KvTypes) -> Result<GpuKv, KvError> {
        self.gpu
            .new_kv(
                n_ctx,
                self.first,
                self.layers.len(),
                (c.n_head_kv * c.head_dim, c.head_dim),
                c.n_head_kv * c.head_dim_v,
                (types.k == KvType::Q8_0, types.v == KvType::Q8_0),
            )
            .map_err(|e| KvError::Device(e.to_string()))
    }

    /// Token rows one pass of the GPU layers takes: every activation (the logits rows
    /// included) must fit one binding, and the attention grid has a row per token.
    fn max_batch(&self, c: &Config) -> usize {
        let widest = [
            c.n_embd,
            c.q_dim(),
            c.n_head * c.head_dim_v,
            c.n_ff,
            c.moe.map_or(0, |m| m.n_ff_exp.max(m.n_expert)),
            if self.output.is_some() { c.n_vocab } else { 0 },
        ]
        .into_iter()
        .max()
        .unwrap_or(1)
        .max(1);
        (self.gpu.max_binding() / (4 * widest)).clamp(1, self.gpu.max_workgroups())
    }

    /// The GPU layers over the rows `x` (the CPU layers' output), then the logits when the
    /// GPU holds the output (`Ok`), or the last layer's rows for the CPU's output (`Err`).
    /// Batches larger than the device takes run as consecutive sub-batches (causal: each sees
    /// the keys the earlier ones stored). `None` when `cancelled` said stop.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        &self,
        c: &Config,
        x: Vec<f32>,
        kv: &mut GpuKv,
        n_ctx: usize,
        start: usize,
        want: Logits,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Result<Vec<f32>, Vec<f32>>> {
        let g = &self.gpu;
        let d = c.n_embd;
        let n = x.len() / d;
        let step = self.max_batch(c);
        let blocks = Blocks { be: g, c };
        let mut gx = g.act(0);
        let mut bufs = Buffers::new(g, c, n.min(step));
        let mut out = Vec::new();
        for a in (0..n).step_by(step) {
            let b = (a + step).min(n);
            g.write(&mut gx, &x[a * d..b * d]);
            if bufs.n != b - a {
                bufs = Buffers::new(g, c, b - a);
            }
            for (i, l) in self.layers.iter().enumerate() {
                if cancelled() {
                    return None;
                }
                blocks.layer(self.first + i, l, &mut gx, kv, n_ctx, start + a, &mut bufs);
            }
            match &self.output {
                Some((norm, w)) => {
                    let part = match want {
                        Logits::Last if b < n => continue,
                        Logits::Last => Logits::Last,
                        Logits::All => Logits::All,
                        Logits::From(k) => Logits::From(k.saturating_sub(a)),
                    };
                    out.extend(blocks.logits(norm, w, &gx, b - a, part));
                }
                None => out.extend(g.read(&gx)),
            }
        }
        Some(if self.output.is_some() {
            Ok(out)
        } else {
            Err(out)
        })
    }
}

impl Gpu {
    /// Move positions `start + n_drop..len` of every layer of `kv` down by `n_drop`, keys
    /// re-rotated by `−n_drop` with `rope(layer)` (on the host: a context shift is rare).
    pub fn shift_kv<'r>(
        &self,
        kv: &mut GpuKv,
        start: usize,
        n_drop: usize,
        len: usize,
        rope: impl Fn(usize) -> &'r Rope,
    ) {
        if start >= len || n_drop == 0 {
            return;
        }
        let n_drop = n_drop.min(len - start);
        let first = kv.first_layer();
        for (i, (kb, vb)) in kv.buffers().iter().enumerate() {
            let r = rope(first + i);
            let (kq, vq) = kv.q8();
            for (buf, width, rotate, q8) in
                [(kb, kv.k_width(), true, kq), (vb, kv.v_width(), false, vq)]
            {
                let mut rows = self.read_cache(buf, len * width, q8);
                let hd = kv.head_dim();
                for src in start + n_drop..len {
                    let dst = src - n_drop;
                    let mut row = rows[src * width..(src + 1) * width].to_vec();
                    if rotate {
                        for h in row.chunks_exact_mut(hd) {
                            r.rerotate(h, -(n_drop as f64));
                        }
                    }
                    rows[dst * width..(dst + 1) * width].copy_from_slice(&row);
                }
                self.write_cache(buf, &rows[..(len - n_drop) * width], q8);
            }
        }
    }
}
