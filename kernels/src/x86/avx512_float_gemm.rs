//! [`crate::float_gemm`] with AVX-512: blocks of 4 weight rows × 6 tokens (24 accumulators),
//! 16 columns per step, a masked final step for the rest.

// Index loops over the const-size accumulator arrays unroll into registers.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use crate::float_gemm::{run_blocks, Block, FloatType};

/// Rows and tokens per block.
const R: usize = 4;
const T: usize = 6;
/// Tokens whose activations one sweep over the rows reuses (they stay in L2).
const TOKEN_TILE: usize = 48;

const F32: u8 = 0;
const F16: u8 = 1;
const BF16: u8 = 2;

macro_rules! tf {
    ($($item:item)*) => {
        $(
            #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
            $item
        )*
    };
}

tf! {
    /// 16 weights from `p` (the first `mask` lanes; the rest 0) as f32.
    #[inline]
    unsafe fn load_w<const K: u8>(p: *const u8, mask: __mmask16) -> __m512 {
        match K {
            F32 => _mm512_maskz_loadu_ps(mask, p as *const f32),
            F16 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p as *const i16)),
            _ => _mm512_castsi512_ps(_mm512_slli_epi32(
                _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, p as *const i16)),
                16,
            )),
        }
    }

    #[inline]
    unsafe fn hsum(v: __m512) -> f32 {
        let lo = _mm512_castps512_ps256(v);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
        let s = _mm256_add_ps(lo, hi);
        let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }

    /// `NR` rows (at `w`, `row_bytes` apart) × `NT` tokens (at `x`, `cols` apart) into
    /// `out[t·out_stride + r]`.
    #[inline]
    unsafe fn block<const K: u8, const NR: usize, const NT: usize>(b: &Block) {
        let (w, row_bytes, x, cols) = (b.w, b.row_bytes, b.x, b.cols);
        let (out, out_stride) = (b.out, b.out_stride);
        let eb = if K == F32 { 4 } else { 2 };
        let mut acc = [[_mm512_setzero_ps(); NT]; NR];
        let mut c = 0;
        let mut mask: __mmask16 = 0xffff;
        while c < cols {
            if cols - c < 16 {
                mask = ((1u32 << (cols - c)) - 1) as __mmask16;
            }
            let mut wv = [_mm512_setzero_ps(); NR];
            for r in 0..NR {
                wv[r] = load_w::<K>(w.add(r * row_bytes + c * eb), mask);
            }
            for t in 0..NT {
                let xv = _mm512_maskz_loadu_ps(mask, x.add(t * cols + c));
                for r in 0..NR {
                    acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
                }
            }
            c += 16;
        }
        for r in 0..NR {
            for t in 0..NT {
                *out.add(t * out_stride + r) = hsum(acc[r][t]);
            }
        }
    }

    /// One row group of `nr ≤ R` rows × `nt ≤ T` tokens.
    #[inline]
    unsafe fn dispatch<const K: u8>(b: &Block) {
        let (nr, nt) = (b.nr, b.nt);
        macro_rules! arms {
            ($(($r:literal, $t:literal)),*) => {
                match (nr, nt) {
                    $(($r, $t) => block::<K, $r, $t>(b),)*
                    _ => unreachable!("block shape"),
                }
            };
        }
        arms!(
            (4, 6), (4, 5), (4, 4), (4, 3), (4, 2), (4, 1),
            (3, 6), (3, 5), (3, 4), (3, 3), (3, 2), (3, 1),
            (2, 6), (2, 5), (2, 4), (2, 3), (2, 2), (2, 1),
            (1, 6), (1, 5), (1, 4), (1, 3), (1, 2), (1, 1)
        )
    }
}

/// The AVX512 table's [`crate::float_gemm::FloatGemmFn`].
pub(crate) fn float_gemm(
    ty: FloatType,
    w: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    ntok: usize,
    out: &mut [f32],
) {
    run_blocks(ty, w, rows, cols, x, ntok, out, (R, T, TOKEN_TILE), |b| {
        // SAFETY: reachable only through the AVX512 table (features checked at selection);
        // `run_blocks` checked the lengths and gives blocks inside them, whose columns the
        // kernel reads up to `cols` only.
        unsafe {
            match ty {
                FloatType::F32 => dispatch::<F32>(b),
                FloatType::F16 => dispatch::<F16>(b),
                FloatType::BF16 => dispatch::<BF16>(b),
            }
        }
    })
}
