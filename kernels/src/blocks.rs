//! `#[repr(C)]` block structs, byte-identical to ggml's `block_*` (`ggml-common.h`), with safe
//! little-endian parsing from and serialisation to byte slices.
//!
//! f16 fields are stored as raw `u16` bits (convert with [`crate::f16_to_f32`]). The structs
//! document the layout; the scalar reference reads them with [`Block::read`] (field by field, no
//! `unsafe`), so a byte slice need not be aligned.

use crate::types::{QK, QK_K};

/// A quantization block: its element count, its size, and safe conversion from/to bytes.
pub trait Block: Sized + 'static {
    /// Elements per block.
    const LEN: usize;
    /// Bytes per block (equals `size_of::<Self>()`).
    const BYTES: usize;
    /// Parses one block from the first `Self::BYTES` bytes of `b` (panics if `b` is shorter).
    fn read(b: &[u8]) -> Self;
    /// Writes the block into the first `Self::BYTES` bytes of `out` (panics if shorter).
    fn write(&self, out: &mut [u8]);
}

/// Little-endian u16 at byte offset `at`.
#[inline]
pub(crate) fn rd_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[inline]
fn wr_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[inline]
fn rd_arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

#[inline]
fn rd_i8s<const N: usize>(b: &[u8], at: usize) -> [i8; N] {
    let mut a = [0i8; N];
    for (dst, &src) in a.iter_mut().zip(&b[at..at + N]) {
        *dst = src as i8;
    }
    a
}

#[inline]
fn wr_i8s(out: &mut [u8], at: usize, v: &[i8]) {
    for (dst, &src) in out[at..at + v.len()].iter_mut().zip(v) {
        *dst = src as u8;
    }
}

/// Q4_0: `x = d·(q − 8)`; byte j holds element j (low nibble) and element j+16 (high nibble).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ4_0 {
    pub d: u16,
    pub qs: [u8; QK / 2],
}

/// Q4_1: `x = d·q + m`, nibbles as in Q4_0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ4_1 {
    pub d: u16,
    pub m: u16,
    pub qs: [u8; QK / 2],
}

/// Q5_0: `x = d·(q − 16)`; the 5th bit of element j is bit j of the little-endian u32 `qh`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ5_0 {
    pub d: u16,
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

/// Q5_1: `x = d·q + m`, bits as in Q5_0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ5_1 {
    pub d: u16,
    pub m: u16,
    pub qh: [u8; 4],
    pub qs: [u8; QK / 2],
}

/// Q8_0: `x = d·q`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ8_0 {
    pub d: u16,
    pub qs: [i8; QK],
}

/// Q8_1: `x = d·q`, with `s = d·Σq` (f16) for the min term of Q4_1/Q5_1 dot products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ8_1 {
    pub d: u16,
    pub s: u16,
    pub qs: [i8; QK],
}

/// Q2_K: 16 sub-blocks of 16; `scales[j]` = 4-bit scale (low) and 4-bit min (high);
/// `x = d·sc·q − dmin·m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ2K {
    pub scales: [u8; QK_K / 16],
    pub qs: [u8; QK_K / 4],
    pub d: u16,
    pub dmin: u16,
}

/// Q3_K: 2 low bits in `qs`, the high bit in `hmask` (set means +0, clear means −4), sixteen
/// 6-bit scales (offset by 32) packed in 12 bytes; `x = d·(sc − 32)·q`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ3K {
    pub hmask: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 4],
    pub scales: [u8; 12],
    pub d: u16,
}

/// Q4_K: 8 sub-blocks of 32 with 6-bit scale and min packed in 12 bytes;
/// `x = d·sc·q − dmin·m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ4K {
    pub d: u16,
    pub dmin: u16,
    pub scales: [u8; 12],
    pub qs: [u8; QK_K / 2],
}

/// Q5_K: Q4_K plus a 5th bit per element in `qh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ5K {
    pub d: u16,
    pub dmin: u16,
    pub scales: [u8; 12],
    pub qh: [u8; QK_K / 8],
    pub qs: [u8; QK_K / 2],
}

/// Q6_K: 4 low bits in `ql`, 2 high bits in `qh`, q − 32; 16 sub-blocks of 16 with i8 scales;
/// `x = d·sc·(q − 32)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockQ6K {
    pub ql: [u8; QK_K / 2],
    pub qh: [u8; QK_K / 4],
    pub scales: [i8; QK_K / 16],
    pub d: u16,
}

/// Q8_K (activations only): f32 `d`, `x = d·q`, and `bsums[j]` = Σ of the 16 `qs` of group j.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    pub bsums: [i16; QK_K / 16],
}

const _: () = assert!(core::mem::size_of::<BlockQ4_0>() == 18);
const _: () = assert!(core::mem::size_of::<BlockQ4_1>() == 20);
const _: () = assert!(core::mem::size_of::<BlockQ5_0>() == 22);
const _: () = assert!(core::mem::size_of::<BlockQ5_1>() == 24);
const _: () = assert!(core::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(core::mem::size_of::<BlockQ8_1>() == 36);
const _: () = assert!(core::mem::size_of::<BlockQ2K>() == 84);
const _: () = assert!(core::mem::size_of::<BlockQ3K>() == 110);
const _: () = assert!(core::mem::size_of::<BlockQ4K>() == 144);
const _: () = assert!(core::mem::size_of::<BlockQ5K>() == 176);
const _: () = assert!(core::mem::size_of::<BlockQ6K>() == 210);
const _: () = assert!(core::mem::size_of::<BlockQ8K>() == 292);

impl Block for BlockQ4_0 {
    const LEN: usize = QK;
    const BYTES: usize = 18;
    fn read(b: &[u8]) -> Self {
        BlockQ4_0 {
            d: rd_u16(b, 0),
            qs: rd_arr(b, 2),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, 0, self.d);
        out[2..18].copy_from_slice(&self.qs);
    }
}

impl Block for BlockQ4_1 {
    const LEN: usize = QK;
    const BYTES: usize = 20;
    fn read(b: &[u8]) -> Self {
        BlockQ4_1 {
            d: rd_u16(b, 0),
            m: rd_u16(b, 2),
            qs: rd_arr(b, 4),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, 0, self.d);
        wr_u16(out, 2, self.m);
        out[4..20].copy_from_slice(&self.qs);
    }
}

impl Block for BlockQ5_0 {
    const LEN: usize = QK;
    const BYTES: usize = 22;
    fn read(b: &[u8]) -> Self {
        BlockQ5_0 {
            d: rd_u16(b, 0),
            qh: rd_arr(b, 2),
            qs: rd_arr(b, 6),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, 0, self.d);
        out[2..6].copy_from_slice(&self.qh);
        out[6..22].copy_from_slice(&self.qs);
    }
}

impl Block for BlockQ5_1 {
    const LEN: usize = QK;
    const BYTES: usize = 24;
    fn read(b: &[u8]) -> Self {
        BlockQ5_1 {
            d: rd_u16(b, 0),
            m: rd_u16(b, 2),
            qh: rd_arr(b, 4),
            qs: rd_arr(b, 8),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, 0, self.d);
        wr_u16(out, 2, self.m);
        out[4..8].copy_from_slice(&self.qh);
        out[8..24].copy_from_slice(&self.qs);
    }
}

impl Block for BlockQ8_0 {
    const LEN: usize = QK;
    const BYTES: usize = 34;
    fn read(b: &[u8]) -> Self {
        BlockQ8_0 {
            d: rd_u16(b, 0),
            qs: rd_i8s(b, 2),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, 0, self.d);
        wr_i8s(out, 2, &self.qs);
    }
}

impl Block for BlockQ8_1 {
    const LEN: usize = QK;
    const BYTES: usize = 36;
    fn read(b: &[u8]) -> Self {
        BlockQ8_1 {
            d: rd_u16(b, 0),
            s: rd_u16(b, 2),
            qs: rd_i8s(b, 4),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, 0, self.d);
        wr_u16(out, 2, self.s);
        wr_i8s(out, 4, &self.qs);
    }
}

impl Block for BlockQ2K {
    const LEN: usize = QK_K;
    const BYTES: usize = 84;
    fn read(b: &[u8]) -> Self {
        BlockQ2K {
            scales: rd_arr(b, 0),
            qs: rd_arr(b, 16),
            d: rd_u16(b, 80),
            dmin: rd_u16(b, 82),
        }
    }
    fn write(&self, out: &mut [u8]) {
        out[0..16].copy_from_slice(&self.scales);
        out[16..80].copy_from_slice(&self.qs);
        wr_u16(out, 80, self.d);
        wr_u16(out, 82, self.dmin);
    }
}

impl Block for BlockQ3K {
    const LEN: usize = QK_K;
    const BYTES: usize = 110;
    fn read(b: &[u8]) -> Self {
        BlockQ3K {
            hmask: rd_arr(b, 0),
            qs: rd_arr(b, 32),
            scales: rd_arr(b, 96),
            d: rd_u16(b, 108),
        }
    }
    fn write(&self, out: &mut [u8]) {
        out[0..32].copy_from_slice(&self.hmask);
        out[32..96].copy_from_slice(&self.qs);
        out[96..108].copy_from_slice(&self.scales);
        wr_u16(out, 108, self.d);
    }
}

impl Block for BlockQ4K {
    const LEN: usize = QK_K;
    const BYTES: usize = 144;
    fn read(b: &[u8]) -> Self {
        BlockQ4K {
            d: rd_u16(b, 0),
            dmin: rd_u16(b, 2),
            scales: rd_arr(b, 4),
            qs: rd_arr(b, 16),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, 0, self.d);
        wr_u16(out, 2, self.dmin);
        out[4..16].copy_from_slice(&self.scales);
        out[16..144].copy_from_slice(&self.qs);
    }
}

impl Block for BlockQ5K {
    const LEN: usize = QK_K;
    const BYTES: usize = 176;
    fn read(b: &[u8]) -> Self {
        BlockQ5K {
            d: rd_u16(b, 0),
            dmin: rd_u16(b, 2),
            scales: rd_arr(b, 4),
            qh: rd_arr(b, 16),
            qs: rd_arr(b, 48),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, 0, self.d);
        wr_u16(out, 2, self.dmin);
        out[4..16].copy_from_slice(&self.scales);
        out[16..48].copy_from_slice(&self.qh);
        out[48..176].copy_from_slice(&self.qs);
    }
}

impl Block for BlockQ6K {
    const LEN: usize = QK_K;
    const BYTES: usize = 210;
    fn read(b: &[u8]) -> Self {
        BlockQ6K {
            ql: rd_arr(b, 0),
            qh: rd_arr(b, 128),
            scales: rd_i8s(b, 192),
            d: rd_u16(b, 208),
        }
    }
    fn write(&self, out: &mut [u8]) {
        out[0..128].copy_from_slice(&self.ql);
        out[128..192].copy_from_slice(&self.qh);
        wr_i8s(out, 192, &self.scales);
        wr_u16(out, 208, self.d);
    }
}

impl Block for BlockQ8K {
    const LEN: usize = QK_K;
    const BYTES: usize = 292;
    fn read(b: &[u8]) -> Self {
        let mut bsums = [0i16; QK_K / 16];
        for (j, s) in bsums.iter_mut().enumerate() {
            *s = rd_u16(b, 260 + 2 * j) as i16;
        }
        BlockQ8K {
            d: f32::from_le_bytes(rd_arr(b, 0)),
            qs: rd_i8s(b, 4),
            bsums,
        }
    }
    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.d.to_le_bytes());
        wr_i8s(out, 4, &self.qs);
        for (j, &s) in self.bsums.iter().enumerate() {
            wr_u16(out, 260 + 2 * j, s as u16);
        }
    }
}

/// Iterates over the blocks of a byte row (`src.len()` must be a multiple of `B::BYTES`).
pub(crate) fn blocks<B: Block>(src: &[u8]) -> impl Iterator<Item = B> + '_ {
    src.chunks_exact(B::BYTES).map(B::read)
}

/// Writes block `f(i, x)` for each `B::LEN`-element chunk `x` (the i-th) of `src` into `dst`.
pub(crate) fn encode_blocks<B: Block>(
    src: &[f32],
    dst: &mut [u8],
    mut f: impl FnMut(usize, &[f32]) -> B,
) {
    let outs = dst.chunks_exact_mut(B::BYTES);
    for (i, (x, out)) in src.chunks_exact(B::LEN).zip(outs).enumerate() {
        f(i, x).write(out);
    }
}

/// Checks the sizes in a block-wise operation over `n` elements and returns the block count.
#[inline]
pub(crate) fn check<B: Block>(n: usize, bytes: usize) -> usize {
    assert!(
        n % B::LEN == 0,
        "row length {} is not a multiple of the block length {}",
        n,
        B::LEN
    );
    let nb = n / B::LEN;
    assert!(
        bytes == nb * B::BYTES,
        "byte length {} does not match {} blocks of {} bytes",
        bytes,
        nb,
        B::BYTES
    );
    nb
}

/// Decodes each block of `src` into its `B::LEN` elements of `dst` with `f` (lengths checked).
pub(crate) fn dequantize_blocks<B: Block>(src: &[u8], dst: &mut [f32], f: impl Fn(&B, &mut [f32])) {
    check::<B>(dst.len(), src.len());
    for (b, y) in blocks::<B>(src).zip(dst.chunks_exact_mut(B::LEN)) {
        f(&b, y);
    }
}

/// Checks both rows hold `n` elements and pairs up their blocks (weights with activations).
pub(crate) fn pairs<'a, W: Block, A: Block>(
    w: &'a [u8],
    a: &'a [u8],
    n: usize,
) -> impl Iterator<Item = (W, A)> + 'a {
    check::<W>(n, w.len());
    check::<A>(n, a.len());
    assert_eq!(W::LEN, A::LEN);
    blocks::<W>(w).zip(blocks::<A>(a))
}
