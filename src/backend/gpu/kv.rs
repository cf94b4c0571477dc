//! One sequence's keys and values on the device for the layers the GPU runs: per layer a K and
//! a V buffer of `n_ctx` rows stored as packed f16 pairs (`pack2x16float`, so no shader-f16).
use super::{Gpu, GpuError};

pub struct GpuKv {
    /// The first model layer stored here (the GPU runs the last layers).
    pub(super) first_layer: usize,
    pub(super) n_ctx: usize,
    /// Floats per position of K and of V (all KV heads).
    pub(super) k_width: usize,
    pub(super) v_width: usize,
    pub(super) head_dim: usize,
    pub(super) layers: Vec<(wgpu::Buffer, wgpu::Buffer)>,
}

impl GpuKv {
    /// Positions the cache holds.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    pub fn first_layer(&self) -> usize {
        self.first_layer
    }

    pub fn k_width(&self) -> usize {
        self.k_width
    }

    pub fn v_width(&self) -> usize {
        self.v_width
    }

    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    /// Each layer's K and V buffers.
    pub fn buffers(&self) -> &[(wgpu::Buffer, wgpu::Buffer)] {
        &self.layers
    }

    /// Device bytes held.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|(k, v)| (k.size() + v.size()) as usize)
            .sum()
    }
}

impl Gpu {
    /// A cache of `n_ctx` positions for layers `first_layer..first_layer + n_layers`, rows of
    /// `k_width` (heads of `head_dim`) and `v_width` floats.
    pub fn new_kv(
        &self,
        n_ctx: usize,
        first_layer: usize,
        n_layers: usize,
        (k_width, head_dim): (usize, usize),
        v_width: usize,
    ) -> Result<GpuKv, GpuError> {
        if !k_width.is_multiple_of(2) || !v_width.is_multiple_of(2) {
            return Err(GpuError::Device(format!(
                "KV rows of {k_width}/{v_width} floats cannot be stored as f16 pairs"
            )));
        }
        let (kb, vb) = (n_ctx * k_width * 2, n_ctx * v_width * 2);
        if kb.max(vb) > self.max_binding() {
            return Err(GpuError::Device(format!(
                "a layer's KV cache of {n_ctx} positions ({} MiB) exceeds the device's largest \
                 buffer ({} MiB); use a smaller -c",
                kb.max(vb) >> 20,
                self.max_binding() >> 20
            )));
        }
        let layers = self.out_of_memory_checked(|| {
            Ok((0..n_layers)
                .map(|_| (self.raw(kb), self.raw(vb)))
                .collect())
        })?;
        Ok(GpuKv {
            first_layer,
            head_dim,
            n_ctx,
            k_width,
            v_width,
            layers,
        })
    }
}

impl Gpu {
    /// The first `n` f16 values of a packed-pair buffer, as f32.
    pub fn read_halves(&self, buf: &wgpu::Buffer, n: usize) -> Vec<f32> {
        let words = self.download(buf, n.div_ceil(2));
        words
            .iter()
            .flat_map(|w| {
                let b = w.to_bits();
                [b as u16, (b >> 16) as u16]
            })
            .take(n)
            .map(|h| half::f16::from_bits(h).to_f32())
            .collect()
    }

    /// Store `v` as f16 values from the start of a packed-pair buffer.
    pub fn write_halves(&self, buf: &wgpu::Buffer, v: &[f32]) {
        let bytes: Vec<u8> = v
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect();
        self.upload(buf, 0, &bytes);
    }
}
