//! Row conversions used outside the kernel tables (`brisk quantize` reading F16 input): the
//! fastest path this CPU has, with the scalar reference's values (F16C converts exactly; only a
//! signalling NaN comes back quieted).

/// Little-endian F16 `src` (2 bytes per value) into `dst`.
pub fn f16_row_to_f32(src: &[u8], dst: &mut [f32]) {
    assert!(
        src.len() >= 2 * dst.len(),
        "f16_row_to_f32: source too short"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c") {
            // SAFETY: AVX2 and F16C are present (checked above); lengths checked above.
            unsafe { crate::x86::convert::f16_row_f16c(src, dst) };
            return;
        }
    }
    crate::scalar::floats::dequantize_f16(src, dst);
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_f16_value_converts_like_the_reference() {
        let src: Vec<u8> = (0..=u16::MAX).flat_map(|h| h.to_le_bytes()).collect();
        let n = 65536 - 3; // a tail that is not a multiple of 8 too
        let (mut a, mut b) = (vec![0.0f32; n], vec![0.0f32; n]);
        super::f16_row_to_f32(&src, &mut a);
        crate::scalar::floats::dequantize_f16(&src, &mut b);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "{i:#x}: {x} vs {y}"
            );
        }
    }
}
