//! GPTQ (Frantar et al. 2022, "Accurate Post-Training Quantization for Generative Pre-trained
//! Transformers") written straight into ggml blocks: columns are quantized one at a time and
//! each rounding error is fed forward into the columns not yet quantized, weighted by the
//! inverse Hessian of the layer's calibration inputs — so the matrix keeps computing what the
//! original computed on that data, not merely staying close to it entry by entry.
//!
//! The error feedback goes through the target block format: a block's scales (and a k-quant
//! super-block's scales, mins and sub-block scales) are chosen with the type's own
//! importance-weighted search when its first column is reached, from the error-updated weights;
//! then each column is rounded on that grid ([`super::grid`]). The updates use U, the upper
//! Cholesky factor of H⁻¹ (`H⁻¹ = Uᵀ·U`), found as the inverse of the upper factor Ũ of H
//! itself (`H = Ũ·Ũᵀ`, a Cholesky factorisation of H with its index order reversed), so H⁻¹
//! is never formed: rounding column i to q_i gives the error `e_i = (w̃_i − q_i) / U[i][i]`
//! and every later column j moves by `−e_i·U[i][j]`. Columns are taken in lazy blocks (the
//! paper's batching): within a block the feedback is applied column by column, to the later
//! blocks once per block as one matrix product on the backend.
use super::grid::{Grid, Levels};
use super::linalg::{reversed_cholesky, Upper};
use super::target::Target;
use crate::backend::Cpu;
use crate::format::TensorBytes;
use crate::model::weights::QTensor;
use anyhow::{bail, Result};
use brisk_kernels::scalar::dequantize_row;
use brisk_kernels::QuantType;
use std::sync::{Arc, Mutex};

/// One matrix to quantize.
#[derive(Clone, Copy)]
pub struct Problem<'a> {
    pub ty: QuantType,
    /// `rows × cols`, row-major.
    pub w: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// `cols × cols`: Σ x·xᵀ over the calibration inputs of this matrix.
    pub h: &'a [f32],
    /// Column weights for the scale search (default: the diagonal of `h`).
    pub importance: Option<&'a [f32]>,
    /// Damping, as a fraction of the mean diagonal.
    pub damp: f32,
    /// Quantize columns in order of decreasing `h[j][j]` (scales from the original weights:
    /// "static groups"), where the type rounds element by element.
    pub act_order: bool,
    /// Columns sharing one scale and zero (Q4_1 for a GPTQ/AWQ export; see [`Target`]).
    pub group: Option<usize>,
}

/// What came out, and how well it reproduces the original outputs on the calibration data.
pub struct Outcome {
    /// `rows` rows of `ty`.
    pub bytes: Vec<u8>,
    /// ‖(W − Ŵ)X‖² / ‖WX‖² of GPTQ's result and of round-to-nearest with the same scale search.
    pub err_gptq: f64,
    pub err_rtn: f64,
    /// The damping that made H positive definite (relative to the mean diagonal).
    pub damp: f64,
    /// Round-to-nearest was kept because GPTQ did not reproduce the outputs better.
    pub kept_rtn: bool,
}

/// Rows one task of the thread pool works on.
const TILE_ROWS: usize = 8;

/// A float matrix as a backend matrix (for products on the thread pool).
pub(super) fn f32_matrix(name: &str, rows: usize, cols: usize, v: &[f32]) -> QTensor {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    QTensor {
        name: name.to_string(),
        ty: QuantType::F32,
        rows,
        cols,
        bytes: TensorBytes::Owned(Arc::new(bytes)),
        packed: None,
    }
}

/// The rows of one pool task: their accumulated feedback, output bytes and block grids.
struct Tile {
    first: usize,
    rows: usize,
    /// `rows × cols`: Σ_i e_i·U[i][j] over the columns i rounded so far (the amount column j
    /// has moved), in the processing order.
    acc: Vec<f32>,
    /// `rows × lazy block`: this block's rounding errors.
    delta: Vec<f32>,
    out: Vec<u8>,
    /// `rows × blocks`: each block's grid once chosen.
    grids: Vec<Option<Grid>>,
}

/// Quantizes `p.w` as `p.ty` with GPTQ; falls back to round-to-nearest for a matrix where that
/// reproduces the calibration outputs better.
pub fn quantize(be: &Cpu, p: &Problem) -> Result<Outcome> {
    if p.ty == QuantType::TQ1_0 {
        // TQ1_0 holds the values TQ2_0 holds (ternary times the block's largest magnitude),
        // packed in base 3: quantize element by element as TQ2_0, then repack.
        let mut o = quantize(
            be,
            &Problem {
                ty: QuantType::TQ2_0,
                ..*p
            },
        )?;
        o.bytes = transcode(QuantType::TQ2_0, QuantType::TQ1_0, &o.bytes, p.rows, p.cols);
        return Ok(o);
    }
    let (rows, n, ty) = (p.rows, p.cols, p.ty);
    let target = Target { ty, group: p.group };
    let tb = target.block_len();
    let row_bytes = ty
        .row_bytes(n)
        .ok_or_else(|| anyhow::anyhow!("{} cannot hold rows of {n} columns", ty.name()))?;
    if n % tb != 0 || p.w.len() != rows * n || p.h.len() != n * n {
        bail!(
            "GPTQ: shapes do not match ({rows} × {n}, type {})",
            ty.name()
        );
    }
    let levels = Levels::of(ty);
    let act_order = p.act_order && levels.is_some();
    let diag: Vec<f32> = (0..n).map(|j| p.h[j * n + j]).collect();
    let importance: Vec<f32> = match p.importance {
        Some(v) => v.to_vec(),
        None => diag.clone(),
    };
    let mut order: Vec<usize> = (0..n).collect();
    if act_order {
        order.sort_by(|&a, &b| diag[b].total_cmp(&diag[a]).then(a.cmp(&b)));
    }
    // H in the processing order, dead columns given a unit diagonal, damped.
    let mean = diag.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let mut damp = p.damp as f64;
    let factor = loop {
        let mut h = vec![0.0f64; n * n];
        for a in 0..n {
            for b in 0..n {
                h[a * n + b] = p.h[order[a] * n + order[b]] as f64;
            }
            if h[a * n + a] <= 0.0 {
                h[a * n + a] = 1.0;
            }
            h[a * n + a] += damp * mean.max(f64::MIN_POSITIVE);
        }
        match reversed_cholesky(be, &h, n) {
            Ok(u) => break u,
            Err(_) if damp < 1.0 => damp = (damp * 10.0).max(1e-4),
            Err(i) => bail!("GPTQ: the Hessian is not positive definite at column {i}"),
        }
    };
    // U with H⁻¹ = Uᵀ·U: the factor the paper's updates use.
    let upper = factor.inverse(be);
    drop(factor);
    let lazy = 128usize.div_ceil(tb) * tb;
    let n_blocks = n / tb;
    let tiles: Vec<Mutex<Tile>> = (0..rows)
        .step_by(TILE_ROWS)
        .map(|first| {
            let r = TILE_ROWS.min(rows - first);
            Mutex::new(Tile {
                first,
                rows: r,
                acc: vec![0.0; r * n],
                delta: vec![0.0; r * lazy],
                out: vec![0u8; r * row_bytes],
                grids: (0..r * n_blocks).map(|_| None).collect(),
            })
        })
        .collect();
    let wp: Vec<f32> = (0..rows)
        .flat_map(|r| order.iter().map(move |&c| (r, c)))
        .map(|(r, c)| p.w[r * n + c])
        .collect();
    let du: Vec<f32> = (0..n).map(|j| upper.at(j, j) as f32).collect();
    let ctx = Ctx {
        ty,
        target,
        tb,
        n,
        row_bytes,
        levels,
        importance: &importance,
        order: &order,
        wp: &wp,
        du: &du,
    };
    if act_order {
        // Static groups: every block's scales from the original weights, up front.
        be.parallel(tiles.len(), &|t| {
            let mut tile = tiles[t].lock().unwrap_or_else(|e| e.into_inner());
            for r in 0..tile.rows {
                let row = &p.w[(tile.first + r) * n..(tile.first + r + 1) * n];
                for b in 0..n_blocks {
                    let g = ctx.choose(&row[b * tb..(b + 1) * tb], b, &mut tile, r);
                    tile.grids[r * n_blocks + b] = Some(g);
                }
            }
        });
    }
    let mut i1 = 0;
    while i1 < n {
        let i2 = (i1 + lazy).min(n);
        let width = i2 - i1;
        let ub: Vec<f32> = (0..width)
            .flat_map(|a| (0..width).map(move |b| (a, b)))
            .map(|(a, b)| {
                if b > a {
                    upper.at(i1 + a, i1 + b) as f32
                } else {
                    0.0
                }
            })
            .collect();
        be.parallel(tiles.len(), &|t| {
            let mut tile = tiles[t].lock().unwrap_or_else(|e| e.into_inner());
            ctx.columns(&mut tile, i1, i2, &ub, lazy, !act_order);
        });
        if i2 < n {
            feed_forward(be, &tiles, &upper, i1, i2, lazy, n, rows)?;
        }
        i1 = i2;
    }
    let mut bytes = Vec::with_capacity(rows * row_bytes);
    for t in tiles {
        bytes.extend_from_slice(&t.into_inner().unwrap_or_else(|e| e.into_inner()).out);
    }
    // Judge against round-to-nearest with the same scale search, on the undamped H.
    let rtn = rtn_rows(target, p.w, n, Some(&importance));
    let hm = hessian_matrix(p.h, n);
    let err_gptq = relative_error(be, &hm, ty, p.w, rows, n, &bytes);
    let err_rtn = relative_error(be, &hm, ty, p.w, rows, n, &rtn);
    let kept_rtn = err_rtn < err_gptq;
    Ok(Outcome {
        bytes: if kept_rtn { rtn } else { bytes },
        err_gptq,
        err_rtn,
        damp,
        kept_rtn,
    })
}

/// What every tile's column loop reads.
struct Ctx<'a> {
    ty: QuantType,
    target: Target,
    tb: usize,
    n: usize,
    row_bytes: usize,
    levels: Option<Levels>,
    importance: &'a [f32],
    order: &'a [usize],
    wp: &'a [f32],
    du: &'a [f32],
}

impl Ctx<'_> {
    /// Chooses block `b`'s scales for tile row `r` from `values` (its current weights):
    /// writes the block's bytes and returns its grid.
    fn choose(&self, values: &[f32], b: usize, tile: &mut Tile, r: usize) -> Grid {
        let bb = self.ty.row_bytes(self.tb).expect("whole blocks");
        let at = r * self.row_bytes + b * bb;
        let block = &mut tile.out[at..at + bb];
        let imp = &self.importance[b * self.tb..(b + 1) * self.tb];
        self.target.quantize_row(values, Some(imp), block);
        match &self.levels {
            Some(l) => Grid::of(l, block),
            None => {
                let mut v = vec![0.0f32; self.tb];
                dequantize_row(self.ty, block, &mut v);
                Grid::Fixed { values: v }
            }
        }
    }

    /// Columns `i1..i2` (processing order) of every row of `tile`: rounding, the block's
    /// errors kept for the feedback to later blocks, and the feedback within the block.
    fn columns(
        &self,
        tile: &mut Tile,
        i1: usize,
        i2: usize,
        ub: &[f32],
        lazy: usize,
        dynamic: bool,
    ) {
        let (n, tb) = (self.n, self.tb);
        let width = i2 - i1;
        let n_blocks = n / tb;
        let bb = self.ty.row_bytes(tb).expect("whole blocks");
        let mut values = vec![0.0f32; tb];
        for r in 0..tile.rows {
            let w = &self.wp[(tile.first + r) * n..(tile.first + r + 1) * n];
            for k in i1..i2 {
                let c = self.order[k];
                let (b, e) = (c / tb, c % tb);
                if dynamic && e == 0 {
                    // Identity order: this block is columns k..k + tb, all inside the lazy block.
                    for (j, v) in values.iter_mut().enumerate() {
                        let kk = k + j;
                        *v = w[kk] - tile.acc[r * n + kk];
                    }
                    if let Some(old) = b.checked_sub(1) {
                        tile.grids[r * n_blocks + old] = None;
                    }
                    let g = self.choose(&values, b, tile, r);
                    tile.grids[r * n_blocks + b] = Some(g);
                }
                let v = w[k] - tile.acc[r * n + k];
                let grid = tile.grids[r * n_blocks + b]
                    .as_ref()
                    .expect("a block's grid is chosen at its first column");
                let (u, q) = grid.round(e, v);
                if let Some(l) = &self.levels {
                    let at = r * self.row_bytes + b * bb;
                    l.set(&mut tile.out[at..at + bb], e, u);
                }
                let d = (v - q) / self.du[k];
                let i = k - i1;
                tile.delta[r * lazy + i] = d;
                let acc = &mut tile.acc[r * n + k + 1..r * n + i2];
                for (a, &u) in acc.iter_mut().zip(&ub[i * width + i + 1..(i + 1) * width]) {
                    *a += d * u;
                }
            }
        }
    }
}

/// The block's errors fed to every later column: `acc[:, i2..] += E · U[i1..i2, i2..]`.
#[allow(clippy::too_many_arguments)]
fn feed_forward(
    be: &Cpu,
    tiles: &[Mutex<Tile>],
    upper: &Upper,
    i1: usize,
    i2: usize,
    lazy: usize,
    n: usize,
    rows: usize,
) -> Result<()> {
    let width = i2 - i1;
    let rest = n - i2;
    let mut ut = vec![0.0f32; rest * width];
    for j in 0..rest {
        for i in 0..width {
            ut[j * width + i] = upper.at(i1 + i, i2 + j) as f32;
        }
    }
    let m = f32_matrix("calib.feedback", rest, width, &ut);
    let mut delta = vec![0.0f32; rows * width];
    for t in tiles {
        let t = t.lock().unwrap_or_else(|e| e.into_inner());
        for r in 0..t.rows {
            delta[(t.first + r) * width..(t.first + r + 1) * width]
                .copy_from_slice(&t.delta[r * lazy..r * lazy + width]);
        }
    }
    let mut upd = vec![0.0f32; rows * rest];
    be.matmul(&m, &delta, rows, &mut upd);
    for t in tiles {
        let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
        for r in 0..t.rows {
            let src = &upd[(t.first + r) * rest..(t.first + r + 1) * rest];
            for (a, &u) in t.acc[r * n + i2..(r + 1) * n].iter_mut().zip(src) {
                *a += u;
            }
        }
    }
    Ok(())
}

/// `rows` rows of `from` re-encoded as `to` (through f32).
fn transcode(from: QuantType, to: QuantType, bytes: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let (rf, rt) = (
        bytes.len() / rows.max(1),
        to.row_bytes(cols).expect("whole blocks"),
    );
    let mut out = vec![0u8; rows * rt];
    let mut v = vec![0.0f32; cols];
    for r in 0..rows {
        dequantize_row(from, &bytes[r * rf..(r + 1) * rf], &mut v);
        brisk_kernels::scalar::quantize_row(to, &v, &mut out[r * rt..(r + 1) * rt]);
    }
    out
}

/// Rows of `w` rounded to nearest as `t` (importance-weighted when given).
pub(super) fn rtn_rows(t: Target, w: &[f32], cols: usize, imp: Option<&[f32]>) -> Vec<u8> {
    let rb = t.ty.row_bytes(cols).expect("whole blocks");
    let mut out = vec![0u8; w.len() / cols * rb];
    for (r, dst) in out.chunks_exact_mut(rb).enumerate() {
        t.quantize_row(&w[r * cols..(r + 1) * cols], imp, dst);
    }
    out
}

/// H as a backend matrix (for the quadratic forms below).
pub fn hessian_matrix(h: &[f32], n: usize) -> QTensor {
    f32_matrix("calib.hessian", n, n, h)
}

/// `Σ_r x_r·H·x_rᵀ` over the `rows` rows of `x` (each `hm.cols` long).
pub fn quad_form(be: &Cpu, hm: &QTensor, x: &[f32], rows: usize) -> f64 {
    let mut hx = vec![0.0f32; rows * hm.cols];
    be.matmul(hm, x, rows, &mut hx);
    x.iter().zip(&hx).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// `w − dequantize(q)`, row by row.
pub fn residual(ty: QuantType, w: &[f32], cols: usize, q: &[u8]) -> Vec<f32> {
    let rows = w.len() / cols;
    let rb = q.len() / rows.max(1);
    let mut d = vec![0.0f32; rows * cols];
    for (r, dr) in d.chunks_exact_mut(cols).enumerate() {
        dequantize_row(ty, &q[r * rb..(r + 1) * rb], dr);
        for (x, &w) in dr.iter_mut().zip(&w[r * cols..(r + 1) * cols]) {
            *x = w - *x;
        }
    }
    d
}

/// ‖(W − Ŵ)X‖² / ‖WX‖² = Σ_r d_r·H·d_rᵀ / Σ_r w_r·H·w_rᵀ for the quantized rows `q` of `w`.
pub fn relative_error_of(
    be: &Cpu,
    ty: QuantType,
    w: &[f32],
    rows: usize,
    cols: usize,
    h: &[f32],
    q: &[u8],
) -> f64 {
    let hm = hessian_matrix(h, cols);
    relative_error(be, &hm, ty, w, rows, cols, q)
}

fn relative_error(
    be: &Cpu,
    hm: &QTensor,
    ty: QuantType,
    w: &[f32],
    rows: usize,
    cols: usize,
    q: &[u8],
) -> f64 {
    let num = quad_form(be, hm, &residual(ty, w, cols, q), rows);
    let den = quad_form(be, hm, w, rows);
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}
