//! The streaming read of `brisk bench --roofline` ([`crate::scalar::stream::sum_u64`]) with
//! 256-bit (AVX2) and 512-bit (AVX-512) loads, four independent accumulators each, so the loop
//! is bound by memory, not by the adds.

use core::arch::x86_64::*;

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sum4x256(p: *const u64, n: usize) -> (u64, usize) {
    let mut a = [_mm256_setzero_si256(); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (k, x) in a.iter_mut().enumerate() {
            let v = _mm256_loadu_si256(p.add(i + 4 * k) as *const __m256i);
            *x = _mm256_add_epi64(*x, v);
        }
        i += 16;
    }
    let s = _mm256_add_epi64(_mm256_add_epi64(a[0], a[1]), _mm256_add_epi64(a[2], a[3]));
    let mut lanes = [0u64; 4];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, s);
    (crate::scalar::stream::sum_u64(&lanes), i)
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn sum4x512(p: *const u64, n: usize) -> (u64, usize) {
    let mut a = [_mm512_setzero_si512(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, x) in a.iter_mut().enumerate() {
            let v = _mm512_loadu_si512(p.add(i + 8 * k) as *const __m512i);
            *x = _mm512_add_epi64(*x, v);
        }
        i += 32;
    }
    let s = _mm512_add_epi64(_mm512_add_epi64(a[0], a[1]), _mm512_add_epi64(a[2], a[3]));
    (_mm512_reduce_add_epi64(s) as u64, i)
}

// SAFETY (both wrappers): reachable only through the `AVX2`/`AVX512` tables, handed out only when
// their `supported()` is true (the features above are present); the loops read only below
// `x.len()` words.

pub(crate) fn sum_u64_avx2(x: &[u64]) -> u64 {
    // SAFETY: see above.
    let (s, i) = unsafe { sum4x256(x.as_ptr(), x.len()) };
    s.wrapping_add(crate::scalar::stream::sum_u64(&x[i..]))
}

pub(crate) fn sum_u64_avx512(x: &[u64]) -> u64 {
    // SAFETY: see above.
    let (s, i) = unsafe { sum4x512(x.as_ptr(), x.len()) };
    s.wrapping_add(crate::scalar::stream::sum_u64(&x[i..]))
}
