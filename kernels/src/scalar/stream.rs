//! A streaming read: the wrapping sum of a buffer's u64 words. `brisk bench --roofline` times it
//! to measure the memory read bandwidth the matmuls can hope for. Wrapping addition is
//! associative, so every table returns exactly this value.

/// `Σ x[i]` with wrapping addition.
pub fn sum_u64(x: &[u64]) -> u64 {
    x.iter().fold(0u64, |a, &b| a.wrapping_add(b))
}
