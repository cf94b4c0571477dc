//! AVX2 dot products of the grid i-quants against Q8_K: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and
//! IQ3_S. All five decode a sub-block of 32 elements as four grid points of 8 unsigned
//! magnitudes (table lookups: one 64-bit load per point, or two 32-bit ones for IQ3), four sign
//! bytes (bit j set: element j negative) and one or two odd scales; one shared routine then
//! applies the signs to the activations (xor/subtract with a mask from `vpcmpeqb`), multiplies
//! with `vpmaddubsw` (magnitudes ≤ 62, activations ≤ 127: pair sums < 2¹⁴, no saturation) and
//! scales the 16-bit pair sums in `vpmaddwd`. Block integers are exact; the f32 scaling happens
//! once per super-block per lane, so results equal the scalar reference up to f32 rounding.

use core::arch::x86_64::*;

use super::avx2::{f16x, hsum_ps, ld, rd16};
use crate::blocks::{check, Block, BlockQ8K};
use crate::iq_blocks::{
    BlockIQ2S, BlockIQ2XS, BlockIQ2XXS, BlockIQ3S, BlockIQ3XXS, IQ2S_QH, IQ2S_QS, IQ2S_SCALES,
    IQ2XS_QS, IQ2XS_SCALES, IQ2XXS_QS, IQ3S_QH, IQ3S_QS, IQ3S_SCALES, IQ3S_SIGNS, IQ3XXS_QS,
};
use crate::iq_tables::{IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID, KSIGNS_IQ2XS};

/// One sub-block of 32 weights: four grid points, their sign bytes (little-endian, group 0
/// lowest) and the scales of its two halves (groups 0–1 and 2–3).
struct Sub {
    grid: [u64; 4],
    signs: u32,
    scale_lo: i16,
    scale_hi: i16,
}

#[inline]
unsafe fn rdu32(p: *const u8) -> u32 {
    u32::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; 4]))
}

#[inline]
unsafe fn rdf32(p: *const u8) -> f32 {
    f32::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; 4]))
}

/// `Σ scale · magnitude · (±activation)` of one sub-block, in 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sub_dot(s: &Sub, y: *const u8) -> __m256i {
    let g = &s.grid;
    let mags = _mm256_set_epi64x(g[3] as i64, g[2] as i64, g[1] as i64, g[0] as i64);
    // Sign byte of group k/8 in every byte k, then one bit per element.
    let spread = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3,
        3, 3,
    );
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(s.signs as i32), spread);
    let bits = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let neg = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bits), bits);
    let ys = _mm256_sub_epi8(_mm256_xor_si256(ld(y), neg), neg);
    let p16 = _mm256_maddubs_epi16(mags, ys);
    let scale = _mm256_set_m128i(_mm_set1_epi16(s.scale_hi), _mm_set1_epi16(s.scale_lo));
    _mm256_madd_epi16(p16, scale)
}

/// The driver shared by the five types: `sub(block, ib)` decodes sub-block `ib` (0..8) of the
/// block at `block`; `factor` is the type's final constant (IQ2: 1/8, IQ3_XXS: 1/4).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn grid_dot(
    w: *const u8,
    a: *const u8,
    nb: usize,
    block_bytes: usize,
    factor: f32,
    sub: impl Fn(*const u8, usize) -> Sub,
) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for i in 0..nb {
        let x = w.add(i * block_bytes);
        let y = a.add(i * BlockQ8K::BYTES);
        let mut isum = _mm256_setzero_si256();
        for ib in 0..8 {
            isum = _mm256_add_epi32(isum, sub_dot(&sub(x, ib), y.add(4 + 32 * ib)));
        }
        let d = f16x(rd16(x)) * rdf32(y);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    factor * hsum_ps(acc)
}

/// Four `KSIGNS_IQ2XS` entries, indexed by 7-bit fields of `aux` (7 bits per group).
#[inline]
fn ksigns4(aux: u32) -> u32 {
    (0..4).fold(0, |s, l| {
        s | (KSIGNS_IQ2XS[((aux >> (7 * l)) & 127) as usize] as u32) << (8 * l)
    })
}

/// An odd scale `2s + 1` for both halves.
fn odd(s: u32) -> (i16, i16) {
    let v = (2 * s + 1) as i16;
    (v, v)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq2_xxs(w: *const u8, a: *const u8, nb: usize) -> f32 {
    grid_dot(w, a, nb, BlockIQ2XXS::BYTES, 0.125, |x, ib| {
        let q = x.add(IQ2XXS_QS + 8 * ib);
        let (aux0, aux1) = (rdu32(q), rdu32(q.add(4)));
        let (scale_lo, scale_hi) = odd(aux1 >> 28);
        Sub {
            grid: [0, 1, 2, 3].map(|l| IQ2XXS_GRID[((aux0 >> (8 * l)) & 0xff) as usize]),
            signs: ksigns4(aux1),
            scale_lo,
            scale_hi,
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq3_xxs(w: *const u8, a: *const u8, nb: usize) -> f32 {
    grid_dot(w, a, nb, BlockIQ3XXS::BYTES, 0.25, |x, ib| {
        let qs = x.add(IQ3XXS_QS);
        let aux = rdu32(qs.add(64 + 4 * ib));
        let (scale_lo, scale_hi) = odd(aux >> 28);
        let point = |k: usize| IQ3XXS_GRID[*qs.add(8 * ib + k) as usize] as u64;
        Sub {
            grid: [0, 1, 2, 3].map(|l| point(2 * l) | point(2 * l + 1) << 32),
            signs: ksigns4(aux),
            scale_lo,
            scale_hi,
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq3_s(w: *const u8, a: *const u8, nb: usize) -> f32 {
    grid_dot(w, a, nb, BlockIQ3S::BYTES, 1.0, |x, ib| {
        let qs = x.add(IQ3S_QS + 8 * ib);
        let qh = *x.add(IQ3S_QH + ib) as usize;
        let s = (*x.add(IQ3S_SCALES + ib / 2) >> (4 * (ib % 2))) & 0x0f;
        let (scale_lo, scale_hi) = odd(s as u32);
        let point =
            |k: usize, shift: usize| IQ3S_GRID[*qs.add(k) as usize | ((qh << shift) & 256)] as u64;
        Sub {
            grid: [0, 1, 2, 3].map(|l| point(2 * l, 8 - 2 * l) | point(2 * l + 1, 7 - 2 * l) << 32),
            signs: rdu32(x.add(IQ3S_SIGNS + 4 * ib)),
            scale_lo,
            scale_hi,
        }
    })
}

/// IQ2_XS / IQ2_S scales of sub-block `ib`: low nibble for groups 0–1, high for 2–3.
#[inline]
unsafe fn half_scales(scales: *const u8, ib: usize) -> (i16, i16) {
    let s = *scales.add(ib);
    ((2 * (s & 0x0f) + 1) as i16, (2 * (s >> 4) + 1) as i16)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq2_xs(w: *const u8, a: *const u8, nb: usize) -> f32 {
    grid_dot(w, a, nb, BlockIQ2XS::BYTES, 0.125, |x, ib| {
        let q = |l: usize| rd16(x.add(IQ2XS_QS + 2 * (4 * ib + l))) as usize;
        let (scale_lo, scale_hi) = half_scales(x.add(IQ2XS_SCALES), ib);
        Sub {
            grid: [0, 1, 2, 3].map(|l| IQ2XS_GRID[q(l) & 511]),
            signs: (0..4).fold(0, |s, l| s | (KSIGNS_IQ2XS[q(l) >> 9] as u32) << (8 * l)),
            scale_lo,
            scale_hi,
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq2_s(w: *const u8, a: *const u8, nb: usize) -> f32 {
    grid_dot(w, a, nb, BlockIQ2S::BYTES, 0.125, |x, ib| {
        let qs = x.add(IQ2S_QS);
        let qh = *x.add(IQ2S_QH + ib) as usize;
        let (scale_lo, scale_hi) = half_scales(x.add(IQ2S_SCALES), ib);
        let idx = |l: usize| *qs.add(4 * ib + l) as usize | ((qh << (8 - 2 * l)) & 0x300);
        Sub {
            grid: [0, 1, 2, 3].map(|l| IQ2S_GRID[idx(l)]),
            signs: rdu32(qs.add(32 + 4 * ib)),
            scale_lo,
            scale_hi,
        }
    })
}

// SAFETY (applies to every `unsafe` block below): only reachable through the `AVX2`/`AVX512`
// tables, which `crate::kernels` hands out only when their `supported()` (AVX2+FMA+F16C at
// least) is true; `check` has verified both rows hold `nb` whole blocks before any read, and
// every table index is masked to the table's length (8, 9 or 10 bits; 7 for the sign table).

macro_rules! wrapper {
    ($name:ident, $raw:ident, $block:ty) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], n: usize) -> f32 {
            let nb = check::<$block>(n, w.len());
            check::<BlockQ8K>(n, a.len());
            // SAFETY: see above.
            unsafe { $raw(w.as_ptr(), a.as_ptr(), nb) }
        }
    };
}

wrapper!(vec_dot_iq2_xxs_q8_k, iq2_xxs, BlockIQ2XXS);
wrapper!(vec_dot_iq2_xs_q8_k, iq2_xs, BlockIQ2XS);
wrapper!(vec_dot_iq2_s_q8_k, iq2_s, BlockIQ2S);
wrapper!(vec_dot_iq3_xxs_q8_k, iq3_xxs, BlockIQ3XXS);
wrapper!(vec_dot_iq3_s_q8_k, iq3_s, BlockIQ3S);
