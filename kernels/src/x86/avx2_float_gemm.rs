//! [`crate::float_gemm`] with AVX2: blocks of 4 weight rows × 2 tokens (8 accumulators), 8
//! columns per step, the rest through a zero-padded copy.

// Index loops over the const-size accumulator arrays unroll into registers.
// `dispatch` passes one block its eight operands.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

use core::arch::x86_64::*;

use super::avx2::hsum_ps;
use crate::float_gemm::{check, FloatType};

const R: usize = 4;
const T: usize = 2;
/// Tokens whose activations one sweep over the rows reuses (they stay in L2).
const TOKEN_TILE: usize = 48;

const F32: u8 = 0;
const F16: u8 = 1;

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
    unsafe fn block<const K: u8, const NR: usize, const NT: usize>(
        w: *const u8,
        row_bytes: usize,
        x: *const f32,
        cols: usize,
        out: *mut f32,
        out_stride: usize,
    ) {
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
    unsafe fn dispatch<const K: u8>(
        nr: usize,
        nt: usize,
        w: *const u8,
        row_bytes: usize,
        x: *const f32,
        cols: usize,
        out: *mut f32,
        out_stride: usize,
    ) {
        match (nr, nt) {
            (4, 2) => block::<K, 4, 2>(w, row_bytes, x, cols, out, out_stride),
            (4, 1) => block::<K, 4, 1>(w, row_bytes, x, cols, out, out_stride),
            (3, 2) => block::<K, 3, 2>(w, row_bytes, x, cols, out, out_stride),
            (3, 1) => block::<K, 3, 1>(w, row_bytes, x, cols, out, out_stride),
            (2, 2) => block::<K, 2, 2>(w, row_bytes, x, cols, out, out_stride),
            (2, 1) => block::<K, 2, 1>(w, row_bytes, x, cols, out, out_stride),
            (1, 2) => block::<K, 1, 2>(w, row_bytes, x, cols, out, out_stride),
            (1, 1) => block::<K, 1, 1>(w, row_bytes, x, cols, out, out_stride),
            _ => unreachable!("block shape"),
        }
    }

    unsafe fn gemm<const K: u8>(w: &[u8], rows: usize, cols: usize, x: &[f32], ntok: usize, out: &mut [f32]) {
        let eb = if K == F32 { 4 } else { 2 };
        let row_bytes = cols * eb;
        for t0 in (0..ntok).step_by(TOKEN_TILE) {
            let t_end = (t0 + TOKEN_TILE).min(ntok);
            for r0 in (0..rows).step_by(R) {
                let nr = R.min(rows - r0);
                for t in (t0..t_end).step_by(T) {
                    let nt = T.min(t_end - t);
                    dispatch::<K>(
                        nr,
                        nt,
                        w.as_ptr().add(r0 * row_bytes),
                        row_bytes,
                        x.as_ptr().add(t * cols),
                        cols,
                        out.as_mut_ptr().add(t * rows + r0),
                        rows,
                    );
                }
            }
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
    check(ty, w, rows, cols, x, ntok, out);
    // SAFETY: reachable only through the AVX2 table (features checked at selection); the
    // lengths were checked above, whole steps read columns < cols and the tail is copied
    // with its exact length.
    unsafe {
        match ty {
            FloatType::F32 => gemm::<F32>(w, rows, cols, x, ntok, out),
            FloatType::F16 => gemm::<F16>(w, rows, cols, x, ntok, out),
            FloatType::BF16 => gemm::<2>(w, rows, cols, x, ntok, out),
        }
    }
}
