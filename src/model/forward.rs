//! A model ready to run: its configuration, weights and backend, the KV caches it makes, and
//! the one forward pass of every architecture (embedding, the blocks of `blocks`, logits).
use super::blocks::{Blocks, Buffers};
use super::config::Config;
use super::weights::Weights;
use crate::attn::flash::PagedSeqCache;
use crate::attn::paged::{KvError, KvType, KvTypes};
use crate::attn::KvStore;
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
    /// The last layers (and maybe the output) on a GPU (`-ngl`).
    #[cfg(feature = "wgpu")]
    pub offload: Option<super::offload::Offload>,
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
        #[allow(unused_mut)]
        // The host part holds the CPU's layers (one, unused, when the GPU has them all).
        let mut kv = PagedSeqCache::new(
            n_ctx,
            self.cpu_layers().max(1),
            c.n_head_kv,
            c.head_dim,
            c.head_dim_v,
            types,
        )?;
        #[cfg(feature = "wgpu")]
        if let Some(off) = &self.offload {
            kv.set_device_kv(off.new_kv(c, n_ctx, types)?);
        }
        Ok(kv)
    }

    /// Run `tokens` (at positions `kv.len()..`) through the model, appending to the cache.
    /// Returns logits: `n_vocab` floats for `Logits::Last`, `tokens.len() × n_vocab` for `All`,
    /// `(tokens.len() − k) × n_vocab` for `From(k)` (none when `k ≥ tokens.len()`).
    /// The caller ensures `tokens` is non-empty, fits in the cache and holds valid ids.
    pub fn forward<C: KvStore + 'static>(
        &self,
        tokens: &[u32],
        kv: &mut C,
        want: Logits,
    ) -> Vec<f32> {
        self.forward_until(tokens, kv, want, &|| false)
            .expect("never cancelled")
    }

    /// `forward`, checking `cancelled` between layers: `None` when it said stop, with the cache
    /// left as it was before the call (its length unchanged; what the finished layers stored
    /// lies past the end and is overwritten by the next batch).
    pub fn forward_until<C: KvStore + 'static>(
        &self,
        tokens: &[u32],
        kv: &mut C,
        want: Logits,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Vec<f32>> {
        let n = tokens.len();
        let start = kv.kv_len();
        let n_ctx = kv.kv_n_ctx();
        assert!(
            n > 0 && start + n <= n_ctx,
            "forward: batch does not fit the context"
        );
        let cpu = self.cpu_blocks();
        let mut x = self.embed(tokens);
        let mut bufs = Buffers::new(&self.backend, &self.config, n);
        let on_cpu = self.cpu_layers();
        for (li, l) in self.weights.layers[..on_cpu].iter().enumerate() {
            if cancelled() {
                return None;
            }
            cpu.layer(li, l, &mut x, kv, n_ctx, start, &mut bufs);
        }
        #[cfg(feature = "wgpu")]
        if let Some(off) = &self.offload {
            let dkv = kv
                .device_kv()
                .expect("caches of an offloaded model have a device part");
            let logits = off.forward(&self.config, x, dkv, n_ctx, start, want, cancelled)?;
            kv.kv_advance(n).expect("checked against n_ctx above");
            return Some(match logits {
                Ok(logits) => logits,
                Err(x) => cpu.logits(&self.weights.output_norm, &self.weights.output, &x, n, want),
            });
        }
        kv.kv_advance(n).expect("checked against n_ctx above");
        let w = &self.weights;
        Some(cpu.logits(&w.output_norm, &w.output, &x, n, want))
    }

    /// Layers run on the CPU: all of them, or those before the GPU's.
    pub fn cpu_layers(&self) -> usize {
        #[cfg(feature = "wgpu")]
        if let Some(off) = &self.offload {
            return off.first;
        }
        self.weights.layers.len()
    }

    fn cpu_blocks(&self) -> Blocks<'_, Cpu> {
        Blocks {
            be: &self.backend,
            c: &self.config,
        }
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
    pub fn forward_layer<C: KvStore + 'static>(
        &self,
        li: usize,
        x: &mut Vec<f32>,
        kv: &mut C,
        start: usize,
    ) {
        let n = x.len() / self.config.n_embd;
        let n_ctx = kv.kv_n_ctx();
        assert!(
            n > 0 && start + n <= n_ctx,
            "forward_layer: batch does not fit the context"
        );
        let mut bufs = Buffers::new(&self.backend, &self.config, n);
        let l = &self.weights.layers[li];
        self.cpu_blocks()
            .layer(li, l, x, kv, n_ctx, start, &mut bufs);
    }
}

#[cfg(test)]
#[path = "forward_cache_tests.rs"]
mod cache_tests;
