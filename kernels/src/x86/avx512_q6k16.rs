//! AVX-512 VNNI microkernel for the Q6_Kx16 layout ([`crate::packed_q6k`]): 16 weight rows
//! (one per 32-bit lane) × up to 8 tokens per call.
//!
//! Per 32-column chunk: 4 loads of low bits give 8 vectors of 4-bit quants (mask, shift), and
//! 2 loads of high bits add the top 2 bits to each (one shift and one `vpternlogd`), so the
//! 6-bit quants of 16 rows × 4 columns fill each vector. A token's two 16-element sub-blocks
//! are two chains of 4 `vpdpbusd` against its broadcast quant bytes, started from the
//! sub-block's `−32·Σ a` bias; a convert and an FMA with `d·sc` per sub-block follow, and the
//! activation scale multiplies once per super-block.

use core::arch::x86_64::*;

use super::avx512_lanes::{by_tokens, unpack_nibbles};
use crate::packed::{check_gemm, Layout, ROWS};
use crate::packed_q4k::{ACT_BIAS16, ACT_D, ACT_STEP};
use crate::packed_q6k::{HIGH, LOW, STEP_BYTES};

/// 16 signed bytes at `p` as f32 lanes.
#[inline(always)]
unsafe fn i8s_f32(p: *const u8) -> __m512 {
    _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p as *const __m128i)))
}

/// The microkernel for `NT` tokens; `PF`: prefetch the weights ahead (decode).
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
    let m30 = _mm512_set1_epi8(0x30);
    let mut acc = [_mm512_setzero_ps(); NT];
    for s in 0..steps {
        let ws = w.add(s * STEP_BYTES);
        let d = _mm512_cvtph_ps(_mm256_loadu_si256(ws as *const __m256i));
        let mut step = [_mm512_setzero_ps(); NT];
        for c in 0..8 {
            if PF {
                // An eighth of the step per chunk, so the requests are spread out.
                super::prefetch_ahead(ws.add(c * (STEP_BYTES / 8)), STEP_BYTES / 8);
            }
            let sc0 = _mm512_mul_ps(d, i8s_f32(ws.add(32 + 16 * (2 * c))));
            let sc1 = _mm512_mul_ps(d, i8s_f32(ws.add(32 + 16 * (2 * c + 1))));
            let mut wq = unpack_nibbles(ws.add(LOW + 256 * c));
            for h in 0..2 {
                let hb = _mm512_loadu_si512(ws.add(HIGH + 128 * c + 64 * h) as *const _);
                // Top bits of vector 4h + u at bits [4, 6, 0, 2][u]: move them to bits 4..6.
                let at4 = [
                    hb,
                    _mm512_srli_epi16(hb, 2),
                    _mm512_slli_epi16(hb, 4),
                    _mm512_slli_epi16(hb, 2),
                ];
                for u in 0..4 {
                    // wq | (at4 & 0x30): truth table A | (B & C) = 0xF8.
                    wq[4 * h + u] = _mm512_ternarylogic_epi32(wq[4 * h + u], at4[u], m30, 0xf8);
                }
            }
            for t in 0..NT {
                let at = a.add(t * a_stride + s * ACT_STEP);
                let qa = at.add(32 * c);
                let bcast =
                    |k: usize| _mm512_set1_epi32((qa.add(4 * k) as *const i32).read_unaligned());
                let bias = |sb: usize| {
                    _mm512_set1_epi32((at.add(ACT_BIAS16 + 4 * sb) as *const i32).read_unaligned())
                };
                let mut p0 = _mm512_dpbusd_epi32(bias(2 * c), wq[0], bcast(0));
                let mut p1 = _mm512_dpbusd_epi32(bias(2 * c + 1), wq[4], bcast(4));
                for k in 1..4 {
                    p0 = _mm512_dpbusd_epi32(p0, wq[k], bcast(k));
                    p1 = _mm512_dpbusd_epi32(p1, wq[k + 4], bcast(k + 4));
                }
                step[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), sc0, step[t]);
                step[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), sc1, step[t]);
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

/// Q6_Kx16 microkernel (a `PackedGemmFn`); only reachable through the AVX-512 table.
pub(super) fn gemm_q6_kx16(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(Layout::Q6_Kx16, w, a, a_stride, ntok, out);
    let (w, a, o) = (w.as_ptr(), a.as_ptr(), out.as_mut_ptr());
    // SAFETY: the AVX-512 table is handed out only when its features are present;
    // `check_gemm` checked that `w` holds `steps` steps, that every token's `steps` activation
    // steps lie inside `a`, and that `out` holds `ntok` × 16 values.
    unsafe { by_tokens!(ntok, gemm, [], (w, a, a_stride, steps, o)) }
}
