//! The attention tile kernels of every table this CPU can run against the `SCALAR` reference,
//! on random tiles of every width and row count around the SIMD boundaries (odd tails), zero
//! tiles, and large magnitudes (f16 keys up to ±65504, queries up to ±1e4).
//!
//! Tolerance: `(d + 16)·2⁻²³·Σ|terms|` per output (f32 lane sums against the reference's f64
//! sum), as for the float dots in `isa.rs`; `exp_sub_sum`: 2⁻²⁰ relative per element (vector
//! `exp`) and on the sum.

use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, f16_to_f32, f32_to_f16, Kernels, SCALAR};

const WIDTHS: [usize; 14] = [1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65, 100, 128];
const ROWS: [usize; 7] = [0, 1, 3, 4, 5, 9, 32];

fn tables() -> Vec<&'static Kernels> {
    let t = available();
    eprintln!(
        "attn tests on: {:?}",
        t.iter().map(|k| k.name).collect::<Vec<_>>()
    );
    t
}

fn close(what: &str, got: f32, want: f32, mag: f64, d: usize) {
    let tol = (d + 16) as f64 * f64::powi(2.0, -23) * mag + 1e-30;
    assert!(
        ((got as f64) - (want as f64)).abs() <= tol,
        "{what}: {got} vs {want} (tolerance {tol})"
    );
}

/// Random normals of scale `amp`.
fn vals(rng: &mut Rng, n: usize, amp: f32) -> Vec<f32> {
    rng.normals(n, amp)
}

fn halves(x: &[f32]) -> Vec<u16> {
    x.iter().map(|&v| f32_to_f16(v)).collect()
}

fn check_scores(k: &Kernels, q: &[f32], keys: &[f32], rows: usize) {
    let d = q.len();
    let kh = halves(keys);
    let kf: Vec<f32> = kh.iter().map(|&h| f16_to_f32(h)).collect();
    let (mut want, mut got) = (vec![0.0f32; rows], vec![f32::NAN; rows]);
    for half in [true, false] {
        if half {
            (SCALAR.attn_scores_f16)(q, &kh, &mut want);
            (k.attn_scores_f16)(q, &kh, &mut got);
        } else {
            (SCALAR.attn_scores_f32)(q, &kf, &mut want);
            (k.attn_scores_f32)(q, &kf, &mut got);
        }
        for j in 0..rows {
            let mag: f64 = q
                .iter()
                .zip(&kf[j * d..(j + 1) * d])
                .map(|(a, b)| (a * b).abs() as f64)
                .sum();
            let what = format!("{} scores half={half} d={d} row {j}/{rows}", k.name);
            close(&what, got[j], want[j], mag, d);
        }
    }
}

fn check_accum(k: &Kernels, p: &[f32], vals: &[f32], acc0: &[f32]) {
    let d = acc0.len();
    let rows = p.len();
    let vh = halves(vals);
    let vf: Vec<f32> = vh.iter().map(|&h| f16_to_f32(h)).collect();
    for half in [true, false] {
        let (mut want, mut got) = (acc0.to_vec(), acc0.to_vec());
        if half {
            (SCALAR.attn_accum_f16)(p, &vh, &mut want);
            (k.attn_accum_f16)(p, &vh, &mut got);
        } else {
            (SCALAR.attn_accum_f32)(p, &vf, &mut want);
            (k.attn_accum_f32)(p, &vf, &mut got);
        }
        for i in 0..d {
            let mag: f64 = acc0[i].abs() as f64
                + (0..rows)
                    .map(|j| (p[j] * vf[j * d + i]).abs() as f64)
                    .sum::<f64>();
            let what = format!("{} accum half={half} d={d} rows={rows} col {i}", k.name);
            close(&what, got[i], want[i], mag, rows);
        }
    }
}

#[test]
fn scores_random_every_width_and_row_count() {
    let mut rng = Rng::new(1);
    for k in tables() {
        for &d in &WIDTHS {
            for &rows in &ROWS {
                let q = vals(&mut rng, d, 1.0);
                let keys = vals(&mut rng, rows * d, 2.0);
                check_scores(k, &q, &keys, rows);
            }
        }
    }
}

#[test]
fn scores_zeros_and_large_magnitudes() {
    let mut rng = Rng::new(2);
    for k in tables() {
        for &d in &[1usize, 17, 64, 130] {
            let rows = 6;
            check_scores(k, &vec![0.0; d], &vals(&mut rng, rows * d, 1.0), rows);
            check_scores(k, &vals(&mut rng, d, 1.0), &vec![0.0; rows * d], rows);
            // Keys at the f16 limit (±65504) and large queries: no overflow in f32.
            let keys: Vec<f32> = (0..rows * d)
                .map(|i| if i % 3 == 0 { 65504.0 } else { -6.0e4 })
                .collect();
            check_scores(k, &vals(&mut rng, d, 1e4), &keys, rows);
            // Subnormal f16 keys.
            check_scores(
                k,
                &vals(&mut rng, d, 1.0),
                &vals(&mut rng, rows * d, 1e-6),
                rows,
            );
        }
    }
}

#[test]
fn accum_random_every_width_and_row_count() {
    let mut rng = Rng::new(3);
    for k in tables() {
        for &d in &WIDTHS {
            for &rows in &ROWS {
                let p: Vec<f32> = (0..rows).map(|_| rng.uniform()).collect();
                let v = vals(&mut rng, rows * d, 1.0);
                let acc = vals(&mut rng, d, 3.0);
                check_accum(k, &p, &v, &acc);
            }
        }
    }
}

#[test]
fn accum_zeros_and_large_magnitudes() {
    let mut rng = Rng::new(4);
    for k in tables() {
        for &d in &[5usize, 32, 64, 80, 129] {
            let rows = 7;
            check_accum(
                k,
                &vec![0.0; rows],
                &vals(&mut rng, rows * d, 1.0),
                &vec![0.0; d],
            );
            check_accum(k, &[1.0; 7], &vec![0.0; rows * d], &vals(&mut rng, d, 1.0));
            let big: Vec<f32> = (0..rows * d)
                .map(|i| if i % 2 == 0 { 65504.0 } else { -65504.0 })
                .collect();
            let p: Vec<f32> = (0..rows).map(|_| rng.uniform() * 1e3).collect();
            check_accum(k, &p, &big, &vals(&mut rng, d, 1e6));
        }
    }
}

#[test]
fn exp_sub_sum_matches_reference() {
    let mut rng = Rng::new(5);
    for k in tables() {
        for n in [0usize, 1, 7, 8, 9, 31, 32, 33, 100] {
            for amp in [0.1f32, 5.0, 60.0] {
                let x = vals(&mut rng, n, amp);
                let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)).max(0.0);
                let (mut want, mut got) = (x.clone(), x.clone());
                let sw = (SCALAR.exp_sub_sum)(&mut want, m);
                let sg = (k.exp_sub_sum)(&mut got, m);
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    let tol = b.abs() * f32::powi(2.0, -20) + 1e-38;
                    assert!(
                        (a - b).abs() <= tol,
                        "{} exp n={n} amp={amp} [{i}]: {a} vs {b}",
                        k.name
                    );
                }
                let tol = sw.abs() * f32::powi(2.0, -20) * (n as f32 + 1.0) + 1e-37;
                assert!(
                    (sg - sw).abs() <= tol,
                    "{} exp sum n={n}: {sg} vs {sw}",
                    k.name
                );
            }
        }
    }
}

#[test]
#[should_panic(expected = "not 2 rows")]
fn ragged_tiles_panic_in_the_selected_table() {
    let k = brisk_kernels::selected();
    (k.attn_accum_f16)(&[1.0, 1.0], &[0u16; 7], &mut [0.0; 4]);
}

#[test]
fn sum_u64_is_exact_in_every_table() {
    let mut rng = Rng::new(6);
    for k in tables() {
        for n in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1000] {
            let x: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
            assert_eq!((k.sum_u64)(&x), (SCALAR.sum_u64)(&x), "{} n={n}", k.name);
        }
    }
}
