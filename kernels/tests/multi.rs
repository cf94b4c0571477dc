//! Multi-row, multi-token dot products of every table this CPU runs against the scalar
//! `vec_dot` for every (row, token): integer block sums are exact, so only f32 rounding
//! differs. Tolerance `(blocks + 32)·2⁻²⁰·S`, `S = Σᵢ (|xᵢ| + mᵢ)·|aᵢ|` with x the dequantized
//! weight, a the dequantized activation and mᵢ the largest |x| of i's 32-element sub-block (a
//! bound on the Q4_K min term that the kernels add separately). Random rows, zero rows,
//! random bytes (any scale and quant pattern), one and many super-blocks, strided activations.

use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, scalar, QuantType, MAX_MULTI};

fn deq(ty: QuantType, q: &[u8], n: usize) -> Vec<f32> {
    let mut y = vec![0.0; n];
    scalar::dequantize_row(ty, q, &mut y);
    y
}

fn magnitude(x: &[f32], a: &[f32]) -> f32 {
    let mut s = 0.0;
    for (xs, as_) in x.chunks(32).zip(a.chunks(32)) {
        let m = xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        s += xs
            .iter()
            .zip(as_)
            .map(|(x, a)| (x.abs() + m) * a.abs())
            .sum::<f32>();
    }
    s
}

fn rows(ty: QuantType, n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    let rb = ty.row_bytes(n).unwrap();
    let mut out = Vec::new();
    for kind in 0..3 {
        let mut w = vec![0u8; rb];
        match kind {
            0 => scalar::quantize_row(ty, &rng.normals(n, 0.5), &mut w),
            1 => {}
            _ => {
                w = rng.bytes(rb);
                // Keep the f16 scales finite: clear their exponent's top bit.
                let bb = ty.block_bytes();
                let at = if ty == QuantType::Q6_K { 208 } else { 0 };
                for blk in w.chunks_exact_mut(bb) {
                    blk[at + 1] &= 0x3f;
                    if ty == QuantType::Q4_K {
                        blk[3] &= 0x3f;
                    }
                }
            }
        }
        out.push(w);
    }
    out
}

#[test]
fn multi_token_dots_match_the_scalar_reference() {
    let mut rng = Rng::new(9);
    let mut checked = 0;
    for k in available() {
        for ty in [QuantType::Q4_K, QuantType::Q6_K] {
            let multi = match k.vec_dot_multi_fn(ty) {
                Some(f) => f,
                None => continue,
            };
            for n in [256, 512, 4096, 5632] {
                let ab = QuantType::Q8_K.row_bytes(n).unwrap();
                let stride = ab + 40;
                let mut acts = vec![0u8; MAX_MULTI * stride];
                for t in 0..MAX_MULTI {
                    let x = if t == 2 {
                        vec![0.0; n]
                    } else {
                        rng.normals(n, 3.0)
                    };
                    scalar::quantize_row(
                        QuantType::Q8_K,
                        &x,
                        &mut acts[t * stride..t * stride + ab],
                    );
                }
                let rows = rows(ty, n, &mut rng);
                let w: Vec<u8> = rows.concat();
                for ntok in [1, 2, 3, 4, 5, 7, MAX_MULTI] {
                    let mut out = vec![f32::NAN; rows.len() * ntok];
                    multi(&w, rows.len(), &acts, stride, ntok, n, &mut out);
                    for (r, wr) in rows.iter().enumerate() {
                        let x = deq(ty, wr, n);
                        for t in 0..ntok {
                            let a = &acts[t * stride..t * stride + ab];
                            let want = scalar::vec_dot(ty, wr, a, n);
                            let tol = (n / 256 + 32) as f32
                                * magnitude(&x, &deq(QuantType::Q8_K, a, n))
                                / (1 << 20) as f32;
                            let got = out[r * ntok + t];
                            assert!(
                                (got - want).abs() <= tol,
                                "{} {} n={n} row {r} tok {t}/{ntok}: {got} vs {want} (tol {tol})",
                                k.name,
                                ty.name()
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    eprintln!("multi-token dots checked: {checked}");
}
