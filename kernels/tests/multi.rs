//! Multi-token dot products of every table this CPU runs: each token's result must equal,
//! bit for bit, the sum (from 0, in order) of the same table's single-token `vec_dot` over
//! chunks of `CHUNK` super-blocks (the kernels' f32 split), which `isa.rs` ties to the scalar
//! reference. Random rows, zero rows, random bytes (any
//! scale and quant pattern), widths of one and many super-blocks, strided activations.

use brisk_kernels::testutil::Rng;
use brisk_kernels::{available, scalar, Kernels, QuantType, MAX_MULTI};

/// Super-blocks per f32 partial sum in the multi-token kernels.
const CHUNK: usize = 16;

fn chunked_dot(k: &Kernels, ty: QuantType, w: &[u8], a: &[u8], n: usize) -> f32 {
    let (wb, ab) = (ty.block_bytes(), QuantType::Q8_K.block_bytes());
    let nb = n / 256;
    let mut sum = 0.0f32;
    let mut first = 0;
    while first < nb {
        let len = CHUNK.min(nb - first);
        let wc = &w[first * wb..(first + len) * wb];
        let ac = &a[first * ab..(first + len) * ab];
        sum += k.vec_dot(ty, wc, ac, len * 256);
        first += len;
    }
    sum
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
fn multi_token_dots_equal_single_token_dots() {
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
                for w in rows(ty, n, &mut rng) {
                    for ntok in [1, 2, 3, 4, 5, 7, MAX_MULTI] {
                        let mut out = vec![f32::NAN; MAX_MULTI];
                        multi(&w, &acts, stride, ntok, n, &mut out);
                        for t in 0..ntok {
                            let a = &acts[t * stride..t * stride + ab];
                            let want = chunked_dot(k, ty, &w, a, n);
                            assert!(
                                out[t].to_bits() == want.to_bits()
                                    || (out[t].is_nan() && want.is_nan()),
                                "{} {} n={n} tok {t}/{ntok}: {} vs {}",
                                k.name,
                                ty.name(),
                                out[t],
                                want
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
