//! AVX-512 (F/BW/VL + VNNI) kernels. The table requires AVX2+FMA+F16C as well (every
//! AVX-512 CPU has them) and reuses the AVX2 kernels where no 512-bit/VNNI version exists yet:
//! Q2_K/Q3_K/Q5_K/Q8_K/Q8_1 dots, the Q8 quantizers and the f32 vector ops come from
//! [`super::avx2`] and its siblings. 512-bit here: Q4_K, Q6_K (`vpdpwssd`), float dots.
//!
//! The legacy quantized dots use `vpdpbusd` (u8·i8 → i32) twice per block — `(q+k)·y − k·y`
//! with unsigned `q+k` — which is exact for every byte value (no `maddubs` saturation).

use core::arch::x86_64::*;

use super::avx2::{self, drive2, dxy, f16x, hsum_ps, rd16};
use crate::blocks::{
    check, Block, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K,
    BlockQ8_0, BlockQ8_1,
};
use crate::kernels::Kernels;
use crate::scalar::dot;
use crate::types::QuantType;

fn supported() -> bool {
    avx2::supported()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

macro_rules! tf {
    ($($item:item)*) => {
        $(
            #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
            $item
        )*
    };
}

tf! {
    #[inline]
    unsafe fn ld(p: *const u8) -> __m256i {
        _mm256_loadu_si256(p as *const __m256i)
    }

    #[inline]
    unsafe fn nibbles32(p: *const u8) -> __m256i {
        let q = _mm_loadu_si128(p as *const __m128i);
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f))
    }

    #[inline]
    unsafe fn bytes_from_bits(bits: u32) -> __m256i {
        // AVX-512BW/VL: a mask register straight from the bits.
        _mm256_movm_epi8(bits)
    }

    /// Σ (u·y) − k·Σy per group of 4 bytes, `u` unsigned, `k` the unsigned offset in `u`.
    #[inline]
    unsafe fn dot_off(u: __m256i, y: __m256i, k: __m256i) -> __m256i {
        let z = _mm256_setzero_si256();
        _mm256_sub_epi32(_mm256_dpbusd_epi32(z, u, y), _mm256_dpbusd_epi32(z, k, y))
    }

    unsafe fn q4_0_q8_0(w: *const u8, a: *const u8, nb: usize) -> f32 {
        let k8 = _mm256_set1_epi8(8);
        drive2(nb, |i, acc| {
            let x = w.add(i * BlockQ4_0::BYTES);
            let y = a.add(i * BlockQ8_0::BYTES);
            let p = dot_off(nibbles32(x.add(2)), ld(y.add(2)), k8);
            _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
        })
    }

    unsafe fn q4_1_q8_1(w: *const u8, a: *const u8, nb: usize) -> f32 {
        let mut summ = 0.0f32;
        for i in 0..nb {
            let x = w.add(i * BlockQ4_1::BYTES);
            let y = a.add(i * BlockQ8_1::BYTES);
            summ += f16x(rd16(x.add(2))) * f16x(rd16(y.add(2)));
        }
        let dot = drive2(nb, |i, acc| {
            let x = w.add(i * BlockQ4_1::BYTES);
            let y = a.add(i * BlockQ8_1::BYTES);
            let p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles32(x.add(4)), ld(y.add(4)));
            _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
        });
        dot + summ
    }

    unsafe fn q5_0_q8_0(w: *const u8, a: *const u8, nb: usize) -> f32 {
        let b4 = _mm256_set1_epi8(0x10);
        let k16 = _mm256_set1_epi8(16);
        drive2(nb, |i, acc| {
            let x = w.add(i * BlockQ5_0::BYTES);
            let y = a.add(i * BlockQ8_0::BYTES);
            let qh = u32::from_le_bytes(core::ptr::read_unaligned(x.add(2) as *const [u8; 4]));
            let q = _mm256_or_si256(nibbles32(x.add(6)), _mm256_and_si256(bytes_from_bits(qh), b4));
            let p = dot_off(q, ld(y.add(2)), k16);
            _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
        })
    }

    unsafe fn q5_1_q8_1(w: *const u8, a: *const u8, nb: usize) -> f32 {
        let mut summ = 0.0f32;
        for i in 0..nb {
            let x = w.add(i * BlockQ5_1::BYTES);
            let y = a.add(i * BlockQ8_1::BYTES);
            summ += f16x(rd16(x.add(2))) * f16x(rd16(y.add(2)));
        }
        let b4 = _mm256_set1_epi8(0x10);
        let dot = drive2(nb, |i, acc| {
            let x = w.add(i * BlockQ5_1::BYTES);
            let y = a.add(i * BlockQ8_1::BYTES);
            let qh = u32::from_le_bytes(core::ptr::read_unaligned(x.add(4) as *const [u8; 4]));
            let q = _mm256_or_si256(nibbles32(x.add(8)), _mm256_and_si256(bytes_from_bits(qh), b4));
            let p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, ld(y.add(4)));
            _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
        });
        dot + summ
    }

    unsafe fn q8_0_q8_0(w: *const u8, a: *const u8, nb: usize) -> f32 {
        let k128 = _mm256_set1_epi8(-128);
        drive2(nb, |i, acc| {
            let x = w.add(i * BlockQ8_0::BYTES);
            let y = a.add(i * BlockQ8_0::BYTES);
            // x + 128 as unsigned = x XOR 0x80.
            let u = _mm256_xor_si256(ld(x.add(2)), k128);
            let p = dot_off(u, ld(y.add(2)), k128);
            _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
        })
    }

    /// Two 256-bit halves into one 512-bit vector (`lo` in the low half).
    #[inline]
    unsafe fn join(lo: __m256i, hi: __m256i) -> __m512i {
        _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1)
    }

    /// Q4_K: one 64-element chunk per 512-bit step (low nibbles = sub-block 2c in the low
    /// half, high nibbles = 2c+1 in the high half, matching 64 contiguous Q8_K bytes);
    /// `maddubs` then `vpdpwssd` with the two sub-block scales.
    unsafe fn q4_k_q8_k(w: *const u8, a: *const u8, nb: usize) -> f32 {
        let mut acc = _mm512_setzero_ps();
        let mut accm = _mm256_setzero_ps();
        let m4 = _mm512_set1_epi8(0x0f);
        for i in 0..nb {
            let x = w.add(i * BlockQ4K::BYTES);
            let y = a.add(i * BlockQ8K::BYTES);
            let yd = f32::from_le_bytes(core::ptr::read_unaligned(y as *const [u8; 4]));
            let d = f16x(rd16(x)) * yd;
            let dmin = f16x(rd16(x.add(2))) * yd;
            let sm = avx2::k4_scales(&core::ptr::read_unaligned(x.add(4) as *const [u8; 12]));
            let mins = _mm_loadl_epi64(sm.as_ptr().add(8) as *const __m128i);
            let mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins));
            let pm = _mm256_madd_epi16(ld(y.add(260)), mins16);
            accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(pm), accm);
            let mut isum = _mm512_setzero_si512();
            for c in 0..4 {
                let q = ld(x.add(16 + 32 * c));
                let qq = _mm512_and_si512(join(q, _mm256_srli_epi16(q, 4)), m4);
                let yy = _mm512_loadu_si512(y.add(4 + 64 * c) as *const _);
                let sc = join(
                    _mm256_set1_epi16(sm[2 * c] as i16),
                    _mm256_set1_epi16(sm[2 * c + 1] as i16),
                );
                isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(qq, yy), sc);
            }
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(isum), acc);
        }
        hsum512(acc) - hsum_ps(accm)
    }

    /// Q6_K: two 32-element quarters per 512-bit step; the −32 offset is applied once per
    /// block through the Q8_K `bsums` (Σ scale·bsum·32), so `a` must be a valid Q8_K row
    /// (bsums = sums of qs, as `quantize_row_q8_k` writes it; the scalar Q4_K/Q5_K use them too).
    unsafe fn q6_k_q8_k(w: *const u8, a: *const u8, nb: usize) -> f32 {
        let mut acc = _mm512_setzero_ps();
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
        for i in 0..nb {
            let x = w.add(i * BlockQ6K::BYTES);
            super::prefetch_ahead(x, BlockQ6K::BYTES);
            let y = a.add(i * BlockQ8K::BYTES);
            let yd = f32::from_le_bytes(core::ptr::read_unaligned(y as *const [u8; 4]));
            let d = f16x(rd16(x.add(208))) * yd;
            let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(x.add(192) as *const __m128i));
            let scz = _mm512_castsi256_si512(sc16);
            // Offset term: 32 · Σ_j sc_j · bsums_j.
            let off = _mm256_madd_epi16(sc16, ld(y.add(260)));
            let mut isum = _mm512_setzero_si512();
            for h in 0..2 {
                let qa = ld(x.add(64 * h));
                let qb = ld(x.add(64 * h + 32));
                let qh = ld(x.add(128 + 32 * h));
                let qab = join(qa, qb);
                let qhh = join(qh, _mm256_srli_epi16(qh, 2));
                let v01 = _mm512_or_si512(
                    _mm512_and_si512(qab, m4),
                    _mm512_slli_epi16(_mm512_and_si512(qhh, m3), 4),
                );
                let v23 = _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16(qab, 4), m4),
                    _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qhh, 4), m3), 4),
                );
                for (p, v) in [v01, v23].iter().enumerate() {
                    let j0 = (8 * h + 4 * p) as i16;
                    let idx = _mm512_add_epi16(base, _mm512_set1_epi16(j0));
                    let sc = _mm512_permutexvar_epi16(idx, scz);
                    let yy = _mm512_loadu_si512(y.add(4 + 128 * h + 64 * p) as *const _);
                    isum = _mm512_dpwssd_epi32(isum, _mm512_maddubs_epi16(*v, yy), sc);
                }
            }
            let lo = _mm512_castsi512_si256(isum);
            let hi = _mm512_extracti64x4_epi64(isum, 1);
            let tot = _mm256_sub_epi32(_mm256_add_epi32(lo, hi), _mm256_slli_epi32(off, 5));
            acc = _mm512_fmadd_ps(
                _mm512_set1_ps(d),
                _mm512_castps256_ps512(_mm256_cvtepi32_ps(tot)),
                acc,
            );
        }
        hsum512(acc)
    }

    #[inline]
    unsafe fn hsum512(v: __m512) -> f32 {
        let lo = _mm512_castps512_ps256(v);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
        hsum_ps(_mm256_add_ps(lo, hi))
    }

    unsafe fn dot_f32_raw(a: *const f32, b: *const f32, n: usize) -> (f32, usize) {
        let mut s = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (k, sk) in s.iter_mut().enumerate() {
                let o = i + 16 * k;
                *sk = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(o)), _mm512_loadu_ps(b.add(o)), *sk);
            }
            i += 64;
        }
        while i + 16 <= n {
            s[0] = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(i)), _mm512_loadu_ps(b.add(i)), s[0]);
            i += 16;
        }
        let t = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]));
        (hsum512(t), i)
    }

    #[inline]
    unsafe fn cvt_half(p: *const u8, bf16: bool) -> __m512 {
        let h = _mm256_loadu_si256(p as *const __m256i);
        if bf16 {
            _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16))
        } else {
            _mm512_cvtph_ps(h)
        }
    }

    unsafe fn dot_half_raw(w: *const u8, x: *const f32, n: usize, bf16: bool) -> (f32, usize) {
        let mut s = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= n {
            for (k, sk) in s.iter_mut().enumerate() {
                let o = i + 16 * k;
                *sk = _mm512_fmadd_ps(cvt_half(w.add(2 * o), bf16), _mm512_loadu_ps(x.add(o)), *sk);
            }
            i += 64;
        }
        while i + 16 <= n {
            s[0] = _mm512_fmadd_ps(cvt_half(w.add(2 * i), bf16), _mm512_loadu_ps(x.add(i)), s[0]);
            i += 16;
        }
        let t = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]));
        (hsum512(t), i)
    }
}

// SAFETY (applies to every `unsafe` block below): these wrappers are only reachable through
// the `AVX512` table, which `crate::kernels` hands out only when `supported()` (AVX2, FMA,
// F16C, AVX-512 F/BW/VL/VNNI) is true. Lengths are checked before any pointer is read.

macro_rules! vec_dot_wrapper {
    ($name:ident, $raw:ident, $w:ty, $a:ty) => {
        fn $name(w: &[u8], a: &[u8], n: usize) -> f32 {
            let nb = check::<$w>(n, w.len());
            check::<$a>(n, a.len());
            // SAFETY: see the comment above the wrappers (features present, lengths checked).
            unsafe { $raw(w.as_ptr(), a.as_ptr(), nb) }
        }
    };
}

vec_dot_wrapper!(vec_dot_q4_0_q8_0, q4_0_q8_0, BlockQ4_0, BlockQ8_0);
vec_dot_wrapper!(vec_dot_q4_1_q8_1, q4_1_q8_1, BlockQ4_1, BlockQ8_1);
vec_dot_wrapper!(vec_dot_q5_0_q8_0, q5_0_q8_0, BlockQ5_0, BlockQ8_0);
vec_dot_wrapper!(vec_dot_q5_1_q8_1, q5_1_q8_1, BlockQ5_1, BlockQ8_1);
vec_dot_wrapper!(vec_dot_q8_0_q8_0, q8_0_q8_0, BlockQ8_0, BlockQ8_0);
vec_dot_wrapper!(vec_dot_q4_k_q8_k, q4_k_q8_k, BlockQ4K, BlockQ8K);
vec_dot_wrapper!(vec_dot_q6_k_q8_k, q6_k_q8_k, BlockQ6K, BlockQ8K);

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f32: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_f32_raw(a.as_ptr(), b.as_ptr(), a.len()) };
    s + dot::dot_f32(&a[i..], &b[i..])
}

fn dot_f16_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_f16_f32: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_half_raw(w.as_ptr(), x.as_ptr(), x.len(), false) };
    s + dot::dot_f16_f32(&w[2 * i..], &x[i..])
}

fn dot_bf16_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_bf16_f32: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_half_raw(w.as_ptr(), x.as_ptr(), x.len(), true) };
    s + dot::dot_bf16_f32(&w[2 * i..], &x[i..])
}

/// The AVX-512 (F/BW/VL/VNNI) table.
pub static AVX512: Kernels = Kernels {
    name: "avx512",
    supported,
    vec_dots: x86_vec_dots![
        (QuantType::Q4_0, vec_dot_q4_0_q8_0),
        (QuantType::Q4_1, vec_dot_q4_1_q8_1),
        (QuantType::Q5_0, vec_dot_q5_0_q8_0),
        (QuantType::Q5_1, vec_dot_q5_1_q8_1),
        (QuantType::Q8_0, vec_dot_q8_0_q8_0),
        (QuantType::Q4_K, vec_dot_q4_k_q8_k),
        (QuantType::Q6_K, vec_dot_q6_k_q8_k),
    ],
    quantize_row_q8_0: avx2::AVX2.quantize_row_q8_0,
    quantize_row_q8_1: avx2::AVX2.quantize_row_q8_1,
    quantize_row_q8_k: avx2::AVX2.quantize_row_q8_k,
    dot_f16_f32,
    dot_bf16_f32,
    dot_f32,
    float_gemm: Some(super::avx512_float_gemm::float_gemm),
    rms_norm: avx2::AVX2.rms_norm,
    silu_mul: avx2::AVX2.silu_mul,
    gelu_mul: crate::scalar::vecops::gelu_mul,
    add: avx2::AVX2.add,
    scale: avx2::AVX2.scale,
    gemm_q4_0x16: Some(super::avx512_x16::gemm_q4_0x16),
    gemm_q8_0x16: Some(super::avx512_x16::gemm_q8_0x16),
    gemm_q4_kx16: Some(super::avx512_q4k16::gemm_q4_kx16),
    gemm_q6_kx16: Some(super::avx512_q6k16::gemm_q6_kx16),
    attn_scores_f16: super::attn::attn_scores_f16_avx512,
    attn_scores_f32: super::attn::attn_scores_f32_avx512,
    attn_accum_f16: super::attn::attn_accum_f16_avx512,
    attn_accum_f32: super::attn::attn_accum_f32_avx512,
    exp_sub_sum: avx2::AVX2.exp_sub_sum,
    sum_u64: super::stream::sum_u64_avx512,
};
