//! The key/value cache: for each layer, the keys and values of every position seen so far,
//! `[position][kv_head][head_dim]` contiguous, allocated once for the context size.
//!
//! Entries are rounded to f16 precision, as llama.cpp's default F16 cache stores them (this
//! brings logits 4× closer to its golden outputs); the paged F16 store replaces this layout.
//!
//! Invariant: positions `0..len` hold valid entries for every layer; the forward pass writes
//! position `len..len+n` for all layers and then calls `advance(n)`.
pub struct KvCache {
    n_ctx: usize,
    n_layer: usize,
    kv_dim: usize,
    v_dim: usize,
    head_dim: usize,
    head_dim_v: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    pub fn new(
        n_ctx: usize,
        n_layer: usize,
        n_head_kv: usize,
        head_dim: usize,
        head_dim_v: usize,
    ) -> KvCache {
        let kv_dim = n_head_kv * head_dim;
        let v_dim = n_head_kv * head_dim_v;
        KvCache {
            n_ctx,
            n_layer,
            kv_dim,
            v_dim,
            head_dim,
            head_dim_v,
            keys: (0..n_layer).map(|_| vec![0.0; n_ctx * kv_dim]).collect(),
            values: (0..n_layer).map(|_| vec![0.0; n_ctx * v_dim]).collect(),
            len: 0,
        }
    }

    /// Bytes this cache holds.
    pub fn memory_bytes(
        n_ctx: usize,
        n_layer: usize,
        n_head_kv: usize,
        head_dim: usize,
        head_dim_v: usize,
    ) -> usize {
        n_ctx * n_layer * n_head_kv * (head_dim + head_dim_v) * std::mem::size_of::<f32>()
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Number of valid positions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions still free.
    pub fn remaining(&self) -> usize {
        self.n_ctx - self.len
    }

    pub fn n_layer(&self) -> usize {
        self.n_layer
    }

    /// Store the key and value of `pos` in `layer` (all kv heads).
    pub fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let round = |x: &f32| half::f16::from_f32(*x).to_f32();
        let dst = &mut self.keys[layer][pos * self.kv_dim..(pos + 1) * self.kv_dim];
        for (d, s) in dst.iter_mut().zip(k) {
            *d = round(s);
        }
        let dst = &mut self.values[layer][pos * self.v_dim..(pos + 1) * self.v_dim];
        for (d, s) in dst.iter_mut().zip(v) {
            *d = round(s);
        }
    }

    pub fn key(&self, layer: usize, pos: usize, head: usize) -> &[f32] {
        let start = pos * self.kv_dim + head * self.head_dim;
        &self.keys[layer][start..start + self.head_dim]
    }

    pub fn value(&self, layer: usize, pos: usize, head: usize) -> &[f32] {
        let start = pos * self.v_dim + head * self.head_dim_v;
        &self.values[layer][start..start + self.head_dim_v]
    }

    /// Mark `n` more positions valid.
    pub fn advance(&mut self, n: usize) {
        assert!(self.len + n <= self.n_ctx, "KV cache overflow");
        self.len += n;
    }

    /// Forget positions from `len` on (e.g. to start over).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}
