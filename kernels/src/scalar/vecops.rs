//! f32 vector operations used by the model (scalar reference), with ggml's order of operations
//! (`ggml_compute_forward_rms_norm_f32`, `ggml_vec_soft_max_f32`, `ggml_silu_f32`).

/// `out[i] = (x[i] · 1/sqrt(mean(x²) + eps)) · w[i]`; the sum of squares is accumulated in f64.
/// All three slices must have the same length.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    assert!(
        x.len() == w.len() && x.len() == out.len(),
        "rms_norm: length mismatch"
    );
    if x.is_empty() {
        return;
    }
    let mut sum = 0.0f64;
    for &v in x {
        sum += (v * v) as f64;
    }
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = (v * scale) * g;
    }
}

/// In-place softmax: `exp(x − max) / Σ`, the sum accumulated in f64. An empty slice is left
/// alone; a row of all −inf becomes NaN, as in ggml (callers mask at least one position).
pub fn softmax(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        let e = (*v - max).exp();
        sum += e as f64;
        *v = e;
    }
    let inv = (1.0 / sum) as f32;
    scale(x, inv);
}

/// `silu(v) = v / (1 + exp(−v))`.
#[inline]
pub fn silu(v: f32) -> f32 {
    v / (1.0 + (-v).exp())
}

/// `out[i] = silu(gate[i]) · up[i]` (the SwiGLU feed-forward). All lengths equal.
pub fn silu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(
        gate.len() == up.len() && gate.len() == out.len(),
        "silu_mul: length mismatch"
    );
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = silu(g) * u;
    }
}

/// GELU with the tanh approximation (Hendrycks & Gimpel 2016), as Gemma's `gelu_pytorch_tanh`:
/// `0.5·v·(1 + tanh(√(2/π)·(v + 0.044715·v³)))`.
#[inline]
pub fn gelu_tanh(v: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * v * (1.0 + (SQRT_2_OVER_PI * v * (1.0 + 0.044715 * v * v)).tanh())
}

/// `out[i] = gelu_tanh(gate[i]) · up[i]` (the GeGLU feed-forward). All lengths equal.
pub fn gelu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    assert!(
        gate.len() == up.len() && gate.len() == out.len(),
        "gelu_mul: length mismatch"
    );
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = gelu_tanh(g) * u;
    }
}

/// `a[i] += b[i]`. Lengths equal.
pub fn add(a: &mut [f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "add: length mismatch");
    for (x, &y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// `x[i] *= s`.
pub fn scale(x: &mut [f32], s: f32) {
    for v in x.iter_mut() {
        *v *= s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_unit() {
        let x = [3.0f32, 4.0];
        let mut out = [0.0f32; 2];
        rms_norm(&x, &[1.0, 2.0], 0.0, &mut out);
        let r = (12.5f32).sqrt();
        assert!((out[0] - 3.0 / r).abs() < 1e-6 && (out[1] - 8.0 / r).abs() < 1e-6);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x = [1.0f32, 2.0, 3.0, -1e30];
        softmax(&mut x);
        let s: f32 = x.iter().sum();
        assert!((s - 1.0).abs() < 1e-6);
        assert_eq!(x[3], 0.0);
        assert!(x[2] > x[1] && x[1] > x[0]);
    }

    #[test]
    fn gelu_tanh_matches_known_values() {
        // Values of PyTorch's gelu(approximate="tanh").
        for (x, want) in [
            (0.0f32, 0.0f32),
            (1.0, 0.841_192),
            (-1.0, -0.158_808),
            (3.0, 2.996_363),
            (-3.0, -0.003_637),
        ] {
            assert!(
                (gelu_tanh(x) - want).abs() < 1e-5,
                "gelu({x}) = {}",
                gelu_tanh(x)
            );
        }
        let mut out = [0.0; 2];
        gelu_mul(&[1.0, -1.0], &[2.0, 3.0], &mut out);
        assert!((out[0] - 1.682_384).abs() < 1e-5 && (out[1] + 0.476_424).abs() < 1e-5);
    }

    #[test]
    fn silu_mul_and_add() {
        let mut out = [0.0f32; 2];
        silu_mul(&[0.0, 100.0], &[5.0, 2.0], &mut out);
        assert_eq!(out, [0.0, 200.0]);
        let mut a = [1.0f32, 2.0];
        add(&mut a, &[0.5, 0.5]);
        scale(&mut a, 2.0);
        assert_eq!(a, [3.0, 5.0]);
    }
}
