//! Attention inner loops over one tile of the KV cache (scalar reference): the scores of one
//! query against a run of key rows, the softmax weights' `exp`, and the weighted sum of value
//! rows. Keys and values come as f16 bits (the F16 cache, in place) or as f32 (a dequantized
//! Q8_0 tile). Rows are contiguous: row `j` of a tile of width `d` is `[j·d, (j + 1)·d)`.
//!
//! Sums are accumulated in f64 and rounded once, so SIMD versions (f32 lanes) differ only by
//! reassociation.

use crate::half::f16_to_f32;

fn rows_of(what: &str, tile: usize, d: usize, rows: usize) {
    assert!(
        tile == d * rows,
        "{what}: tile of {tile} elements is not {rows} rows of {d}"
    );
}

/// `out[j] = Σᵢ q[i]·k[j·d + i]` with `d = q.len()`, `k` as f16 bits, `out.len()` rows.
/// Panics unless `k.len() == out.len()·q.len()`.
pub fn attn_scores_f16(q: &[f32], k: &[u16], out: &mut [f32]) {
    let d = q.len();
    rows_of("attn_scores_f16", k.len(), d, out.len());
    for (j, o) in out.iter_mut().enumerate() {
        let mut s = 0.0f64;
        for (&x, &h) in q.iter().zip(&k[j * d..(j + 1) * d]) {
            s += (x * f16_to_f32(h)) as f64;
        }
        *o = s as f32;
    }
}

/// [`attn_scores_f16`] with f32 keys.
pub fn attn_scores_f32(q: &[f32], k: &[f32], out: &mut [f32]) {
    let d = q.len();
    rows_of("attn_scores_f32", k.len(), d, out.len());
    for (j, o) in out.iter_mut().enumerate() {
        let mut s = 0.0f64;
        for (&x, &y) in q.iter().zip(&k[j * d..(j + 1) * d]) {
            s += (x * y) as f64;
        }
        *o = s as f32;
    }
}

/// `acc[i] += Σⱼ p[j]·v[j·d + i]` with `d = acc.len()`, `v` as f16 bits, `p.len()` rows.
/// Panics unless `v.len() == p.len()·acc.len()`.
pub fn attn_accum_f16(p: &[f32], v: &[u16], acc: &mut [f32]) {
    let d = acc.len();
    rows_of("attn_accum_f16", v.len(), d, p.len());
    for (i, a) in acc.iter_mut().enumerate() {
        let mut s = *a as f64;
        for (j, &w) in p.iter().enumerate() {
            s += (w * f16_to_f32(v[j * d + i])) as f64;
        }
        *a = s as f32;
    }
}

/// [`attn_accum_f16`] with f32 values.
pub fn attn_accum_f32(p: &[f32], v: &[f32], acc: &mut [f32]) {
    let d = acc.len();
    rows_of("attn_accum_f32", v.len(), d, p.len());
    for (i, a) in acc.iter_mut().enumerate() {
        let mut s = *a as f64;
        for (j, &w) in p.iter().enumerate() {
            s += (w * v[j * d + i]) as f64;
        }
        *a = s as f32;
    }
}

/// `x[i] = exp(x[i] − m)`, returning `Σ x[i]` (the new values). With `m ≥ max(x)` every
/// result is in `[0, 1]`; `m` must not be infinite (the caller's running maximum is finite
/// once one finite score has been seen).
pub fn exp_sub_sum(x: &mut [f32], m: f32) -> f32 {
    let mut s = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - m).exp();
        s += *v as f64;
    }
    s as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::half::f32_to_f16;

    #[test]
    fn small_tiles_by_hand() {
        let q = [1.0f32, 2.0, -1.0];
        let k: Vec<u16> = [1.0f32, 1.0, 1.0, 0.5, 0.0, 2.0]
            .iter()
            .map(|&x| f32_to_f16(x))
            .collect();
        let mut out = [0.0f32; 2];
        attn_scores_f16(&q, &k, &mut out);
        assert_eq!(out, [2.0, -1.5]);
        let kf = [1.0f32, 1.0, 1.0, 0.5, 0.0, 2.0];
        attn_scores_f32(&q, &kf, &mut out);
        assert_eq!(out, [2.0, -1.5]);
        let mut acc = [1.0f32, 0.0, 0.0];
        attn_accum_f16(&[2.0, 4.0], &k, &mut acc);
        assert_eq!(acc, [5.0, 2.0, 10.0]);
        let mut acc = [1.0f32, 0.0, 0.0];
        attn_accum_f32(&[2.0, 4.0], &kf, &mut acc);
        assert_eq!(acc, [5.0, 2.0, 10.0]);
        let mut x = [0.0f32, -1.0];
        let s = exp_sub_sum(&mut x, 0.0);
        assert_eq!(x[0], 1.0);
        assert!((s - (1.0 + (-1.0f32).exp())).abs() < 1e-7);
    }

    #[test]
    #[should_panic(expected = "not 3 rows")]
    fn ragged_tile_panics() {
        attn_scores_f32(&[1.0, 2.0], &[0.0; 5], &mut [0.0; 3]);
    }
}
