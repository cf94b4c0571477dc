//! What a calibrated matrix is rounded to: a ggml type with its own (importance-weighted) scale
//! search, or — for a GPTQ/AWQ export (`--group-size`) — Q4_1 whose blocks share, per group of
//! columns, one f16 scale and an integer zero: the asymmetric 4-bit grid of AutoGPTQ and AutoAWQ
//! checkpoints (`w = scale · (q − zero)`), held in ggml blocks (`d = scale`, `m = −scale · zero`)
//! so the model runs on it while the next blocks calibrate, and a GGUF can hold it as it is.
use crate::format::gptq_awq::write_q4_1_block;
use brisk_kernels::scalar::weighted::quantize_row_weighted;
use brisk_kernels::QuantType;
use half::f16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub ty: QuantType,
    /// Columns per shared scale and zero (a multiple of 32; `ty` is then Q4_1).
    pub group: Option<usize>,
}

/// Q4_1's block: 32 elements in 20 bytes (f16 d, f16 m, 16 bytes of nibbles).
const Q4_1_BYTES: usize = 20;

/// Shrink factors of a group's range tried by its search (1: the full min…max range).
const SHRINK: [f32; 6] = [1.0, 0.97, 0.94, 0.9, 0.85, 0.8];

impl Target {
    /// `ty`, its blocks grouped by `group` columns when it is Q4_1 (the export grid).
    pub fn of(ty: QuantType, group: Option<usize>) -> Target {
        Target {
            ty,
            group: group.filter(|_| ty == QuantType::Q4_1),
        }
    }

    /// Columns whose scales are chosen together (GPTQ chooses them at the first column).
    pub fn block_len(&self) -> usize {
        self.group.unwrap_or(self.ty.block_len())
    }

    /// One row of `w` rounded to nearest (importance-weighted where the type searches).
    pub fn quantize_row(&self, w: &[f32], imp: Option<&[f32]>, out: &mut [u8]) {
        let Some(g) = self.group else {
            return quantize_row_weighted(self.ty, w, imp, out);
        };
        let blocks = g / 32;
        for (k, (vals, dst)) in w
            .chunks(g)
            .zip(out.chunks_mut(blocks * Q4_1_BYTES))
            .enumerate()
        {
            let imp = imp.map(|v| &v[k * g..(k + 1) * g]);
            quantize_group(vals, imp, dst);
        }
    }
}

/// A group's scale and zero for a range shrunk by `f`: the f16 scale and the integer zero
/// GPTQ's quantizer picks (0 kept inside the range, as it does), but never a zero of 0:
/// AutoGPTQ's `gptq` format stores zero − 1, and readers (vLLM's kernels, GPTQModel's
/// v1 → v2 conversion) add the 1 back without wrapping, so a stored −1 would be misread. A
/// group that needs no negative level gets one level of room below 0 instead.
fn scale_zero(lo: f32, hi: f32, f: f32) -> (f32, f32) {
    let (lo, hi) = (lo.min(0.0) * f, hi.max(0.0) * f);
    let z0 = if lo < 0.0 {
        (-lo * 15.0 / (hi - lo)).round()
    } else {
        0.0
    };
    let (lo, steps) = match z0 >= 1.0 {
        true => (lo, 15.0),
        // One level below 0: the top of the range takes the other 14.
        false => (0.0, 14.0),
    };
    let s = f16::from_f32((hi - lo) / steps).to_f32();
    if s == 0.0 || !s.is_finite() {
        return (0.0, 1.0);
    }
    (s, (-lo / s).round().clamp(1.0, 15.0))
}

/// The level of `x` on the grid `d·q + m` (d > 0), and its value.
fn level(x: f32, d: f32, m: f32) -> (u8, f32) {
    let q = ((x - m) / d).round().clamp(0.0, 15.0);
    (q as u8, d * q + m)
}

/// One group: the scale and zero of the shrink factor with the least importance-weighted
/// squared error, written as Q4_1 blocks.
fn quantize_group(vals: &[f32], imp: Option<&[f32]>, out: &mut [u8]) {
    let (lo, hi) = vals
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let mut best = (f32::INFINITY, 0.0f32, 0.0f32);
    for f in SHRINK {
        let (s, z) = scale_zero(lo, hi, f);
        let (d, m) = (s, f16::from_f32(-s * z).to_f32());
        let err: f32 = if d == 0.0 {
            vals.iter().map(|x| x * x).sum()
        } else {
            vals.iter()
                .enumerate()
                .map(|(i, &x)| {
                    let e = x - level(x, d, m).1;
                    imp.map_or(1.0, |v| v[i]) * e * e
                })
                .sum()
        };
        if err < best.0 {
            best = (err, d, m);
        }
    }
    let (_, d, m) = best;
    for (vals, block) in vals.chunks(32).zip(out.chunks_mut(Q4_1_BYTES)) {
        let q: Vec<u8> = vals
            .iter()
            .map(|&x| if d == 0.0 { 0 } else { level(x, d, m).0 })
            .collect();
        write_q4_1_block(d, m, &q, block);
    }
}

/// A group's scale and integer zero (1…15), read back from its first Q4_1 block.
pub fn group_scale_zero(block: &[u8]) -> (f16, u8) {
    let d = f16::from_le_bytes([block[0], block[1]]);
    let m = f16::from_le_bytes([block[2], block[3]]).to_f32();
    let z = match d.to_f32() {
        0.0 => 1.0,
        d => (-m / d).round().clamp(1.0, 15.0),
    };
    (d, z as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_kernels::scalar::dequantize_row;

    #[test]
    fn an_all_positive_group_keeps_a_zero_of_one() {
        let w: Vec<f32> = (0..32).map(|i| 0.1 + i as f32 * 0.03).collect();
        let mut out = vec![0u8; Q4_1_BYTES];
        Target::of(QuantType::Q4_1, Some(32)).quantize_row(&w, None, &mut out);
        let (d, z) = group_scale_zero(&out);
        assert_eq!(z, 1);
        let mut back = vec![0.0f32; 32];
        dequantize_row(QuantType::Q4_1, &out, &mut back);
        for (a, b) in w.iter().zip(&back) {
            assert!((a - b).abs() <= d.to_f32() * 0.51, "{a} vs {b}");
        }
    }

    #[test]
    fn groups_share_one_scale_and_an_integer_zero() {
        let mut x = 7u32;
        let w: Vec<f32> = (0..256)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                ((x >> 8) % 2001) as f32 / 1000.0 - 0.7
            })
            .collect();
        let t = Target {
            ty: QuantType::Q4_1,
            group: Some(128),
        };
        let mut out = vec![0u8; 8 * Q4_1_BYTES];
        t.quantize_row(&w, None, &mut out);
        let mut back = vec![0.0f32; 256];
        dequantize_row(QuantType::Q4_1, &out, &mut back);
        for g in 0..2 {
            let blocks = &out[g * 4 * Q4_1_BYTES..(g + 1) * 4 * Q4_1_BYTES];
            let (d, z) = group_scale_zero(blocks);
            assert!(
                z >= 1,
                "a zero of 0 would be stored as −1 in AutoGPTQ's format"
            );
            for b in blocks.chunks(Q4_1_BYTES) {
                assert_eq!(&b[0..4], &blocks[0..4], "blocks of a group share d and m");
            }
            // Every value is scale · (q − zero) for an integer level q.
            for i in g * 128..(g + 1) * 128 {
                let q = back[i] / d.to_f32() + z as f32;
                assert!((q - q.round()).abs() < 1e-2 && (0.0..=15.0).contains(&q.round()));
                assert!((back[i] - w[i]).abs() <= d.to_f32() * 0.6, "{i}");
            }
        }
    }
}
