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
    let m4 = _mm512_set1_epi8(0x0f);
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
            let mut wq = [_mm512_setzero_si512(); 8];
            for p in 0..4 {
                let q = _mm512_loadu_si512(ws.add(320 + 256 * j + 64 * p) as *const _);
                wq[p] = _mm512_and_si512(q, m4);
                wq[p + 4] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            }
            for t in 0..NT {
                let at = a.add(t * a_stride + s * ACT_STEP);
                let qa = at.add(32 * j);
                let bcast =
                    |k: usize| _mm512_set1_epi32((qa.add(4 * k) as *const i32).read_unaligned());
                // Independent chains when few tokens give the out-of-order core too little
                // to overlap (one token: 4 chains of 2; two: 2 of 4).
                let p = if NT == 1 {
                    let z = _mm512_setzero_si512();
                    let c0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[0], bcast(0));
                    let c1 = _mm512_dpbusd_epi32(z, wq[1], bcast(1));
                    let c2 = _mm512_dpbusd_epi32(z, wq[2], bcast(2));
                    let c3 = _mm512_dpbusd_epi32(z, wq[3], bcast(3));
                    let c0 = _mm512_dpbusd_epi32(c0, wq[4], bcast(4));
                    let c1 = _mm512_dpbusd_epi32(c1, wq[5], bcast(5));
                    let c2 = _mm512_dpbusd_epi32(c2, wq[6], bcast(6));
                    let c3 = _mm512_dpbusd_epi32(c3, wq[7], bcast(7));
                    _mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3))
                } else if NT == 2 {
                    let mut e = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[0], bcast(0));
                    let mut o = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[1], bcast(1));
                    for k in (2..8).step_by(2) {
                        e = _mm512_dpbusd_epi32(e, wq[k], bcast(k));
                        o = _mm512_dpbusd_epi32(o, wq[k + 1], bcast(k + 1));
                    }
                    _mm512_add_epi32(e, o)
                } else {
                    let mut p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[0], bcast(0));
                    for k in 1..8 {
                        p = _mm512_dpbusd_epi32(p, wq[k], bcast(k));
                    }
                    p
                };
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
    unsafe {
        match ntok {
            1 => gemm::<1, true>(w, a, a_stride, steps, o),
            2 => gemm::<2, false>(w, a, a_stride, steps, o),
            3 => gemm::<3, false>(w, a, a_stride, steps, o),
            4 => gemm::<4, false>(w, a, a_stride, steps, o),
            5 => gemm::<5, false>(w, a, a_stride, steps, o),
            6 => gemm::<6, false>(w, a, a_stride, steps, o),
            7 => gemm::<7, false>(w, a, a_stride, steps, o),
            _ => gemm::<8, false>(w, a, a_stride, steps, o),
        }
    }
}
