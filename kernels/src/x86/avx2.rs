//! AVX2 + FMA + F16C kernels (256-bit). Integer block sums are exact (as in the scalar
//! reference); the f32 scaling is accumulated in 8 lanes, so results equal the scalar ones up to
//! f32 reassociation. Activations are assumed to come from `quantize_row_*`: |q| ≤ 127 (the
//! range of every activation quantizer), which keeps `maddubs` free of saturation, and Q8_K
//! `bsums` equal to the sums of its `qs` (the scalar Q2_K/Q4_K/Q5_K use them too; Q6_K here
//! applies its −32 offset through them).
//!
//! Q2_K, Q3_K and Q5_K dots live in [`super::avx2_kquants`]; `silu_mul` (vector `exp`) in
//! [`super::avx2_math`].

use core::arch::x86_64::*;

use crate::blocks::{
    check, Block, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ6K, BlockQ8K,
    BlockQ8_0, BlockQ8_1,
};
use crate::half::f32_to_f16;
use crate::kernels::Kernels;
use crate::scalar::{dot, kquants_quant, legacy, vecops};
use crate::types::QuantType;

pub(crate) fn supported() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

// ---------------------------------------------------------------------------------------------
// Helpers (all `#[inline]` + target_feature so they inline into the kernels).

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Little-endian u16 at `p` (unaligned).
#[inline]
pub(crate) unsafe fn rd16(p: *const u8) -> u16 {
    u16::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; 2]))
}

/// f16 bits to f32 with F16C (exact; same result as `crate::f16_to_f32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn f16x(h: u16) -> f32 {
    // `set1` (not `cvtsi32`): LLVM turns the latter into a `pinsrw` into an arbitrary register,
    // a false dependency on the accumulator that serialises the whole loop.
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(h as i16)))
}

/// `f16(hx)·f16(hy)` (one f32 rounding, as the scalar code), broadcast to 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dxy(hx: u16, hy: u16) -> __m256 {
    let v = _mm_cvtph_ps(_mm_set1_epi32((hx as u32 | (hy as u32) << 16) as i32));
    _mm256_broadcastss_ps(_mm_mul_ss(v, _mm_movehdup_ps(v)))
}

/// Runs `f(block, acc)` over `nb` blocks with two independent accumulators (hides the FMA
/// latency) and returns their horizontal sum.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn drive2(nb: usize, f: impl Fn(usize, __m256) -> __m256) -> f32 {
    let mut a0 = _mm256_setzero_ps();
    let mut a1 = _mm256_setzero_ps();
    let mut i = 0;
    while i + 2 <= nb {
        a0 = f(i, a0);
        a1 = f(i + 1, a1);
        i += 2;
    }
    if i < nb {
        a0 = f(i, a0);
    }
    hsum_ps(_mm256_add_ps(a0, a1))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn ld(p: *const u8) -> __m256i {
    _mm256_loadu_si256(p as *const __m256i)
}

/// 32 nibbles of a 16-byte legacy block: low nibbles in bytes 0..16, high ones in 16..32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles32(p: *const u8) -> __m256i {
    let q = _mm_loadu_si128(p as *const __m128i);
    _mm256_and_si256(
        _mm256_set_m128i(_mm_srli_epi16(q, 4), q),
        _mm256_set1_epi8(0x0f),
    )
}

/// Byte j = 0xff where bit j of `bits` is set, else 0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bytes_from_bits(bits: u32) -> __m256i {
    let v = _mm256_set1_epi32(bits as i32);
    let shuf = _mm256_set_epi64x(
        0x0303_0303_0303_0303,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        0,
    );
    let v = _mm256_shuffle_epi8(v, shuf);
    let v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe));
    _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1))
}

/// Σ of 4 adjacent u8·i8 products per i32 lane (`u` ≤ 127 per pair sum range of maddubs).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
}

/// Σ of 4 adjacent i8·i8 products per i32 lane (sign trick; `y` ≠ −128 where `x` < 0).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_i8_i8(x: __m256i, y: __m256i) -> __m256i {
    dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

// ---------------------------------------------------------------------------------------------
// Legacy quantized dots. Pointers: `w`/`a` hold `nb` blocks (checked by the wrappers).

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_0_q8_0(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let off = _mm256_set1_epi8(8);
    drive2(nb, |i, acc| {
        let x = w.add(i * BlockQ4_0::BYTES);
        let y = a.add(i * BlockQ8_0::BYTES);
        let qx = _mm256_sub_epi8(nibbles32(x.add(2)), off);
        let p = dot_i8_i8(qx, ld(y.add(2)));
        _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
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
        let p = dot_u8_i8(nibbles32(x.add(4)), ld(y.add(4)));
        _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
    });
    dot + summ
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5_0_q8_0(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let b4 = _mm256_set1_epi8(0x10);
    let off = _mm256_set1_epi8(16);
    drive2(nb, |i, acc| {
        let x = w.add(i * BlockQ5_0::BYTES);
        let y = a.add(i * BlockQ8_0::BYTES);
        let qh = u32::from_le_bytes(core::ptr::read_unaligned(x.add(2) as *const [u8; 4]));
        let hi = _mm256_and_si256(bytes_from_bits(qh), b4);
        let qx = _mm256_sub_epi8(_mm256_or_si256(nibbles32(x.add(6)), hi), off);
        let p = dot_i8_i8(qx, ld(y.add(2)));
        _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
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
        let hi = _mm256_and_si256(bytes_from_bits(qh), b4);
        let qx = _mm256_or_si256(nibbles32(x.add(8)), hi);
        let p = dot_u8_i8(qx, ld(y.add(4)));
        _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
    });
    dot + summ
}

/// Exact Σ of 32 i8·i8 products in 8 i32 lanes (sign-extends to i16, so −128 is fine too).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn i8_dot32(x: *const u8, y: *const u8) -> __m256i {
    let qx = ld(x);
    let qy = ld(y);
    let lo = _mm256_madd_epi16(
        _mm256_cvtepi8_epi16(_mm256_castsi256_si128(qx)),
        _mm256_cvtepi8_epi16(_mm256_castsi256_si128(qy)),
    );
    let hi = _mm256_madd_epi16(
        _mm256_cvtepi8_epi16(_mm256_extracti128_si256(qx, 1)),
        _mm256_cvtepi8_epi16(_mm256_extracti128_si256(qy, 1)),
    );
    _mm256_add_epi32(lo, hi)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_0_q8_0(w: *const u8, a: *const u8, nb: usize) -> f32 {
    drive2(nb, |i, acc| {
        let x = w.add(i * BlockQ8_0::BYTES);
        let y = a.add(i * BlockQ8_0::BYTES);
        let p = i8_dot32(x.add(2), y.add(2));
        _mm256_fmadd_ps(dxy(rd16(x), rd16(y)), _mm256_cvtepi32_ps(p), acc)
    })
}

// ---------------------------------------------------------------------------------------------
// K-quants. Q8_K layout: d (f32) @0, qs @4, bsums (16 × i16) @260.

/// Q4_K/Q5_K packed scales → 16 bytes: 8 scales then 8 mins (ggml's `utmp` shuffle).
#[inline]
pub(crate) fn k4_scales(p: &[u8; 12]) -> [u8; 16] {
    const KM1: u32 = 0x3f3f_3f3f;
    const KM2: u32 = 0x0f0f_0f0f;
    const KM3: u32 = 0x0303_0303;
    let u = |i: usize| u32::from_le_bytes([p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]]);
    let (u0, u1, u2) = (u(0), u(1), u(2));
    let t3 = ((u2 >> 4) & KM2) | (((u1 >> 6) & KM3) << 4);
    let t2 = u1 & KM1;
    let t1 = (u2 & KM2) | (((u0 >> 6) & KM3) << 4);
    let t0 = u0 & KM1;
    let mut out = [0u8; 16];
    for (k, t) in [t0, t1, t2, t3].iter().enumerate() {
        out[4 * k..4 * k + 4].copy_from_slice(&t.to_le_bytes());
    }
    out
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4_k_q8_k(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut accm = _mm256_setzero_ps();
    let m4 = _mm256_set1_epi8(0x0f);
    for i in 0..nb {
        let x = w.add(i * BlockQ4K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let yd = f32::from_le_bytes(core::ptr::read_unaligned(y as *const [u8; 4]));
        let d = f16x(rd16(x)) * yd;
        let dmin = f16x(rd16(x.add(2))) * yd;
        let sm = k4_scales(&core::ptr::read_unaligned(x.add(4) as *const [u8; 12]));
        // Min term: Σ_j bsums[j] · min[j/2].
        let mins = _mm_loadl_epi64(sm.as_ptr().add(8) as *const __m128i);
        let mins16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mins, mins));
        let bsums = ld(y.add(260));
        let pm = _mm256_madd_epi16(bsums, mins16);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(pm), accm);
        let mut isum = _mm256_setzero_si256();
        for c in 0..4 {
            let q = ld(x.add(16 + 32 * c));
            let lo = _mm256_and_si256(q, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            let p0 = _mm256_maddubs_epi16(lo, ld(y.add(4 + 64 * c)));
            let p1 = _mm256_maddubs_epi16(hi, ld(y.add(36 + 64 * c)));
            let s0 = _mm256_set1_epi16(sm[2 * c] as i16);
            let s1 = _mm256_set1_epi16(sm[2 * c + 1] as i16);
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p0, s0));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p1, s1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    hsum_ps(acc) - hsum_ps(accm)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_k_q8_k(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let m4 = _mm256_set1_epi8(0x0f);
    let m3 = _mm256_set1_epi8(0x03);
    for i in 0..nb {
        let x = w.add(i * BlockQ6K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let yd = f32::from_le_bytes(core::ptr::read_unaligned(y as *const [u8; 4]));
        let d = f16x(rd16(x.add(208))) * yd;
        let sc = x.add(192) as *const i8;
        let mut isum = _mm256_setzero_si256();
        for h in 0..2 {
            let qa = ld(x.add(64 * h));
            let qb = ld(x.add(64 * h + 32));
            let qh = ld(x.add(128 + 32 * h));
            let hb = |s: i32| -> __m256i {
                let v = match s {
                    0 => qh,
                    2 => _mm256_srli_epi16(qh, 2),
                    4 => _mm256_srli_epi16(qh, 4),
                    _ => _mm256_srli_epi16(qh, 6),
                };
                _mm256_slli_epi16(_mm256_and_si256(v, m3), 4)
            };
            let q = [
                _mm256_or_si256(_mm256_and_si256(qa, m4), hb(0)),
                _mm256_or_si256(_mm256_and_si256(qb, m4), hb(2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), hb(4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), hb(6)),
            ];
            for (k, &qk) in q.iter().enumerate() {
                let yk = ld(y.add(4 + 128 * h + 32 * k));
                let p = _mm256_maddubs_epi16(qk, yk);
                let s0 = *sc.add(8 * h + 2 * k) as i16;
                let s1 = *sc.add(8 * h + 2 * k + 1) as i16;
                let scv = _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, scv));
            }
        }
        // The −32 offset, once per block: 32 · Σ_j sc_j · bsums_j (a valid Q8_K row's bsums).
        let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(sc as *const __m128i));
        let off = _mm256_madd_epi16(sc16, ld(y.add(260)));
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(off, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    hsum_ps(acc)
}

// ---------------------------------------------------------------------------------------------
// Float dots. Each returns (partial sum, elements done); the wrapper adds the scalar tail.

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f32_raw(a: *const f32, b: *const f32, n: usize) -> (f32, usize) {
    let mut s = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, sk) in s.iter_mut().enumerate() {
            let o = i + 8 * k;
            *sk = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(o)), _mm256_loadu_ps(b.add(o)), *sk);
        }
        i += 32;
    }
    while i + 8 <= n {
        s[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)), s[0]);
        i += 8;
    }
    let t = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
    (hsum_ps(t), i)
}

/// `w`: f16 or bf16 bits (`bf16` selects), `x`: f32.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_half_raw(w: *const u8, x: *const f32, n: usize, bf16: bool) -> (f32, usize) {
    let cvt = |p: *const u8| -> __m256 {
        let h = _mm_loadu_si128(p as *const __m128i);
        if bf16 {
            _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
        } else {
            _mm256_cvtph_ps(h)
        }
    };
    let mut s = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, sk) in s.iter_mut().enumerate() {
            let o = i + 8 * k;
            *sk = _mm256_fmadd_ps(cvt(w.add(2 * o)), _mm256_loadu_ps(x.add(o)), *sk);
        }
        i += 32;
    }
    while i + 8 <= n {
        s[0] = _mm256_fmadd_ps(cvt(w.add(2 * i)), _mm256_loadu_ps(x.add(i)), s[0]);
        i += 8;
    }
    let t = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
    (hsum_ps(t), i)
}

// ---------------------------------------------------------------------------------------------
// f32 vector ops.

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sumsq_raw(x: *const f32, n: usize) -> (f32, usize) {
    dot_f32_raw(x, x, n)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mul2_raw(x: *const f32, w: *const f32, s: f32, out: *mut f32, n: usize) -> usize {
    let sv = _mm256_set1_ps(s);
    let mut i = 0;
    while i + 8 <= n {
        let v = _mm256_mul_ps(
            _mm256_mul_ps(_mm256_loadu_ps(x.add(i)), sv),
            _mm256_loadu_ps(w.add(i)),
        );
        _mm256_storeu_ps(out.add(i), v);
        i += 8;
    }
    i
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn add_raw(a: *mut f32, b: *const f32, n: usize) -> usize {
    let mut i = 0;
    while i + 8 <= n {
        let v = _mm256_add_ps(_mm256_loadu_ps(a.add(i)), _mm256_loadu_ps(b.add(i)));
        _mm256_storeu_ps(a.add(i), v);
        i += 8;
    }
    i
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scale_raw(x: *mut f32, s: f32, n: usize) -> usize {
    let sv = _mm256_set1_ps(s);
    let mut i = 0;
    while i + 8 <= n {
        _mm256_storeu_ps(x.add(i), _mm256_mul_ps(_mm256_loadu_ps(x.add(i)), sv));
        i += 8;
    }
    i
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers (byte-identical to the scalar reference).

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn absmax_raw(x: *const f32, n: usize) -> f32 {
    let sign = _mm256_set1_ps(-0.0);
    let mut m = _mm256_setzero_ps();
    let mut i = 0;
    while i < n {
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x.add(i))));
        i += 8;
    }
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_movehdup_ps(m));
    _mm_cvtss_f32(m)
}

/// Packs 4 × 8 i32 (in range) into 32 i8 in order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack32(v: [__m256i; 4]) -> __m256i {
    let ab = _mm256_packs_epi32(v[0], v[1]);
    let cd = _mm256_packs_epi32(v[2], v[3]);
    let p = _mm256_packs_epi16(ab, cd);
    _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// Quantizes 32 floats as `round_half_away(x·id)` into `out` (32 bytes).
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8_round32(x: *const f32, id: f32, out: *mut u8) {
    let idv = _mm256_set1_ps(id);
    let sign = _mm256_set1_ps(-0.0);
    let half = _mm256_set1_ps(0.5);
    let one = _mm256_set1_ps(1.0);
    let mut r = [_mm256_setzero_si256(); 4];
    for (k, rk) in r.iter_mut().enumerate() {
        let t = _mm256_mul_ps(_mm256_loadu_ps(x.add(8 * k)), idv);
        let tr = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        let frac = _mm256_andnot_ps(sign, _mm256_sub_ps(t, tr));
        let up = _mm256_cmp_ps(frac, half, _CMP_GE_OQ);
        let step = _mm256_and_ps(up, _mm256_or_ps(_mm256_and_ps(t, sign), one));
        *rk = _mm256_cvttps_epi32(_mm256_add_ps(tr, step));
    }
    _mm256_storeu_si256(out as *mut __m256i, pack32(r));
}

/// One Q8_K block (256 floats) when `iscale` is finite: `min(nearest_even(iscale·x), 127)`
/// into `out[4..260]`, and the 16 group sums into `out[260..292]`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q8k_round256(x: *const f32, iscale: f32, out: *mut u8) {
    let iv = _mm256_set1_ps(iscale);
    let lim = _mm256_set1_epi32(127);
    let ones8 = _mm256_set1_epi8(1);
    let ones16 = _mm256_set1_epi16(1);
    for c in 0..8 {
        let mut r = [_mm256_setzero_si256(); 4];
        for (k, rk) in r.iter_mut().enumerate() {
            let t = _mm256_mul_ps(_mm256_loadu_ps(x.add(32 * c + 8 * k)), iv);
            *rk = _mm256_min_epi32(_mm256_cvtps_epi32(t), lim);
        }
        let q = pack32(r);
        _mm256_storeu_si256(out.add(4 + 32 * c) as *mut __m256i, q);
        // Group sums: pairs → quads → [A A A A | B B B B] for the two groups of 16.
        let s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
        let s = _mm256_hadd_epi32(s, s);
        let s = _mm256_hadd_epi32(s, s);
        let a = _mm256_cvtsi256_si32(s) as i16;
        let b = _mm_cvtsi128_si32(_mm256_extracti128_si256(s, 1)) as i16;
        core::ptr::write_unaligned(out.add(260 + 4 * c) as *mut [u8; 2], a.to_le_bytes());
        core::ptr::write_unaligned(out.add(262 + 4 * c) as *mut [u8; 2], b.to_le_bytes());
    }
}

/// Index of the first element of `x` (256 floats) whose magnitude equals `amax`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn first_abs_eq(x: *const f32, amax: f32) -> Option<usize> {
    let sign = _mm256_set1_ps(-0.0);
    let m = _mm256_set1_ps(amax);
    for c in 0..32 {
        let v = _mm256_andnot_ps(sign, _mm256_loadu_ps(x.add(8 * c)));
        let bits = _mm256_movemask_ps(_mm256_cmp_ps(v, m, _CMP_EQ_OQ));
        if bits != 0 {
            return Some(8 * c + bits.trailing_zeros() as usize);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Safe wrappers: check lengths like the scalar reference, then run the SIMD body.
//
// SAFETY (applies to every `unsafe` block below): these functions are only reachable through
// the `AVX2` table (or the `AVX512` table, which requires a superset of the features), and
// `crate::kernels` hands a table out only when its `supported()` is true, so the required CPU
// features are present. Pointer reads stay inside the slices: the lengths are checked first.

macro_rules! vec_dot_wrapper {
    ($name:ident, $raw:ident, $w:ty, $a:ty) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], n: usize) -> f32 {
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

pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f32: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_f32_raw(a.as_ptr(), b.as_ptr(), a.len()) };
    s + dot::dot_f32(&a[i..], &b[i..])
}

pub(crate) fn dot_f16_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_f16_f32: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_half_raw(w.as_ptr(), x.as_ptr(), x.len(), false) };
    s + dot::dot_f16_f32(&w[2 * i..], &x[i..])
}

pub(crate) fn dot_bf16_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_bf16_f32: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_half_raw(w.as_ptr(), x.as_ptr(), x.len(), true) };
    s + dot::dot_bf16_f32(&w[2 * i..], &x[i..])
}

pub(crate) fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    assert!(
        x.len() == w.len() && x.len() == out.len(),
        "rms_norm: length mismatch"
    );
    if x.is_empty() {
        return;
    }
    let n = x.len();
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { sumsq_raw(x.as_ptr(), n) };
    let sum = s as f64 + x[i..].iter().map(|&v| (v * v) as f64).sum::<f64>();
    let mean = (sum / n as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    // SAFETY: see the comment above the wrappers.
    let i = unsafe { mul2_raw(x.as_ptr(), w.as_ptr(), scale, out.as_mut_ptr(), n) };
    for ((o, &v), &g) in out[i..].iter_mut().zip(&x[i..]).zip(&w[i..]) {
        *o = (v * scale) * g;
    }
}

pub(crate) fn add(a: &mut [f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "add: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let i = unsafe { add_raw(a.as_mut_ptr(), b.as_ptr(), a.len()) };
    vecops::add(&mut a[i..], &b[i..]);
}

pub(crate) fn scale(x: &mut [f32], s: f32) {
    // SAFETY: see the comment above the wrappers.
    let i = unsafe { scale_raw(x.as_mut_ptr(), s, x.len()) };
    vecops::scale(&mut x[i..], s);
}

pub(crate) fn quantize_row_q8_0(src: &[f32], dst: &mut [u8]) {
    quantize_q8_legacy(src, dst, false)
}

pub(crate) fn quantize_row_q8_1(src: &[f32], dst: &mut [u8]) {
    quantize_q8_legacy(src, dst, true)
}

fn quantize_q8_legacy(src: &[f32], dst: &mut [u8], q8_1: bool) {
    let bytes = if q8_1 {
        check::<BlockQ8_1>(src.len(), dst.len());
        BlockQ8_1::BYTES
    } else {
        check::<BlockQ8_0>(src.len(), dst.len());
        BlockQ8_0::BYTES
    };
    let qoff = bytes - 32;
    for (x, out) in src.chunks_exact(32).zip(dst.chunks_exact_mut(bytes)) {
        // SAFETY: see the comment above the wrappers (`x` has 32 floats).
        let amax = unsafe { absmax_raw(x.as_ptr(), 32) };
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        if !id.is_finite() || !amax.is_finite() {
            // Non-finite input or a subnormal scale: the scalar code defines the bytes.
            if q8_1 {
                legacy::quantize_q8_1(x, out);
            } else {
                legacy::quantize_q8_0(x, out);
            }
            continue;
        }
        // SAFETY: see the comment above the wrappers (`out` has 32 bytes after `qoff`).
        unsafe { q8_round32(x.as_ptr(), id, out[qoff..].as_mut_ptr()) };
        out[0..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        if q8_1 {
            let sum: i32 = out[4..].iter().map(|&q| q as i8 as i32).sum();
            out[2..4].copy_from_slice(&f32_to_f16(sum as f32 * d).to_le_bytes());
        }
    }
}

pub(crate) fn quantize_row_q8_k(src: &[f32], dst: &mut [u8]) {
    check::<BlockQ8K>(src.len(), dst.len());
    for (x, out) in src
        .chunks_exact(256)
        .zip(dst.chunks_exact_mut(BlockQ8K::BYTES))
    {
        // SAFETY: see the comment above the wrappers (`x` has 256 floats).
        let amax = unsafe { absmax_raw(x.as_ptr(), 256) };
        // The first element of largest magnitude keeps its sign (scalar: strict `>`).
        // SAFETY: see the comment above the wrappers (`x` has 256 floats).
        let max = unsafe { first_abs_eq(x.as_ptr(), amax) }.map_or(0.0, |i| x[i]);
        let iscale = -127.0 / max;
        if amax == 0.0 || !iscale.is_finite() || !amax.is_finite() {
            kquants_quant::quantize_q8_k(x, out);
            continue;
        }
        // SAFETY: see the comment above the wrappers (`out` has 292 bytes).
        unsafe { q8k_round256(x.as_ptr(), iscale, out.as_mut_ptr()) };
        out[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
}

/// The AVX2 + FMA + F16C table.
pub static AVX2: Kernels = Kernels {
    name: "avx2",
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
    quantize_row_q8_0,
    quantize_row_q8_1,
    quantize_row_q8_k,
    dot_f16_f32,
    dot_bf16_f32,
    dot_f32,
    float_gemm: Some(super::avx2_float_gemm::float_gemm),
    rms_norm,
    silu_mul: super::avx2_math::silu_mul,
    gelu_mul: crate::scalar::vecops::gelu_mul,
    add,
    scale,
    gemm_q4_0x16: Some(super::avx2_packed::gemm_q4_0x16),
    gemm_q8_0x16: Some(super::avx2_packed::gemm_q8_0x16),
    gemm_q4_kx16: Some(super::avx2_packed::gemm_q4_kx16),
    gemm_q6_kx16: Some(super::avx2_packed::gemm_q6_kx16),
    attn_scores_f16: super::attn::attn_scores_f16_avx2,
    attn_scores_f32: super::attn::attn_scores_f32_avx2,
    attn_accum_f16: super::attn::attn_accum_f16_avx2,
    attn_accum_f32: super::attn::attn_accum_f32_avx2,
    exp_sub_sum: super::attn::exp_sub_sum_avx2,
    sum_u64: super::stream::sum_u64_avx2,
};
