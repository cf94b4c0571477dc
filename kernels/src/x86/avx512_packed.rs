//! AVX-512 VNNI microkernels for the packed layouts of [`crate::packed`]: 4 weight rows × up
//! to 4 tokens per call, the weights unpacked once per step and reused for every token.
//!
//! Per half step (4 blocks of each row): the 64 quant bytes of a row meet the token's 64 `lo`
//! and 64 `hi` activation bytes in two `vpdpbusd` that start from the activation's per-block
//! bias (the weights' zero point), so 16 i32 lanes hold 4 partial sums per block; they are
//! converted and multiplied by `d_w · d_a` expanded to the same lanes.

use core::arch::x86_64::*;

use crate::packed::{check_gemm, Layout, ACT_STEP_BYTES, ROWS, X4_TOKENS};

/// `permutexvar` indices expanding the 8 block scales of row `r % 2` (in a 16-lane vector of
/// two rows), half `h`, to 4 lanes per block: lane l takes `8(r % 2) + 4h + l/4`.
#[target_feature(enable = "avx512f")]
unsafe fn scale_index(odd_row: usize, h: usize) -> __m512i {
    let base = (8 * odd_row + 4 * h) as i32;
    _mm512_add_epi32(
        _mm512_set1_epi32(base),
        _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
    )
}

/// The microkernel body, generic over the layout (`Q8` = Q8_0x4) and token count `NT`.
/// Rows are handled in passes of `RP` (4, or 2 when 4 × `NT` accumulators plus 4 rows of
/// unpacked weights would not fit the 32 vector registers).
// Index loops on purpose: the arrays are register tiles that must unroll to constants.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn gemm<const KIND: u8, const NT: usize, const RP: usize, const PF: bool>(
    w: *const u8,
    a: *const u8,
    a_stride: usize,
    steps: usize,
    out: &mut [f32],
) {
    let q8 = KIND == KIND_Q8_0;
    let m4 = _mm512_set1_epi8(0x0f);
    let sb = if q8 { 64 + ROWS * 256 } else { 64 + ROWS * 128 };
    let idx = [
        [scale_index(0, 0), scale_index(0, 1)],
        [scale_index(1, 0), scale_index(1, 1)],
    ];
    let mut acc = [[_mm512_setzero_ps(); NT]; ROWS];
    for s in 0..steps {
        let ws = w.add(s * sb);
        if PF {
            super::prefetch_ahead(ws, sb);
        }
        // Per-lane block scales of rows 0,1 and 2,3 ([r][b] order).
        let d01 = _mm512_cvtph_ps(_mm256_loadu_si256(ws as *const __m256i));
        let d23 = _mm512_cvtph_ps(_mm256_loadu_si256(ws.add(32) as *const __m256i));
        for h in 0..2 {
            for pass in 0..ROWS / RP {
                let mut lo = [_mm512_setzero_si512(); RP];
                let mut hi = [_mm512_setzero_si512(); RP];
                let mut dw = [_mm512_setzero_ps(); RP];
                for i in 0..RP {
                    let r = pass * RP + i;
                    if q8 {
                        let p = ws.add(64 + 256 * r + 128 * h);
                        lo[i] = _mm512_loadu_si512(p as *const _);
                        hi[i] = _mm512_loadu_si512(p.add(64) as *const _);
                    } else {
                        let q = _mm512_loadu_si512(ws.add(64 + 128 * r + 64 * h) as *const _);
                        lo[i] = _mm512_and_si512(q, m4);
                        hi[i] = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
                    }
                    let d = if r < 2 { d01 } else { d23 };
                    dw[i] = _mm512_permutexvar_ps(idx[r % 2][h], d);
                }
                for t in 0..NT {
                    let at = a.add(t * a_stride + s * ACT_STEP_BYTES + 256 * h);
                    let alo = _mm512_loadu_si512(at as *const _);
                    let ahi = _mm512_loadu_si512(at.add(64) as *const _);
                    let mut bias = _mm512_loadu_si512(at.add(128) as *const _);
                    if q8 {
                        bias = _mm512_slli_epi32(bias, 4);
                    }
                    let da = _mm512_loadu_ps(at.add(192) as *const f32);
                    for i in 0..RP {
                        let r = pass * RP + i;
                        let v =
                            _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias, lo[i], alo), hi[i], ahi);
                        let sc = _mm512_mul_ps(dw[i], da);
                        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), sc, acc[r][t]);
                    }
                }
            }
        }
    }
    for (r, accr) in acc.iter().enumerate() {
        for (t, v) in accr.iter().enumerate() {
            out[t * ROWS + r] = _mm512_reduce_add_ps(*v);
        }
    }
}

const KIND_Q4_0: u8 = 0;
const KIND_Q8_0: u8 = 1;

/// Dispatches on the token count (1..=X4_TOKENS).
///
/// # Safety
/// The CPU has AVX2, FMA, F16C and AVX-512 F/BW/VL/VNNI, and the lengths passed `check_gemm`.
unsafe fn run<const KIND: u8>(
    w: &[u8],
    a: &[u8],
    a_stride: usize,
    ntok: usize,
    steps: usize,
    out: &mut [f32],
) {
    let (w, a) = (w.as_ptr(), a.as_ptr());
    match ntok {
        1 => gemm::<KIND, 1, 4, true>(w, a, a_stride, steps, out),
        2 => gemm::<KIND, 2, 4, false>(w, a, a_stride, steps, out),
        3 => gemm::<KIND, 3, 2, false>(w, a, a_stride, steps, out),
        _ => gemm::<KIND, X4_TOKENS, 2, false>(w, a, a_stride, steps, out),
    }
}

/// Q4_0x4 microkernel (a `PackedGemmFn`); only reachable through the AVX-512 table.
pub(super) fn gemm_q4_0x4(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(Layout::Q4_0x4, w, a, a_stride, ntok, out);
    // SAFETY: the AVX-512 table is handed out only when its features are present; lengths
    // were checked by `check_gemm`, so every load stays inside `w` and `a`.
    unsafe { run::<KIND_Q4_0>(w, a, a_stride, ntok, steps, out) }
}

/// Q8_0x4 microkernel (a `PackedGemmFn`); only reachable through the AVX-512 table.
pub(super) fn gemm_q8_0x4(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let steps = check_gemm(Layout::Q8_0x4, w, a, a_stride, ntok, out);
    // SAFETY: as for `gemm_q4_0x4`.
    unsafe { run::<KIND_Q8_0>(w, a, a_stride, ntok, steps, out) }
}
