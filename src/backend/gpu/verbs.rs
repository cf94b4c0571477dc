//! The forward pass's verbs on the GPU: each one dispatch (a matmul one per weight part) of a
//! kernel from `kernels_wgsl`, recorded into the current command encoder.
use super::context::Res;
use super::kernels_wgsl::{self as k, TOKEN_TILE};
use super::kv::GpuKv;
use super::quant_wgsl;
use super::{Gpu, GpuBuf, GpuError};
use crate::backend::rope::Rope;
use crate::backend::tensor::QTensor;
use crate::backend::verbs::{Attention, Backend, Glu};
use crate::backend::AttnShape;
use brisk_kernels::QuantType;
use half::f16;

/// A weight matrix on the device: rows in the block layout of `ty` (the file's type, or F16 for
/// types without a decoder), split into parts that each fit one binding.
pub struct GpuWeight {
    pub ty: QuantType,
    pub rows: usize,
    pub cols: usize,
    row_bytes: usize,
    /// `(first row, rows, buffer)`.
    parts: Vec<(usize, usize, wgpu::Buffer)>,
}

impl GpuWeight {
    /// Device bytes held.
    pub fn bytes(&self) -> usize {
        self.rows * self.row_bytes
    }
}

/// A row of `ty` in the layout the matmul kernel reads: float rows padded with zeros to whole
/// 32-value chunks, quantized rows as stored.
fn device_row(ty: QuantType, src: &[u8], cols: usize, out: &mut Vec<u8>) {
    let pad = cols.next_multiple_of(32);
    match ty {
        QuantType::F32 => {
            out.extend_from_slice(src);
            out.resize(out.len() + (pad - cols) * 4, 0);
        }
        QuantType::F16 | QuantType::BF16 => {
            out.extend_from_slice(src);
            out.resize(out.len() + (pad - cols) * 2, 0);
        }
        _ => out.extend_from_slice(src),
    }
}

impl Gpu {
    /// Upload `w` (rows decoded to F16 first when its type has no GPU decoder).
    pub fn upload_weight(&self, w: &QTensor) -> Result<GpuWeight, GpuError> {
        // Types without a decoder are uploaded decoded: to F16, whose range holds their
        // values, except MXFP4, whose power-of-two scales span f32's exponents.
        let ty = if quant_wgsl::decoder(w.ty).is_some() {
            w.ty
        } else if w.ty == QuantType::MXFP4 {
            QuantType::F32
        } else {
            QuantType::F16
        };
        let pad = w.cols.next_multiple_of(32);
        let row_bytes = match ty {
            QuantType::F32 => pad * 4,
            QuantType::F16 | QuantType::BF16 => pad * 2,
            _ => w.row_bytes(),
        };
        let per_part = (self.max_binding() / row_bytes.max(1)).max(1);
        let mut parts = Vec::new();
        let mut bytes = Vec::new();
        let mut decoded = vec![0f32; w.cols];
        let mut first = 0;
        while first < w.rows {
            let n = per_part.min(w.rows - first);
            bytes.clear();
            for r in first..first + n {
                if ty == w.ty {
                    device_row(ty, w.row(r), w.cols, &mut bytes);
                } else {
                    w.dequantize_row(r, &mut decoded);
                    let encoded: Vec<u8> = if ty == QuantType::F32 {
                        decoded.iter().flat_map(|v| v.to_le_bytes()).collect()
                    } else {
                        decoded
                            .iter()
                            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                            .collect()
                    };
                    device_row(ty, &encoded, w.cols, &mut bytes);
                }
            }
            let buf = self.raw(bytes.len());
            self.upload(&buf, 0, &bytes);
            parts.push((first, n, buf));
            first += n;
        }
        Ok(GpuWeight {
            ty,
            rows: w.rows,
            cols: w.cols,
            row_bytes,
            parts,
        })
    }

    /// Upload a vector of f32s.
    pub fn upload_vector(&self, v: &[f32]) -> GpuBuf {
        let mut b = self.buf(v.len());
        self.write(&mut b, v);
        b
    }

    /// One element-wise kernel over `len` items.
    fn ew(&self, name: &str, res: &[Res], len: usize, extra: &[u32]) {
        let (gx, gy, x) = self.grid(len, k::EW as usize);
        let mut p = [0u32; 16];
        p[0] = len as u32;
        p[1..1 + extra.len()].copy_from_slice(extra);
        p[15] = x;
        self.dispatch(name, || k::elementwise(name), res, &p, (gx, gy, 1));
    }
}

fn host_words(words: impl IntoIterator<Item = u32>) -> Vec<u8> {
    words.into_iter().flat_map(u32::to_le_bytes).collect()
}

impl Backend for Gpu {
    type Act = GpuBuf;
    type Weight = GpuWeight;
    type Vector = GpuBuf;

    fn act(&self, len: usize) -> GpuBuf {
        self.buf(len)
    }

    fn resize(&self, a: &mut GpuBuf, len: usize) {
        Gpu::resize(self, a, len);
    }

    fn write(&self, a: &mut GpuBuf, host: &[f32]) {
        Gpu::resize(self, a, host.len());
        let bytes: Vec<u8> = host.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.upload(a.buffer(), 0, &bytes);
    }

    fn read(&self, a: &GpuBuf) -> Vec<f32> {
        self.download(a.buffer(), a.len)
    }

    fn weight_rows(w: &GpuWeight) -> usize {
        w.rows
    }

    fn matmuls(&self, x: &GpuBuf, n: usize, jobs: &mut [(&GpuWeight, &mut GpuBuf)]) {
        for (w, out) in jobs.iter_mut() {
            Gpu::resize(self, out, n * w.rows);
            let threads = k::row_threads(w.cols);
            let key = format!("matmul_{}_{threads}", w.ty.name());
            let ty = w.ty;
            let per_group = (k::WG / threads) as usize;
            for (row0, rows, buf) in &w.parts {
                let (gx, gy, grid_x) = self.grid(*rows, per_group);
                let p = [
                    *rows as u32,
                    w.cols as u32,
                    n as u32,
                    w.row_bytes as u32,
                    w.rows as u32,
                    *row0 as u32,
                    grid_x,
                ];
                self.dispatch(
                    &key,
                    || k::matmul(ty, threads).expect("uploaded types have a decoder"),
                    &[Res::Buf(buf), Res::Buf(x.buffer()), Res::Buf(out.buffer())],
                    &p,
                    (gx, gy, (n as u32).div_ceil(TOKEN_TILE)),
                );
            }
        }
    }

    fn rms_norm(&self, x: &GpuBuf, width: usize, w: &GpuBuf, eps: f32, out: &mut GpuBuf) {
        Gpu::resize(self, out, x.len);
        let rows = x.len / width;
        let (gx, gy, grid_x) = self.grid(rows, 1);
        self.dispatch(
            "rms_norm",
            k::rms_norm,
            &[
                Res::Buf(x.buffer()),
                Res::Buf(w.buffer()),
                Res::Buf(out.buffer()),
            ],
            &[rows as u32, width as u32, eps.to_bits(), grid_x],
            (gx, gy, 1),
        );
    }

    fn add_bias(&self, x: &mut GpuBuf, bias: &GpuBuf) {
        let res = [Res::Buf(x.buffer()), Res::Buf(bias.buffer())];
        self.ew("add_bias", &res, x.len, &[bias.len as u32]);
    }

    fn add(&self, x: &mut GpuBuf, y: &GpuBuf) {
        let res = [Res::Buf(x.buffer()), Res::Buf(y.buffer())];
        self.ew("add", &res, x.len, &[]);
    }

    fn scale(&self, x: &mut GpuBuf, s: f32) {
        self.ew("scale", &[Res::Buf(x.buffer())], x.len, &[s.to_bits()]);
    }

    fn softcap(&self, x: &mut GpuBuf, cap: f32) {
        self.ew("softcap", &[Res::Buf(x.buffer())], x.len, &[cap.to_bits()]);
    }

    fn glu(&self, act: Glu, gate: &GpuBuf, up: &GpuBuf, out: &mut GpuBuf) {
        Gpu::resize(self, out, gate.len);
        let name = match act {
            Glu::Silu => "silu_mul",
            Glu::GeluTanh => "gelu_mul",
        };
        let res = [
            Res::Buf(gate.buffer()),
            Res::Buf(up.buffer()),
            Res::Buf(out.buffer()),
        ];
        self.ew(name, &res, gate.len, &[]);
    }

    fn rope(&self, rope: &Rope, x: &mut GpuBuf, width: usize, head_dim: usize, start: usize) {
        let n = x.len / width;
        let table = rope.table_rows(start, n);
        let bytes: Vec<u8> = table.iter().flat_map(|v| v.to_le_bytes()).collect();
        let half = rope.dim() / 2;
        let total = n * (width / head_dim) * half;
        let (gx, gy, grid_x) = self.grid(total, k::EW as usize);
        let mut p = [0u32; 16];
        p[..5].copy_from_slice(&[
            total as u32,
            width as u32,
            head_dim as u32,
            half as u32,
            rope.is_neox() as u32,
        ]);
        p[15] = grid_x;
        self.dispatch(
            "rope",
            k::rope,
            &[Res::Buf(x.buffer()), Res::Host(&bytes)],
            &p,
            (gx, gy, 1),
        );
    }

    fn gather_rows(&self, x: &GpuBuf, width: usize, rows: &[usize], out: &mut GpuBuf) {
        Gpu::resize(self, out, rows.len() * width);
        let idx = host_words(rows.iter().map(|&r| r as u32));
        let res = [
            Res::Buf(x.buffer()),
            Res::Host(&idx),
            Res::Buf(out.buffer()),
        ];
        self.ew("gather_rows", &res, out.len, &[width as u32]);
    }

    fn add_rows_scaled(&self, out: &mut GpuBuf, width: usize, y: &GpuBuf, rows: &[(usize, f32)]) {
        let idx = host_words(rows.iter().flat_map(|&(t, w)| [t as u32, w.to_bits()]));
        let res = [
            Res::Buf(out.buffer()),
            Res::Buf(y.buffer()),
            Res::Host(&idx),
        ];
        self.ew("add_rows_scaled", &res, rows.len() * width, &[width as u32]);
    }

    fn zero(&self, x: &mut GpuBuf) {
        Gpu::zero(self, x);
    }
}

impl Attention for Gpu {
    type Kv = GpuKv;

    fn kv_store(
        &self,
        kv: &mut GpuKv,
        layer: usize,
        start: usize,
        n: usize,
        k: &GpuBuf,
        v: &GpuBuf,
    ) {
        let (kb, vb) = &kv.layers[layer - kv.first_layer];
        for (src, dst, width, q8) in [(k, kb, kv.k_width, kv.q8.0), (v, vb, kv.v_width, kv.q8.1)] {
            // Threads: one per f16 pair, or one per Q8_0 block.
            let per = if q8 { 32 } else { 2 };
            let items = n * width / per;
            let (gx, gy, grid_x) = self.grid(items, k::EW as usize);
            let mut p = [0u32; 16];
            p[..3].copy_from_slice(&[items as u32, (width / per) as u32, start as u32]);
            p[15] = grid_x;
            let res = [Res::Buf(src.buffer()), Res::Buf(dst)];
            if q8 {
                self.dispatch("kv_store_q8", k::kv_store_q8, &res, &p, (gx, gy, 1));
            } else {
                self.dispatch("kv_store", k::kv_store, &res, &p, (gx, gy, 1));
            }
        }
    }

    fn attend(
        &self,
        kv: &GpuKv,
        layer: usize,
        s: AttnShape,
        q: &GpuBuf,
        start: usize,
        out: &mut GpuBuf,
    ) {
        let n = q.len / (s.n_head * s.head_dim);
        Gpu::resize(self, out, n * s.n_head * s.head_dim_v);
        let (kb, vb) = &kv.layers[layer - kv.first_layer];
        let p = [
            s.n_head as u32,
            s.n_head_kv as u32,
            s.head_dim as u32,
            s.head_dim_v as u32,
            start as u32,
            s.scale.to_bits(),
            s.softcap.unwrap_or(0.0).to_bits(),
            s.window.unwrap_or(0) as u32,
            (kv.k_width / 2) as u32,
            (kv.v_width / 2) as u32,
        ];
        let (kq, vq) = kv.q8;
        self.dispatch(
            &k::attention_key(kq, vq),
            || k::attention(kq, vq),
            &[
                Res::Buf(q.buffer()),
                Res::Buf(kb),
                Res::Buf(vb),
                Res::Buf(out.buffer()),
            ],
            &p,
            (s.n_head as u32, n as u32, 1),
        );
    }
}
