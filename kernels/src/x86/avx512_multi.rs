//! AVX-512 multi-token dot products for the K-quants: one Q4_K or Q6_K weight row against up
//! to [`MAX_MULTI`] Q8_K activation rows, decoding each super-block's scales and quants once
//! into an L1 scratch and reusing them for every token (prompt processing). Same integer
//! arithmetic per token as the single-token kernels in [`super::avx512`]; the f32 sums are
//! split per chunk of super-blocks.

use core::arch::x86_64::*;

use super::avx2::{self, f16x, hsum_ps, rd16};
use crate::blocks::{check, Block, BlockQ4K, BlockQ6K, BlockQ8K};
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
    off: __m256i,
    d: f32,
    dmin: f32,
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn decode_q4_k(x: *const u8) -> Decoded {
    let m4 = _mm512_set1_epi8(0x0f);
    let sm = avx2::k4_scales(&core::ptr::read_unaligned(x.add(4) as *const [u8; 12]));
    let mins = _mm_loadl_epi64(sm.as_ptr().add(8) as *const __m128i);
    let mut dec = Decoded {
        q: [_mm512_setzero_si512(); 4],
        sc: [_mm512_setzero_si512(); 4],
        off: _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins)),
        d: f16x(rd16(x)),
        dmin: f16x(rd16(x.add(2))),
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
        d: f16x(rd16(x.add(208))),
        dmin: 0.0,
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

/// `NT` tokens (`y[t]`: their Q8_K rows at super-block `first`) against decoded super-blocks.
// Index loops on purpose: the arrays are register tiles that must unroll to constants.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tile<const Q6: bool, const N: usize>(dec: &[Decoded], y: [*const u8; N]) -> [f32; N] {
    let mut acc = [_mm512_setzero_ps(); N];
    let mut accm = [_mm256_setzero_ps(); N];
    for (i, b) in dec.iter().enumerate() {
        for t in 0..N {
            let yb = y[t].add(i * BlockQ8K::BYTES);
            let yd = rd_f32(yb);
            let bsums = _mm256_loadu_si256(yb.add(260) as *const __m256i);
            let off = _mm256_madd_epi16(b.off, bsums);
            let mut isum = _mm512_setzero_si512();
            for c in 0..4 {
                let yy = _mm512_loadu_si512(yb.add(act_offset(Q6, c)) as *const _);
                isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(b.q[c], yy), b.sc[c]);
            }
            if Q6 {
                // Offset term: 32 · Σ_j sc_j · bsums_j.
                let lo = _mm512_castsi512_si256(isum);
                let hi = _mm512_extracti64x4_epi64(isum, 1);
                let tot = _mm256_sub_epi32(_mm256_add_epi32(lo, hi), _mm256_slli_epi32(off, 5));
                acc[t] = _mm512_fmadd_ps(
                    _mm512_set1_ps(b.d * yd),
                    _mm512_castps256_ps512(_mm256_cvtepi32_ps(tot)),
                    acc[t],
                );
            } else {
                let m = _mm256_set1_ps(b.dmin * yd);
                accm[t] = _mm256_fmadd_ps(m, _mm256_cvtepi32_ps(off), accm[t]);
                acc[t] =
                    _mm512_fmadd_ps(_mm512_set1_ps(b.d * yd), _mm512_cvtepi32_ps(isum), acc[t]);
            }
        }
    }
    let mut out = [0f32; N];
    for t in 0..N {
        out[t] = hsum512(acc[t]) - hsum_ps(accm[t]);
    }
    out
}

/// The multi-token dot: per chunk of super-blocks, decode once, then sweep the tokens in
/// register tiles of `NT`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn multi<const Q6: bool>(
    w: *const u8,
    a: *const u8,
    a_stride: usize,
    ntok: usize,
    nb: usize,
    out: &mut [f32],
) {
    let bytes = if Q6 { BlockQ6K::BYTES } else { BlockQ4K::BYTES };
    let zero = Decoded {
        q: [_mm512_setzero_si512(); 4],
        sc: [_mm512_setzero_si512(); 4],
        off: _mm256_setzero_si256(),
        d: 0.0,
        dmin: 0.0,
    };
    let mut dec = [zero; CHUNK];
    for o in out[..ntok].iter_mut() {
        *o = 0.0;
    }
    let mut first = 0;
    while first < nb {
        let len = CHUNK.min(nb - first);
        for (i, d) in dec[..len].iter_mut().enumerate() {
            let x = w.add((first + i) * bytes);
            *d = if Q6 { decode_q6_k(x) } else { decode_q4_k(x) };
        }
        let row = |t: usize| a.add(t * a_stride + first * BlockQ8K::BYTES);
        let mut t = 0;
        while t + NT <= ntok {
            let r = tile::<Q6, NT>(&dec[..len], [row(t), row(t + 1), row(t + 2), row(t + 3)]);
            for j in 0..NT {
                out[t + j] += r[j];
            }
            t += NT;
        }
        while t < ntok {
            out[t] += tile::<Q6, 1>(&dec[..len], [row(t)])[0];
            t += 1;
        }
        first += len;
    }
}

/// Checks a multi-token call's lengths; returns the number of weight blocks.
fn check_multi<W: Block>(
    w: &[u8],
    a: &[u8],
    a_stride: usize,
    ntok: usize,
    n: usize,
    out: &[f32],
) -> usize {
    let nb = check::<W>(n, w.len());
    let row = nb * BlockQ8K::BYTES;
    assert!((1..=MAX_MULTI).contains(&ntok), "multi dot: token count");
    assert!(
        a_stride >= row && a.len() >= (ntok - 1) * a_stride + row,
        "multi dot: activations"
    );
    assert!(out.len() >= ntok, "multi dot: output length");
    nb
}

macro_rules! multi_wrapper {
    ($name:ident, $q6:literal, $w:ty) => {
        /// A `VecDotMultiFn`; only reachable through the AVX-512 table.
        pub(super) fn $name(
            w: &[u8],
            a: &[u8],
            a_stride: usize,
            ntok: usize,
            n: usize,
            out: &mut [f32],
        ) {
            let nb = check_multi::<$w>(w, a, a_stride, ntok, n, out);
            let (w, a) = (w.as_ptr(), a.as_ptr());
            // SAFETY: the AVX-512 table is handed out only when its features are present;
            // `check_multi` bounded every read to `w` and `a`.
            unsafe { multi::<$q6>(w, a, a_stride, ntok, nb, out) }
        }
    };
}

multi_wrapper!(multi_q4_k_q8_k, false, BlockQ4K);
multi_wrapper!(multi_q6_k_q8_k, true, BlockQ6K);
