//! AVX-512 multi-token dot products for the K-quants: one Q4_K or Q6_K weight row against up
//! to [`MAX_MULTI`] Q8_K activation rows, decoding each super-block's scales and quants once
//! into an L1 scratch and reusing them for every token (prompt processing). Same integer
//! arithmetic per token as the single-token kernels in [`super::avx512`]; the f32 sums are
//! split per chunk of super-blocks.

use core::arch::x86_64::*;

use super::avx2::{self, f16x, hsum_ps, rd16};
use crate::blocks::{Block, BlockQ4K, BlockQ6K, BlockQ8K};
use crate::kernels::MAX_MULTI;

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn join(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn hsum512(v: __m512) -> f32 {
    let lo = _mm512_castps512_ps256(v);
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    hsum_ps(_mm256_add_ps(lo, hi))
}

/// `acc + Σ pairs (x·y)` in i32 lanes with the real `vpdpwssd`: LLVM otherwise splits the
/// intrinsic into `vpmaddwd` + `vpaddd`, one more instruction in the hottest loop.
#[inline]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn dpwssd(acc: __m512i, x: __m512i, y: __m512i) -> __m512i {
    let mut acc = acc;
    core::arch::asm!(
        "vpdpwssd {acc}, {x}, {y}",
        acc = inout(zmm_reg) acc,
        x = in(zmm_reg) x,
        y = in(zmm_reg) y,
        options(pure, nomem, nostack, preserves_flags)
    );
    acc
}

#[inline]
unsafe fn rd_f32(p: *const u8) -> f32 {
    f32::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; 4]))
}

/// Super-blocks decoded per chunk (their scratch, ~9 KB, stays in L1).
const CHUNK: usize = 16;
/// Tokens per register tile.
const NT: usize = 4;

/// One decoded super-block: four 64-byte quant vectors (unsigned), the four i16 scale vectors
/// that `vpdpwssd` multiplies them by, the per-16-element offset weights (Q4_K: mins, each
/// twice; Q6_K: the scales) and the f16 factors as f32.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Decoded {
    q: [__m512i; 4],
    sc: [__m512i; 4],
    /// Q6_K: the 16 scales (i16) for the −32 offset through the Q8_K `bsums`.
    off: __m256i,
    /// Q4_K: `dmin · m_j` for the 8 sub-blocks (exact in f32).
    mins: __m256,
    d: __m512,
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn decode_q4_k(x: *const u8) -> Decoded {
    let m4 = _mm512_set1_epi8(0x0f);
    let sm = avx2::k4_scales(&core::ptr::read_unaligned(x.add(4) as *const [u8; 12]));
    let mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(
        sm.as_ptr().add(8) as *const __m128i
    )));
    let mut dec = Decoded {
        q: [_mm512_setzero_si512(); 4],
        sc: [_mm512_setzero_si512(); 4],
        off: _mm256_setzero_si256(),
        mins: _mm256_mul_ps(mins, _mm256_set1_ps(f16x(rd16(x.add(2))))),
        d: _mm512_set1_ps(f16x(rd16(x))),
    };
    for c in 0..4 {
        let q = _mm256_loadu_si256(x.add(16 + 32 * c) as *const __m256i);
        dec.q[c] = _mm512_and_si512(join(q, _mm256_srli_epi16(q, 4)), m4);
        dec.sc[c] = join(
            _mm256_set1_epi16(sm[2 * c] as i16),
            _mm256_set1_epi16(sm[2 * c + 1] as i16),
        );
    }
    dec
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn decode_q6_k(x: *const u8) -> Decoded {
    let m4 = _mm512_set1_epi8(0x0f);
    let m3 = _mm512_set1_epi8(0x03);
    // i16 lane l of step j0 takes scale j0 + l/8.
    let base = _mm512_set_epi64(
        0x0003_0003_0003_0003,
        0x0003_0003_0003_0003,
        0x0002_0002_0002_0002,
        0x0002_0002_0002_0002,
        0x0001_0001_0001_0001,
        0x0001_0001_0001_0001,
        0,
        0,
    );
    let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(x.add(192) as *const __m128i));
    let scz = _mm512_castsi256_si512(sc16);
    let mut dec = Decoded {
        q: [_mm512_setzero_si512(); 4],
        sc: [_mm512_setzero_si512(); 4],
        off: sc16,
        mins: _mm256_setzero_ps(),
        d: _mm512_set1_ps(f16x(rd16(x.add(208)))),
    };
    for h in 0..2 {
        let qa = _mm256_loadu_si256(x.add(64 * h) as *const __m256i);
        let qb = _mm256_loadu_si256(x.add(64 * h + 32) as *const __m256i);
        let qh = _mm256_loadu_si256(x.add(128 + 32 * h) as *const __m256i);
        let qab = join(qa, qb);
        let qhh = join(qh, _mm256_srli_epi16(qh, 2));
        dec.q[2 * h] = _mm512_or_si512(
            _mm512_and_si512(qab, m4),
            _mm512_slli_epi16(_mm512_and_si512(qhh, m3), 4),
        );
        dec.q[2 * h + 1] = _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi16(qab, 4), m4),
            _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qhh, 4), m3), 4),
        );
        for p in 0..2 {
            let j0 = (8 * h + 4 * p) as i16;
            let idx = _mm512_add_epi16(base, _mm512_set1_epi16(j0));
            dec.sc[2 * h + p] = _mm512_permutexvar_epi16(idx, scz);
        }
    }
    dec
}

/// Activation byte offset of the 64 Q8_K quants that meet `Decoded::q[c]`.
#[inline]
fn act_offset(q6: bool, c: usize) -> usize {
    if q6 {
        4 + 128 * (c / 2) + 64 * (c % 2)
    } else {
        4 + 64 * c
    }
}

/// `N` tokens (`y[t]`: their Q8_K rows at the chunk's first super-block; `ms[t]`: their
/// per-sub-block `d_a · Σ a` for the Q4_K mins, 8 per super-block) against decoded super-blocks.
// Index loops on purpose: the arrays are register tiles that must unroll to constants.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tile<const Q6: bool, const N: usize>(
    dec: &[Decoded],
    y: [*const u8; N],
    ms: [*const f32; N],
) -> [f32; N] {
    let mut acc = [_mm512_setzero_ps(); N];
    let mut accm = [_mm256_setzero_ps(); N];
    for (i, b) in dec.iter().enumerate() {
        for t in 0..N {
            let yb = y[t].add(i * BlockQ8K::BYTES);
            let scale = _mm512_mul_ps(b.d, _mm512_set1_ps(rd_f32(yb)));
            // Two independent chains halve the `vpdpwssd` latency on the critical path.
            let mut part = [_mm512_setzero_si512(); 2];
            for c in 0..4 {
                let yy = _mm512_loadu_si512(yb.add(act_offset(Q6, c)) as *const _);
                part[c % 2] = dpwssd(part[c % 2], _mm512_maddubs_epi16(b.q[c], yy), b.sc[c]);
            }
            let isum = _mm512_add_epi32(part[0], part[1]);
            if Q6 {
                // Offset term: 32 · Σ_j sc_j · bsums_j.
                let bsums = _mm256_loadu_si256(yb.add(260) as *const __m256i);
                let off = _mm256_madd_epi16(b.off, bsums);
                let lo = _mm512_castsi512_si256(isum);
                let hi = _mm512_extracti64x4_epi64(isum, 1);
                let tot = _mm256_sub_epi32(_mm256_add_epi32(lo, hi), _mm256_slli_epi32(off, 5));
                acc[t] = _mm512_fmadd_ps(
                    scale,
                    _mm512_castps256_ps512(_mm256_cvtepi32_ps(tot)),
                    acc[t],
                );
            } else {
                accm[t] = _mm256_fmadd_ps(b.mins, _mm256_loadu_ps(ms[t].add(8 * i)), accm[t]);
                acc[t] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(isum), acc[t]);
            }
        }
    }
    let mut out = [0f32; N];
    for t in 0..N {
        out[t] = hsum512(acc[t]) - hsum_ps(accm[t]);
    }
    out
}

/// `d_a · Σ a` per 32-element sub-block of `nb` Q8_K blocks (from their `bsums`), into `out`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn sub_block_sums(y: *const u8, nb: usize, out: *mut f32) {
    let ones = _mm256_set1_epi16(1);
    for i in 0..nb {
        let yb = y.add(i * BlockQ8K::BYTES);
        let bsums = _mm256_loadu_si256(yb.add(260) as *const __m256i);
        let s = _mm256_cvtepi32_ps(_mm256_madd_epi16(bsums, ones));
        _mm256_storeu_ps(out.add(8 * i), _mm256_mul_ps(s, _mm256_set1_ps(rd_f32(yb))));
    }
}

/// The multi-row, multi-token dot: per chunk of super-blocks, the tokens' sub-block sums once,
/// then per row: decode the chunk once and sweep the tokens in register tiles of `NT`.
/// `out[r · ntok + t]` accumulates from 0.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn multi<const KIND: u8>(
    w: *const u8,
    nrows: usize,
    a: *const u8,
    a_stride: usize,
    ntok: usize,
    nb: usize,
    sums: &mut [f32],
    out: &mut [f32],
) {
    let q6 = KIND == KIND_Q6_K;
    let bytes = match KIND {
        KIND_Q6_K => BlockQ6K::BYTES,
        _ => BlockQ4K::BYTES,
    };
    let zero = Decoded {
        q: [_mm512_setzero_si512(); 4],
        sc: [_mm512_setzero_si512(); 4],
        off: _mm256_setzero_si256(),
        mins: _mm256_setzero_ps(),
        d: _mm512_setzero_ps(),
    };
    let mut dec = [zero; CHUNK];
    for o in out[..nrows * ntok].iter_mut() {
        *o = 0.0;
    }
    let mut first = 0;
    while first < nb {
        let len = CHUNK.min(nb - first);
        let row = |t: usize| a.add(t * a_stride + first * BlockQ8K::BYTES);
        let sp = sums.as_mut_ptr();
        if !q6 {
            for t in 0..ntok {
                sub_block_sums(row(t), len, sp.add(t * 8 * CHUNK));
            }
        }
        let ms = |t: usize| sp.add(t * 8 * CHUNK) as *const f32;
        for r in 0..nrows {
            let wr = w.add(r * nb * bytes);
            for (i, d) in dec[..len].iter_mut().enumerate() {
                let x = wr.add((first + i) * bytes);
                *d = match KIND {
                    KIND_Q6_K => decode_q6_k(x),
                    _ => decode_q4_k(x),
                };
            }
            let o = &mut out[r * ntok..(r + 1) * ntok];
            let mut t = 0;
            while t + NT <= ntok {
                let y = [row(t), row(t + 1), row(t + 2), row(t + 3)];
                let m = [ms(t), ms(t + 1), ms(t + 2), ms(t + 3)];
                let v = if q6 {
                    tile::<true, NT>(&dec[..len], y, m)
                } else {
                    tile::<false, NT>(&dec[..len], y, m)
                };
                for j in 0..NT {
                    o[t + j] += v[j];
                }
                t += NT;
            }
            while t < ntok {
                o[t] += if q6 {
                    tile::<true, 1>(&dec[..len], [row(t)], [ms(t)])[0]
                } else {
                    tile::<false, 1>(&dec[..len], [row(t)], [ms(t)])[0]
                };
                t += 1;
            }
        }
        first += len;
    }
}

const KIND_Q4_K: u8 = 0;
const KIND_Q6_K: u8 = 1;

/// Checks a multi-token call's lengths; returns the number of weight blocks.
#[allow(clippy::too_many_arguments)]
fn check_multi(
    block_bytes: usize,
    w: &[u8],
    nrows: usize,
    a: &[u8],
    a_stride: usize,
    ntok: usize,
    n: usize,
    out: &[f32],
) -> usize {
    assert!(nrows >= 1 && n % 256 == 0, "multi dot: shape");
    let nb = n / 256;
    assert_eq!(w.len(), nrows * nb * block_bytes, "multi dot: weight bytes");
    let row = nb * BlockQ8K::BYTES;
    assert!((1..=MAX_MULTI).contains(&ntok), "multi dot: token count");
    assert!(
        a_stride >= row && a.len() >= (ntok - 1) * a_stride + row,
        "multi dot: activations"
    );
    assert!(out.len() >= nrows * ntok, "multi dot: output length");
    nb
}

macro_rules! multi_wrapper {
    ($name:ident, $kind:expr, $bytes:expr) => {
        /// A `VecDotMultiFn`; only reachable through the AVX-512 table.
        pub(super) fn $name(
            w: &[u8],
            nrows: usize,
            a: &[u8],
            a_stride: usize,
            ntok: usize,
            n: usize,
            out: &mut [f32],
        ) {
            let nb = check_multi($bytes, w, nrows, a, a_stride, ntok, n, out);
            let mut sums = [0f32; 8 * CHUNK * MAX_MULTI];
            let (w, a) = (w.as_ptr(), a.as_ptr());
            // SAFETY: the AVX-512 table is handed out only when its features are present;
            // `check_multi` bounded every read to `w` and `a`; `sums` holds 8 · CHUNK floats
            // for each of the ≤ MAX_MULTI tokens.
            unsafe { multi::<{ $kind }>(w, nrows, a, a_stride, ntok, nb, &mut sums, out) }
        }
    };
}

multi_wrapper!(multi_q4_k_q8_k, KIND_Q4_K, BlockQ4K::BYTES);
multi_wrapper!(multi_q6_k_q8_k, KIND_Q6_K, BlockQ6K::BYTES);
