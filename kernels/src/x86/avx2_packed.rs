//! AVX2 microkernels for the 16-row packed layouts ([`crate::packed_x16`],
//! [`crate::packed_q4k`], [`crate::packed_q6k`]): the AVX-512 design (one weight row per 32-bit
//! lane, activation bytes broadcast to every lane) on 256-bit registers, 8 rows per pass and up
//! to 4 tokens (Q6_K: 3) at once.
//!
//! Without VNNI, `vpmaddubsw` multiplies 4-bit quants by the broadcast activation bytes into
//! 16-bit pair sums (each at most 2·15·128 = 3840 in magnitude); the 8 of a 32-element block
//! that land in one 16-bit lane add up to at most 30720, so they are summed in 16 bits without
//! saturating, and one `vpmaddwd` by ones widens the lane pairs to the block integer. Q6_K's
//! 6-bit quants (pair sums ≤ 16128) are widened every 2 products; Q8_0 uses ggml's sign trick
//! (`|w|` times `a` with `w`'s sign, pair sums ≤ 32512) and widens every product.

use core::arch::x86_64::*;

use crate::packed::{check_gemm, Layout, MAX_TOKENS, ROWS};
use crate::packed_q4k::{ACT_BIAS16, ACT_D, ACT_SUMS};
use crate::packed_q6k::{HIGH, LOW};

/// 4 bytes at `p` broadcast to every 32-bit lane.
#[inline(always)]
unsafe fn bcast(p: *const u8) -> __m256i {
    _mm256_set1_epi32((p as *const i32).read_unaligned())
}

/// The 8 block integers `Σ q·a` (rows `8h..8h+8`, one per lane) of the 32-element block whose
/// 4 weight lines start at `wb` (line stride 64) and whose activation quants start at `qa[t]`.
#[inline(always)]
unsafe fn block_sums<const NT: usize>(wb: *const u8, qa: [*const u8; NT]) -> [__m256i; NT] {
    let m4 = _mm256_set1_epi8(0x0f);
    let mut sum16 = [_mm256_setzero_si256(); NT];
    for p in 0..4 {
        let q = _mm256_loadu_si256(wb.add(64 * p) as *const __m256i);
        let lo = _mm256_and_si256(q, m4);
        let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        for t in 0..NT {
            let x = _mm256_maddubs_epi16(lo, bcast(qa[t].add(4 * p)));
            let y = _mm256_maddubs_epi16(hi, bcast(qa[t].add(16 + 4 * p)));
            sum16[t] = _mm256_add_epi16(sum16[t], _mm256_add_epi16(x, y));
        }
    }
    let ones = _mm256_set1_epi16(1);
    let mut out = [_mm256_setzero_si256(); NT];
    for t in 0..NT {
        out[t] = _mm256_madd_epi16(sum16[t], ones);
    }
    out
}

#[inline(always)]
unsafe fn rd_f32(p: *const u8) -> f32 {
    (p as *const f32).read_unaligned()
}

/// Q4_0x16, rows `8h..8h+8`, `NT` tokens; writes `out[16t + 8h + i]`.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0<const NT: usize>(
    w: *const u8,
    a: *const u8,
    a_stride: usize,
    steps: usize,
    h: usize,
    out: *mut f32,
) {
    let (sb, act) = (Layout::Q4_0x16.step_bytes(), crate::packed_x16::ACT_STEP);
    let mut acc = [_mm256_setzero_ps(); NT];
    for s in 0..steps {
        let ws = w.add(s * sb);
        for j in 0..8 {
            let dw = _mm256_cvtph_ps(_mm_loadu_si128(ws.add(32 * j + 16 * h) as *const __m128i));
            let mut qa = [a; NT];
            for t in 0..NT {
                qa[t] = a.add(t * a_stride + s * act + 32 * j);
            }
            let p = block_sums::<NT>(ws.add(256 + 256 * j + 32 * h), qa);
            for t in 0..NT {
                let at = a.add(t * a_stride + s * act);
                let bias = _mm256_set1_epi32((at.add(256 + 4 * j) as *const i32).read_unaligned());
                let v = _mm256_cvtepi32_ps(_mm256_add_epi32(p[t], bias));
                let scale = _mm256_mul_ps(dw, _mm256_set1_ps(rd_f32(at.add(288 + 4 * j))));
                acc[t] = _mm256_fmadd_ps(v, scale, acc[t]);
            }
        }
    }
    for t in 0..NT {
        _mm256_storeu_ps(out.add(ROWS * t + 8 * h), acc[t]);
    }
}

/// 8 bytes at `p` as f32 lanes.
#[inline(always)]
unsafe fn bytes_f32(p: *const u8) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i)))
}

/// Q4_Kx16, rows `8h..8h+8`, `NT` tokens; writes `out[16t + 8h + i]`.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_k<const NT: usize>(
    w: *const u8,
    a: *const u8,
    a_stride: usize,
    steps: usize,
    h: usize,
    out: *mut f32,
) {
    let (sb, act) = (Layout::Q4_Kx16.step_bytes(), crate::packed_q4k::ACT_STEP);
    let mut acc = [_mm256_setzero_ps(); NT];
    for s in 0..steps {
        let ws = w.add(s * sb);
        let d = _mm256_cvtph_ps(_mm_loadu_si128(ws.add(16 * h) as *const __m128i));
        let dmin = _mm256_cvtph_ps(_mm_loadu_si128(ws.add(32 + 16 * h) as *const __m128i));
        let mut step = [_mm256_setzero_ps(); NT];
        for j in 0..8 {
            let sc = _mm256_mul_ps(d, bytes_f32(ws.add(64 + 16 * j + 8 * h)));
            let mn = _mm256_mul_ps(dmin, bytes_f32(ws.add(192 + 16 * j + 8 * h)));
            let mut qa = [a; NT];
            for t in 0..NT {
                qa[t] = a.add(t * a_stride + s * act + 32 * j);
            }
            let p = block_sums::<NT>(ws.add(320 + 256 * j + 32 * h), qa);
            for t in 0..NT {
                let sum = rd_f32(a.add(t * a_stride + s * act + ACT_SUMS + 4 * j));
                step[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p[t]), sc, step[t]);
                step[t] = _mm256_fnmadd_ps(mn, _mm256_set1_ps(sum), step[t]);
            }
        }
        for t in 0..NT {
            let da = rd_f32(a.add(t * a_stride + s * act + ACT_D));
            acc[t] = _mm256_fmadd_ps(step[t], _mm256_set1_ps(da), acc[t]);
        }
    }
    for t in 0..NT {
        _mm256_storeu_ps(out.add(ROWS * t + 8 * h), acc[t]);
    }
}

/// Q8_0x16, rows `8h..8h+8`, `NT` tokens; writes `out[16t + 8h + i]`.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0<const NT: usize>(
    w: *const u8,
    a: *const u8,
    a_stride: usize,
    steps: usize,
    h: usize,
    out: *mut f32,
) {
    let (sb, act) = (Layout::Q8_0x16.step_bytes(), crate::packed_x16::ACT_STEP);
    let (flip, ones) = (_mm256_set1_epi8(-128), _mm256_set1_epi16(1));
    let mut acc = [_mm256_setzero_ps(); NT];
    for s in 0..steps {
        let ws = w.add(s * sb);
        for j in 0..8 {
            let dw = _mm256_cvtph_ps(_mm_loadu_si128(ws.add(32 * j + 16 * h) as *const __m128i));
            let mut sums = [_mm256_setzero_si256(); NT];
            for k in 0..8 {
                let q = _mm256_loadu_si256(ws.add(256 + 512 * j + 64 * k + 32 * h) as *const _);
                // Stored +128: flipping the top bit gives ggml's signed quant.
                let signed = _mm256_xor_si256(q, flip);
                let abs = _mm256_abs_epi8(signed);
                for t in 0..NT {
                    let qa = a.add(t * a_stride + s * act + 32 * j + 4 * k);
                    let x = _mm256_maddubs_epi16(abs, _mm256_sign_epi8(bcast(qa), signed));
                    sums[t] = _mm256_add_epi32(sums[t], _mm256_madd_epi16(x, ones));
                }
            }
            for t in 0..NT {
                let da = rd_f32(a.add(t * a_stride + s * act + 288 + 4 * j));
                let scale = _mm256_mul_ps(dw, _mm256_set1_ps(da));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[t]), scale, acc[t]);
            }
        }
    }
    for t in 0..NT {
        _mm256_storeu_ps(out.add(ROWS * t + 8 * h), acc[t]);
    }
}

/// The top 2 bits of vector `4·hh + u` moved from bit `[4, 6, 0, 2][u]` to bits 4..6.
#[inline(always)]
unsafe fn high_bits(hb: __m256i, u: usize) -> __m256i {
    let m30 = _mm256_set1_epi8(0x30);
    let v = match u {
        0 => hb,
        1 => _mm256_srli_epi16(hb, 2),
        2 => _mm256_slli_epi16(hb, 4),
        _ => _mm256_slli_epi16(hb, 2),
    };
    _mm256_and_si256(v, m30)
}

/// Q6_Kx16, rows `8h..8h+8`, `NT` tokens; writes `out[16t + 8h + i]`.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_k<const NT: usize>(
    w: *const u8,
    a: *const u8,
    a_stride: usize,
    steps: usize,
    h: usize,
    out: *mut f32,
) {
    let (sb, act) = (Layout::Q6_Kx16.step_bytes(), crate::packed_q4k::ACT_STEP);
    let (m4, ones) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi16(1));
    let mut acc = [_mm256_setzero_ps(); NT];
    for s in 0..steps {
        let ws = w.add(s * sb);
        let d = _mm256_cvtph_ps(_mm_loadu_si128(ws.add(16 * h) as *const __m128i));
        let mut step = [_mm256_setzero_ps(); NT];
        for c in 0..8 {
            // The chunk's two 16-element sub-blocks: low nibbles with the first high line,
            // then high nibbles with the second.
            for half in 0..2 {
                let sbk = 2 * c + half;
                let sc = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
                    ws.add(32 + 16 * sbk + 8 * h) as *const __m128i,
                )));
                let sc = _mm256_mul_ps(d, sc);
                let hb =
                    _mm256_loadu_si256(ws.add(HIGH + 128 * c + 64 * half + 32 * h) as *const _);
                let mut sums = [_mm256_setzero_si256(); NT];
                for t in 0..NT {
                    let at = a.add(t * a_stride + s * act + ACT_BIAS16 + 4 * sbk);
                    sums[t] = _mm256_set1_epi32((at as *const i32).read_unaligned());
                }
                for pair in 0..2 {
                    let mut wv = [_mm256_setzero_si256(); 2];
                    for i in 0..2 {
                        let p = 2 * pair + i;
                        let l =
                            _mm256_loadu_si256(ws.add(LOW + 256 * c + 64 * p + 32 * h) as *const _);
                        let l = if half == 0 {
                            l
                        } else {
                            _mm256_srli_epi16(l, 4)
                        };
                        wv[i] = _mm256_or_si256(_mm256_and_si256(l, m4), high_bits(hb, p));
                    }
                    for t in 0..NT {
                        let qa = a.add(t * a_stride + s * act + 32 * c + 16 * half + 8 * pair);
                        let x = _mm256_maddubs_epi16(wv[0], bcast(qa));
                        let y = _mm256_maddubs_epi16(wv[1], bcast(qa.add(4)));
                        sums[t] = _mm256_add_epi32(
                            sums[t],
                            _mm256_madd_epi16(_mm256_add_epi16(x, y), ones),
                        );
                    }
                }
                for t in 0..NT {
                    step[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[t]), sc, step[t]);
                }
            }
        }
        for t in 0..NT {
            let da = rd_f32(a.add(t * a_stride + s * act + ACT_D));
            acc[t] = _mm256_fmadd_ps(step[t], _mm256_set1_ps(da), acc[t]);
        }
    }
    for t in 0..NT {
        _mm256_storeu_ps(out.add(ROWS * t + 8 * h), acc[t]);
    }
}

type Pass = unsafe fn(*const u8, *const u8, usize, usize, usize, *mut f32);

/// Checks the lengths for `layout`, then runs `passes[n-1]` over both row halves for every
/// run of up to `passes.len()` tokens.
fn run(
    layout: Layout,
    passes: &[Pass],
    w: &[u8],
    a: &[u8],
    a_stride: usize,
    ntok: usize,
    out: &mut [f32],
) {
    let steps = check_gemm(layout, w, a, a_stride, ntok, out);
    debug_assert!(ntok <= MAX_TOKENS);
    let mut t0 = 0;
    while t0 < ntok {
        let nt = passes.len().min(ntok - t0);
        for h in 0..2 {
            // SAFETY: the AVX2 table, the only one holding these kernels, is handed out only
            // when AVX2, FMA and F16C are present; `check_gemm` checked that `w` holds `steps`
            // steps, every token's activation steps lie inside `a` and `out` holds `ntok` × 16
            // values, so tokens `t0..t0 + nt` and rows `8h..8h + 8` are in bounds.
            unsafe {
                let o = out.as_mut_ptr().add(ROWS * t0);
                let at = a.as_ptr().add(t0 * a_stride);
                passes[nt - 1](w.as_ptr(), at, a_stride, steps, h, o);
            }
        }
        t0 += nt;
    }
}

/// Q4_0x16 microkernel (a `PackedGemmFn`).
pub(super) fn gemm_q4_0x16(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let passes: [Pass; 4] = [q4_0::<1>, q4_0::<2>, q4_0::<3>, q4_0::<4>];
    run(Layout::Q4_0x16, &passes, w, a, a_stride, ntok, out)
}

/// Q4_Kx16 microkernel (a `PackedGemmFn`).
pub(super) fn gemm_q4_kx16(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let passes: [Pass; 4] = [q4_k::<1>, q4_k::<2>, q4_k::<3>, q4_k::<4>];
    run(Layout::Q4_Kx16, &passes, w, a, a_stride, ntok, out)
}

/// Q8_0x16 microkernel (a `PackedGemmFn`).
pub(super) fn gemm_q8_0x16(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let passes: [Pass; 4] = [q8_0::<1>, q8_0::<2>, q8_0::<3>, q8_0::<4>];
    run(Layout::Q8_0x16, &passes, w, a, a_stride, ntok, out)
}

/// Q6_Kx16 microkernel (a `PackedGemmFn`; 3 tokens per pass).
pub(super) fn gemm_q6_kx16(w: &[u8], a: &[u8], a_stride: usize, ntok: usize, out: &mut [f32]) {
    let passes: [Pass; 3] = [q6_k::<1>, q6_k::<2>, q6_k::<3>];
    run(Layout::Q6_Kx16, &passes, w, a, a_stride, ntok, out)
}
