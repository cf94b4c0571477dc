//! AArch64 kernel table: NEON ([`NEON`]), with the SDOT dot-product instruction where the CPU
//! has it (Armv8.2 `dotprod`) and base NEON widening multiplies otherwise.
//!
//! Every SIMD body is an `unsafe fn` over raw pointers; the table holds safe wrappers that check
//! lengths like the scalar reference and is only handed out by [`crate::kernels::available`] /
//! [`crate::kernels::selected`] when `supported()` is true.
//!
//! Toolchain: this module is compiled only for aarch64 and must build with Rust 1.63 (Debian's
//! rustc, see docs/ARCHITECTURE.md): `vdotq_s32` and the f16 vector types are unstable there,
//! so SDOT and the f16 → f32 conversions are written with `asm!`.
//!
//! - [`neon`]: helpers, legacy-block dots, float dots, f32 vector ops, activation quantizers,
//!   and the table itself.
//! - [`neon_kquants`]: the K-quant dots (Q2_K … Q6_K, Q8_K) against Q8_K.
//! - [`neon_math`]: vector `exp` and the ops built on it (`silu_mul`).

pub mod neon;
pub mod neon_kquants;
pub mod neon_math;

pub use neon::NEON;

#[cfg(test)]
mod tests {
    use super::neon::{has_dotprod, Base, Dot, Sdot};
    use crate::testutil::Rng;
    use core::arch::aarch64::*;

    #[test]
    fn neon_is_available_and_selectable() {
        let names: Vec<&str> = crate::available().iter().map(|k| k.name).collect();
        assert!(names.contains(&"neon"), "available: {:?}", names);
        assert_eq!(names.first(), Some(&"neon"));
        assert_eq!(crate::by_name("NEON").map(|k| k.name), Some("neon"));
    }

    /// Run by scripts/neon-qemu-test.sh with BRISK_CPU=neon and BRISK_CPU=scalar.
    #[test]
    fn brisk_cpu_override_is_honoured() {
        match std::env::var("BRISK_CPU") {
            Ok(want) if !want.trim().is_empty() => {
                assert_eq!(crate::selected().name, want.trim().to_ascii_lowercase());
                assert_eq!(
                    crate::requested().map(|k| k.name),
                    Ok(crate::selected().name)
                );
            }
            _ => assert_eq!(crate::selected().name, "neon"),
        }
    }

    fn i8x16(v: &[i8]) -> int8x16_t {
        // SAFETY: `v` has 16 elements (the callers slice exactly 16).
        unsafe { vld1q_s8(v.as_ptr()) }
    }

    #[inline(always)]
    unsafe fn total<D: Dot>(x: &[i8], y: &[i8]) -> i32 {
        let acc = D::dot(vdupq_n_s32(0), i8x16(&x[..16]), i8x16(&y[..16]));
        vaddvq_s32(D::dot(acc, i8x16(&x[16..]), i8x16(&y[16..])))
    }

    #[target_feature(enable = "neon")]
    unsafe fn total_base(x: &[i8], y: &[i8]) -> i32 {
        total::<Base>(x, y)
    }

    #[target_feature(enable = "neon,dotprod")]
    unsafe fn total_sdot(x: &[i8], y: &[i8]) -> i32 {
        total::<Sdot>(x, y)
    }

    /// Both integer-dot variants give the exact sum, including −128·−128.
    #[test]
    fn dot_variants_are_exact() {
        let mut rng = Rng::new(3);
        let mut cases: Vec<(Vec<i8>, Vec<i8>)> = vec![(vec![-128; 32], vec![-128; 32])];
        cases.push((vec![127; 32], vec![-128; 32]));
        for _ in 0..200 {
            let x: Vec<i8> = rng.bytes(32).iter().map(|&b| b as i8).collect();
            let y: Vec<i8> = rng.bytes(32).iter().map(|&b| b as i8).collect();
            cases.push((x, y));
        }
        for (x, y) in &cases {
            let want: i32 = x.iter().zip(y).map(|(&a, &b)| a as i32 * b as i32).sum();
            // SAFETY: NEON is baseline on aarch64; SDOT runs only when the CPU has it.
            unsafe {
                assert_eq!(total_base(x, y), want);
                if has_dotprod() {
                    assert_eq!(total_sdot(x, y), want);
                }
            }
        }
        eprintln!("dotprod: {}", has_dotprod());
    }
}
