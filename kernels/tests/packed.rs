//! Every packed-layout microkernel of every table this CPU runs against the scalar packed
//! reference (`packed::gemm_ref`), which `packed`'s unit test ties to ggml's `vec_dot`.
//!
//! Integer block sums are exact in both, so the only difference is f32 summation order.
//! Tolerance: `(blocks + 32)·2⁻²¹·Σ_b |d_w·d_a·Σ_j |w_j − z|·|a_j||`, the magnitude of every term
//! added. Inputs: random normal rows, zero rows, one-step and odd (padded) widths, rows that
//! are not a multiple of 16, extreme weight scales (f16 max, subnormal), Q8_0 quants of −128,
//! zero and huge activations, 1 to 8 tokens.

use brisk_kernels::packed::{self, Layout, MAX_TOKENS, ROWS};
use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, scalar, QuantType};

fn quantize(ty: QuantType, x: &[f32]) -> Vec<u8> {
    let mut q = vec![0u8; ty.row_bytes(x.len()).unwrap()];
    scalar::quantize_row(ty, x, &mut q);
    q
}

/// Σ over blocks of |d_w·d_a|·Σ|w − z|·|a| for row `w` and Q8_0 row `a` (K-quants with a Q8_K
/// row: Σ |x|·|a| over the dequantized values, Q4_K with the sub-block's largest |x| added to
/// |x|, a bound on its two terms).
fn magnitude(ty: QuantType, w: &[u8], a: &[u8], cols: usize) -> f32 {
    if ty == QuantType::Q4_K || ty == QuantType::Q6_K {
        let mut x = vec![0f32; cols];
        let mut y = vec![0f32; cols];
        scalar::dequantize_row(ty, w, &mut x);
        scalar::dequantize_row(QuantType::Q8_K, a, &mut y);
        let mut s = 0.0;
        for (xs, ys) in x.chunks(32).zip(y.chunks(32)) {
            let m = if ty == QuantType::Q4_K {
                xs.iter().fold(0.0f32, |m, v| m.max(v.abs()))
            } else {
                0.0
            };
            s += xs
                .iter()
                .zip(ys)
                .map(|(x, y)| (x.abs() + m) * y.abs())
                .sum::<f32>();
        }
        return s;
    }
    let (wb, zero) = match ty {
        QuantType::Q4_0 => (18, 8i32),
        QuantType::Q5_0 => (22, 16),
        _ => (34, 0),
    };
    let f16 = |b: &[u8]| brisk_kernels::f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
    let mut total = 0.0f32;
    for b in 0..cols / 32 {
        let (wk, ak) = (&w[b * wb..(b + 1) * wb], &a[b * 34..(b + 1) * 34]);
        let mut s = 0i64;
        for j in 0..32 {
            let q = if ty == QuantType::Q4_0 {
                let byte = wk[2 + j % 16];
                (if j < 16 { byte & 15 } else { byte >> 4 }) as i32 - zero
            } else if ty == QuantType::Q5_0 {
                let qh = u32::from_le_bytes([wk[2], wk[3], wk[4], wk[5]]);
                let byte = wk[6 + j % 16];
                let low = if j < 16 { byte & 15 } else { byte >> 4 } as i32;
                (low | (((qh >> j) & 1) as i32) << 4) - zero
            } else {
                wk[2 + j] as i8 as i32
            };
            s += (q.abs() * (ak[2 + j] as i8 as i32).abs()) as i64;
        }
        total += (f16(wk) * f16(ak)).abs() * s as f32;
    }
    total
}

struct Case {
    rows: usize,
    cols: usize,
    w: Vec<u8>,
}

fn cases(ty: QuantType, rng: &mut Rng) -> Vec<Case> {
    let mut out = Vec::new();
    let k_quant = ty == QuantType::Q4_K || ty == QuantType::Q6_K;
    let shapes: &[(usize, usize)] = if k_quant {
        &[(16, 256), (32, 2048), (7, 512), (1, 256), (21, 5632)]
    } else {
        &[
            (16, 256),
            (32, 2048),
            (7, 96),
            (1, 32),
            (20, 800),
            (5, 5632),
        ]
    };
    for &(rows, cols) in shapes {
        let rb = ty.row_bytes(cols).unwrap();
        let mut w = Vec::with_capacity(rows * rb);
        for r in 0..rows {
            let x: Vec<f32> = match r % 4 {
                3 => vec![0.0; cols],
                _ => rng.normals(cols, 1.0 + r as f32),
            };
            w.extend(quantize(ty, &x));
        }
        out.push(Case { rows, cols, w });
    }
    // Extreme scales: f16 max, a subnormal, and (Q8_0) quants of −128 and 127.
    let (rows, cols) = (4, 512);
    let rb = ty.row_bytes(cols).unwrap();
    let mut w = rng.bytes(rows * rb);
    let bb = ty.block_bytes();
    if ty == QuantType::Q4_K {
        // Random bytes with finite f16 d and dmin.
        for blk in w.chunks_exact_mut(bb) {
            blk[1] &= 0x3f;
            blk[3] &= 0x3f;
        }
        out.push(Case { rows, cols, w });
        return out;
    }
    if ty == QuantType::Q6_K {
        // Random quants and scales (−128 included) with a finite f16 d, the block's last 2 bytes.
        for blk in w.chunks_exact_mut(bb) {
            blk[bb - 1] &= 0x3f;
            blk[192] = 0x80;
        }
        out.push(Case { rows, cols, w });
        return out;
    }
    for (i, blk) in w.chunks_exact_mut(bb).enumerate() {
        let d: u16 = match i % 3 {
            0 => 0x7bff,
            1 => 0x0001,
            _ => 0x3c00,
        };
        blk[..2].copy_from_slice(&d.to_le_bytes());
        if ty == QuantType::Q8_0 && i % 2 == 0 {
            for q in &mut blk[2..] {
                *q = if *q & 1 == 0 { 0x80 } else { 0x7f };
            }
        }
    }
    out.push(Case { rows, cols, w });
    out
}

#[test]
fn every_table_matches_the_packed_reference() {
    let mut rng = Rng::new(42);
    let mut ran = 0;
    for k in available() {
        for layout in [
            Layout::Q4_0x16,
            Layout::Q5_0x16,
            Layout::Q8_0x16,
            Layout::Q4_Kx16,
            Layout::Q6_Kx16,
        ] {
            let gemm = match k.packed_gemm(layout) {
                Some(g) => g,
                None => continue,
            };
            let ty = layout.source_type();
            for case in cases(ty, &mut rng) {
                let (rows, cols) = (case.rows, case.cols);
                let rb = ty.row_bytes(cols).unwrap();
                let act = layout.act_layout();
                let ab = act.bytes(cols) + 64; // a stride wider than the row
                let mut acts = vec![0u8; MAX_TOKENS * ab];
                let mut q8s = Vec::new();
                for t in 0..MAX_TOKENS {
                    let x = match t {
                        2 => vec![0.0; cols],
                        3 => rng.normals(cols, 1e4),
                        _ => rng.normals(cols, 1.0),
                    };
                    let q8 = quantize(act.quant_type(), &x);
                    act.pack(&q8, cols, &mut acts[t * ab..t * ab + ab - 64]);
                    q8s.push(q8);
                }
                for g in 0..packed::row_groups(rows) {
                    let mut pw = vec![0u8; packed::group_bytes(layout, cols)];
                    packed::pack_group(layout, &case.w, rows, cols, g, &mut pw);
                    for ntok in 1..=MAX_TOKENS {
                        let mut want = [0f32; ROWS * MAX_TOKENS];
                        let mut got = [f32::NAN; ROWS * MAX_TOKENS];
                        packed::gemm_ref(layout, &pw, &acts, ab, ntok, &mut want);
                        gemm(&pw, &acts, ab, ntok, &mut got);
                        for (t, q8) in q8s.iter().enumerate().take(ntok) {
                            for r in 0..ROWS {
                                let row = g * ROWS + r;
                                let mag = if row < rows {
                                    let wr = &case.w[row * rb..(row + 1) * rb];
                                    magnitude(ty, wr, q8, cols)
                                } else {
                                    0.0
                                };
                                let tol = (cols / 32 + 32) as f32 * mag / (1 << 21) as f32;
                                let i = t * ROWS + r;
                                let (g_, w_) = (got[i], want[i]);
                                assert!(
                                    (g_ - w_).abs() <= tol,
                                    "{} {layout:?} {rows}x{cols} row {row} tok {t}/{ntok}: {g_} vs {w_} (tol {tol})",
                                    k.name
                                );
                            }
                        }
                        ran += 1;
                    }
                }
            }
        }
    }
    eprintln!("packed microkernel checks: {ran}");
}

#[test]
fn padding_is_zero_and_lengths_are_checked() {
    // A packed group of 3 real rows: the other 13 outputs are exactly 0.
    let mut rng = Rng::new(1);
    let cols = 64;
    let w: Vec<u8> = (0..3)
        .flat_map(|_| quantize(QuantType::Q4_0, &rng.normals(cols, 1.0)))
        .collect();
    let layout = Layout::Q4_0x16;
    let mut pw = vec![0u8; packed::group_bytes(layout, cols)];
    packed::pack_group(layout, &w, 3, cols, 0, &mut pw);
    let q8 = quantize(QuantType::Q8_0, &rng.normals(cols, 1.0));
    let act = layout.act_layout();
    let mut a = vec![0u8; act.bytes(cols)];
    act.pack(&q8, cols, &mut a);
    let mut out = [1f32; ROWS];
    packed::gemm_ref(layout, &pw, &a, a.len(), 1, &mut out);
    assert!(out[3..].iter().all(|v| *v == 0.0));
    assert!(out[..3].iter().all(|v| *v != 0.0));
    let short = std::panic::catch_unwind(|| {
        let mut o = [0f32; ROWS];
        packed::gemm_ref(layout, &pw, &a[..a.len() - 1], a.len(), 1, &mut o);
    });
    assert!(short.is_err(), "a short activation buffer must be rejected");
}
