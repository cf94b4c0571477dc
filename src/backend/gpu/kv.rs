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
    /// Keys / values stored as Q8_0 blocks (else f16 pairs).
    pub(super) q8: (bool, bool),
    pub(super) layers: Vec<(wgpu::Buffer, wgpu::Buffer)>,
}

/// Device bytes of `n` values stored as Q8_0 blocks (`q8`) or f16 pairs.
fn stored_bytes(n: usize, q8: bool) -> usize {
    if q8 {
        n / 32 * super::kernels_wgsl::Q8_WORDS * 4
    } else {
        n * 2
    }
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

    /// Whether keys and values are stored as Q8_0.
    pub fn q8(&self) -> (bool, bool) {
        self.q8
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
    /// `k_width` (heads of `head_dim`) and `v_width` floats, keys and values as Q8_0 where
    /// `q8` says (widths then multiples of 32).
    pub fn new_kv(
        &self,
        n_ctx: usize,
        first_layer: usize,
        n_layers: usize,
        (k_width, head_dim): (usize, usize),
        v_width: usize,
        q8: (bool, bool),
    ) -> Result<GpuKv, GpuError> {
        if (q8.0 && !k_width.is_multiple_of(32)) || (q8.1 && !v_width.is_multiple_of(32)) {
            return Err(GpuError::Device(format!(
                "a q8_0 KV cache needs rows of whole 32-value blocks, this model's are {k_width}/{v_width}"
            )));
        }
        if !k_width.is_multiple_of(2) || !v_width.is_multiple_of(2) {
            return Err(GpuError::Device(format!(
                "KV rows of {k_width}/{v_width} floats cannot be stored as f16 pairs"
            )));
        }
        let (kb, vb) = (
            stored_bytes(n_ctx * k_width, q8.0),
            stored_bytes(n_ctx * v_width, q8.1),
        );
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
            q8,
            n_ctx,
            k_width,
            v_width,
            layers,
        })
    }
}

impl Gpu {
    /// The first `n` values of a cache buffer (Q8_0 blocks or f16 pairs), as f32.
    pub fn read_cache(&self, buf: &wgpu::Buffer, n: usize, q8: bool) -> Vec<f32> {
        if !q8 {
            return self.read_halves(buf, n);
        }
        let words: Vec<u32> = self
            .download(buf, n / 32 * super::kernels_wgsl::Q8_WORDS)
            .iter()
            .map(|w| w.to_bits())
            .collect();
        words
            .chunks_exact(super::kernels_wgsl::Q8_WORDS)
            .flat_map(|b| {
                let d = half::f16::from_bits(b[0] as u16).to_f32();
                b[1..]
                    .iter()
                    .flat_map(|w| w.to_le_bytes())
                    .map(move |q| q as i8 as f32 * d)
            })
            .collect()
    }

    /// Store `v` from the start of a cache buffer (as Q8_0 blocks, quantized as the kernel
    /// does, or f16 pairs).
    pub fn write_cache(&self, buf: &wgpu::Buffer, v: &[f32], q8: bool) {
        if !q8 {
            return self.write_halves(buf, v);
        }
        let mut bytes = Vec::with_capacity(v.len() / 32 * super::kernels_wgsl::Q8_WORDS * 4);
        for block in v.chunks_exact(32) {
            let amax = block.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let scale = amax / 127.0;
            let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
            bytes.extend(u32::from(half::f16::from_f32(scale).to_bits()).to_le_bytes());
            bytes.extend(
                block
                    .iter()
                    .map(|x| (x * inv).round().clamp(-127.0, 127.0) as i8 as u8),
            );
        }
        self.upload(buf, 0, &bytes);
    }

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
