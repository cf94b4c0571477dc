//! Rotary position embedding (Su et al. 2021), built once from a model's configuration: the
//! rotation frequency of every pair precomputed with its scaling (linear, Llama 3 frequency
//! factors, YaRN, Phi-3 longrope factors), applied to whole rows of heads with one cos/sin table
//! per position, and used alike by the forward pass and by the context shift's re-rotation.
//!
//! The formula is ggml's (`rope_yarn` in ggml-cpu): pair `i` of `dim / 2` rotates by
//! `θ = p · base^(−2i/dim) / ff_i`, interpolated as `θ·s` (s = 1/factor) and, under YaRN, mixed
//! back towards the unscaled angle by a ramp over the pair index between the correction dims;
//! cos and sin are multiplied by `mscale` (YaRN's `1 + 0.1·ln(1/s)` times the attention factor).
//! Every term but `p` is fixed per pair, so `θ = p · freq_i` with `freq_i` computed here once.

/// Which element pairs RoPE rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (x[2i], x[2i+1]): GGUF `llama` files, whose Q/K rows the converter permuted.
    Adjacent,
    /// Half-split pairs (x[i], x[i + d/2]): qwen2/gemma/phi3 GGUF files and unpermuted HF
    /// checkpoints.
    NeoX,
}

/// How positions are scaled beyond the base frequencies.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor` (`rope.scaling.type linear`).
    Linear {
        factor: f32,
    },
    /// YaRN (Peng et al. 2023): interpolation by `factor` below the correction band, none above.
    Yarn {
        factor: f32,
        /// Training context the correction dims are computed for.
        orig_ctx: usize,
        /// Weight of the ramp (1 = full YaRN).
        ext_factor: f32,
        beta_fast: f32,
        beta_slow: f32,
    },
}

/// Everything that decides a rotation; one per distinct set of layers (Gemma 3's local layers
/// have their own base).
#[derive(Clone, Debug, PartialEq)]
pub struct RopeSpec {
    pub style: RopeStyle,
    /// Leading elements of each head that are rotated (even).
    pub dim: usize,
    pub base: f32,
    pub scaling: RopeScaling,
    /// Per-pair divisors of the frequency: Llama 3's `rope_freqs`, Phi-3's longrope factors.
    pub freq_factors: Option<Vec<f32>>,
    /// Multiplies cos and sin (the attention factor; 1 for most models).
    pub attn_factor: f32,
}

impl RopeSpec {
    /// Plain RoPE: `base`, no scaling, no factors.
    pub fn plain(style: RopeStyle, dim: usize, base: f32) -> RopeSpec {
        RopeSpec {
            style,
            dim,
            base,
            scaling: RopeScaling::None,
            freq_factors: None,
            attn_factor: 1.0,
        }
    }
}

/// A rotation ready to apply: per-pair frequencies and the magnitude.
#[derive(Clone, Debug)]
pub struct Rope {
    style: RopeStyle,
    dim: usize,
    /// Angle per position of each pair.
    freqs: Vec<f64>,
    /// Magnitude of cos/sin in the forward rotation.
    mscale: f32,
}

/// `dims[0..2]` of ggml's `ggml_rope_yarn_corr_dims`: the pair range over which YaRN's ramp
/// moves from extrapolation to interpolation.
fn yarn_corr_dims(
    dim: usize,
    orig_ctx: usize,
    base: f32,
    beta_fast: f32,
    beta_slow: f32,
) -> [f32; 2] {
    let corr = |n_rot: f32| {
        dim as f32 * (orig_ctx as f32 / (n_rot * 2.0 * std::f32::consts::PI)).ln()
            / (2.0 * base.ln())
    };
    let start = corr(beta_fast).floor();
    let end = corr(beta_slow).ceil();
    [start.max(0.0), end.min(dim as f32 - 1.0)]
}

impl Rope {
    /// Precompute the frequencies. `spec.dim` must be even; factors, when given, must have
    /// `dim / 2` entries (the loader checks both).
    pub fn new(spec: &RopeSpec) -> Rope {
        let half = spec.dim / 2;
        let theta_scale = (spec.base as f64).powf(-2.0 / spec.dim as f64);
        let mut mscale = spec.attn_factor;
        let (freq_scale, yarn) = match spec.scaling {
            RopeScaling::None => (1.0f64, None),
            RopeScaling::Linear { factor } => (1.0 / factor as f64, None),
            RopeScaling::Yarn {
                factor,
                orig_ctx,
                ext_factor,
                beta_fast,
                beta_slow,
            } => {
                let s = 1.0 / factor;
                let dims = yarn_corr_dims(spec.dim, orig_ctx, spec.base, beta_fast, beta_slow);
                if ext_factor != 0.0 {
                    mscale *= 1.0 + 0.1 * (1.0 / s).ln();
                }
                (s as f64, Some((dims, ext_factor)))
            }
        };
        let freqs = (0..half)
            .map(|i| {
                let ff = spec
                    .freq_factors
                    .as_ref()
                    .and_then(|f| f.get(i))
                    .map_or(1.0, |&f| f as f64);
                let extrap = theta_scale.powi(i as i32) / ff;
                let interp = extrap * freq_scale;
                match yarn {
                    Some((dims, ext)) if ext != 0.0 => {
                        let y = (i as f32 - dims[0]) / (dims[1] - dims[0]).max(0.001);
                        let ramp = (1.0 - y.clamp(0.0, 1.0)) as f64 * ext as f64;
                        interp * (1.0 - ramp) + extrap * ramp
                    }
                    _ => interp,
                }
            })
            .collect();
        Rope {
            style: spec.style,
            dim: spec.dim,
            freqs,
            mscale,
        }
    }

    /// Rotated elements per head.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `(cos, sin)` of every pair at position `pos` (fractional and negative positions work:
    /// the context shift rotates by −Δ), scaled by `mag`.
    fn table(&self, pos: f64, mag: f32, cs: &mut Vec<(f32, f32)>) {
        cs.clear();
        cs.extend(self.freqs.iter().map(|&f| {
            let (s, c) = (pos * f).sin_cos();
            (c as f32 * mag, s as f32 * mag)
        }));
    }

    fn rotate(&self, head: &mut [f32], cs: &[(f32, f32)]) {
        let half = self.dim / 2;
        match self.style {
            RopeStyle::Adjacent => {
                for (pair, &(c, s)) in head[..self.dim].chunks_exact_mut(2).zip(cs) {
                    let (x0, x1) = (pair[0], pair[1]);
                    pair[0] = x0 * c - x1 * s;
                    pair[1] = x0 * s + x1 * c;
                }
            }
            RopeStyle::NeoX => {
                let (lo, hi) = head[..self.dim].split_at_mut(half);
                for ((a, b), &(c, s)) in lo.iter_mut().zip(hi.iter_mut()).zip(cs) {
                    let (x0, x1) = (*a, *b);
                    *a = x0 * c - x1 * s;
                    *b = x0 * s + x1 * c;
                }
            }
        }
    }

    /// Rotate every head (`head_dim` wide) of each token row in `rows` — row `t` is at position
    /// `start + t` — with one cos/sin table per token shared by its heads.
    pub fn apply(&self, rows: &mut [f32], row_len: usize, head_dim: usize, start: usize) {
        let mut cs = Vec::with_capacity(self.dim / 2);
        for (t, row) in rows.chunks_exact_mut(row_len).enumerate() {
            self.table((start + t) as f64, self.mscale, &mut cs);
            for head in row.chunks_exact_mut(head_dim) {
                self.rotate(head, &cs);
            }
        }
    }

    /// Whether pairs are half-split (NeoX) rather than adjacent.
    pub fn is_neox(&self) -> bool {
        self.style == RopeStyle::NeoX
    }

    /// The `(cos, sin)` pairs of positions `start..start + n`, flattened (`n × dim / 2 × 2`):
    /// what a GPU kernel applies, computed exactly as [`Rope::apply`] computes them.
    pub fn table_rows(&self, start: usize, n: usize) -> Vec<f32> {
        let mut cs = Vec::with_capacity(self.dim / 2);
        let mut out = Vec::with_capacity(n * self.dim);
        for t in 0..n {
            self.table((start + t) as f64, self.mscale, &mut cs);
            out.extend(cs.iter().flat_map(|&(c, s)| [c, s]));
        }
        out
    }

    /// Rotate one already-rotated head by `delta` positions (negative: back). The magnitude is
    /// left as it is: the key already carries `mscale` once.
    pub fn rerotate(&self, head: &mut [f32], delta: f64) {
        let mut cs = Vec::with_capacity(self.dim / 2);
        self.table(delta, 1.0, &mut cs);
        self.rotate(head, &cs);
    }
}

/// One layer's rotation; longrope models (Phi-3) carry a second one for contexts longer than the
/// training context, chosen by the cache's size as llama.cpp chooses by `n_ctx`.
#[derive(Clone, Debug)]
pub struct LayerRope {
    pub short: Rope,
    /// `(n_ctx_orig, rope)`: used when the context exceeds `n_ctx_orig`.
    pub long: Option<(usize, Rope)>,
}

impl LayerRope {
    pub fn single(rope: Rope) -> LayerRope {
        LayerRope {
            short: rope,
            long: None,
        }
    }

    /// The rotation for a cache of `n_ctx` positions.
    pub fn for_ctx(&self, n_ctx: usize) -> &Rope {
        match &self.long {
            Some((orig, long)) if n_ctx > *orig => long,
            _ => &self.short,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ggml's loop, transcribed in f32 as the reference (ggml-cpu `rope_yarn`, `theta *=
    /// theta_scale`).
    fn ggml_rope(x: &mut [f32], pos: usize, spec: &RopeSpec) {
        let (freq_scale, ext, corr) = match spec.scaling {
            RopeScaling::None => (1.0f32, 0.0f32, [0.0, 0.0]),
            RopeScaling::Linear { factor } => (1.0 / factor, 0.0, [0.0, 0.0]),
            RopeScaling::Yarn {
                factor,
                orig_ctx,
                ext_factor,
                beta_fast,
                beta_slow,
            } => (
                1.0 / factor,
                ext_factor,
                yarn_corr_dims(spec.dim, orig_ctx, spec.base, beta_fast, beta_slow),
            ),
        };
        let theta_scale = spec.base.powf(-2.0 / spec.dim as f32);
        let mut theta = pos as f32;
        let half = spec.dim / 2;
        for i in 0..half {
            let ff = spec.freq_factors.as_ref().map_or(1.0, |f| f[i]);
            let extrap = theta / ff;
            let interp = freq_scale * extrap;
            let mut th = interp;
            let mut mscale = spec.attn_factor;
            if ext != 0.0 {
                let y = ((2 * i / 2) as f32 - corr[0]) / (corr[1] - corr[0]).max(0.001);
                let ramp = (1.0 - y.clamp(0.0, 1.0)) * ext;
                th = interp * (1.0 - ramp) + extrap * ramp;
                mscale *= 1.0 + 0.1 * (1.0 / freq_scale).ln();
            }
            let (c, s) = (th.cos() * mscale, th.sin() * mscale);
            let (a, b) = match spec.style {
                RopeStyle::Adjacent => (2 * i, 2 * i + 1),
                RopeStyle::NeoX => (i, i + half),
            };
            let (x0, x1) = (x[a], x[b]);
            x[a] = x0 * c - x1 * s;
            x[b] = x0 * s + x1 * c;
            theta *= theta_scale;
        }
    }

    fn specs() -> Vec<RopeSpec> {
        let mut out = Vec::new();
        for style in [RopeStyle::Adjacent, RopeStyle::NeoX] {
            out.push(RopeSpec::plain(style, 16, 10000.0));
            out.push(RopeSpec {
                scaling: RopeScaling::Linear { factor: 4.0 },
                ..RopeSpec::plain(style, 12, 1e6)
            });
            out.push(RopeSpec {
                freq_factors: Some((0..8).map(|i| 1.0 + i as f32 * 0.7).collect()),
                ..RopeSpec::plain(style, 16, 500000.0)
            });
            out.push(RopeSpec {
                scaling: RopeScaling::Yarn {
                    factor: 4.0,
                    orig_ctx: 64,
                    ext_factor: 1.0,
                    beta_fast: 32.0,
                    beta_slow: 1.0,
                },
                ..RopeSpec::plain(style, 32, 10000.0)
            });
            out.push(RopeSpec {
                attn_factor: 1.19,
                freq_factors: Some((0..8).map(|i| 1.0 + (i * i) as f32 * 0.1).collect()),
                ..RopeSpec::plain(style, 16, 10000.0)
            });
        }
        out
    }

    fn input(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i + seed * 31) as f32) * 0.731).sin() * 2.0)
            .collect()
    }

    #[test]
    fn matches_ggml_for_every_scaling_and_style() {
        for spec in specs() {
            let rope = Rope::new(&spec);
            let head_dim = spec.dim + 4; // the tail past `dim` is not rotated
            for pos in [0usize, 1, 7, 100, 511] {
                let mut got = input(3 * head_dim, pos);
                let mut want = got.clone();
                rope.apply(&mut got, 3 * head_dim, head_dim, pos);
                for head in want.chunks_exact_mut(head_dim) {
                    ggml_rope(head, pos, &spec);
                }
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    let tol = 2e-5 * (1.0 + pos as f32);
                    assert!((a - b).abs() <= tol, "{spec:?} pos {pos} [{i}]: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn rows_use_consecutive_positions() {
        let rope = Rope::new(&RopeSpec::plain(RopeStyle::NeoX, 8, 10000.0));
        let mut rows = input(3 * 8, 1);
        let mut one_by_one = rows.clone();
        rope.apply(&mut rows, 8, 8, 5);
        for (t, row) in one_by_one.chunks_exact_mut(8).enumerate() {
            rope.apply(row, 8, 8, 5 + t);
        }
        assert_eq!(rows, one_by_one);
    }

    /// A key rotated at `p` and re-rotated by `−d` equals the key rotated at `p − d`, also
    /// under YaRN, whose magnitude must not be applied twice.
    #[test]
    fn rerotation_moves_positions_without_rescaling() {
        for spec in specs() {
            let rope = Rope::new(&spec);
            let (p, d) = (90usize, 37usize);
            let mut moved = input(spec.dim, 3);
            let mut direct = moved.clone();
            rope.apply(&mut moved, spec.dim, spec.dim, p);
            rope.rerotate(&mut moved, -(d as f64));
            rope.apply(&mut direct, spec.dim, spec.dim, p - d);
            for (a, b) in moved.iter().zip(&direct) {
                assert!((a - b).abs() < 1e-4, "{spec:?}: {a} vs {b}");
            }
        }
    }
}
