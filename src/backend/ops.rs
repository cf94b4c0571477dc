//! Element-wise f32 operations of the forward pass that the kernel tables do not carry: RoPE
//! and a plain softmax (RMSNorm, SiLU·mul and the residual add come from `brisk_kernels`).
use crate::model::config::RopeStyle;

/// Rotary position embedding of one head in place: the first `rope_dim` elements are rotated in
/// pairs by angle `pos · freq_scale · base^(−2i/rope_dim)`.
pub fn rope(
    head: &mut [f32],
    pos: usize,
    rope_dim: usize,
    base: f32,
    freq_scale: f32,
    style: RopeStyle,
) {
    let half = rope_dim / 2;
    let theta_scale = base.powf(-2.0 / rope_dim as f32);
    let mut theta = pos as f32 * freq_scale;
    for i in 0..half {
        let (sin, cos) = theta.sin_cos();
        let (a, b) = match style {
            RopeStyle::Adjacent => (2 * i, 2 * i + 1),
            RopeStyle::NeoX => (i, i + half),
        };
        let (x0, x1) = (head[a], head[b]);
        head[a] = x0 * cos - x1 * sin;
        head[b] = x0 * sin + x1 * cos;
        theta *= theta_scale;
    }
}

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
