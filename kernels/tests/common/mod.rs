//! Shared helpers for the integration tests: golden-file loading and comparisons.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(name)
}

pub fn read_bytes(name: &str) -> Vec<u8> {
    let p = golden_path(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {} (regenerate with `python3 scripts/make_quant_golden.py`)",
            p.display(),
            e
        )
    })
}

pub fn read_f32(name: &str) -> Vec<f32> {
    read_bytes(name)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

pub fn read_u16(name: &str) -> Vec<u16> {
    read_bytes(name)
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Bitwise equality, except that any NaN equals any NaN.
pub fn same_f32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Root-mean-square of `a − b`, relative to the RMS of `b` (0 when `b` is all zeros).
pub fn rel_rmse(a: &[f32], b: &[f32]) -> f64 {
    let (mut e, mut s) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        e += ((x - y) as f64).powi(2);
        s += (y as f64).powi(2);
    }
    if s == 0.0 {
        e.sqrt()
    } else {
        (e / s).sqrt()
    }
}

/// Index of the first difference between two byte rows, with the block it falls in.
pub fn first_diff(a: &[u8], b: &[u8], block_bytes: usize) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("lengths {} vs {}", a.len(), b.len()));
    }
    a.iter().zip(b).position(|(x, y)| x != y).map(|i| {
        format!(
            "byte {} (block {}, offset {}): {} vs {}",
            i,
            i / block_bytes,
            i % block_bytes,
            a[i],
            b[i]
        )
    })
}
