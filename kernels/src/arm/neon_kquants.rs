//! NEON dots of the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K) against Q8_K activations.
//!
//! Each block is unpacked to signed 8-bit quants 16 at a time (the offsets −4 of Q3_K and −32
//! of Q6_K applied in i8), dotted with the Q8_K bytes (SDOT or widening multiplies, see
//! [`super::neon::Dot`]), multiplied by the integer sub-block scale in i32 lanes, summed
//! exactly, and scaled once per block with the scalar reference's own f32 expression, so the
//! results equal the scalar ones up to f32 rounding of the block sums only.
//!
//! Q8_K layout: `d` (f32) at byte 0, `qs` at 4, `bsums` (16 × i16) at 260. The min terms of
//! Q2_K/Q4_K/Q5_K use `bsums` like the scalar reference; widened to i32 before any sum, so any
//! i16 values are summed exactly.

use core::arch::aarch64::*;

use super::neon::{f16s, ld8, rd16, rdf32, vec_dot_wrapper, Dot};
use crate::blocks::{Block, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::scalar::kquants_dequant::{q3_scales, scale_min_k4};

/// `bsums` of the Q8_K block at `y` as two i16 vectors (groups 0..8, 8..16).
#[inline(always)]
unsafe fn bsums(y: *const u8) -> (int16x8_t, int16x8_t) {
    (
        vreinterpretq_s16_u8(vld1q_u8(y.add(260))),
        vreinterpretq_s16_u8(vld1q_u8(y.add(276))),
    )
}

/// Σ_j bsums[j]·m[j] over the 16 groups (`m` ≤ 255), in i32.
#[inline(always)]
unsafe fn bsum_dot16(y: *const u8, m: uint8x16_t) -> i32 {
    let (b0, b1) = bsums(y);
    let m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m)));
    let m1 = vreinterpretq_s16_u16(vmovl_high_u8(m));
    let p = vmull_s16(vget_low_s16(b0), vget_low_s16(m0));
    let p = vmlal_high_s16(p, b0, m0);
    let p = vmlal_s16(p, vget_low_s16(b1), vget_low_s16(m1));
    vaddvq_s32(vmlal_high_s16(p, b1, m1))
}

/// Q4_K/Q5_K: the 8 six-bit scales and the 8 six-bit mins.
#[inline(always)]
fn k4_scales(packed: &[u8; 12]) -> ([i32; 8], [u8; 16]) {
    let mut sc = [0i32; 8];
    // Min j applies to the Q8_K groups 2j and 2j + 1.
    let mut mins = [0u8; 16];
    for j in 0..8 {
        let (s, m) = scale_min_k4(j, packed);
        sc[j] = s as i32;
        mins[2 * j] = m;
        mins[2 * j + 1] = m;
    }
    (sc, mins)
}

#[inline(always)]
fn s8(v: uint8x16_t) -> int8x16_t {
    // SAFETY: a reinterpretation between same-sized vector types (NEON is baseline on aarch64).
    unsafe { vreinterpretq_s8_u8(v) }
}

#[inline(always)]
unsafe fn q2_k_q8_k<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let m3 = vdupq_n_u8(3);
    let zero = vdupq_n_s32(0);
    let mut sumf = 0.0f32;
    for i in 0..nb {
        let x = w.add(i * BlockQ2K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let yd = rdf32(y);
        let dall = yd * f16s(rd16(x.add(80)));
        let dmin = yd * f16s(rd16(x.add(82)));
        let summs = bsum_dot16(y, vshrq_n_u8::<4>(vld1q_u8(x)));
        let mut isum = vdupq_n_s32(0);
        for h in 0..2 {
            let mut q0 = vld1q_u8(x.add(16 + 32 * h));
            let mut q1 = vld1q_u8(x.add(32 + 32 * h));
            for k in 0..4 {
                let yk = y.add(4 + 128 * h + 32 * k);
                let p0 = D::dot(zero, s8(vandq_u8(q0, m3)), ld8(yk));
                let p1 = D::dot(zero, s8(vandq_u8(q1, m3)), ld8(yk.add(16)));
                q0 = vshrq_n_u8::<2>(q0);
                q1 = vshrq_n_u8::<2>(q1);
                let j = 8 * h + 2 * k;
                isum = vmlaq_n_s32(isum, p0, (*x.add(j) & 15) as i32);
                isum = vmlaq_n_s32(isum, p1, (*x.add(j + 1) & 15) as i32);
            }
        }
        sumf += dall * vaddvq_s32(isum) as f32 - dmin * summs as f32;
    }
    sumf
}

#[inline(always)]
unsafe fn q3_k_q8_k<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let m3 = vdupq_n_u8(3);
    let one = vdupq_n_u8(1);
    let zero = vdupq_n_s32(0);
    let mut sumf = 0.0f32;
    for i in 0..nb {
        let x = w.add(i * BlockQ3K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let sc = q3_scales(&core::ptr::read_unaligned(x.add(96) as *const [u8; 12]));
        let mut hm = [vld1q_u8(x), vld1q_u8(x.add(16))];
        let mut isum = vdupq_n_s32(0);
        for h in 0..2 {
            let mut q = [vld1q_u8(x.add(32 + 32 * h)), vld1q_u8(x.add(48 + 32 * h))];
            for k in 0..4 {
                let yk = y.add(4 + 128 * h + 32 * k);
                for s in 0..2 {
                    // 2 low bits, minus 4 where the high bit (bit 4h + k of hmask) is clear.
                    let m4 = vshlq_n_u8::<2>(vbicq_u8(one, hm[s]));
                    let v = vsubq_s8(s8(vandq_u8(q[s], m3)), s8(m4));
                    let p = D::dot(zero, v, ld8(yk.add(16 * s)));
                    isum = vmlaq_n_s32(isum, p, sc[8 * h + 2 * k + s] - 32);
                    q[s] = vshrq_n_u8::<2>(q[s]);
                    hm[s] = vshrq_n_u8::<1>(hm[s]);
                }
            }
        }
        let d = f16s(rd16(x.add(108))) * rdf32(y);
        sumf += d * vaddvq_s32(isum) as f32;
    }
    sumf
}

#[inline(always)]
unsafe fn q4_k_q8_k<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let m4 = vdupq_n_u8(0x0f);
    let zero = vdupq_n_s32(0);
    let mut sumf = 0.0f32;
    for i in 0..nb {
        let x = w.add(i * BlockQ4K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let yd = rdf32(y);
        let d = f16s(rd16(x)) * yd;
        let dmin = f16s(rd16(x.add(2))) * yd;
        let (sc, mins) = k4_scales(&core::ptr::read_unaligned(x.add(4) as *const [u8; 12]));
        let summs = bsum_dot16(y, vld1q_u8(mins.as_ptr()));
        let mut isum = vdupq_n_s32(0);
        for c in 0..4 {
            let q0 = vld1q_u8(x.add(16 + 32 * c));
            let q1 = vld1q_u8(x.add(32 + 32 * c));
            let yc = y.add(4 + 64 * c);
            let lo = D::dot(zero, s8(vandq_u8(q0, m4)), ld8(yc));
            let lo = D::dot(lo, s8(vandq_u8(q1, m4)), ld8(yc.add(16)));
            let hi = D::dot(zero, s8(vshrq_n_u8::<4>(q0)), ld8(yc.add(32)));
            let hi = D::dot(hi, s8(vshrq_n_u8::<4>(q1)), ld8(yc.add(48)));
            isum = vmlaq_n_s32(isum, lo, sc[2 * c]);
            isum = vmlaq_n_s32(isum, hi, sc[2 * c + 1]);
        }
        sumf += d * vaddvq_s32(isum) as f32 - dmin * summs as f32;
    }
    sumf
}

#[inline(always)]
unsafe fn q5_k_q8_k<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let m4 = vdupq_n_u8(0x0f);
    let one = vdupq_n_u8(1);
    let zero = vdupq_n_s32(0);
    let mut sumf = 0.0f32;
    for i in 0..nb {
        let x = w.add(i * BlockQ5K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let yd = rdf32(y);
        let d = f16s(rd16(x)) * yd;
        let dmin = f16s(rd16(x.add(2))) * yd;
        let (sc, mins) = k4_scales(&core::ptr::read_unaligned(x.add(4) as *const [u8; 12]));
        let summs = bsum_dot16(y, vld1q_u8(mins.as_ptr()));
        // Bit 2c of qh[l] is the fifth bit of element 64c + l, bit 2c + 1 of 64c + 32 + l.
        let mut hb = [vld1q_u8(x.add(16)), vld1q_u8(x.add(32))];
        let mut isum = vdupq_n_s32(0);
        for c in 0..4 {
            let q = [vld1q_u8(x.add(48 + 32 * c)), vld1q_u8(x.add(64 + 32 * c))];
            let yc = y.add(4 + 64 * c);
            let mut lo = zero;
            let mut hi = zero;
            for s in 0..2 {
                let vl = vorrq_u8(vandq_u8(q[s], m4), vshlq_n_u8::<4>(vandq_u8(hb[s], one)));
                hb[s] = vshrq_n_u8::<1>(hb[s]);
                let vh = vorrq_u8(vshrq_n_u8::<4>(q[s]), vshlq_n_u8::<4>(vandq_u8(hb[s], one)));
                hb[s] = vshrq_n_u8::<1>(hb[s]);
                lo = D::dot(lo, s8(vl), ld8(yc.add(16 * s)));
                hi = D::dot(hi, s8(vh), ld8(yc.add(32 + 16 * s)));
            }
            isum = vmlaq_n_s32(isum, lo, sc[2 * c]);
            isum = vmlaq_n_s32(isum, hi, sc[2 * c + 1]);
        }
        sumf += d * vaddvq_s32(isum) as f32 - dmin * summs as f32;
    }
    sumf
}

#[inline(always)]
unsafe fn q6_k_q8_k<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let m4 = vdupq_n_u8(0x0f);
    let m3 = vdupq_n_u8(0x03);
    let off = vdupq_n_s8(32);
    let zero = vdupq_n_s32(0);
    let mut sumf = 0.0f32;
    for i in 0..nb {
        let x = w.add(i * BlockQ6K::BYTES);
        let y = a.add(i * BlockQ8K::BYTES);
        let sc = x.add(192) as *const i8;
        let mut isum = vdupq_n_s32(0);
        for h in 0..2 {
            for s in 0..2 {
                // Elements 128h + 32k + 16s + (0..16) for the four quarters k.
                let qa = vld1q_u8(x.add(64 * h + 16 * s));
                let qb = vld1q_u8(x.add(64 * h + 32 + 16 * s));
                let qh = vld1q_u8(x.add(128 + 32 * h + 16 * s));
                let q = [
                    vorrq_u8(vandq_u8(qa, m4), vshlq_n_u8::<4>(vandq_u8(qh, m3))),
                    vorrq_u8(
                        vandq_u8(qb, m4),
                        vshlq_n_u8::<4>(vandq_u8(vshrq_n_u8::<2>(qh), m3)),
                    ),
                    vorrq_u8(
                        vshrq_n_u8::<4>(qa),
                        vshlq_n_u8::<4>(vandq_u8(vshrq_n_u8::<4>(qh), m3)),
                    ),
                    vorrq_u8(vshrq_n_u8::<4>(qb), vshlq_n_u8::<4>(vshrq_n_u8::<6>(qh))),
                ];
                for (k, &qk) in q.iter().enumerate() {
                    let v = vsubq_s8(s8(qk), off);
                    let p = D::dot(zero, v, ld8(y.add(4 + 128 * h + 32 * k + 16 * s)));
                    isum = vmlaq_n_s32(isum, p, *sc.add(8 * h + 2 * k + s) as i32);
                }
            }
        }
        let d = f16s(rd16(x.add(208))) * rdf32(y);
        sumf += d * vaddvq_s32(isum) as f32;
    }
    sumf
}

vec_dot_wrapper!(vec_dot_q2_k_q8_k, q2_k_q8_k, BlockQ2K, BlockQ8K);
vec_dot_wrapper!(vec_dot_q3_k_q8_k, q3_k_q8_k, BlockQ3K, BlockQ8K);
vec_dot_wrapper!(vec_dot_q4_k_q8_k, q4_k_q8_k, BlockQ4K, BlockQ8K);
vec_dot_wrapper!(vec_dot_q5_k_q8_k, q5_k_q8_k, BlockQ5K, BlockQ8K);
vec_dot_wrapper!(vec_dot_q6_k_q8_k, q6_k_q8_k, BlockQ6K, BlockQ8K);
