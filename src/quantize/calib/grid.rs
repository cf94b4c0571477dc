//! Where each element's quantization level lives inside a ggml block, and the grid of values
//! one element can take once its block's scales are fixed: what GPTQ needs to round the columns
//! of a block one at a time after the block's scales were chosen. For the uniform types
//! (Q4_0…Q8_0, Q2_K…Q6_K, TQ2_0) element j takes `offset[j] + scale[j]·u` for a level u in `0..=max`;
//! for IQ4_NL/IQ4_XS it takes `factor[j]·kvalues[u]`. Types without such a per-element grid
//! (the lattice i-quants, TQ1_0's base-3 packing, MXFP4) are rounded a block at a time
//! ([`Grid::Fixed`]).
use brisk_kernels::scalar::dequantize_row;
use brisk_kernels::QuantType;

/// IQ4_NL's and IQ4_XS's sixteen non-uniform levels (ggml's `kvalues_iq4nl`).
const KVALUES_IQ4: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// One run of a level's bits: `bits` bits at bit `shift` of byte `byte`, which are bits
/// `at..at + bits` of the level.
#[derive(Clone, Copy, Debug)]
struct Part {
    byte: usize,
    shift: u32,
    bits: u32,
    at: u32,
}

/// The per-element level layout of a type that has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Levels {
    ty: QuantType,
    /// Largest level (levels are `0..=max`).
    pub max: u32,
    /// Levels are stored as signed bytes (Q8_0): level u is the byte `u − 128`.
    signed8: bool,
    /// IQ4 types: the level indexes [`KVALUES_IQ4`].
    pub table: bool,
}

impl Levels {
    /// The layout of `ty`, or `None` for a type whose elements are not rounded one by one.
    pub fn of(ty: QuantType) -> Option<Levels> {
        use QuantType::*;
        let (max, signed8, table) = match ty {
            Q4_0 | Q4_1 | Q4_K => (15, false, false),
            Q5_0 | Q5_1 | Q5_K => (31, false, false),
            Q8_0 => (255, true, false),
            Q2_K => (3, false, false),
            TQ2_0 => (2, false, false),
            Q3_K => (7, false, false),
            Q6_K => (63, false, false),
            IQ4_NL | IQ4_XS => (15, false, true),
            _ => return None,
        };
        Some(Levels {
            ty,
            max,
            signed8,
            table,
        })
    }

    /// The bit runs holding element `e`'s level in one block.
    fn parts(&self, e: usize) -> ([Part; 2], usize) {
        use QuantType::*;
        let p = |byte, shift, bits, at| Part {
            byte,
            shift,
            bits,
            at,
        };
        let none = p(0, 0, 0, 0);
        // The 32-element nibble layout of the legacy types: element j < 16 in the low nibble of
        // byte j, element 16 + j in its high nibble.
        let nib32 = |qs: usize, e: usize| p(qs + e % 16, 4 * (e / 16) as u32, 4, 0);
        match self.ty {
            Q4_0 | IQ4_NL => ([nib32(2, e), none], 1),
            Q4_1 => ([nib32(4, e), none], 1),
            Q5_0 => ([nib32(6, e), p(2 + e / 8, (e % 8) as u32, 1, 4)], 2),
            Q5_1 => ([nib32(8, e), p(4 + e / 8, (e % 8) as u32, 1, 4)], 2),
            Q8_0 => ([p(2 + e, 0, 8, 0), none], 1),
            IQ4_XS => ([nib32(8 + 16 * (e / 32), e % 32), none], 1),
            Q2_K | Q3_K | TQ2_0 => {
                // 2-bit fields: element n·128 + j·32 + l at bits 2j of qs[n·32 + l].
                let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
                let qs = match self.ty {
                    Q2_K => 16,
                    Q3_K => 32,
                    _ => 0,
                };
                let low = p(qs + n * 32 + l, 2 * j as u32, 2, 0);
                if self.ty != Q3_K {
                    return ([low, none], 1);
                }
                // Q3_K's third bit: bit n·4 + j of hmask[l].
                let b = n * 4 + j;
                ([low, p(l + 32 * (b / 8), (b % 8) as u32, 1, 2)], 2)
            }
            Q4_K | Q5_K => {
                let (j, w) = (e / 64, e % 64);
                let qs = if self.ty == Q4_K { 16 } else { 48 };
                let low = p(qs + j * 32 + w % 32, 4 * (w / 32) as u32, 4, 0);
                if self.ty == Q4_K {
                    return ([low, none], 1);
                }
                let bit = 2 * j + w / 32;
                ([low, p(16 + w % 32, bit as u32, 1, 4)], 2)
            }
            Q6_K => {
                let (n, r) = (e / 128, e % 128);
                let (k, l) = (r / 32, r % 32);
                let ql = n * 64 + l + (k & 1) * 32;
                let qh = 128 + n * 32 + l;
                (
                    [p(ql, 4 * (k / 2) as u32, 4, 0), p(qh, 2 * k as u32, 2, 4)],
                    2,
                )
            }
            _ => unreachable!("Levels::of admits only the types above"),
        }
    }

    /// Element `e` of a run of blocks: the byte offset of its block and its index in it.
    fn locate(&self, e: usize) -> (usize, usize) {
        let n = self.ty.block_len();
        let bytes = self.ty.row_bytes(n).unwrap_or(0);
        (e / n * bytes, e % n)
    }

    /// Element `e`'s level in `block` (one block of the type, or several in a row: element
    /// `e` is then element `e % n` of block `e / n`).
    pub fn get(&self, block: &[u8], e: usize) -> u32 {
        let (at, e) = self.locate(e);
        let block = &block[at..];
        let (parts, n) = self.parts(e);
        let mut u = 0u32;
        for q in &parts[..n] {
            let v = (block[q.byte] as u32 >> q.shift) & ((1 << q.bits) - 1);
            u |= v << q.at;
        }
        if self.signed8 {
            u ^ 0x80
        } else {
            u
        }
    }

    /// Sets element `e`'s level in `block` (`u ≤ max`).
    pub fn set(&self, block: &mut [u8], e: usize, u: u32) {
        let u = if self.signed8 { u ^ 0x80 } else { u };
        let (at, e) = self.locate(e);
        let block = &mut block[at..];
        let (parts, n) = self.parts(e);
        for q in &parts[..n] {
            let mask = (((1u32 << q.bits) - 1) << q.shift) as u8;
            let v = (((u >> q.at) & ((1 << q.bits) - 1)) << q.shift) as u8;
            block[q.byte] = (block[q.byte] & !mask) | v;
        }
    }
}

/// The values the elements of one block (or a run of blocks) can take, its scales fixed.
pub enum Grid {
    /// Element j: `offset[j] + scale[j]·u`, u in `0..=max` (`min` the smallest level used).
    Affine {
        offset: Vec<f32>,
        scale: Vec<f32>,
        min: u32,
        max: u32,
    },
    /// Element j: `factor[j]·KVALUES_IQ4[u]`.
    Table { factor: Vec<f32> },
    /// No per-element choice: element j is `values[j]` (the block was rounded as a whole).
    Fixed { values: Vec<f32> },
}

impl Grid {
    /// The grid of `block` (bytes of one block of `levels`' type, its scales as they are):
    /// found by decoding the block with every level 0 and then every level 1, so it follows
    /// the type's own dequantizer rather than a second description of it.
    pub fn of(levels: &Levels, block: &[u8]) -> Grid {
        let per = levels.ty.block_len();
        let n = block.len() / levels.ty.row_bytes(per).unwrap_or(usize::MAX).max(1) * per;
        let mut b = block.to_vec();
        let decode_all = |b: &mut Vec<u8>, u: u32| {
            for e in 0..n {
                levels.set(b, e, u);
            }
            let mut v = vec![0.0f32; n];
            dequantize_row(levels.ty, b, &mut v);
            v
        };
        if levels.table {
            let at8 = decode_all(&mut b, 8);
            // kvalues[8] = 1: the factor is the decoded value itself.
            return Grid::Table { factor: at8 };
        }
        let offset = decode_all(&mut b, 0);
        let one = decode_all(&mut b, 1);
        let scale = one.iter().zip(&offset).map(|(a, o)| a - o).collect();
        Grid::Affine {
            offset,
            scale,
            min: u32::from(levels.signed8),
            max: levels.max,
        }
    }

    /// The nearest value element `j` can take to `v`: `(level, value)`.
    pub fn round(&self, j: usize, v: f32) -> (u32, f32) {
        match self {
            Grid::Affine {
                offset,
                scale,
                min,
                max,
            } => {
                let (o, s) = (offset[j], scale[j]);
                if s == 0.0 || !s.is_finite() {
                    return (*min, o + s * *min as f32);
                }
                let u = ((v - o) / s).round().clamp(*min as f32, *max as f32) as u32;
                (u, o + s * u as f32)
            }
            Grid::Table { factor } => {
                let f = factor[j];
                let mut best = (0u32, f32::INFINITY, 0.0f32);
                for (u, &k) in KVALUES_IQ4.iter().enumerate() {
                    let val = f * k as f32;
                    let err = (val - v).abs();
                    if err < best.1 {
                        best = (u as u32, err, val);
                    }
                }
                (best.0, best.2)
            }
            Grid::Fixed { values } => (0, values[j]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_kernels::scalar::quantize_row;

    const TYPES: [QuantType; 13] = [
        QuantType::TQ2_0,
        QuantType::Q4_0,
        QuantType::Q4_1,
        QuantType::Q5_0,
        QuantType::Q5_1,
        QuantType::Q8_0,
        QuantType::Q2_K,
        QuantType::Q3_K,
        QuantType::Q4_K,
        QuantType::Q5_K,
        QuantType::Q6_K,
        QuantType::IQ4_NL,
        QuantType::IQ4_XS,
    ];

    fn xorshift(s: &mut u64) -> u64 {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        *s
    }

    /// Every element decodes (through the kernels' own dequantizer) to the grid value of the
    /// level `get` reads; `set` then `get` round-trips every level; a block rebuilt level by
    /// level from a zeroed copy of its level bits equals the original bytes.
    #[test]
    fn levels_and_grids_agree_with_the_dequantizer() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for ty in TYPES {
            let lv = Levels::of(ty).unwrap();
            let n = ty.block_len();
            for trial in 0..20 {
                let src: Vec<f32> = (0..n)
                    .map(|_| ((xorshift(&mut seed) % 20001) as f32 - 10000.0) / 3000.0)
                    .collect();
                let mut block = vec![0u8; ty.row_bytes(n).unwrap()];
                quantize_row(ty, &src, &mut block);
                let mut decoded = vec![0.0f32; n];
                dequantize_row(ty, &block, &mut decoded);
                let grid = Grid::of(&lv, &block);
                for (j, &want) in decoded.iter().enumerate() {
                    let u = lv.get(&block, j);
                    assert!(u <= lv.max, "{ty:?}: level {u} > {}", lv.max);
                    let got = match &grid {
                        Grid::Affine { offset, scale, .. } => offset[j] + scale[j] * u as f32,
                        Grid::Table { factor } => factor[j] * KVALUES_IQ4[u as usize] as f32,
                        Grid::Fixed { .. } => unreachable!(),
                    };
                    let tol = 1e-5 * want.abs().max(1.0);
                    assert!(
                        (got - want).abs() <= tol,
                        "{ty:?} trial {trial} element {j}: grid {got} vs decoded {want}"
                    );
                    // Rounding the decoded value itself gives back its level's value.
                    let (_, r) = grid.round(j, want);
                    assert!((r - want).abs() <= tol, "{ty:?}: round({want}) = {r}");
                }
                let mut rebuilt = block.clone();
                for j in 0..n {
                    lv.set(&mut rebuilt, j, 0);
                }
                for j in 0..n {
                    let u = (xorshift(&mut seed) % (lv.max as u64 + 1)) as u32;
                    lv.set(&mut rebuilt, j, u);
                    assert_eq!(lv.get(&rebuilt, j), u, "{ty:?} element {j}");
                }
                for j in 0..n {
                    lv.set(&mut rebuilt, j, lv.get(&block, j));
                }
                assert_eq!(rebuilt, block, "{ty:?}: rebuilt block differs");
            }
        }
    }
}
