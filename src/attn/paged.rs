//! A paged key/value cache: a pool of fixed-size blocks shared by many sequences.
//!
//! Each block holds `block_size` consecutive positions of one sequence, for every layer and every
//! KV head: keys and values, each stored as f16 (llama.cpp's default F16 cache) or Q8_0
//! (`-ctk/-ctv q8_0`, 32 values share one f16 scale), independently. Keys and values live in two
//! pools indexed by the same block ids; within a block, for each layer, keys are laid out
//! `[kv_head][slot][head_dim]` (values `[kv_head][slot][head_dim_v]`), so one tile (one block,
//! one layer, one KV head) is contiguous and attention reads it in place.
//!
//! A sequence is a block table (block ids, position `p` lives in `blocks[p / block_size]`, slot
//! `p % block_size`) plus a length. Free blocks form an intrusive singly linked list threaded through
//! `next_free`. `fork` makes a new sequence sharing every block of the old one (reference count
//! + 1); writing into a shared block first copies it (copy on write).
//!
//! Invariants (checked by `check_invariants`, property-tested below):
//! 1. free + used = total: every block is either on the free list (exactly once) or has a
//!    reference count > 0, never both.
//! 2. A block's reference count equals the number of block-table entries referencing it.
//! 3. No block on the free list is referenced by any sequence.
//! 4. Copy on write never changes another sequence's view: a store into a block whose refcount is
//!    above 1 copies the block first, so only the writing sequence sees the new value.
//! 5. Positions `< seq_len` are valid (written) and lie in blocks of the table:
//!    `seq_len <= blocks.len() * block_size`.
use std::ops::Range;

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use half::vec::HalfBitsVecExt;

/// Storage type of cached keys and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvType {
    F16,
    /// Blocks of 32 values: one f16 scale and 32 signed bytes. Head dims must be multiples of 32.
    Q8_0,
}

/// Storage types of the keys and of the values (`-ctk`, `-ctv`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvTypes {
    pub k: KvType,
    pub v: KvType,
}

impl From<KvType> for KvTypes {
    fn from(t: KvType) -> KvTypes {
        KvTypes { k: t, v: t }
    }
}

impl KvType {
    /// The `-ctk/-ctv` name.
    pub fn name(self) -> &'static str {
        match self {
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
        }
    }

    /// Parse a `-ctk/-ctv` value (`f16`, `q8_0`).
    pub fn parse(s: &str) -> Option<KvType> {
        match s.to_ascii_lowercase().as_str() {
            "f16" => Some(KvType::F16),
            "q8_0" => Some(KvType::Q8_0),
            _ => None,
        }
    }

    /// Bytes of `elems` elements (a multiple of 32 for Q8_0).
    fn bytes(self, elems: usize) -> usize {
        match self {
            KvType::F16 => elems * 2,
            KvType::Q8_0 => elems + elems / Q8_BLOCK * 2,
        }
    }
}

/// One tile's keys or values, in place: f16 bits, or Q8_0 quants with one scale per 32.
pub enum TileData<'a> {
    F16(&'a [u16]),
    Q8 { q: &'a [i8], d: &'a [f16] },
}

impl TileData<'_> {
    /// Convert to f32 (`out.len()` elements from the start of the tile).
    pub fn to_f32(&self, out: &mut [f32]) {
        match self {
            TileData::F16(x) => {
                let x: &[f16] = HalfBitsSliceExt::reinterpret_cast(&x[..out.len()]);
                x.convert_to_f32_slice(out);
            }
            TileData::Q8 { q, d } => {
                for (c, chunk) in out.chunks_mut(Q8_BLOCK).enumerate() {
                    let scale = d[c].to_f32();
                    for (dst, &x) in chunk.iter_mut().zip(&q[c * Q8_BLOCK..]) {
                        *dst = x as f32 * scale;
                    }
                }
            }
        }
    }
}

/// Identifies a sequence in a [`PagedKvCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqId(pub u32);

/// Identifies a block of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockId(pub u32);

/// Errors of the paged cache.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    #[error("KV cache out of blocks: {needed} needed, {free} free")]
    OutOfBlocks { needed: usize, free: usize },
    #[error("unknown KV sequence {0:?}")]
    UnknownSeq(SeqId),
    #[error("KV position {pos} beyond the reserved capacity {cap}")]
    OutOfRange { pos: usize, cap: usize },
    #[error("a q8_0 KV cache needs head dims divisible by 32, this model's is {0}")]
    BadHeadDim(usize),
    #[error("KV cache shape has a zero dimension")]
    EmptyShape,
    #[error("a KV cache of {0} blocks is too large to address")]
    TooLarge(usize),
    /// The GPU part of the cache (`-ngl`) could not be made.
    #[error("{0}")]
    Device(String),
}

const Q8_BLOCK: usize = 32;
const NO_BLOCK: u32 = u32::MAX;

enum Store {
    F16(Vec<f16>),
    /// Quants and one scale per 32 elements (element offset / 32).
    Q8 {
        q: Vec<i8>,
        d: Vec<f16>,
    },
}

#[derive(Clone, Default)]
struct Seq {
    blocks: Vec<u32>,
    len: usize,
}

/// The block pool and the sequences' block tables.
pub struct PagedKvCache {
    block_size: usize,
    n_layer: usize,
    n_head_kv: usize,
    head_dim: usize,
    head_dim_v: usize,
    types: KvTypes,
    /// Elements per block and per layer within a block, for keys and for values.
    k_block: usize,
    k_layer: usize,
    v_block: usize,
    v_layer: usize,
    k: Store,
    v: Store,
    refcount: Vec<u32>,
    next_free: Vec<u32>,
    free_head: u32,
    n_free: usize,
    seqs: Vec<Option<Seq>>,
}

impl PagedKvCache {
    pub fn new(
        n_blocks: usize,
        block_size: usize,
        n_layer: usize,
        n_head_kv: usize,
        head_dim: usize,
        head_dim_v: usize,
        types: impl Into<KvTypes>,
    ) -> Result<PagedKvCache, KvError> {
        let types = types.into();
        if n_blocks == 0
            || block_size == 0
            || n_layer == 0
            || n_head_kv == 0
            || head_dim == 0
            || head_dim_v == 0
        {
            return Err(KvError::EmptyShape);
        }
        if n_blocks >= NO_BLOCK as usize {
            return Err(KvError::OutOfBlocks {
                needed: n_blocks,
                free: NO_BLOCK as usize - 1,
            });
        }
        for (t, d) in [(types.k, head_dim), (types.v, head_dim_v)] {
            if t == KvType::Q8_0 && !d.is_multiple_of(Q8_BLOCK) {
                return Err(KvError::BadHeadDim(d));
            }
        }
        let k_layer = n_head_kv * block_size * head_dim;
        let v_layer = n_head_kv * block_size * head_dim_v;
        let (k_block, v_block) = (n_layer * k_layer, n_layer * v_layer);
        let too_large = || KvError::TooLarge(n_blocks);
        let k_total = n_blocks.checked_mul(k_block).ok_or_else(too_large)?;
        let v_total = n_blocks.checked_mul(v_block).ok_or_else(too_large)?;
        if k_total.checked_mul(2).is_none() || v_total.checked_mul(2).is_none() {
            return Err(too_large());
        }
        // Zeroed allocations: the OS hands out pages as blocks are first written, so memory
        // follows the positions in use, not the context size (blocks are taken lowest first).
        let zeroed_f16 = |n: usize| -> Vec<f16> { vec![0u16; n].reinterpret_into() };
        let store = |t: KvType, total: usize| match t {
            KvType::F16 => Store::F16(zeroed_f16(total)),
            KvType::Q8_0 => Store::Q8 {
                q: vec![0; total],
                d: zeroed_f16(total / Q8_BLOCK),
            },
        };
        let next_free = (0..n_blocks)
            .map(|b| {
                if b + 1 < n_blocks {
                    b as u32 + 1
                } else {
                    NO_BLOCK
                }
            })
            .collect();
        Ok(PagedKvCache {
            block_size,
            n_layer,
            n_head_kv,
            head_dim,
            head_dim_v,
            types,
            k_block,
            k_layer,
            v_block,
            v_layer,
            k: store(types.k, k_total),
            v: store(types.v, v_total),
            refcount: vec![0; n_blocks],
            next_free,
            free_head: 0,
            n_free: n_blocks,
            seqs: Vec::new(),
        })
    }

    /// Bytes the pool of `n_blocks` blocks holds.
    pub fn memory_bytes(
        n_blocks: usize,
        block_size: usize,
        n_layer: usize,
        n_head_kv: usize,
        head_dim: usize,
        head_dim_v: usize,
        types: impl Into<KvTypes>,
    ) -> usize {
        let types = types.into();
        let per_dim = n_blocks * block_size * n_layer * n_head_kv;
        types.k.bytes(per_dim * head_dim) + types.v.bytes(per_dim * head_dim_v)
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }
    pub fn n_layer(&self) -> usize {
        self.n_layer
    }
    pub fn n_head_kv(&self) -> usize {
        self.n_head_kv
    }
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }
    pub fn head_dim_v(&self) -> usize {
        self.head_dim_v
    }
    pub fn kv_types(&self) -> KvTypes {
        self.types
    }
    pub fn n_blocks(&self) -> usize {
        self.refcount.len()
    }
    pub fn n_free_blocks(&self) -> usize {
        self.n_free
    }

    fn seq(&self, s: SeqId) -> Result<&Seq, KvError> {
        self.seqs
            .get(s.0 as usize)
            .and_then(Option::as_ref)
            .ok_or(KvError::UnknownSeq(s))
    }

    fn seq_mut(&mut self, s: SeqId) -> Result<&mut Seq, KvError> {
        self.seqs
            .get_mut(s.0 as usize)
            .and_then(Option::as_mut)
            .ok_or(KvError::UnknownSeq(s))
    }

    fn add_seq(&mut self, seq: Seq) -> SeqId {
        if let Some(i) = self.seqs.iter().position(Option::is_none) {
            self.seqs[i] = Some(seq);
            SeqId(i as u32)
        } else {
            self.seqs.push(Some(seq));
            SeqId(self.seqs.len() as u32 - 1)
        }
    }

    /// A new empty sequence (holds no blocks).
    pub fn new_seq(&mut self) -> SeqId {
        self.add_seq(Seq::default())
    }

    /// A new sequence sharing every block of `s` that holds its positions (refcount + 1).
    pub fn fork(&mut self, s: SeqId) -> Result<SeqId, KvError> {
        let old = self.seq(s)?;
        let used = old.len.div_ceil(self.block_size);
        let new = Seq {
            blocks: old.blocks[..used].to_vec(),
            len: old.len,
        };
        for &b in &new.blocks {
            self.refcount[b as usize] += 1;
        }
        Ok(self.add_seq(new))
    }

    /// Release the sequence and its references to blocks.
    pub fn free_seq(&mut self, s: SeqId) -> Result<(), KvError> {
        self.seq(s)?;
        let seq = self.seqs[s.0 as usize].take().unwrap_or_default();
        for b in seq.blocks {
            self.release(b);
        }
        Ok(())
    }

    /// Valid positions of `s`.
    pub fn seq_len(&self, s: SeqId) -> Result<usize, KvError> {
        Ok(self.seq(s)?.len)
    }

    /// Positions `s` can hold without allocating.
    pub fn seq_capacity(&self, s: SeqId) -> Result<usize, KvError> {
        Ok(self.seq(s)?.blocks.len() * self.block_size)
    }

    fn alloc(&mut self) -> Option<u32> {
        if self.free_head == NO_BLOCK {
            return None;
        }
        let b = self.free_head;
        self.free_head = self.next_free[b as usize];
        self.next_free[b as usize] = NO_BLOCK;
        self.refcount[b as usize] = 1;
        self.n_free -= 1;
        Some(b)
    }

    fn release(&mut self, b: u32) {
        let rc = &mut self.refcount[b as usize];
        *rc -= 1;
        if *rc == 0 {
            self.next_free[b as usize] = self.free_head;
            self.free_head = b;
            self.n_free += 1;
        }
    }

    fn copy_block(&mut self, from: u32, to: u32) {
        for (store, n) in [(&mut self.k, self.k_block), (&mut self.v, self.v_block)] {
            let (f, t) = (from as usize * n, to as usize * n);
            match store {
                Store::F16(x) => x.copy_within(f..f + n, t),
                Store::Q8 { q, d } => {
                    q.copy_within(f..f + n, t);
                    let (f, t, n) = (f / Q8_BLOCK, t / Q8_BLOCK, n / Q8_BLOCK);
                    d.copy_within(f..f + n, t);
                }
            }
        }
    }

    /// Blocks needed to make positions `len..len + n` writable by `s`: new blocks past its table,
    /// plus copies of shared blocks in that range.
    fn blocks_needed(&self, seq: &Seq, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let first = seq.len / self.block_size;
        let end = (seq.len + n).div_ceil(self.block_size);
        let shared = seq.blocks[first.min(seq.blocks.len())..end.min(seq.blocks.len())]
            .iter()
            .filter(|&&b| self.refcount[b as usize] > 1)
            .count();
        end.saturating_sub(seq.blocks.len()) + shared
    }

    /// Make positions `len..len + n` of `s` writable: allocate missing blocks and copy shared
    /// blocks in that range (copy on write). All or nothing: on `OutOfBlocks` nothing changes.
    pub fn reserve(&mut self, s: SeqId, n: usize) -> Result<(), KvError> {
        let seq = self.seq(s)?;
        let needed = self.blocks_needed(seq, n);
        if needed > self.n_free {
            return Err(KvError::OutOfBlocks {
                needed,
                free: self.n_free,
            });
        }
        if n == 0 {
            return Ok(());
        }
        let first = seq.len / self.block_size;
        let end = (seq.len + n).div_ceil(self.block_size);
        for i in first..end {
            self.make_writable(s, i)?;
        }
        Ok(())
    }

    /// Ensure table entry `i` of `s` exists and is exclusively owned.
    fn make_writable(&mut self, s: SeqId, i: usize) -> Result<u32, KvError> {
        let seq = self.seq(s)?;
        if i < seq.blocks.len() {
            let b = seq.blocks[i];
            if self.refcount[b as usize] == 1 {
                return Ok(b);
            }
            let nb = self
                .alloc()
                .ok_or(KvError::OutOfBlocks { needed: 1, free: 0 })?;
            self.copy_block(b, nb);
            self.release(b);
            self.seq_mut(s)?.blocks[i] = nb;
            return Ok(nb);
        }
        let missing = i + 1 - seq.blocks.len();
        if missing > self.n_free {
            return Err(KvError::OutOfBlocks {
                needed: missing,
                free: self.n_free,
            });
        }
        let mut last = NO_BLOCK;
        for _ in 0..missing {
            last = self
                .alloc()
                .ok_or(KvError::OutOfBlocks { needed: 1, free: 0 })?;
            self.seq_mut(s)?.blocks.push(last);
        }
        Ok(last)
    }

    fn k_offset(&self, b: u32, layer: usize, kvh: usize, slot: usize) -> usize {
        b as usize * self.k_block
            + layer * self.k_layer
            + (kvh * self.block_size + slot) * self.head_dim
    }

    fn v_offset(&self, b: u32, layer: usize, kvh: usize, slot: usize) -> usize {
        b as usize * self.v_block
            + layer * self.v_layer
            + (kvh * self.block_size + slot) * self.head_dim_v
    }

    /// Store the key and value of `pos` in `layer` (all KV heads: `k` is
    /// `n_head_kv × head_dim`, `v` is `n_head_kv × head_dim_v`). Allocates, or copies a shared
    /// block, if `reserve` did not already. Does not change `seq_len`; see [`Self::advance`].
    pub fn store(
        &mut self,
        s: SeqId,
        layer: usize,
        pos: usize,
        k: &[f32],
        v: &[f32],
    ) -> Result<(), KvError> {
        assert!(layer < self.n_layer, "KV store: layer out of range");
        assert_eq!(
            k.len(),
            self.n_head_kv * self.head_dim,
            "KV store: key size"
        );
        assert_eq!(
            v.len(),
            self.n_head_kv * self.head_dim_v,
            "KV store: value size"
        );
        let b = self.make_writable(s, pos / self.block_size)?;
        let slot = pos % self.block_size;
        for h in 0..self.n_head_kv {
            let ko = self.k_offset(b, layer, h, slot);
            let vo = self.v_offset(b, layer, h, slot);
            let kh = &k[h * self.head_dim..(h + 1) * self.head_dim];
            let vh = &v[h * self.head_dim_v..(h + 1) * self.head_dim_v];
            write(&mut self.k, ko, kh);
            write(&mut self.v, vo, vh);
        }
        Ok(())
    }
}

fn write(store: &mut Store, off: usize, src: &[f32]) {
    match store {
        Store::F16(x) => {
            for (d, s) in x[off..off + src.len()].iter_mut().zip(src) {
                *d = f16::from_f32(*s);
            }
        }
        Store::Q8 { q, d } => {
            for (c, chunk) in src.chunks_exact(Q8_BLOCK).enumerate() {
                let o = off + c * Q8_BLOCK;
                let amax = chunk.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let scale = amax / 127.0;
                let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
                for (dst, x) in q[o..o + Q8_BLOCK].iter_mut().zip(chunk) {
                    *dst = (x * inv).round().clamp(-127.0, 127.0) as i8;
                }
                d[o / Q8_BLOCK] = f16::from_f32(scale);
            }
        }
    }
}

fn read(store: &Store, off: usize, out: &mut [f32]) {
    match store {
        Store::F16(x) => {
            let n = out.len();
            x[off..off + n].convert_to_f32_slice(out);
        }
        Store::Q8 { q, d } => {
            for (c, chunk) in out.chunks_exact_mut(Q8_BLOCK).enumerate() {
                let o = off + c * Q8_BLOCK;
                let scale = d[o / Q8_BLOCK].to_f32();
                for (dst, &x) in chunk.iter_mut().zip(&q[o..o + Q8_BLOCK]) {
                    *dst = x as f32 * scale;
                }
            }
        }
    }
}

impl PagedKvCache {
    /// Mark `n` more positions of `s` valid; they must lie within its blocks.
    pub fn advance(&mut self, s: SeqId, n: usize) -> Result<(), KvError> {
        let cap = self.seq_capacity(s)?;
        let seq = self.seq_mut(s)?;
        if seq.len + n > cap {
            return Err(KvError::OutOfRange {
                pos: seq.len + n - 1,
                cap,
            });
        }
        seq.len += n;
        Ok(())
    }

    /// Forget positions from `len` on and release blocks no longer holding any valid position
    /// (e.g. speculative rollback). A no-op when `len >= seq_len`.
    pub fn truncate(&mut self, s: SeqId, len: usize) -> Result<(), KvError> {
        let bs = self.block_size;
        let seq = self.seq_mut(s)?;
        seq.len = seq.len.min(len);
        let keep = seq.len.div_ceil(bs);
        let dropped: Vec<u32> = seq.blocks.drain(keep.min(seq.blocks.len())..).collect();
        for b in dropped {
            self.release(b);
        }
        Ok(())
    }

    /// The blocks holding the valid positions of `s`, with the positions each holds.
    pub fn seq_blocks(&self, s: SeqId) -> Result<Vec<(Range<usize>, BlockId)>, KvError> {
        let seq = self.seq(s)?;
        let bs = self.block_size;
        Ok(seq
            .blocks
            .iter()
            .enumerate()
            .take(seq.len.div_ceil(bs))
            .map(|(i, &b)| (i * bs..((i + 1) * bs).min(seq.len), BlockId(b)))
            .collect())
    }

    /// The blocks holding positions `0..end` of `s` (stored, not necessarily advanced yet).
    pub fn seq_block_ids(&self, s: SeqId, end: usize) -> Result<Vec<BlockId>, KvError> {
        let seq = self.seq(s)?;
        let cap = seq.blocks.len() * self.block_size;
        if end > cap {
            return Err(KvError::OutOfRange { pos: end - 1, cap });
        }
        let n = end.div_ceil(self.block_size);
        Ok(seq.blocks[..n].iter().map(|&b| BlockId(b)).collect())
    }

    /// Keys (`block_size × head_dim`) and values (`block_size × head_dim_v`) of one tile, in place,
    /// slot-major (F16 storage only; `None` when either is Q8_0).
    pub fn tile_f16(&self, b: BlockId, layer: usize, kvh: usize) -> Option<(&[f16], &[f16])> {
        match self.tile(b, layer, kvh) {
            (TileData::F16(k), TileData::F16(v)) => Some((
                HalfBitsSliceExt::reinterpret_cast(k),
                HalfBitsSliceExt::reinterpret_cast(v),
            )),
            _ => None,
        }
    }

    /// Keys (`block_size × head_dim`) and values (`block_size × head_dim_v`) of one tile, in place.
    pub fn tile(&self, b: BlockId, layer: usize, kvh: usize) -> (TileData<'_>, TileData<'_>) {
        let k = tile_of(
            &self.k,
            self.k_offset(b.0, layer, kvh, 0),
            self.block_size * self.head_dim,
        );
        let v = tile_of(
            &self.v,
            self.v_offset(b.0, layer, kvh, 0),
            self.block_size * self.head_dim_v,
        );
        (k, v)
    }

    /// Convert the keys and values of the first `k.len() / head_dim` (= `v.len() / head_dim_v`)
    /// slots of a tile to f32.
    pub fn read_tile(&self, b: BlockId, layer: usize, kvh: usize, k: &mut [f32], v: &mut [f32]) {
        debug_assert!(k.len() <= self.block_size * self.head_dim);
        debug_assert!(v.len() <= self.block_size * self.head_dim_v);
        read(&self.k, self.k_offset(b.0, layer, kvh, 0), k);
        read(&self.v, self.v_offset(b.0, layer, kvh, 0), v);
    }

    /// Key of one position as f32 (`head_dim` floats), for tests and debugging.
    pub fn key(&self, s: SeqId, layer: usize, pos: usize, kvh: usize) -> Result<Vec<f32>, KvError> {
        let b = self.block_at(s, pos)?;
        let mut out = vec![0.0; self.head_dim];
        read(
            &self.k,
            self.k_offset(b, layer, kvh, pos % self.block_size),
            &mut out,
        );
        Ok(out)
    }

    /// Value of one position as f32 (`head_dim_v` floats), for tests and debugging.
    pub fn value(
        &self,
        s: SeqId,
        layer: usize,
        pos: usize,
        kvh: usize,
    ) -> Result<Vec<f32>, KvError> {
        let b = self.block_at(s, pos)?;
        let mut out = vec![0.0; self.head_dim_v];
        read(
            &self.v,
            self.v_offset(b, layer, kvh, pos % self.block_size),
            &mut out,
        );
        Ok(out)
    }

    fn block_at(&self, s: SeqId, pos: usize) -> Result<u32, KvError> {
        let seq = self.seq(s)?;
        let cap = seq.blocks.len() * self.block_size;
        seq.blocks
            .get(pos / self.block_size)
            .copied()
            .ok_or(KvError::OutOfRange { pos, cap })
    }

    /// Check invariants 1–3 and 5 of the module doc; returns a description of the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        let n = self.n_blocks();
        let mut on_free = vec![false; n];
        let mut cur = self.free_head;
        let mut count = 0;
        while cur != NO_BLOCK {
            let c = cur as usize;
            if c >= n || on_free[c] {
                return Err(format!("free list broken at block {c}"));
            }
            on_free[c] = true;
            count += 1;
            cur = self.next_free[c];
        }
        if count != self.n_free {
            return Err(format!(
                "free list has {count} blocks, n_free says {}",
                self.n_free
            ));
        }
        let mut refs = vec![0u32; n];
        for (i, seq) in self.seqs.iter().enumerate() {
            let Some(seq) = seq else { continue };
            if seq.len > seq.blocks.len() * self.block_size {
                return Err(format!("seq {i}: len {} beyond its blocks", seq.len));
            }
            for &b in &seq.blocks {
                refs[b as usize] += 1;
            }
        }
        for b in 0..n {
            if refs[b] != self.refcount[b] {
                return Err(format!(
                    "block {b}: refcount {} but {} refs",
                    self.refcount[b], refs[b]
                ));
            }
            if on_free[b] == (refs[b] > 0) {
                return Err(format!(
                    "block {b}: free {} with {} refs",
                    on_free[b], refs[b]
                ));
            }
        }
        Ok(())
    }
}

fn tile_of(store: &Store, off: usize, n: usize) -> TileData<'_> {
    match store {
        Store::F16(x) => TileData::F16(HalfFloatSliceExt::reinterpret_cast(&x[off..off + n])),
        Store::Q8 { q, d } => TileData::Q8 {
            q: &q[off..off + n],
            d: &d[off / Q8_BLOCK..(off + n) / Q8_BLOCK],
        },
    }
}

#[cfg(test)]
#[path = "paged_tests.rs"]
mod tests;
