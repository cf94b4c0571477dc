//! AVX-512 VNNI microkernel for the Q4_0x16 and Q8_0x16 layouts ([`crate::packed_x16`]):
//! 16 weight rows (one per 32-bit lane) × up to 8 tokens per call.
//!
//! Per block of 32 columns: the weights give 8 vectors of 4 quants per row (Q4_0: 4 loads, a
//! mask and a shift; Q8_0: 8 loads); each token's 8 `vpdpbusd` against 4 of its quant bytes
//! broadcast to every lane start from its block's zero-point bias, so a lane ends with ggml's
//! exact block integer; one convert and one FMA with `d_w·d_a` follow.

use core::arch::x86_64::*;

use crate::packed::{check_gemm, Layout, ROWS};
use crate::packed_x16::{step_bytes, ACT_STEP};

/// The microkernel for `NT` tokens (`Q8`: Q8_0x16, else Q4_0x16); `PF`: prefetch the weights
/// ahead (decode, where they stream from DRAM once).
// Index loops on purpose: the arrays are register tiles that must unroll to constants.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn gemm<const Q8: bool, const NT: usize, const PF: bool>(
    w: *const u8,
    a: *const u8,
    a_stride: usize,
    steps: usize,
    out: *mut f32,
) {
    let sb = step_bytes(if Q8 { Layout::Q8_0x16 } else { Layout::Q4_0x16 });
    let block = if Q8 { 512 } else { 256 };
    let m4 = _mm512_set1_epi8(0x0f);
    let mut acc = [_mm512_setzero_ps(); NT];
    for s in 0..steps {
        let ws = w.add(s * sb);
        for j in 0..8 {
            if PF {
                // An eighth of the step per sub-block: spread out, the requests do not queue
                // behind each other for fill buffers.
                super::prefetch_ahead(ws.add(j * (sb / 8)), sb / 8);
            }
            let dw = _mm512_cvtph_ps(_mm256_loadu_si256(ws.add(32 * j) as *const __m256i));
            let wb = ws.add(256 + block * j);
            let mut wq = [_mm512_setzero_si512(); 8];
            if Q8 {
                for k in 0..8 {
                    wq[k] = _mm512_loadu_si512(wb.add(64 * k) as *const _);
                }
            } else {
                for p in 0..4 {
                    let q = _mm512_loadu_si512(wb.add(64 * p) as *const _);
                    wq[p] = _mm512_and_si512(q, m4);
                    wq[p + 4] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
                }
            }
            for t in 0..NT {
                let at = a.add(t * a_stride + s * ACT_STEP);
                let qa = at.add(32 * j);
                let bcast =
                    |k: usize| _mm512_set1_epi32((qa.add(4 * k) as *const i32).read_unaligned());
                let mut bias =
                    _mm512_set1_epi32((at.add(256 + 4 * j) as *const i32).read_unaligned());
                if Q8 {
                    // The stored bias is for a zero point of 8; Q8_0x16's is 128.
                    bias = _mm512_slli_epi32(bias, 4);
                }
                // Independent chains when few tokens give the out-of-order core too little
                // to overlap (one token: 4 chains of 2; two: 2 of 4).
                let p = if NT == 1 {
                    let z = _mm512_setzero_si512();
                    let c0 = _mm512_dpbusd_epi32(bias, wq[0], bcast(0));
                    let c1 = _mm512_dpbusd_epi32(z, wq[1], bcast(1));
                    let c2 = _mm512_dpbusd_epi32(z, wq[2], bcast(2));
                    let c3 = _mm512_dpbusd_epi32(z, wq[3], bcast(3));
                    let c0 = _mm512_dpbusd_epi32(c0, wq[4], bcast(4));
                    let c1 = _mm512_dpbusd_epi32(c1, wq[5], bcast(5));
                    let c2 = _mm512_dpbusd_epi32(c2, wq[6], bcast(6));
                    let c3 = _mm512_dpbusd_epi32(c3, wq[7], bcast(7));
                    _mm512_add_epi32(_mm512_add_epi32(c0, c1), _mm512_add_epi32(c2, c3))
                } else if NT == 2 {
                    let mut e = _mm512_dpbusd_epi32(bias, wq[0], bcast(0));
                    let mut o = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[1], bcast(1));
                    for k in (2..8).step_by(2) {
                        e = _mm512_dpbusd_epi32(e, wq[k], bcast(k));
                        o = _mm512_dpbusd_epi32(o, wq[k + 1], bcast(k + 1));
                    }
                    _mm512_add_epi32(e, o)
                } else {
                    let mut p = bias;
                    for k in 0..8 {
                        p = _mm512_dpbusd_epi32(p, wq[k], bcast(k));
                    }
                    p
                };
                let da = (at.add(288 + 4 * j) as *const f32).read_unaligned();
                let scale = _mm512_mul_ps(dw, _mm512_set1_ps(da));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), scale, acc[t]);
            }
        }
    }
    for t in 0..NT {
        _mm512_storeu_ps(out.add(ROWS * t), acc[t]);
    }
}

/// Dispatches on the token count.
///
/// # Safety
/// The CPU has AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI, and the lengths passed `check_gemm`.
unsafe fn run<const Q8: bool>(
    w: *const u8,
    a: *const u8,
    a_stride: usize,
    ntok: usize,
    steps: usize,
    o: *mut f32,
) {
    match ntok {
        1 => gemm::<Q8, 1, true>(w, a, a_stride, steps, o),
        2 => gemm::<Q8, 2, false>(w, a, a_stride, steps, o),
        3 => gemm::<Q8, 3, false>(w, a, a_stride, steps, o),
        4 => gemm::<Q8, 4, false>(w, a, a_stride, steps, o),
        5 => gemm::<Q8, 5, false>(w, a, a_stride, steps, o),
        6 => gemm::<Q8, 6, false>(w, a, a_stride, steps, o),
        7 => gemm::<Q8, 7, false>(w, a, a_stride, steps, o),
        _ => gemm::<Q8, 8, false>(w, a, a_stride, steps, o),
    }
}

/// Q4_0x16 microkernel (a `PackedGemmFn`); only reachable through the AVX-512 table.
pub(super) fn gemm_q4_0x16(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(Layout::Q4_0x16, w, a, a_stride, ntok, out);
    // SAFETY: the AVX-512 table is handed out only when its features are present;
    // `check_gemm` checked that `w` holds `steps` steps, that every token's `steps` activation
    // steps lie inside `a`, and that `out` holds `ntok` × 16 values.
    unsafe {
        run::<false>(
            w.as_ptr(),
            a.as_ptr(),
            a_stride,
            ntok,
            steps,
            out.as_mut_ptr(),
        )
    }
}

/// Q8_0x16 microkernel (a `PackedGemmFn`); only reachable through the AVX-512 table.
pub(super) fn gemm_q8_0x16(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(Layout::Q8_0x16, w, a, a_stride, ntok, out);
    // SAFETY: as for `gemm_q4_0x16`.
    unsafe {
        run::<true>(
            w.as_ptr(),
            a.as_ptr(),
            a_stride,
            ntok,
            steps,
            out.as_mut_ptr(),
        )
    }
}
