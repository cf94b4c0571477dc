//! The dense linear algebra calibration needs, in f64 on the backend's threads: a blocked
//! Cholesky factorisation (right-looking, 64-column panels, the trailing update split by rows)
//! and the reversal that turns it into the upper factor GPTQ works with.
use crate::backend::Cpu;
use std::sync::Mutex;

/// Panel width of the blocked factorisation.
const NB: usize = 64;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    // Four running sums: vectorisable, and less rounding than one long chain.
    let mut s = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            s[k] += x[k] * y[k];
        }
    }
    let tail: f64 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    (s[0] + s[1]) + (s[2] + s[3]) + tail
}

/// Rows `first..` of the row-major `n`-wide `a`, in groups of `group` rows, each behind its
/// own lock so that threads can take them.
fn row_groups(
    a: &mut [f64],
    n: usize,
    first: usize,
    group: usize,
) -> Vec<Mutex<(usize, &mut [f64])>> {
    a[first * n..]
        .chunks_mut(group * n)
        .enumerate()
        .map(|(g, rows)| Mutex::new((first + g * group, rows)))
        .collect()
}

/// Replaces the lower triangle of the symmetric `n × n` matrix `a` (row-major; the upper
/// triangle is ignored and left as it was) by its Cholesky factor L (`a = L·Lᵀ`). `Err(i)` when
/// the matrix is not positive definite (pivot `i` was not positive).
pub fn cholesky(be: &Cpu, a: &mut [f64], n: usize) -> Result<(), usize> {
    assert_eq!(a.len(), n * n, "cholesky: shape");
    let group = 16;
    let mut k0 = 0;
    while k0 < n {
        let k1 = (k0 + NB).min(n);
        // The diagonal block, unblocked (earlier panels were already subtracted).
        for i in k0..k1 {
            for j in k0..=i {
                let s = a[i * n + j] - dot(&a[i * n + k0..i * n + j], &a[j * n + k0..j * n + j]);
                if i == j {
                    if s <= 0.0 || !s.is_finite() {
                        return Err(i);
                    }
                    a[i * n + i] = s.sqrt();
                } else {
                    a[i * n + j] = s / a[j * n + j];
                }
            }
        }
        if k1 == n {
            break;
        }
        let w = k1 - k0;
        let diag: Vec<f64> = (k0..k1)
            .flat_map(|i| a[i * n + k0..i * n + k1].to_vec())
            .collect();
        // The panel below it: L21 = A21 · L11⁻ᵀ, row by row.
        {
            let groups = row_groups(a, n, k1, group);
            be.parallel(groups.len(), &|g| {
                let mut guard = groups[g].lock().unwrap_or_else(|e| e.into_inner());
                for row in guard.1.chunks_exact_mut(n) {
                    let p = &mut row[k0..k1];
                    for j in 0..w {
                        let s = p[j] - dot(&p[..j], &diag[j * w..j * w + j]);
                        p[j] = s / diag[j * w + j];
                    }
                }
            });
        }
        let panel: Vec<f64> = (k1..n)
            .flat_map(|i| a[i * n + k0..i * n + k1].to_vec())
            .collect();
        // The trailing update A22 −= L21·L21ᵀ (lower triangle).
        let groups = row_groups(a, n, k1, group);
        be.parallel(groups.len(), &|g| {
            let mut guard = groups[g].lock().unwrap_or_else(|e| e.into_inner());
            let first = guard.0;
            for (r, row) in guard.1.chunks_exact_mut(n).enumerate() {
                let i = first + r;
                let pi = &panel[(i - k1) * w..(i - k1 + 1) * w];
                for j in k1..=i {
                    row[j] -= dot(pi, &panel[(j - k1) * w..(j - k1 + 1) * w]);
                }
            }
        });
        k0 = k1;
    }
    Ok(())
}

/// The upper-triangular Ũ with `h = Ũ·Ũᵀ`, as the Cholesky factor L̃ of h with its index order
/// reversed (`Ũ[i][j] = L̃[n−1−i][n−1−j]`): returned as L̃ (row-major lower triangle), which
/// [`Upper`] reads. `h` is consumed.
pub fn reversed_cholesky(be: &Cpu, h: &[f64], n: usize) -> Result<Upper, usize> {
    let mut r = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            r[i * n + j] = h[(n - 1 - i) * n + (n - 1 - j)];
        }
    }
    cholesky(be, &mut r, n).map_err(|i| n - 1 - i)?;
    Ok(Upper { l: r, n })
}

/// Ũ, stored as the reversed lower factor.
pub struct Upper {
    l: Vec<f64>,
    pub n: usize,
}

impl Upper {
    /// `Ũ⁻¹` (upper triangular too: the Cholesky factor of H⁻¹ that GPTQ updates with,
    /// `H⁻¹ = Ũ⁻ᵀ·Ũ⁻¹`), from the inverse of the stored lower factor, column by column on
    /// `be`'s threads.
    pub fn inverse(&self, be: &Cpu) -> Upper {
        let n = self.n;
        let l = &self.l;
        let group = 8;
        let n_groups = n.div_ceil(group);
        let cols: Vec<Mutex<Vec<f64>>> = (0..n_groups).map(|_| Mutex::new(Vec::new())).collect();
        be.parallel(n_groups, &|gi| {
            let c0 = gi * group;
            let c1 = (c0 + group).min(n);
            let w = c1 - c0;
            // x[i][c] for i ≥ c0: column c of L⁻¹ (zero above the diagonal).
            let mut x = vec![0.0f64; (n - c0) * w];
            for i in c0..n {
                let row = &l[i * n..(i + 1) * n];
                let mut acc = [0.0f64; 8];
                for k in c0..i {
                    let lk = row[k];
                    let xk = &x[(k - c0) * w..(k - c0 + 1) * w];
                    for (a, &v) in acc.iter_mut().zip(xk) {
                        *a += lk * v;
                    }
                }
                for c in 0..w {
                    let delta = if i == c0 + c { 1.0 } else { 0.0 };
                    x[(i - c0) * w + c] = if i < c0 + c {
                        0.0
                    } else {
                        (delta - acc[c]) / row[i]
                    };
                }
            }
            *cols[gi].lock().unwrap_or_else(|e| e.into_inner()) = x;
        });
        let mut inv = vec![0.0f64; n * n];
        for (gi, x) in cols.into_iter().enumerate() {
            let x = x.into_inner().unwrap_or_else(|e| e.into_inner());
            let c0 = gi * group;
            let w = (c0 + group).min(n) - c0;
            for i in c0..n {
                for c in 0..w {
                    inv[i * n + c0 + c] = x[(i - c0) * w + c];
                }
            }
        }
        Upper { l: inv, n }
    }

    /// `Ũ[i][j]` for `j ≥ i`.
    pub fn at(&self, i: usize, j: usize) -> f64 {
        let n = self.n;
        self.l[(n - 1 - i) * n + (n - 1 - j)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu() -> Cpu {
        Cpu::new(2, brisk_kernels::selected()).unwrap()
    }

    fn spd(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        let mut x = vec![0.0f64; n * (n + 7)];
        for v in x.iter_mut() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            *v = (s % 2001) as f64 / 1000.0 - 1.0;
        }
        let m = n + 7;
        let mut h = vec![0.0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                h[i * n + j] = (0..m).map(|t| x[i * m + t] * x[j * m + t]).sum();
            }
        }
        h
    }

    #[test]
    fn blocked_cholesky_reproduces_the_matrix() {
        let be = cpu();
        for n in [1, 5, 64, 65, 150] {
            let h = spd(n, 7 + n as u64);
            let mut l = h.clone();
            cholesky(&be, &mut l, n).unwrap();
            for i in 0..n {
                for j in 0..=i {
                    let s: f64 = (0..=j).map(|k| l[i * n + k] * l[j * n + k]).sum();
                    assert!((s - h[i * n + j]).abs() < 1e-9 * (1.0 + h[i * n + j].abs()));
                }
            }
            let u = reversed_cholesky(&be, &h, n).unwrap();
            for i in 0..n {
                for j in 0..n {
                    // (Ũ Ũᵀ)[i][j] = Σ_{k ≥ max(i,j)} Ũ[i][k] Ũ[j][k]
                    let s: f64 = (i.max(j)..n).map(|k| u.at(i, k) * u.at(j, k)).sum();
                    assert!((s - h[i * n + j]).abs() < 1e-9 * (1.0 + h[i * n + j].abs()));
                }
            }
            // Ũ·Ũ⁻¹ = I.
            let v = u.inverse(&be);
            for i in 0..n {
                for j in i..n {
                    let s: f64 = (i..=j).map(|k| u.at(i, k) * v.at(k, j)).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((s - want).abs() < 1e-8, "n={n} ({i},{j}): {s}");
                }
            }
        }
    }

    #[test]
    fn an_indefinite_matrix_is_refused() {
        let be = cpu();
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        assert_eq!(cholesky(&be, &mut a, 2), Err(1));
    }
}
