//! NEON kernels (128-bit) and the [`NEON`] table. Integer block sums are exact, as in the
//! scalar reference (every quant fits an i8, so each kernel multiplies i8 by i8: SDOT where the
//! CPU has `dotprod`, else `smull`/`smull2` + pairwise widening adds); the f32 scaling is
//! accumulated in 4 lanes, so results equal the scalar ones up to f32 reassociation. The
//! activation quantizers are byte-identical to the scalar ones; `add`/`scale` bit-identical.
//!
//! Each quantized dot has one generic body (`#[inline(always)]`, generic over [`Dot`]) and two
//! compiled entry points, one per [`Dot`] implementation; the safe wrapper picks one with
//! [`has_dotprod`]. K-quant dots live in [`super::neon_kquants`], `exp`-based ops in
//! [`super::neon_math`].

use core::arch::aarch64::*;
use core::arch::asm;
use std::arch::is_aarch64_feature_detected;

use super::neon_kquants as kq;
use super::neon_math;
use crate::blocks::{
    check, Block, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8K, BlockQ8_0, BlockQ8_1,
};
use crate::half::f32_to_f16;
use crate::kernels::Kernels;
use crate::scalar::{dot, kquants_quant, legacy, vecops};
use crate::types::QuantType;

pub(crate) fn supported() -> bool {
    is_aarch64_feature_detected!("neon")
}

/// Whether the CPU has the Armv8.2 dot-product instructions (SDOT/UDOT).
pub(crate) fn has_dotprod() -> bool {
    is_aarch64_feature_detected!("dotprod")
}

// ---------------------------------------------------------------------------------------------
// Integer dot products of 16 i8 pairs.

/// `acc + Σ x[j]·y[j]` over 16 i8 pairs, the sum spread over the 4 i32 lanes in a way that
/// depends on the implementation: callers only ever use the sum of all lanes (or scale all
/// lanes by the same factor). Exact for every input, −128 included.
pub(crate) trait Dot {
    unsafe fn dot(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t;
}

/// Base NEON: 8 × i16 products (|p| ≤ 2¹⁴), pairwise-added into the i32 lanes.
pub(crate) struct Base;

impl Dot for Base {
    #[inline(always)]
    unsafe fn dot(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
        let lo = vmull_s8(vget_low_s8(x), vget_low_s8(y));
        let hi = vmull_high_s8(x, y);
        vpadalq_s16(vpadalq_s16(acc, lo), hi)
    }
}

/// Armv8.2 SDOT (lane k gets the 4 products of bytes 4k..4k+4). Only called when
/// [`has_dotprod`] is true.
pub(crate) struct Sdot;

impl Dot for Sdot {
    #[inline(always)]
    unsafe fn dot(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // Assembles only when inlined into a `#[target_feature(enable = "neon,dotprod")]`
        // function (the assembler checks the function's features), which every caller is.
        asm!(
            "sdot {acc:v}.4s, {x:v}.16b, {y:v}.16b",
            acc = inout(vreg) acc,
            x = in(vreg) x,
            y = in(vreg) y,
            options(pure, nomem, nostack, preserves_flags)
        );
        acc
    }
}

// ---------------------------------------------------------------------------------------------
// Loads and conversions.

/// Little-endian u16 at `p` (unaligned).
#[inline(always)]
pub(crate) unsafe fn rd16(p: *const u8) -> u16 {
    u16::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; 2]))
}

/// Little-endian f32 at `p` (unaligned).
#[inline(always)]
pub(crate) unsafe fn rdf32(p: *const u8) -> f32 {
    f32::from_le_bytes(core::ptr::read_unaligned(p as *const [u8; 4]))
}

/// 16 bytes at `p` as i8 (byte loads: no alignment needed).
#[inline(always)]
pub(crate) unsafe fn ld8(p: *const u8) -> int8x16_t {
    vreinterpretq_s8_u8(vld1q_u8(p))
}

/// 4 little-endian f32 at `p` (byte pointer, no alignment needed).
#[inline(always)]
unsafe fn ldf(p: *const u8) -> float32x4_t {
    vreinterpretq_f32_u8(vld1q_u8(p))
}

/// f16 bits to f32 with `fcvt` (exact; the same result as `crate::f16_to_f32`, NaNs quieted
/// with their payload kept, like the software conversion).
#[inline(always)]
pub(crate) unsafe fn f16s(h: u16) -> f32 {
    let out: f32;
    asm!(
        "fcvt {o:s}, {h:h}",
        h = in(vreg) h as i16,
        o = lateout(vreg) out,
        options(pure, nomem, nostack, preserves_flags)
    );
    out
}

/// 8 f16 values at `p` (16 bytes) as two f32 vectors (elements 0..4, 4..8).
#[inline(always)]
unsafe fn f16x8(p: *const u8) -> (float32x4_t, float32x4_t) {
    let h = vld1q_u8(p);
    let lo: float32x4_t;
    let hi: float32x4_t;
    asm!(
        "fcvtl {lo:v}.4s, {h:v}.4h",
        "fcvtl2 {hi:v}.4s, {h:v}.8h",
        h = in(vreg) h,
        lo = out(vreg) lo,
        hi = lateout(vreg) hi,
        options(pure, nomem, nostack, preserves_flags)
    );
    (lo, hi)
}

/// 8 bf16 values at `p` (16 bytes) as two f32 vectors (a bf16 is the top half of an f32).
#[inline(always)]
unsafe fn bf16x8(p: *const u8) -> (float32x4_t, float32x4_t) {
    let h = vreinterpretq_u16_u8(vld1q_u8(p));
    let lo = vshlq_n_u32::<16>(vmovl_u16(vget_low_u16(h)));
    let hi = vshlq_n_u32::<16>(vmovl_high_u16(h));
    (vreinterpretq_f32_u32(lo), vreinterpretq_f32_u32(hi))
}

/// `f16(hx)·f16(hy)` (one f32 rounding, as in the scalar code) in all 4 lanes.
#[inline(always)]
pub(crate) unsafe fn dxy(hx: u16, hy: u16) -> float32x4_t {
    vdupq_n_f32(f16s(hx) * f16s(hy))
}

/// Runs `f(block, acc)` over `nb` blocks with two accumulators (hides the FMA latency) and
/// returns the sum of their lanes.
#[inline(always)]
pub(crate) unsafe fn drive2(nb: usize, f: impl Fn(usize, float32x4_t) -> float32x4_t) -> f32 {
    let mut a0 = vdupq_n_f32(0.0);
    let mut a1 = vdupq_n_f32(0.0);
    let mut i = 0;
    while i + 2 <= nb {
        a0 = f(i, a0);
        a1 = f(i + 1, a1);
        i += 2;
    }
    if i < nb {
        a0 = f(i, a0);
    }
    vaddvq_f32(vaddq_f32(a0, a1))
}

/// The 32 nibbles of a 16-byte legacy block: low nibbles (elements 0..16), high (16..32).
#[inline(always)]
unsafe fn nibbles32(p: *const u8) -> (int8x16_t, int8x16_t) {
    let q = vld1q_u8(p);
    (
        vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))),
        vreinterpretq_s8_u8(vshrq_n_u8::<4>(q)),
    )
}

/// Byte j of the pair = 0x10 where bit j of `qh` is set, else 0 (the Q5 fifth bits).
#[inline(always)]
unsafe fn fifth_bits(qh: u32) -> (int8x16_t, int8x16_t) {
    const LO: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
    const HI: [u8; 16] = [2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3];
    const BIT: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    let v = vreinterpretq_u8_u32(vdupq_n_u32(qh));
    let bit = vld1q_u8(BIT.as_ptr());
    let b4 = vdupq_n_u8(0x10);
    let lo = vandq_u8(vtstq_u8(vqtbl1q_u8(v, vld1q_u8(LO.as_ptr())), bit), b4);
    let hi = vandq_u8(vtstq_u8(vqtbl1q_u8(v, vld1q_u8(HI.as_ptr())), bit), b4);
    (vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi))
}

/// Σ of 32 i8·i8 products at `x`, `y` into `acc`.
#[inline(always)]
pub(crate) unsafe fn dot32<D: Dot>(acc: int32x4_t, x: *const u8, y: *const u8) -> int32x4_t {
    D::dot(D::dot(acc, ld8(x), ld8(y)), ld8(x.add(16)), ld8(y.add(16)))
}

// ---------------------------------------------------------------------------------------------
// Legacy quantized dots (bodies). Pointers: `w`/`a` hold `nb` blocks (checked by the wrappers).

#[inline(always)]
unsafe fn q4_0_q8_0<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let off = vdupq_n_s8(8);
    drive2(nb, |i, acc| {
        let x = w.add(i * BlockQ4_0::BYTES);
        let y = a.add(i * BlockQ8_0::BYTES);
        let (lo, hi) = nibbles32(x.add(2));
        let p = D::dot(vdupq_n_s32(0), vsubq_s8(lo, off), ld8(y.add(2)));
        let p = D::dot(p, vsubq_s8(hi, off), ld8(y.add(18)));
        vfmaq_f32(acc, vcvtq_f32_s32(p), dxy(rd16(x), rd16(y)))
    })
}

#[inline(always)]
unsafe fn q4_1_q8_1<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let mut summ = 0.0f32;
    for i in 0..nb {
        let x = w.add(i * BlockQ4_1::BYTES);
        let y = a.add(i * BlockQ8_1::BYTES);
        summ += f16s(rd16(x.add(2))) * f16s(rd16(y.add(2)));
    }
    let dot = drive2(nb, |i, acc| {
        let x = w.add(i * BlockQ4_1::BYTES);
        let y = a.add(i * BlockQ8_1::BYTES);
        let (lo, hi) = nibbles32(x.add(4));
        let p = D::dot(
            D::dot(vdupq_n_s32(0), lo, ld8(y.add(4))),
            hi,
            ld8(y.add(20)),
        );
        vfmaq_f32(acc, vcvtq_f32_s32(p), dxy(rd16(x), rd16(y)))
    });
    dot + summ
}

#[inline(always)]
unsafe fn q5_0_q8_0<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let off = vdupq_n_s8(16);
    drive2(nb, |i, acc| {
        let x = w.add(i * BlockQ5_0::BYTES);
        let y = a.add(i * BlockQ8_0::BYTES);
        let (h0, h1) = fifth_bits(u32::from_le_bytes(core::ptr::read_unaligned(
            x.add(2) as *const [u8; 4]
        )));
        let (lo, hi) = nibbles32(x.add(6));
        let q0 = vsubq_s8(vorrq_s8(lo, h0), off);
        let q1 = vsubq_s8(vorrq_s8(hi, h1), off);
        let p = D::dot(
            D::dot(vdupq_n_s32(0), q0, ld8(y.add(2))),
            q1,
            ld8(y.add(18)),
        );
        vfmaq_f32(acc, vcvtq_f32_s32(p), dxy(rd16(x), rd16(y)))
    })
}

#[inline(always)]
unsafe fn q5_1_q8_1<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    let mut summ = 0.0f32;
    for i in 0..nb {
        let x = w.add(i * BlockQ5_1::BYTES);
        let y = a.add(i * BlockQ8_1::BYTES);
        summ += f16s(rd16(x.add(2))) * f16s(rd16(y.add(2)));
    }
    let dot = drive2(nb, |i, acc| {
        let x = w.add(i * BlockQ5_1::BYTES);
        let y = a.add(i * BlockQ8_1::BYTES);
        let (h0, h1) = fifth_bits(u32::from_le_bytes(core::ptr::read_unaligned(
            x.add(4) as *const [u8; 4]
        )));
        let (lo, hi) = nibbles32(x.add(8));
        let p = D::dot(vdupq_n_s32(0), vorrq_s8(lo, h0), ld8(y.add(4)));
        let p = D::dot(p, vorrq_s8(hi, h1), ld8(y.add(20)));
        vfmaq_f32(acc, vcvtq_f32_s32(p), dxy(rd16(x), rd16(y)))
    });
    dot + summ
}

#[inline(always)]
unsafe fn q8_0_q8_0<D: Dot>(w: *const u8, a: *const u8, nb: usize) -> f32 {
    drive2(nb, |i, acc| {
        let x = w.add(i * BlockQ8_0::BYTES);
        let y = a.add(i * BlockQ8_0::BYTES);
        let p = dot32::<D>(vdupq_n_s32(0), x.add(2), y.add(2));
        vfmaq_f32(acc, vcvtq_f32_s32(p), dxy(rd16(x), rd16(y)))
    })
}

/// Defines the safe wrapper `$name` for the generic body `$body`: checks the lengths, then
/// runs the SDOT build of the body when the CPU has `dotprod`, the base-NEON build otherwise.
macro_rules! vec_dot_wrapper {
    ($name:ident, $body:ident, $w:ty, $a:ty) => {
        pub(crate) fn $name(w: &[u8], a: &[u8], n: usize) -> f32 {
            #[target_feature(enable = "neon")]
            unsafe fn base(w: *const u8, a: *const u8, nb: usize) -> f32 {
                $body::<$crate::arm::neon::Base>(w, a, nb)
            }
            #[target_feature(enable = "neon,dotprod")]
            unsafe fn sdot(w: *const u8, a: *const u8, nb: usize) -> f32 {
                $body::<$crate::arm::neon::Sdot>(w, a, nb)
            }
            let nb = $crate::blocks::check::<$w>(n, w.len());
            $crate::blocks::check::<$a>(n, a.len());
            if $crate::arm::neon::has_dotprod() {
                // SAFETY: the table is handed out only when NEON is present (`supported`), the
                // SDOT build only runs when `has_dotprod()` says the CPU has it, and both rows
                // hold `nb` whole blocks (checked above), which is all the body reads.
                unsafe { sdot(w.as_ptr(), a.as_ptr(), nb) }
            } else {
                // SAFETY: NEON is present (`supported`); both rows hold `nb` whole blocks.
                unsafe { base(w.as_ptr(), a.as_ptr(), nb) }
            }
        }
    };
}
pub(crate) use vec_dot_wrapper;

vec_dot_wrapper!(vec_dot_q4_0_q8_0, q4_0_q8_0, BlockQ4_0, BlockQ8_0);
vec_dot_wrapper!(vec_dot_q4_1_q8_1, q4_1_q8_1, BlockQ4_1, BlockQ8_1);
vec_dot_wrapper!(vec_dot_q5_0_q8_0, q5_0_q8_0, BlockQ5_0, BlockQ8_0);
vec_dot_wrapper!(vec_dot_q5_1_q8_1, q5_1_q8_1, BlockQ5_1, BlockQ8_1);
vec_dot_wrapper!(vec_dot_q8_0_q8_0, q8_0_q8_0, BlockQ8_0, BlockQ8_0);

// ---------------------------------------------------------------------------------------------
// Float dots. Each returns (partial sum, elements done); the wrapper adds the scalar tail.
// Pointers are byte pointers (f32 rows may come as unaligned bytes).

#[target_feature(enable = "neon")]
unsafe fn dot_f32_raw(a: *const u8, b: *const u8, n: usize) -> (f32, usize) {
    let mut s = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (k, sk) in s.iter_mut().enumerate() {
            let o = 4 * (i + 4 * k);
            *sk = vfmaq_f32(*sk, ldf(a.add(o)), ldf(b.add(o)));
        }
        i += 16;
    }
    while i + 4 <= n {
        s[0] = vfmaq_f32(s[0], ldf(a.add(4 * i)), ldf(b.add(4 * i)));
        i += 4;
    }
    let t = vaddq_f32(vaddq_f32(s[0], s[1]), vaddq_f32(s[2], s[3]));
    (vaddvq_f32(t), i)
}

/// `w`: f16 bits (or bf16 bits when `BF16`), `x`: f32, both byte pointers.
#[target_feature(enable = "neon")]
unsafe fn dot_half_raw<const BF16: bool>(w: *const u8, x: *const u8, n: usize) -> (f32, usize) {
    let cvt = |p: *const u8| if BF16 { bf16x8(p) } else { f16x8(p) };
    let mut s = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        let (w0, w1) = cvt(w.add(2 * i));
        let (w2, w3) = cvt(w.add(2 * i + 16));
        s[0] = vfmaq_f32(s[0], w0, ldf(x.add(4 * i)));
        s[1] = vfmaq_f32(s[1], w1, ldf(x.add(4 * i + 16)));
        s[2] = vfmaq_f32(s[2], w2, ldf(x.add(4 * i + 32)));
        s[3] = vfmaq_f32(s[3], w3, ldf(x.add(4 * i + 48)));
        i += 16;
    }
    while i + 8 <= n {
        let (w0, w1) = cvt(w.add(2 * i));
        s[0] = vfmaq_f32(s[0], w0, ldf(x.add(4 * i)));
        s[1] = vfmaq_f32(s[1], w1, ldf(x.add(4 * i + 16)));
        i += 8;
    }
    let t = vaddq_f32(vaddq_f32(s[0], s[1]), vaddq_f32(s[2], s[3]));
    (vaddvq_f32(t), i)
}

// ---------------------------------------------------------------------------------------------
// f32 vector ops.

#[target_feature(enable = "neon")]
unsafe fn mul2_raw(x: *const f32, w: *const f32, s: f32, out: *mut f32, n: usize) -> usize {
    let sv = vdupq_n_f32(s);
    let mut i = 0;
    while i + 4 <= n {
        let v = vmulq_f32(vmulq_f32(vld1q_f32(x.add(i)), sv), vld1q_f32(w.add(i)));
        vst1q_f32(out.add(i), v);
        i += 4;
    }
    i
}

#[target_feature(enable = "neon")]
unsafe fn add_raw(a: *mut f32, b: *const f32, n: usize) -> usize {
    let mut i = 0;
    while i + 4 <= n {
        vst1q_f32(
            a.add(i),
            vaddq_f32(vld1q_f32(a.add(i)), vld1q_f32(b.add(i))),
        );
        i += 4;
    }
    i
}

#[target_feature(enable = "neon")]
unsafe fn scale_raw(x: *mut f32, s: f32, n: usize) -> usize {
    let sv = vdupq_n_f32(s);
    let mut i = 0;
    while i + 4 <= n {
        vst1q_f32(x.add(i), vmulq_f32(vld1q_f32(x.add(i)), sv));
        i += 4;
    }
    i
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers (byte-identical to the scalar reference).

/// max |x[i]| over `n` floats (`n` a multiple of 4); NaN in, NaN out (then the caller falls
/// back to the scalar code).
#[target_feature(enable = "neon")]
unsafe fn absmax_raw(x: *const f32, n: usize) -> f32 {
    let mut m = vdupq_n_f32(0.0);
    let mut i = 0;
    while i < n {
        m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x.add(i))));
        i += 4;
    }
    vmaxvq_f32(m)
}

/// Narrows 4 × 4 i32 to 16 i8 in order, saturating (like Rust's `as i8` on the rounded f32).
#[inline(always)]
unsafe fn pack16(a: int32x4_t, b: int32x4_t, c: int32x4_t, d: int32x4_t) -> int8x16_t {
    let ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
    let cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
    vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd))
}

/// 16 floats at `x` times `s`, rounded half away from zero (Q8_0/Q8_1: `f32::round`) or half to
/// even (Q8_K: ggml's `nearest_int`, then capped at 127), as i8.
#[inline(always)]
unsafe fn round16<const EVEN: bool>(x: *const f32, s: f32) -> int8x16_t {
    let sv = vdupq_n_f32(s);
    let r = |k: usize| {
        let t = vmulq_f32(vld1q_f32(x.add(4 * k)), sv);
        if EVEN {
            vminq_s32(vcvtnq_s32_f32(t), vdupq_n_s32(127))
        } else {
            vcvtaq_s32_f32(t)
        }
    };
    pack16(r(0), r(1), r(2), r(3))
}

/// Q8_0/Q8_1 quants of one 32-float block into `out` (32 bytes); returns Σq.
#[target_feature(enable = "neon")]
unsafe fn q8_round32(x: *const f32, id: f32, out: *mut u8) -> i32 {
    let q0 = round16::<false>(x, id);
    let q1 = round16::<false>(x.add(16), id);
    vst1q_u8(out, vreinterpretq_u8_s8(q0));
    vst1q_u8(out.add(16), vreinterpretq_u8_s8(q1));
    vaddlvq_s8(q0) as i32 + vaddlvq_s8(q1) as i32
}

/// One Q8_K block (256 floats, finite non-zero `iscale`): the quants into `out[4..260]` and
/// the 16 group sums into `out[260..292]`.
#[target_feature(enable = "neon")]
unsafe fn q8k_round256(x: *const f32, iscale: f32, out: *mut u8) {
    for g in 0..16 {
        let q = round16::<true>(x.add(16 * g), iscale);
        vst1q_u8(out.add(4 + 16 * g), vreinterpretq_u8_s8(q));
        let s = vaddlvq_s8(q);
        core::ptr::write_unaligned(out.add(260 + 2 * g) as *mut [u8; 2], s.to_le_bytes());
    }
}

/// Index of the first of the 256 floats at `x` whose magnitude equals `amax`.
#[target_feature(enable = "neon")]
unsafe fn first_abs_eq(x: *const f32, amax: f32) -> Option<usize> {
    let m = vdupq_n_f32(amax);
    for c in 0..64 {
        let eq = vceqq_f32(vabsq_f32(vld1q_f32(x.add(4 * c))), m);
        if vmaxvq_u32(eq) != 0 {
            return (0..4)
                .map(|k| 4 * c + k)
                .find(|&i| (*x.add(i)).abs() == amax);
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Safe wrappers: check lengths like the scalar reference, then run the SIMD body.
//
// SAFETY (applies to every `unsafe` block below): these functions are only reachable through
// the `NEON` table, which `crate::kernels` hands out only when `supported()` (NEON) is true.
// Pointer reads and writes stay inside the slices: lengths are checked first, and each raw
// loop only touches whole vectors below the count it is given.

pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f32: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_f32_raw(a.as_ptr() as *const u8, b.as_ptr() as *const u8, a.len()) };
    s + dot::dot_f32(&a[i..], &b[i..])
}

pub(crate) fn dot_f16_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_f16_f32: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_half_raw::<false>(w.as_ptr(), x.as_ptr() as *const u8, x.len()) };
    s + dot::dot_f16_f32(&w[2 * i..], &x[i..])
}

pub(crate) fn dot_bf16_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), 2 * x.len(), "dot_bf16_f32: length mismatch");
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_half_raw::<true>(w.as_ptr(), x.as_ptr() as *const u8, x.len()) };
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
    let p = x.as_ptr() as *const u8;
    // SAFETY: see the comment above the wrappers.
    let (s, i) = unsafe { dot_f32_raw(p, p, n) };
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
        let sum = unsafe { q8_round32(x.as_ptr(), id, out[qoff..].as_mut_ptr()) };
        out[0..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        if q8_1 {
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

/// The NEON table (SDOT inside the quantized dots where the CPU has `dotprod`).
pub static NEON: Kernels = Kernels {
    name: "neon",
    supported,
    vec_dots: &[
        (QuantType::Q4_0, vec_dot_q4_0_q8_0),
        (QuantType::Q4_1, vec_dot_q4_1_q8_1),
        (QuantType::Q5_0, vec_dot_q5_0_q8_0),
        (QuantType::Q5_1, vec_dot_q5_1_q8_1),
        (QuantType::Q8_0, vec_dot_q8_0_q8_0),
        (QuantType::Q2_K, kq::vec_dot_q2_k_q8_k),
        (QuantType::Q3_K, kq::vec_dot_q3_k_q8_k),
        (QuantType::Q4_K, kq::vec_dot_q4_k_q8_k),
        (QuantType::Q5_K, kq::vec_dot_q5_k_q8_k),
        (QuantType::Q6_K, kq::vec_dot_q6_k_q8_k),
    ],
    quantize_row_q8_0,
    quantize_row_q8_1,
    quantize_row_q8_k,
    dot_f16_f32,
    dot_bf16_f32,
    dot_f32,
    float_gemm: None,
    rms_norm,
    silu_mul: neon_math::silu_mul,
    gelu_mul: crate::scalar::vecops::gelu_mul,
    add,
    scale,
    gemm_q4_0x16: None,
    gemm_q8_0x16: None,
    gemm_q4_kx16: None,
    gemm_q6_kx16: None,
    attn_scores_f16: crate::scalar::attn::attn_scores_f16,
    attn_scores_f32: crate::scalar::attn::attn_scores_f32,
    attn_accum_f16: crate::scalar::attn::attn_accum_f16,
    attn_accum_f32: crate::scalar::attn::attn_accum_f32,
    exp_sub_sum: crate::scalar::attn::exp_sub_sum,
    sum_u64: crate::scalar::stream::sum_u64,
};
