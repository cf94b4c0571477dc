//! `#[repr(C)]` block structs of ggml's i-quants (IQ1_S … IQ4_XS), ternary types (TQ1_0, TQ2_0)
//! and MXFP4, byte-identical to `ggml-common.h`, with their field byte offsets and safe
//! little-endian parsing from / serialisation to byte slices ([`Block`]).
//!
//! f16 fields are raw `u16` bits ([`crate::f16_to_f32`]); `u16` arrays are little-endian. No
//! struct has padding (all fields are `u8`/`u16`, every `u16` at an even offset). The `*_OFF`
//! style constants (`IQ4XS_QS`, …) give each field's byte offset; compile-time asserts tie the
//! last offset plus its size to `size_of`, and a unit test compares every offset with the
//! address of the field in a struct (Rust 1.63 has no `offset_of!`).
//!
//! | type    | ggml id | elements | bytes | activations |
//! |---------|---------|----------|-------|-------------|
//! | IQ2_XXS | 16      | 256      | 66    | Q8_K        |
//! | IQ2_XS  | 17      | 256      | 74    | Q8_K        |
//! | IQ3_XXS | 18      | 256      | 98    | Q8_K        |
//! | IQ1_S   | 19      | 256      | 50    | Q8_K        |
//! | IQ4_NL  | 20      | 32       | 18    | Q8_0        |
//! | IQ3_S   | 21      | 256      | 110   | Q8_K        |
//! | IQ2_S   | 22      | 256      | 82    | Q8_K        |
//! | IQ4_XS  | 23      | 256      | 136   | Q8_K        |
//! | IQ1_M   | 29      | 256      | 56    | Q8_K        |
//! | TQ1_0   | 34      | 256      | 54    | Q8_K        |
//! | TQ2_0   | 35      | 256      | 66    | Q8_K        |
//! | MXFP4   | 39      | 32       | 17    | Q8_0        |

use crate::blocks::Block;
use crate::types::{QK, QK_K};

#[inline]
fn rd_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[inline]
fn wr_u16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[inline]
fn rd_bytes<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

#[inline]
fn wr_bytes(out: &mut [u8], at: usize, v: &[u8]) {
    out[at..at + v.len()].copy_from_slice(v);
}

#[inline]
fn rd_u16s<const N: usize>(b: &[u8], at: usize) -> [u16; N] {
    let mut a = [0u16; N];
    for (i, v) in a.iter_mut().enumerate() {
        *v = rd_u16(b, at + 2 * i);
    }
    a
}

#[inline]
fn wr_u16s(out: &mut [u8], at: usize, v: &[u16]) {
    for (i, &x) in v.iter().enumerate() {
        wr_u16(out, at + 2 * i, x);
    }
}

// ---------------------------------------------------------------------------------------------
// Structs

/// IQ2_XXS (2.0625 bpw): per 32 elements, 4 u16 = 8 bytes: bytes 0..4 are grid indices
/// ([`crate::iq_tables::IQ2XXS_GRID`]) of 4 groups of 8, the u32 of bytes 4..8 holds four 7-bit
/// sign indices (bits 7l..7l+7, into `KSIGNS_IQ2XS`) and a 4-bit scale (bits 28..32);
/// `x = d·(0.5 + s)·0.25·grid·sign`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockIQ2XXS {
    pub d: u16,
    pub qs: [u16; QK_K / 8],
}

/// IQ2_XS (2.3125 bpw): `qs[g]` (one per group of 8) = 9-bit grid index | 7-bit sign index << 9;
/// `scales[ib32]` = two 4-bit scales (low: groups 0–1, high: groups 2–3 of the 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockIQ2XS {
    pub d: u16,
    pub qs: [u16; QK_K / 8],
    pub scales: [u8; QK_K / 32],
}

/// IQ2_S (2.5625 bpw): `qs[0..32]` low 8 bits of the 10-bit grid indices, `qs[32..64]` explicit
/// sign bytes (one per group of 8), `qh[ib32]` the top 2 bits of the 4 indices of sub-block
/// ib32, `scales` as in IQ2_XS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockIQ2S {
    pub d: u16,
    pub qs: [u8; QK_K / 4],
    pub qh: [u8; QK_K / 32],
    pub scales: [u8; QK_K / 32],
}

/// IQ3_XXS (3.0625 bpw): `qs[0..64]` grid indices (one per 4 elements, `IQ3XXS_GRID`),
/// `qs[64..96]` one u32 per 32 elements: four 7-bit sign indices and a 4-bit scale (bits 28..32);
/// `x = d·(0.5 + s)·0.5·grid·sign`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockIQ3XXS {
    pub d: u16,
    pub qs: [u8; 3 * QK_K / 8],
}

/// IQ3_S (3.4375 bpw): 9-bit grid indices (low 8 in `qs`, bit 8 from `qh`), explicit sign
/// bytes, a 4-bit scale per 32 elements (`x = d·(1 + 2s)·grid·sign`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockIQ3S {
    pub d: u16,
    pub qs: [u8; QK_K / 4],
    pub qh: [u8; QK_K / 32],
    pub signs: [u8; QK_K / 8],
    pub scales: [u8; QK_K / 64],
}

/// IQ1_S (1.5625 bpw): 11-bit indices into `IQ1S_GRID` (low 8 in `qs`, 3 high bits per group
/// in `qh[ib32]` bits 3l..3l+3), `qh` bits 12..15 a 3-bit scale, bit 15 the sign of the delta;
/// `x = d·(2s + 1)·(grid ± IQ1S_DELTA)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockIQ1S {
    pub d: u16,
    pub qs: [u8; QK_K / 8],
    pub qh: [u16; QK_K / 32],
}

/// IQ1_M (1.75 bpw): no f16 field: the f16 super-block scale is the top nibbles of the four
/// little-endian u16 of `scales` (u16 0 → bits 0..4, … u16 3 → bits 12..16); the remaining 12
/// bits of each u16 are four 3-bit sub-block scales. `qh[2·ib32 + k]`: bits 0..3 / 4..7 the high
/// index bits of groups 2k / 2k+1, bits 3 / 7 their delta signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockIQ1M {
    pub qs: [u8; QK_K / 8],
    pub qh: [u8; QK_K / 16],
    pub scales: [u8; QK_K / 32],
}

/// IQ4_NL: like Q4_0 but the nibble indexes `KVALUES_IQ4NL`; byte j holds element j (low nibble)
/// and j + 16 (high nibble); `x = d·kvalues[q]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockIQ4NL {
    pub d: u16,
    pub qs: [u8; QK / 2],
}

/// IQ4_XS: 8 sub-blocks of 32, each laid out as an IQ4_NL block, with 6-bit scales (low 4 bits
/// in `scales_l` nibbles, high 2 bits in `scales_h` bits 2ib..2ib+2), offset by 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockIQ4XS {
    pub d: u16,
    pub scales_h: u16,
    pub scales_l: [u8; QK_K / 64],
    pub qs: [u8; QK_K / 2],
}

/// TQ1_0 (1.6875 bpw): ternary digits packed 5 per byte in `qs` (48 bytes → 240 elements) and 4
/// per byte in `qh` (16 elements), as fixed-point fractions: digit n of byte q is
/// `((q·3^n mod 256)·3) >> 8`; `x = d·(digit − 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockTQ1_0 {
    pub qs: [u8; (QK_K - 4 * QK_K / 64) / 5],
    pub qh: [u8; QK_K / 64],
    pub d: u16,
}

/// TQ2_0 (2.0625 bpw): 2 bits per element (`x = d·(q − 1)`); bit pair l of byte `32c + m` is
/// element `128c + 32l + m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockTQ2_0 {
    pub qs: [u8; QK_K / 4],
    pub d: u16,
}

/// MXFP4: E8M0 shared exponent `e` and 32 E2M1 nibbles (layout as IQ4_NL);
/// `x = 2^(e − 128)·KVALUES_MXFP4[q]` (the doubled E2M1 value times half the E8M0 scale).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct BlockMXFP4 {
    pub e: u8,
    pub qs: [u8; QK / 2],
}

// ---------------------------------------------------------------------------------------------
// Field byte offsets and sizes

pub const IQ2XXS_BYTES: usize = 66;
pub const IQ2XXS_D: usize = 0;
pub const IQ2XXS_QS: usize = 2;

pub const IQ2XS_BYTES: usize = 74;
pub const IQ2XS_D: usize = 0;
pub const IQ2XS_QS: usize = 2;
pub const IQ2XS_SCALES: usize = 66;

pub const IQ2S_BYTES: usize = 82;
pub const IQ2S_D: usize = 0;
pub const IQ2S_QS: usize = 2;
pub const IQ2S_QH: usize = 66;
pub const IQ2S_SCALES: usize = 74;

pub const IQ3XXS_BYTES: usize = 98;
pub const IQ3XXS_D: usize = 0;
pub const IQ3XXS_QS: usize = 2;

pub const IQ3S_BYTES: usize = 110;
pub const IQ3S_D: usize = 0;
pub const IQ3S_QS: usize = 2;
pub const IQ3S_QH: usize = 66;
pub const IQ3S_SIGNS: usize = 74;
pub const IQ3S_SCALES: usize = 106;

pub const IQ1S_BYTES: usize = 50;
pub const IQ1S_D: usize = 0;
pub const IQ1S_QS: usize = 2;
pub const IQ1S_QH: usize = 34;

pub const IQ1M_BYTES: usize = 56;
pub const IQ1M_QS: usize = 0;
pub const IQ1M_QH: usize = 32;
pub const IQ1M_SCALES: usize = 48;

pub const IQ4NL_BYTES: usize = 18;
pub const IQ4NL_D: usize = 0;
pub const IQ4NL_QS: usize = 2;

pub const IQ4XS_BYTES: usize = 136;
pub const IQ4XS_D: usize = 0;
pub const IQ4XS_SCALES_H: usize = 2;
pub const IQ4XS_SCALES_L: usize = 4;
pub const IQ4XS_QS: usize = 8;

pub const TQ1_0_BYTES: usize = 54;
pub const TQ1_0_QS: usize = 0;
pub const TQ1_0_QH: usize = 48;
pub const TQ1_0_D: usize = 52;

pub const TQ2_0_BYTES: usize = 66;
pub const TQ2_0_QS: usize = 0;
pub const TQ2_0_D: usize = 64;

pub const MXFP4_BYTES: usize = 17;
pub const MXFP4_E: usize = 0;
pub const MXFP4_QS: usize = 1;

use core::mem::size_of;

// Sizes as in ggml-common.h's static_asserts, and last offset + last field size == size.
const _: () = assert!(size_of::<BlockIQ2XXS>() == IQ2XXS_BYTES && IQ2XXS_BYTES == 2 + QK_K / 4);
const _: () = assert!(IQ2XXS_QS + 2 * (QK_K / 8) == IQ2XXS_BYTES);
const _: () =
    assert!(size_of::<BlockIQ2XS>() == IQ2XS_BYTES && IQ2XS_BYTES == 2 + QK_K / 4 + QK_K / 32);
const _: () = assert!(IQ2XS_QS + 2 * (QK_K / 8) == IQ2XS_SCALES);
const _: () = assert!(IQ2XS_SCALES + QK_K / 32 == IQ2XS_BYTES);
const _: () =
    assert!(size_of::<BlockIQ2S>() == IQ2S_BYTES && IQ2S_BYTES == 2 + QK_K / 4 + QK_K / 16);
const _: () = assert!(IQ2S_QS + QK_K / 4 == IQ2S_QH && IQ2S_QH + QK_K / 32 == IQ2S_SCALES);
const _: () = assert!(IQ2S_SCALES + QK_K / 32 == IQ2S_BYTES);
const _: () =
    assert!(size_of::<BlockIQ3XXS>() == IQ3XXS_BYTES && IQ3XXS_BYTES == 2 + 3 * (QK_K / 8));
const _: () = assert!(IQ3XXS_QS + 3 * QK_K / 8 == IQ3XXS_BYTES);
const _: () =
    assert!(size_of::<BlockIQ3S>() == IQ3S_BYTES && IQ3S_BYTES == 2 + 13 * (QK_K / 32) + QK_K / 64);
const _: () = assert!(IQ3S_QS + QK_K / 4 == IQ3S_QH && IQ3S_QH + QK_K / 32 == IQ3S_SIGNS);
const _: () =
    assert!(IQ3S_SIGNS + QK_K / 8 == IQ3S_SCALES && IQ3S_SCALES + QK_K / 64 == IQ3S_BYTES);
const _: () =
    assert!(size_of::<BlockIQ1S>() == IQ1S_BYTES && IQ1S_BYTES == 2 + QK_K / 8 + QK_K / 16);
const _: () = assert!(IQ1S_QS + QK_K / 8 == IQ1S_QH && IQ1S_QH + 2 * (QK_K / 32) == IQ1S_BYTES);
const _: () =
    assert!(size_of::<BlockIQ1M>() == IQ1M_BYTES && IQ1M_BYTES == QK_K / 8 + QK_K / 16 + QK_K / 32);
const _: () = assert!(IQ1M_QS + QK_K / 8 == IQ1M_QH && IQ1M_QH + QK_K / 16 == IQ1M_SCALES);
const _: () = assert!(IQ1M_SCALES + QK_K / 32 == IQ1M_BYTES);
const _: () = assert!(size_of::<BlockIQ4NL>() == IQ4NL_BYTES && IQ4NL_BYTES == 2 + QK / 2);
const _: () = assert!(IQ4NL_QS + QK / 2 == IQ4NL_BYTES);
const _: () =
    assert!(size_of::<BlockIQ4XS>() == IQ4XS_BYTES && IQ4XS_BYTES == 4 + QK_K / 64 + QK_K / 2);
const _: () = assert!(IQ4XS_SCALES_L + QK_K / 64 == IQ4XS_QS && IQ4XS_QS + QK_K / 2 == IQ4XS_BYTES);
const _: () = assert!(
    size_of::<BlockTQ1_0>() == TQ1_0_BYTES
        && TQ1_0_BYTES == 2 + QK_K / 64 + (QK_K - 4 * QK_K / 64) / 5
);
const _: () = assert!(
    TQ1_0_QS + 48 == TQ1_0_QH && TQ1_0_QH + QK_K / 64 == TQ1_0_D && TQ1_0_D + 2 == TQ1_0_BYTES
);
const _: () = assert!(size_of::<BlockTQ2_0>() == TQ2_0_BYTES && TQ2_0_BYTES == 2 + QK_K / 4);
const _: () = assert!(TQ2_0_QS + QK_K / 4 == TQ2_0_D && TQ2_0_D + 2 == TQ2_0_BYTES);
const _: () = assert!(size_of::<BlockMXFP4>() == MXFP4_BYTES && MXFP4_BYTES == 1 + QK / 2);
const _: () = assert!(MXFP4_QS + QK / 2 == MXFP4_BYTES);

// ---------------------------------------------------------------------------------------------
// Parsing

impl Block for BlockIQ2XXS {
    const LEN: usize = QK_K;
    const BYTES: usize = IQ2XXS_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockIQ2XXS {
            d: rd_u16(b, IQ2XXS_D),
            qs: rd_u16s(b, IQ2XXS_QS),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, IQ2XXS_D, self.d);
        wr_u16s(out, IQ2XXS_QS, &self.qs);
    }
}

impl Block for BlockIQ2XS {
    const LEN: usize = QK_K;
    const BYTES: usize = IQ2XS_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockIQ2XS {
            d: rd_u16(b, IQ2XS_D),
            qs: rd_u16s(b, IQ2XS_QS),
            scales: rd_bytes(b, IQ2XS_SCALES),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, IQ2XS_D, self.d);
        wr_u16s(out, IQ2XS_QS, &self.qs);
        wr_bytes(out, IQ2XS_SCALES, &self.scales);
    }
}

impl Block for BlockIQ2S {
    const LEN: usize = QK_K;
    const BYTES: usize = IQ2S_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockIQ2S {
            d: rd_u16(b, IQ2S_D),
            qs: rd_bytes(b, IQ2S_QS),
            qh: rd_bytes(b, IQ2S_QH),
            scales: rd_bytes(b, IQ2S_SCALES),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, IQ2S_D, self.d);
        wr_bytes(out, IQ2S_QS, &self.qs);
        wr_bytes(out, IQ2S_QH, &self.qh);
        wr_bytes(out, IQ2S_SCALES, &self.scales);
    }
}

impl Block for BlockIQ3XXS {
    const LEN: usize = QK_K;
    const BYTES: usize = IQ3XXS_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockIQ3XXS {
            d: rd_u16(b, IQ3XXS_D),
            qs: rd_bytes(b, IQ3XXS_QS),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, IQ3XXS_D, self.d);
        wr_bytes(out, IQ3XXS_QS, &self.qs);
    }
}

impl Block for BlockIQ3S {
    const LEN: usize = QK_K;
    const BYTES: usize = IQ3S_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockIQ3S {
            d: rd_u16(b, IQ3S_D),
            qs: rd_bytes(b, IQ3S_QS),
            qh: rd_bytes(b, IQ3S_QH),
            signs: rd_bytes(b, IQ3S_SIGNS),
            scales: rd_bytes(b, IQ3S_SCALES),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, IQ3S_D, self.d);
        wr_bytes(out, IQ3S_QS, &self.qs);
        wr_bytes(out, IQ3S_QH, &self.qh);
        wr_bytes(out, IQ3S_SIGNS, &self.signs);
        wr_bytes(out, IQ3S_SCALES, &self.scales);
    }
}

impl Block for BlockIQ1S {
    const LEN: usize = QK_K;
    const BYTES: usize = IQ1S_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockIQ1S {
            d: rd_u16(b, IQ1S_D),
            qs: rd_bytes(b, IQ1S_QS),
            qh: rd_u16s(b, IQ1S_QH),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, IQ1S_D, self.d);
        wr_bytes(out, IQ1S_QS, &self.qs);
        wr_u16s(out, IQ1S_QH, &self.qh);
    }
}

impl Block for BlockIQ1M {
    const LEN: usize = QK_K;
    const BYTES: usize = IQ1M_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockIQ1M {
            qs: rd_bytes(b, IQ1M_QS),
            qh: rd_bytes(b, IQ1M_QH),
            scales: rd_bytes(b, IQ1M_SCALES),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_bytes(out, IQ1M_QS, &self.qs);
        wr_bytes(out, IQ1M_QH, &self.qh);
        wr_bytes(out, IQ1M_SCALES, &self.scales);
    }
}

impl Block for BlockIQ4NL {
    const LEN: usize = QK;
    const BYTES: usize = IQ4NL_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockIQ4NL {
            d: rd_u16(b, IQ4NL_D),
            qs: rd_bytes(b, IQ4NL_QS),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, IQ4NL_D, self.d);
        wr_bytes(out, IQ4NL_QS, &self.qs);
    }
}

impl Block for BlockIQ4XS {
    const LEN: usize = QK_K;
    const BYTES: usize = IQ4XS_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockIQ4XS {
            d: rd_u16(b, IQ4XS_D),
            scales_h: rd_u16(b, IQ4XS_SCALES_H),
            scales_l: rd_bytes(b, IQ4XS_SCALES_L),
            qs: rd_bytes(b, IQ4XS_QS),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_u16(out, IQ4XS_D, self.d);
        wr_u16(out, IQ4XS_SCALES_H, self.scales_h);
        wr_bytes(out, IQ4XS_SCALES_L, &self.scales_l);
        wr_bytes(out, IQ4XS_QS, &self.qs);
    }
}

impl Block for BlockTQ1_0 {
    const LEN: usize = QK_K;
    const BYTES: usize = TQ1_0_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockTQ1_0 {
            qs: rd_bytes(b, TQ1_0_QS),
            qh: rd_bytes(b, TQ1_0_QH),
            d: rd_u16(b, TQ1_0_D),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_bytes(out, TQ1_0_QS, &self.qs);
        wr_bytes(out, TQ1_0_QH, &self.qh);
        wr_u16(out, TQ1_0_D, self.d);
    }
}

impl Block for BlockTQ2_0 {
    const LEN: usize = QK_K;
    const BYTES: usize = TQ2_0_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockTQ2_0 {
            qs: rd_bytes(b, TQ2_0_QS),
            d: rd_u16(b, TQ2_0_D),
        }
    }
    fn write(&self, out: &mut [u8]) {
        wr_bytes(out, TQ2_0_QS, &self.qs);
        wr_u16(out, TQ2_0_D, self.d);
    }
}

impl Block for BlockMXFP4 {
    const LEN: usize = QK;
    const BYTES: usize = MXFP4_BYTES;
    fn read(b: &[u8]) -> Self {
        BlockMXFP4 {
            e: b[MXFP4_E],
            qs: rd_bytes(b, MXFP4_QS),
        }
    }
    fn write(&self, out: &mut [u8]) {
        out[MXFP4_E] = self.e;
        wr_bytes(out, MXFP4_QS, &self.qs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    /// Byte offset of a field inside a struct, from addresses (no `offset_of!` on Rust 1.63).
    fn off<S, F>(s: &S, f: &F) -> usize {
        f as *const F as usize - s as *const S as usize
    }

    /// A block whose byte i is `i·7 + 1` (mod 256): distinct bytes, so a misplaced field shows.
    fn pattern<B: Block>() -> Vec<u8> {
        (0..B::BYTES).map(|i| (i * 7 + 1) as u8).collect()
    }

    fn roundtrip<B: Block + PartialEq + core::fmt::Debug>() -> B {
        assert_eq!(B::BYTES, size_of::<B>());
        let bytes = pattern::<B>();
        let b = B::read(&bytes);
        let mut out = vec![0u8; B::BYTES];
        b.write(&mut out);
        assert_eq!(out, bytes);
        b
    }

    #[test]
    fn field_offsets_match_the_structs() {
        let b: BlockIQ2XXS = roundtrip();
        assert_eq!(off(&b, &b.d), IQ2XXS_D);
        assert_eq!(off(&b, &b.qs), IQ2XXS_QS);
        let b: BlockIQ2XS = roundtrip();
        assert_eq!(off(&b, &b.d), IQ2XS_D);
        assert_eq!(off(&b, &b.qs), IQ2XS_QS);
        assert_eq!(off(&b, &b.scales), IQ2XS_SCALES);
        let b: BlockIQ2S = roundtrip();
        assert_eq!(off(&b, &b.d), IQ2S_D);
        assert_eq!(off(&b, &b.qs), IQ2S_QS);
        assert_eq!(off(&b, &b.qh), IQ2S_QH);
        assert_eq!(off(&b, &b.scales), IQ2S_SCALES);
        let b: BlockIQ3XXS = roundtrip();
        assert_eq!(off(&b, &b.d), IQ3XXS_D);
        assert_eq!(off(&b, &b.qs), IQ3XXS_QS);
        let b: BlockIQ3S = roundtrip();
        assert_eq!(off(&b, &b.d), IQ3S_D);
        assert_eq!(off(&b, &b.qs), IQ3S_QS);
        assert_eq!(off(&b, &b.qh), IQ3S_QH);
        assert_eq!(off(&b, &b.signs), IQ3S_SIGNS);
        assert_eq!(off(&b, &b.scales), IQ3S_SCALES);
        let b: BlockIQ1S = roundtrip();
        assert_eq!(off(&b, &b.d), IQ1S_D);
        assert_eq!(off(&b, &b.qs), IQ1S_QS);
        assert_eq!(off(&b, &b.qh), IQ1S_QH);
        let b: BlockIQ1M = roundtrip();
        assert_eq!(off(&b, &b.qs), IQ1M_QS);
        assert_eq!(off(&b, &b.qh), IQ1M_QH);
        assert_eq!(off(&b, &b.scales), IQ1M_SCALES);
        let b: BlockIQ4NL = roundtrip();
        assert_eq!(off(&b, &b.d), IQ4NL_D);
        assert_eq!(off(&b, &b.qs), IQ4NL_QS);
        let b: BlockIQ4XS = roundtrip();
        assert_eq!(off(&b, &b.d), IQ4XS_D);
        assert_eq!(off(&b, &b.scales_h), IQ4XS_SCALES_H);
        assert_eq!(off(&b, &b.scales_l), IQ4XS_SCALES_L);
        assert_eq!(off(&b, &b.qs), IQ4XS_QS);
        let b: BlockTQ1_0 = roundtrip();
        assert_eq!(off(&b, &b.qs), TQ1_0_QS);
        assert_eq!(off(&b, &b.qh), TQ1_0_QH);
        assert_eq!(off(&b, &b.d), TQ1_0_D);
        let b: BlockTQ2_0 = roundtrip();
        assert_eq!(off(&b, &b.qs), TQ2_0_QS);
        assert_eq!(off(&b, &b.d), TQ2_0_D);
        let b: BlockMXFP4 = roundtrip();
        assert_eq!(off(&b, &b.e), MXFP4_E);
        assert_eq!(off(&b, &b.qs), MXFP4_QS);
    }

    #[test]
    fn u16_fields_are_little_endian() {
        let mut bytes = vec![0u8; IQ2XS_BYTES];
        bytes[IQ2XS_D] = 0x34;
        bytes[IQ2XS_D + 1] = 0x12;
        bytes[IQ2XS_QS + 2] = 0xcd;
        bytes[IQ2XS_QS + 3] = 0xab;
        let b = BlockIQ2XS::read(&bytes);
        assert_eq!(b.d, 0x1234);
        assert_eq!(b.qs[1], 0xabcd);
    }
}
