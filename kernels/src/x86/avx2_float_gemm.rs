//! [`crate::float_gemm`] with AVX2: blocks of 4 weight rows × 2 tokens (8 accumulators), 8
//! columns per step, the rest through a zero-padded copy.

// Index loops over the const-size accumulator arrays unroll into registers.
#![allow(clippy::needless_range_loop)]

use core::arch::x86_64::*;

use super::avx2::hsum_ps;
use crate::float_gemm::{run_blocks, Block, FloatType};

const R: usize = 4;
const T: usize = 2;
/// Tokens whose activations one sweep over the rows reuses (they stay in L2).
const TOKEN_TILE: usize = 48;

const F32: u8 = 0;
const F16: u8 = 1;
const BF16: u8 = 2;

macro_rules! tf {
    ($($item:item)*) => {
        $(
            #[target_feature(enable = "avx2,fma,f16c")]
            $item
        )*
    };
}

tf! {
    /// 8 weights at `p` as f32.
    #[inline]
    unsafe fn load_w<const K: u8>(p: *const u8) -> __m256 {
        match K {
            F32 => _mm256_loadu_ps(p as *const f32),
            F16 => _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)),
            _ => _mm256_castsi256_ps(_mm256_slli_epi32(
                _mm256_cvtepu16_epi32(_mm_loadu_si128(p as *const __m128i)),
                16,
            )),
        }
    }

    #[inline]
    unsafe fn block<const K: u8, const NR: usize, const NT: usize>(b: &Block) {
        let (w, row_bytes, x, cols) = (b.w, b.row_bytes, b.x, b.cols);
        let (out, out_stride) = (b.out, b.out_stride);
        let eb = if K == F32 { 4 } else { 2 };
        let mut acc = [[_mm256_setzero_ps(); NT]; NR];
        let full = cols / 8 * 8;
        let mut c = 0;
        while c < full {
            let mut wv = [_mm256_setzero_ps(); NR];
            for r in 0..NR {
                wv[r] = load_w::<K>(w.add(r * row_bytes + c * eb));
            }
            for t in 0..NT {
                let xv = _mm256_loadu_ps(x.add(t * cols + c));
                for r in 0..NR {
                    acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
                }
            }
            c += 8;
        }
        if full < cols {
            // The last columns, zero-padded to a whole step (the same sums for any block).
            let n = cols - full;
            let mut wv = [_mm256_setzero_ps(); NR];
            for r in 0..NR {
                let mut buf = [0u8; 32];
                core::ptr::copy_nonoverlapping(w.add(r * row_bytes + full * eb), buf.as_mut_ptr(), n * eb);
                wv[r] = load_w::<K>(buf.as_ptr());
            }
            for t in 0..NT {
                let mut buf = [0f32; 8];
                core::ptr::copy_nonoverlapping(x.add(t * cols + full), buf.as_mut_ptr(), n);
                let xv = _mm256_loadu_ps(buf.as_ptr());
                for r in 0..NR {
                    acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
                }
            }
        }
        for r in 0..NR {
            for t in 0..NT {
                *out.add(t * out_stride + r) = hsum_ps(acc[r][t]);
            }
        }
    }

    #[inline]
    unsafe fn dispatch<const K: u8>(b: &Block) {
        let (nr, nt) = (b.nr, b.nt);
        match (nr, nt) {
            (4, 2) => block::<K, 4, 2>(b),
            (4, 1) => block::<K, 4, 1>(b),
            (3, 2) => block::<K, 3, 2>(b),
            (3, 1) => block::<K, 3, 1>(b),
            (2, 2) => block::<K, 2, 2>(b),
            (2, 1) => block::<K, 2, 1>(b),
            (1, 2) => block::<K, 1, 2>(b),
            (1, 1) => block::<K, 1, 1>(b),
            _ => unreachable!("block shape"),
        }
    }
}

/// The AVX2 table's [`crate::float_gemm::FloatGemmFn`].
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
        // SAFETY: reachable only through the AVX2 table (features checked at selection);
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
