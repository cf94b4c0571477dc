//! AVX-512 VNNI microkernel for the Q4_0x16 and Q8_0x16 layouts ([`crate::packed_x16`]):
//! 16 weight rows (one per 32-bit lane) × up to 8 tokens per call.
//!
//! Per block of 32 columns: the weights give 8 vectors of 4 quants per row (Q4_0: 4 loads, a
//! mask and a shift; Q8_0: 8 loads); each token's 8 `vpdpbusd` against 4 of its quant bytes
//! broadcast to every lane start from its block's zero-point bias, so a lane ends with ggml's
//! exact block integer; one convert and one FMA with `d_w·d_a` follow.

use core::arch::x86_64::*;

use super::avx512_lanes::{block_dot, by_tokens, unpack_nibbles};
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
            let wq = if Q8 {
                let mut wq = [_mm512_setzero_si512(); 8];
                for k in 0..8 {
                    wq[k] = _mm512_loadu_si512(wb.add(64 * k) as *const _);
                }
                wq
            } else {
                unpack_nibbles(wb)
            };
            for t in 0..NT {
                let at = a.add(t * a_stride + s * ACT_STEP);
                let mut bias =
                    _mm512_set1_epi32((at.add(256 + 4 * j) as *const i32).read_unaligned());
                if Q8 {
                    // The stored bias is for a zero point of 8; Q8_0x16's is 128.
                    bias = _mm512_slli_epi32(bias, 4);
                }
                let p = block_dot::<NT>(bias, &wq, at.add(32 * j));
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
    by_tokens!(ntok, gemm, [Q8], (w, a, a_stride, steps, o))
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
