//! Importance-weighted quantizers: ggml's `quantize_row_*_impl` searches, used by
//! `llama-quantize --imatrix`. Each element's weight is its imatrix column value times
//! `sqrt(σ² + x²)` (σ² over the block, or over the whole row for the legacy types), and the
//! block scales are themselves chosen by a weighted search (`make_qp_quants`). Same f32
//! operations in the same order as ggml, so the bytes match `ggml_quantize_chunk` with the
//! same importance matrix.
//!
//! Without an importance matrix ggml uses the reference quantizers, and so does
//! [`quantize_row_weighted`]; Q8_0, F16, BF16, F32, TQ1_0, TQ2_0 and MXFP4 ignore the matrix,
//! as in ggml. IQ2_XXS, IQ2_XS and IQ1_S cannot be quantized without one
//! ([`requires_importance`]).

// Index loops over parallel per-sub-block arrays mirror ggml's reference code.
#![allow(clippy::needless_range_loop)]

use crate::blocks::{
    Block, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ4_0, BlockQ4_1, BlockQ5K, BlockQ5_0, BlockQ5_1,
};
use crate::half::{f16_to_f32, f32_to_f16};
use crate::scalar::kquants_quant::{
    pack_2bit, pack_q4_k, pack_q5_k, q3_k_requantize_and_pack, q6_k_block, requantize_k4,
};
use crate::scalar::legacy::pack5;
use crate::scalar::quant_search::{
    make_qkx3_quants, make_qp_quants, make_qx_quants, qx_16x16, qx_x8, round_levels,
    scale_and_min_16x16, scale_and_min_x8, sum_sq, QkxSearch,
};
use crate::scalar::{iq1_quant as iq1, iq_grid_quant as igq, iquants_quant as iqq};
use crate::types::{QuantType, QK, QK_K};

/// Whether `ty` has an importance-weighted quantizer (an imatrix changes its output).
pub fn uses_importance(ty: QuantType) -> bool {
    use QuantType::*;
    matches!(
        ty,
        Q4_0 | Q4_1
            | Q5_0
            | Q5_1
            | Q2_K
            | Q3_K
            | Q4_K
            | Q5_K
            | Q6_K
            | IQ4_NL
            | IQ4_XS
            | IQ2_XXS
            | IQ2_XS
            | IQ2_S
            | IQ3_XXS
            | IQ3_S
            | IQ1_S
            | IQ1_M
    )
}

/// Whether `ty` can only be quantized with an importance matrix (ggml's
/// `ggml_quantize_requires_imatrix`: IQ2_XXS, IQ2_XS, IQ1_S).
pub fn requires_importance(ty: QuantType) -> bool {
    matches!(
        ty,
        QuantType::IQ2_XXS | QuantType::IQ2_XS | QuantType::IQ1_S
    )
}

/// Quantizes one row `src` of a weight matrix as `ty` into `dst`, weighting each column by
/// `importance[column]` when given (ggml's `quantize_*` with `quant_weights`); without
/// importance, or for a type that has no weighted search, this is [`super::quantize_row`].
///
/// Preconditions as [`super::quantize_row`], `importance.len() == src.len()`, and importance
/// is given when [`requires_importance`] says so (panics otherwise).
pub fn quantize_row_weighted(
    ty: QuantType,
    src: &[f32],
    importance: Option<&[f32]>,
    dst: &mut [u8],
) {
    let qw = match importance {
        Some(qw) if uses_importance(ty) => qw,
        _ => return super::quantize_row(ty, src, dst),
    };
    super::expect_bytes(ty, src.len(), dst.len());
    assert_eq!(
        qw.len(),
        src.len(),
        "importance has {} values for a row of {}",
        qw.len(),
        src.len()
    );
    match ty {
        QuantType::Q4_0 => legacy_blocks(src, qw, dst, Legacy::Signed(8), q4_0_block),
        QuantType::Q4_1 => legacy_blocks(src, qw, dst, Legacy::WithMin(15), q4_1_block),
        QuantType::Q5_0 => legacy_blocks(src, qw, dst, Legacy::Signed(16), q5_0_block),
        QuantType::Q5_1 => legacy_blocks(src, qw, dst, Legacy::WithMin(31), q5_1_block),
        QuantType::Q2_K => k_blocks(src, qw, dst, q2_k_block),
        QuantType::Q3_K => k_blocks(src, qw, dst, q3_k_block),
        QuantType::Q4_K => k_blocks(src, qw, dst, |x, w| q45_k_block::<BlockQ4K>(x, w, 15)),
        QuantType::Q5_K => k_blocks(src, qw, dst, |x, w| q45_k_block::<BlockQ5K>(x, w, 31)),
        QuantType::Q6_K => k_blocks(src, qw, dst, |x, w| q6_k_block(x, Some(w))),
        QuantType::IQ4_NL => iqq::quantize_iq4_nl_weighted(src, Some(qw), dst),
        QuantType::IQ4_XS => iqq::quantize_iq4_xs_weighted(src, Some(qw), dst),
        QuantType::IQ2_XXS => igq::quantize_iq2_xxs_weighted(src, qw, dst),
        QuantType::IQ2_XS => igq::quantize_iq2_xs_weighted(src, qw, dst),
        QuantType::IQ2_S => igq::quantize_iq2_s_weighted(src, Some(qw), dst),
        QuantType::IQ3_XXS => igq::quantize_iq3_xxs_weighted(src, Some(qw), dst),
        QuantType::IQ3_S => igq::quantize_iq3_s_weighted(src, Some(qw), dst),
        QuantType::IQ1_S => iq1::quantize_iq1_s_weighted(src, qw, dst),
        QuantType::IQ1_M => iq1::quantize_iq1_m_weighted(src, Some(qw), dst),
        _ => unreachable!("uses_importance lists the weighted types"),
    }
}

/// Which search a legacy type's blocks get: signed levels (`make_qx_quants`) or a scale and a
/// min (`make_qkx3_quants`), over levels `-nmax..nmax` or `0..=nmax`.
#[derive(Clone, Copy)]
enum Legacy {
    Signed(i32),
    WithMin(i32),
}

/// Legacy types: σ² is the mean square of the whole row, then each 32-block is searched — eight
/// at a time through the x8 searches (AVX2 lanes where the CPU has them, the same bits as one
/// after another), the rest one by one. `make(d, m, levels)` builds a block (`m` is 0 for the
/// signed types).
fn legacy_blocks<B: Block>(
    src: &[f32],
    qw: &[f32],
    dst: &mut [u8],
    kind: Legacy,
    make: impl Fn(f32, f32, &[u8; QK]) -> B,
) {
    let mut sum_x2 = 0.0f32;
    for &v in src {
        sum_x2 += v * v;
    }
    let sigma2 = sum_x2 / src.len() as f32;
    let weights_of = |x: &[f32], q: &[f32], w: &mut [f32]| {
        for j in 0..x.len() {
            w[j] = q[j] * (sigma2 + x[j] * x[j]).sqrt();
        }
    };
    const G: usize = 8 * QK;
    let groups = src.chunks_exact(G).zip(qw.chunks_exact(G));
    let mut outs = dst.chunks_exact_mut(B::BYTES);
    for (x, q) in groups {
        let mut w = [0.0f32; G];
        weights_of(x, q, &mut w);
        let mut l = [0u8; G];
        let (d, m) = match kind {
            Legacy::Signed(nmax) => (qx_x8::<QK>(nmax, x, &mut l, Some(&w)), [0.0f32; 8]),
            Legacy::WithMin(nmax) => {
                let (d, the_min) = scale_and_min_x8::<QK>(x, &w, &mut l, qkx3(nmax));
                (d, the_min.map(|v| -v))
            }
        };
        for (b, out) in (0..8).zip(&mut outs) {
            let mut lb = [0u8; QK];
            lb.copy_from_slice(&l[b * QK..(b + 1) * QK]);
            make(d[b], m[b], &lb).write(out);
        }
    }
    let rest = src.len() / G * G;
    let blocks = src[rest..]
        .chunks_exact(QK)
        .zip(qw[rest..].chunks_exact(QK));
    for ((xb, q), out) in blocks.zip(outs) {
        let mut w = [0.0f32; QK];
        weights_of(xb, q, &mut w);
        let (d, m, l) = match kind {
            Legacy::Signed(nmax) => {
                let mut l = [0i8; QK];
                let d = make_qx_quants(nmax, xb, &mut l, Some(&w));
                (d, 0.0, l.map(|v| v as u8))
            }
            Legacy::WithMin(nmax) => {
                let mut l = [0u8; QK];
                let (d, the_min) = make_qkx3_quants(nmax, xb, &w, &mut l, -0.9, 0.05, 36, false);
                (d, -the_min, l)
            }
        };
        make(d, m, &l).write(out);
    }
}

fn k_blocks<B: Block>(src: &[f32], qw: &[f32], dst: &mut [u8], f: impl Fn(&[f32], &[f32]) -> B) {
    let blocks = src.chunks_exact(QK_K).zip(qw.chunks_exact(QK_K));
    for ((x, q), out) in blocks.zip(dst.chunks_exact_mut(B::BYTES)) {
        f(x, q).write(out);
    }
}

fn pack_nibbles(l: &[u8; QK]) -> [u8; QK / 2] {
    let mut qs = [0u8; QK / 2];
    for j in 0..QK / 2 {
        qs[j] = l[j] | (l[j + QK / 2] << 4);
    }
    qs
}

fn q4_0_block(d: f32, _: f32, l: &[u8; QK]) -> BlockQ4_0 {
    BlockQ4_0 {
        d: f32_to_f16(d),
        qs: pack_nibbles(l),
    }
}

fn q5_0_block(d: f32, _: f32, l: &[u8; QK]) -> BlockQ5_0 {
    let (qh, qs) = pack5(l);
    BlockQ5_0 {
        d: f32_to_f16(d),
        qh,
        qs,
    }
}

fn q4_1_block(d: f32, m: f32, l: &[u8; QK]) -> BlockQ4_1 {
    BlockQ4_1 {
        d: f32_to_f16(d),
        m: f32_to_f16(m),
        qs: pack_nibbles(l),
    }
}

fn q5_1_block(d: f32, m: f32, l: &[u8; QK]) -> BlockQ5_1 {
    let (qh, qs) = pack5(l);
    BlockQ5_1 {
        d: f32_to_f16(d),
        m: f32_to_f16(m),
        qh,
        qs,
    }
}

/// The weights of a super-block's `S` sub-blocks of `N` (`qw·√(σ² + x²)`), their sums into `sw`.
fn block_weights<const N: usize, const S: usize>(
    x: &[f32],
    qw: &[f32],
    sigma2: f32,
    sw: &mut [f32; S],
) -> [f32; QK_K] {
    let mut all = [0.0f32; QK_K];
    for j in 0..S {
        let r = N * j..N * j + N;
        let (w, sum) = sub_block_weights::<N>(&x[r.clone()], &qw[r.clone()], sigma2);
        all[r].copy_from_slice(&w);
        sw[j] = sum;
    }
    all
}

/// ggml's `make_qkx3_quants` settings for the imatrix K-quants (rmin −0.9, step 0.05, 36 steps).
fn qkx3(nmax: i32) -> QkxSearch {
    QkxSearch {
        nmax,
        rmin: -0.9,
        rdelta: 0.05,
        nstep: 36,
        use_mad: false,
        keep_first_guess_without_steps: true,
    }
}

/// The search weights of one sub-block, `qw·√(σ² + x²)`, and their sum, as ggml forms them.
fn sub_block_weights<const N: usize>(xs: &[f32], q: &[f32], sigma2: f32) -> ([f32; N], f32) {
    let mut weights = [0.0f32; N];
    for l in 0..N {
        weights[l] = q[l] * (sigma2 + xs[l] * xs[l]).sqrt();
    }
    let mut sum = 0.0f32;
    for &w in &weights {
        sum += w;
    }
    (weights, sum)
}

fn q2_k_block(x: &[f32], qw: &[f32]) -> BlockQ2K {
    let mut levels = [0u8; QK_K];
    let mut sw = [0.0f32; 16];
    let sigma2 = sum_sq(x) / QK_K as f32;
    let weights = block_weights::<16, 16>(x, qw, sigma2, &mut sw);
    let (scales, mins) = scale_and_min_16x16(x, &weights, &mut levels, qkx3(3));
    let (mut ls, mut lm) = ([0u8; 16], [0u8; 16]);
    let dm = make_qp_quants(15, &scales, &mut ls, &sw);
    let mm = make_qp_quants(15, &mins, &mut lm, &sw);
    let mut b = BlockQ2K {
        scales: [0; 16],
        qs: [0; 64],
        d: f32_to_f16(dm),
        dmin: f32_to_f16(mm),
    };
    let (dm, mm) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
    for j in 0..16 {
        b.scales[j] = ls[j] | (lm[j] << 4);
    }
    for j in 0..16 {
        let d = dm * (b.scales[j] & 0x0f) as f32;
        if d == 0.0 {
            continue;
        }
        let m = mm * (b.scales[j] >> 4) as f32;
        let r = 16 * j..16 * j + 16;
        round_levels(&x[r.clone()], m, d, 0, 3, 0, &mut levels[r]);
    }
    pack_2bit(&levels, &mut b.qs);
    b
}

fn q3_k_block(x: &[f32], qw: &[f32]) -> BlockQ3K {
    let mut levels = [0i8; QK_K];
    let mut sw = [0.0f32; 16];
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let weights = block_weights::<16, 16>(x, qw, sigma2, &mut sw);
    let scales = qx_16x16(4, x, Some(&weights), &mut levels);
    let mut ls = [0i8; 16];
    let d_block = make_qx_quants(32, &scales, &mut ls, Some(&sw));
    let mut b = BlockQ3K {
        hmask: [0; 32],
        qs: [0; 64],
        scales: [0; 12],
        d: f32_to_f16(d_block),
    };
    for j in 0..16 {
        let l = ls[j] as u8;
        if j < 8 {
            b.scales[j] = l & 0x0f;
        } else {
            b.scales[j - 8] |= (l & 0x0f) << 4;
        }
        b.scales[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
    }
    q3_k_requantize_and_pack(x, &mut b, &mut levels);
    b
}

/// The fields Q4_K and Q5_K share, so one search builds both.
trait Q45Block: Block {
    fn build(d: u16, dmin: u16, scales: [u8; 12], levels: &[u8; QK_K]) -> Self;
    /// Q5_K caps each 6-bit scale level at 63 before packing; Q4_K does not.
    const CAP_AT_63: bool;
}

impl Q45Block for BlockQ4K {
    const CAP_AT_63: bool = false;
    fn build(d: u16, dmin: u16, scales: [u8; 12], levels: &[u8; QK_K]) -> Self {
        BlockQ4K {
            d,
            dmin,
            scales,
            qs: pack_q4_k(levels),
        }
    }
}

impl Q45Block for BlockQ5K {
    const CAP_AT_63: bool = true;
    fn build(d: u16, dmin: u16, scales: [u8; 12], levels: &[u8; QK_K]) -> Self {
        let (qh, qs) = pack_q5_k(levels);
        BlockQ5K {
            d,
            dmin,
            scales,
            qh,
            qs,
        }
    }
}

fn q45_k_block<B: Q45Block>(x: &[f32], qw: &[f32], nmax: i32) -> B {
    let mut levels = [0u8; QK_K];
    let mut scales = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let mut sw = [0.0f32; 8];
    let sigma2 = 2.0 * sum_sq(x) / QK_K as f32;
    let weights = block_weights::<32, 8>(x, qw, sigma2, &mut sw);
    let (s, m) = scale_and_min_x8::<32>(x, &weights, &mut levels, qkx3(nmax));
    scales.copy_from_slice(&s);
    mins.copy_from_slice(&m);
    let (mut ls, mut lm) = ([0u8; 8], [0u8; 8]);
    let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
    let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
    let mut packed = [0u8; 12];
    for j in 0..8 {
        let (mut s, mut m) = (ls[j], lm[j]);
        if B::CAP_AT_63 {
            s = s.min(63);
            m = m.min(63);
        }
        if j < 4 {
            packed[j] = s;
            packed[j + 4] = m;
        } else {
            packed[j + 4] = (s & 0x0f) | ((m & 0x0f) << 4);
            packed[j - 4] |= (s >> 4) << 6;
            packed[j] |= (m >> 4) << 6;
        }
    }
    let (d, dmin) = (f32_to_f16(d_block), f32_to_f16(m_block));
    requantize_k4(x, &packed, d, dmin, nmax, &mut levels);
    B::build(d, dmin, packed, &levels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scalar::{dequantize_row, quantize_row};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn weighted_error(ty: QuantType, x: &[f32], w: &[f32], imp: Option<&[f32]>) -> f64 {
        let mut q = vec![0u8; ty.row_bytes(x.len()).unwrap()];
        quantize_row_weighted(ty, x, imp, &mut q);
        let mut y = vec![0.0f32; x.len()];
        dequantize_row(ty, &q, &mut y);
        x.iter()
            .zip(&y)
            .zip(w)
            .map(|((a, b), w)| *w as f64 * ((a - b) as f64).powi(2))
            .sum()
    }

    #[test]
    fn importance_lowers_the_weighted_error_of_every_type() {
        let mut seed = 7u64;
        let n = 4 * QK_K;
        for ty in QuantType::ALL
            .iter()
            .copied()
            .filter(|&t| uses_importance(t))
        {
            let (mut with, mut without) = (0.0, 0.0);
            for _ in 0..8 {
                let x: Vec<f32> = (0..n).map(|_| lcg(&mut seed)).collect();
                // A few columns matter far more than the rest, as in real activations.
                let w: Vec<f32> = (0..n)
                    .map(|i| {
                        if i % 17 == 0 {
                            50.0
                        } else {
                            0.1 + lcg(&mut seed).abs()
                        }
                    })
                    .collect();
                with += weighted_error(ty, &x, &w, Some(&w));
                // The types that need importance compare against a flat one.
                let flat = vec![1.0f32; n];
                let none = if requires_importance(ty) {
                    Some(&flat[..])
                } else {
                    None
                };
                without += weighted_error(ty, &x, &w, none);
            }
            assert!(with < without, "{}: {with} !< {without}", ty.name());
        }
    }

    #[test]
    fn edge_rows_never_panic_and_decode_finite() {
        let n = QK_K;
        let mut rows: Vec<Vec<f32>> = vec![
            vec![0.0; n],
            vec![1.5; n],
            vec![-3.0; n],
            (0..n).map(|i| if i == 5 { 1e30 } else { 0.01 }).collect(),
            (0..n).map(|i| f32::from_bits(1 + i as u32)).collect(),
        ];
        rows.push(
            (0..n)
                .map(|i| if i % 2 == 0 { 1e-3 } else { -1e4 })
                .collect(),
        );
        let imps: Vec<Vec<f32>> = vec![
            vec![1.0; n],
            vec![0.0; n],
            (0..n).map(|i| i as f32).collect(),
        ];
        for ty in QuantType::ALL
            .iter()
            .copied()
            .filter(|&t| uses_importance(t))
        {
            for x in &rows {
                for imp in &imps {
                    let mut q = vec![0u8; ty.row_bytes(n).unwrap()];
                    quantize_row_weighted(ty, x, Some(imp), &mut q);
                    let mut y = vec![0.0f32; n];
                    dequantize_row(ty, &q, &mut y);
                    if x.iter().all(|v| v.abs() < 1e4) {
                        assert!(
                            y.iter().all(|v| v.is_finite()),
                            "{} decodes non-finite",
                            ty.name()
                        );
                    }
                }
            }
            if requires_importance(ty) {
                continue;
            }
            // No importance is exactly the reference quantizer.
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let (mut a, mut b) = (
                vec![0u8; ty.row_bytes(n).unwrap()],
                vec![0u8; ty.row_bytes(n).unwrap()],
            );
            quantize_row_weighted(ty, &x, None, &mut a);
            quantize_row(ty, &x, &mut b);
            assert_eq!(a, b, "{}", ty.name());
        }
    }
}
