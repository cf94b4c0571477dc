//! AVX-512 VNNI microkernel for the Q4_Kx16 layout ([`crate::packed_q4k`]): 16 weight rows
//! (one per 32-bit lane) × up to 8 tokens per call.
//!
//! Per sub-block of 32 columns: 4 loads and a mask/shift give 8 vectors of 4 quants per row;
//! each token meets them in 8 `vpdpbusd` against 4 of its quant bytes broadcast to every lane,
//! so a lane ends with the integer dot of its row's whole sub-block. Only then is the scale
//! `d·sc_j` applied (one convert and FMA per token and sub-block) and the min `dmin·m_j` meets
//! the token's sub-block sum in one FMA. The
//! activation scale multiplies once per super-block.

use core::arch::x86_64::*;

use super::avx512_lanes::{block_dot, by_tokens, unpack_nibbles};
use crate::packed::{check_gemm, Layout, ROWS};
use crate::packed_q4k::{ACT_D, ACT_STEP, ACT_SUMS, STEP_BYTES};

/// 16 bytes at `p` as f32 lanes.
#[inline(always)]
unsafe fn bytes_f32(p: *const u8) -> __m512 {
    _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i)))
}

/// The microkernel for `NT` tokens; `PF`: prefetch the weights ahead (decode, where the
/// weights stream from DRAM once).
// Index loops on purpose: the arrays are register tiles that must unroll to constants.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn gemm<const NT: usize, const PF: bool>(
    w: *const u8,
    a: *const u8,
    a_stride: usize,
    steps: usize,
    out: *mut f32,
) {
    let mut acc = [_mm512_setzero_ps(); NT];
    for s in 0..steps {
        let ws = w.add(s * STEP_BYTES);
        let d = _mm512_cvtph_ps(_mm256_loadu_si256(ws as *const __m256i));
        let dmin = _mm512_cvtph_ps(_mm256_loadu_si256(ws.add(32) as *const __m256i));
        let mut step = [_mm512_setzero_ps(); NT];
        for j in 0..8 {
            if PF {
                // An eighth of the step per sub-block: spread out, the requests do not queue
                // behind each other for fill buffers.
                super::prefetch_ahead(ws.add(j * (STEP_BYTES / 8)), STEP_BYTES / 8);
            }
            let sc = _mm512_mul_ps(d, bytes_f32(ws.add(64 + 16 * j)));
            let mn = _mm512_mul_ps(dmin, bytes_f32(ws.add(192 + 16 * j)));
            let wq = unpack_nibbles(ws.add(320 + 256 * j));
            for t in 0..NT {
                let at = a.add(t * a_stride + s * ACT_STEP);
                let p = block_dot::<NT>(_mm512_setzero_si512(), &wq, at.add(32 * j));
                step[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), sc, step[t]);
                let sum = (at.add(ACT_SUMS + 4 * j) as *const f32).read_unaligned();
                step[t] = _mm512_fnmadd_ps(mn, _mm512_set1_ps(sum), step[t]);
            }
        }
        for t in 0..NT {
            let da = (a.add(t * a_stride + s * ACT_STEP + ACT_D) as *const f32).read_unaligned();
            acc[t] = _mm512_fmadd_ps(step[t], _mm512_set1_ps(da), acc[t]);
        }
    }
    for t in 0..NT {
        _mm512_storeu_ps(out.add(ROWS * t), acc[t]);
    }
}

/// Q4_Kx16 microkernel (a `PackedGemmFn`); only reachable through the AVX-512 table.
pub(super) fn gemm_q4_kx16(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(Layout::Q4_Kx16, w, a, a_stride, ntok, out);
    let (w, a, o) = (w.as_ptr(), a.as_ptr(), out.as_mut_ptr());
    // SAFETY: the AVX-512 table is handed out only when its features are present;
    // `check_gemm` checked that `w` holds `steps` steps, that every token's `steps` activation
    // steps lie inside `a`, and that `out` holds `ntok` × 16 values.
    unsafe { by_tokens!(ntok, gemm, [], (w, a, a_stride, steps, o)) }
}
