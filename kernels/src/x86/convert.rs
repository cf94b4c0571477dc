//! F16 rows to f32 with F16C, for [`crate::convert::f16_row_to_f32`].
use core::arch::x86_64::*;

/// `dst.len()` values of `src` (at least twice as many bytes; the caller checks).
#[target_feature(enable = "avx2,f16c")]
pub(crate) unsafe fn f16_row_f16c(src: &[u8], dst: &mut [f32]) {
    let n = dst.len();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 ≤ n values, so 16 bytes from 2·i lie in `src` (len ≥ 2n) and 8 floats
        // from i in `dst`.
        let h = _mm_loadu_si128(src.as_ptr().add(2 * i) as *const __m128i);
        _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        i += 8;
    }
    crate::scalar::floats::dequantize_f16(&src[2 * i..2 * n], &mut dst[i..]);
}
