//! Attention over the KV cache: causal, grouped-query (several query heads share one K/V head,
//! read in place, never copied per head).
pub mod flash;
/// The contiguous cache and naive attention: the reference the paged cache and tiled attention
/// are tested against.
#[cfg(test)]
pub mod kv_cache;
pub mod paged;
pub mod shift;

#[cfg(test)]
pub use kv_cache::KvCache;

#[cfg(test)]
use crate::backend::ops::softmax;

/// What the forward pass needs from a KV cache: the paged cache ([`flash::PagedSeqCache`]), or
/// in tests the contiguous reference, so both run through the same model code.
pub trait KvStore {
    /// Positions stored and advanced.
    fn kv_len(&self) -> usize;
    /// Positions the cache can hold.
    fn kv_n_ctx(&self) -> usize;
    /// Store the key and value of `pos` in `layer` (all KV heads).
    fn kv_store(
        &mut self,
        layer: usize,
        pos: usize,
        k: &[f32],
        v: &[f32],
    ) -> Result<(), paged::KvError>;
    /// Attention of the query rows `q` at positions `start..start + n` into `out`.
    #[allow(clippy::too_many_arguments)]
    fn kv_attend(
        &self,
        be: &crate::backend::Cpu,
        layer: usize,
        shape: AttnShape,
        q: &[f32],
        start: usize,
        out: &mut [f32],
    ) -> Result<(), paged::KvError>;
    /// Mark `n` more positions valid.
    fn kv_advance(&mut self, n: usize) -> Result<(), paged::KvError>;
    /// The same positions of the layers a GPU runs, kept on that device (`-ngl`).
    #[cfg(feature = "wgpu")]
    fn device_kv(&mut self) -> Option<&mut crate::backend::gpu::GpuKv> {
        None
    }
}

pub use crate::backend::AttnShape;

/// Attention for one query token at absolute position `pos` in `layer`: attends to cached
/// positions `0..=pos`. `q` is `n_head × head_dim`, `out` is `n_head × head_dim_v`.
/// `scores` is scratch of at least `pos + 1` floats.
#[cfg(test)]
impl KvStore for KvCache {
    fn kv_len(&self) -> usize {
        self.len()
    }
    fn kv_n_ctx(&self) -> usize {
        self.n_ctx()
    }
    fn kv_store(
        &mut self,
        layer: usize,
        pos: usize,
        k: &[f32],
        v: &[f32],
    ) -> Result<(), paged::KvError> {
        self.store(layer, pos, k, v);
        Ok(())
    }
    /// Token by token with [`attend_one`] (the backend is not used: plain scalar loops).
    fn kv_attend(
        &self,
        _be: &crate::backend::Cpu,
        layer: usize,
        s: AttnShape,
        q: &[f32],
        start: usize,
        out: &mut [f32],
    ) -> Result<(), paged::KvError> {
        let (qd, od) = (s.n_head * s.head_dim, s.n_head * s.head_dim_v);
        let mut scores = Vec::new();
        for (t, (qt, ot)) in q.chunks_exact(qd).zip(out.chunks_exact_mut(od)).enumerate() {
            attend_one(self, layer, s, qt, start + t, &mut scores, ot);
        }
        Ok(())
    }
    fn kv_advance(&mut self, n: usize) -> Result<(), paged::KvError> {
        self.advance(n);
        Ok(())
    }
}

#[cfg(test)]
pub fn attend_one(
    kv: &KvCache,
    layer: usize,
    s: AttnShape,
    q: &[f32],
    pos: usize,
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let group = s.n_head / s.n_head_kv;
    let first = s.first_visible(pos);
    scores.resize(pos + 1 - first, 0.0);
    for h in 0..s.n_head {
        let kvh = h / group;
        let qh = &q[h * s.head_dim..(h + 1) * s.head_dim];
        for (j, sc) in scores.iter_mut().enumerate() {
            let k = kv.key(layer, first + j, kvh);
            let mut dot = 0.0f32;
            for (a, b) in qh.iter().zip(k) {
                dot += a * b;
            }
            *sc = dot * s.scale;
            if let Some(cap) = s.softcap {
                *sc = cap * (*sc / cap).tanh();
            }
        }
        softmax(scores);
        let oh = &mut out[h * s.head_dim_v..(h + 1) * s.head_dim_v];
        oh.fill(0.0);
        for (j, &p) in scores.iter().enumerate() {
            let v = kv.value(layer, first + j, kvh);
            for (o, &x) in oh.iter_mut().zip(v) {
                *o += p * x;
            }
        }
    }
}

/// The CPU's attention: the sequence's cache is any [`KvStore`] (the paged cache, or the
/// contiguous reference in tests).
impl crate::backend::Attention for crate::backend::Cpu {
    type Kv = dyn KvStore;

    fn kv_store(
        &self,
        kv: &mut Self::Kv,
        layer: usize,
        start: usize,
        n: usize,
        k: &Vec<f32>,
        v: &Vec<f32>,
    ) {
        let (kd, vd) = (k.len() / n, v.len() / n);
        for (t, (kt, vt)) in k.chunks_exact(kd).zip(v.chunks_exact(vd)).enumerate() {
            kv.kv_store(layer, start + t, kt, vt)
                .expect("positions below n_ctx are always storable");
        }
    }

    fn attend(
        &self,
        kv: &Self::Kv,
        layer: usize,
        shape: AttnShape,
        q: &Vec<f32>,
        start: usize,
        out: &mut Vec<f32>,
    ) {
        let n = q.len() / (shape.n_head * shape.head_dim);
        out.resize(n * shape.n_head * shape.head_dim_v, 0.0);
        kv.kv_attend(self, layer, shape, q, start, out)
            .expect("the batch's keys and values were stored before attending");
    }
}
