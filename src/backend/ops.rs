//! Element-wise f32 operations of the forward pass that the kernel tables do not carry: a plain
//! softmax (RMSNorm, SiLU·mul and the residual add come from `brisk_kernels`, RoPE from `rope`).

/// Softmax in place (max-subtracted).
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}
