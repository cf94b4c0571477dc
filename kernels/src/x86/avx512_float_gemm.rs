//! [`crate::float_gemm`] with AVX-512: blocks of 4 weight rows × 6 tokens (24 accumulators),
//! 16 columns per step, a masked final step for the rest.

// Index loops over the const-size accumulator arrays unroll into registers.
// `dispatch` passes one block its eight operands.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

use core::arch::x86_64::*;

use crate::float_gemm::{check, FloatType};

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
    unsafe fn block<const K: u8, const NR: usize, const NT: usize>(
        w: *const u8,
        row_bytes: usize,
        x: *const f32,
        cols: usize,
        out: *mut f32,
        out_stride: usize,
    ) {
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
        macro_rules! arms {
            ($(($r:literal, $t:literal)),*) => {
                match (nr, nt) {
                    $(($r, $t) => block::<K, $r, $t>(w, row_bytes, x, cols, out, out_stride),)*
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

/// The AVX-512 table's [`crate::float_gemm::FloatGemmFn`].
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
    // SAFETY: reachable only through the AVX512 table (features checked at selection); the
    // lengths were checked above, and every block reads rows r0..r0+nr < rows, tokens
    // t..t+nt < ntok and columns < cols (the last step masked), and writes out[t·rows + r].
    unsafe {
        match ty {
            FloatType::F32 => gemm::<F32>(w, rows, cols, x, ntok, out),
            FloatType::F16 => gemm::<F16>(w, rows, cols, x, ntok, out),
            FloatType::BF16 => gemm::<BF16>(w, rows, cols, x, ntok, out),
        }
    }
}
