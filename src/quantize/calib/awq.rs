//! AWQ (Lin et al. 2023, "Activation-aware Weight Quantization"): scale the input channels of
//! each group of matrices that read one input by `s = mean|x|^α` (α searched over 0, 0.05, …,
//! 1 for the smallest output error after quantizing to the planned type), and fold `1/s` into
//! what produces that input — the norm before q/k/v and before gate/up, the rows of v before
//! the output projection (when every query head has its own value head), the rows of up before
//! down — so the written file computes the same function, up to quantization. Then, for AWQ
//! alone, each block's weights are clipped to the range (a fraction of its largest magnitude)
//! that reproduces the block's outputs best.
//!
//! The output error of a candidate is measured exactly on the calibration inputs through their
//! second moments: ‖(W − Ŵ)X‖² = Σ_r d_r·H·d_rᵀ with `H = Σ x·xᵀ`, so the search needs no
//! forward passes.
use super::gptq::{hessian_matrix, quad_form};
use super::hessian::Stats;
use super::source_rows;
use super::target::Target;
use crate::model::weights::Ffn;
use crate::model::Model;
use crate::quantize::plan::Plan;
use crate::quantize::run::{decode_row, Stop};
use crate::quantize::source::Source;
use anyhow::anyhow;
use brisk_kernels::scalar::dequantize_row;
use brisk_kernels::QuantType;
use std::collections::BTreeMap;
use std::sync::Arc;

/// α steps of the scale search (0, 1/20, …, 1).
const ALPHA_STEPS: usize = 20;

/// One matrix of a scaled group: its plan index, type and current weights.
struct Member {
    ti: usize,
    target: Target,
    w: Vec<f32>,
    rows: usize,
}

fn index_of(plan: &Plan, name: &str) -> Option<usize> {
    plan.tensors.iter().position(|t| t.source.name == name)
}

/// The group's members, its weights as they stand (after earlier scalings).
fn members(
    plan: &Plan,
    g: &Source,
    names: &[String],
    group: Option<usize>,
) -> Result<Option<Vec<Member>>, Stop> {
    let mut out = Vec::new();
    for n in names {
        let Some(ti) = index_of(plan, n) else {
            return Ok(None);
        };
        let t = &plan.tensors[ti];
        if t.source.dims.len() != 2 {
            return Ok(None);
        }
        let w = source_rows(plan, g, ti)?;
        out.push(Member {
            ti,
            target: Target::of(t.ty, group),
            rows: t.source.dims[1] as usize,
            w,
        });
    }
    Ok(Some(out))
}

/// `w − Ŵ` for the rows of `w` quantized as `ty` from `w·diag(s)` (importance `imp/s²`) and
/// divided by `s` again: the error the scaled matrix makes on the unscaled input.
fn scaled_residual(t: Target, w: &[f32], cols: usize, s: &[f32], imp: &[f32]) -> Vec<f32> {
    let rb = t.ty.row_bytes(cols).expect("whole blocks");
    let imp: Vec<f32> = imp.iter().zip(s).map(|(&i, &s)| i / (s * s)).collect();
    let mut q = vec![0u8; rb];
    let mut row = vec![0.0f32; cols];
    let mut deq = vec![0.0f32; cols];
    let mut out = Vec::with_capacity(w.len());
    for wr in w.chunks_exact(cols) {
        for ((x, &w), &s) in row.iter_mut().zip(wr).zip(s) {
            *x = w * s;
        }
        t.quantize_row(&row, Some(&imp), &mut q);
        dequantize_row(t.ty, &q, &mut deq);
        out.extend(wr.iter().zip(&deq).zip(s).map(|((&w, &d), &s)| w - d / s));
    }
    out
}

/// The scales minimising the group's summed output error, and that error relative to α = 0.
fn search(be: &crate::backend::Cpu, group: &[Member], st: &Stats) -> (Vec<f32>, f64, f64) {
    let cols = st.cols;
    let count = st.count.max(1) as f64;
    let mean: Vec<f64> = st.abs_sum.iter().map(|&a| a / count).collect();
    let top = mean.iter().cloned().fold(0.0f64, f64::max);
    let floor = (top * 1e-4).max(1e-12);
    let diag: Vec<f32> = (0..cols).map(|j| st.h[j * cols + j]).collect();
    let hm = hessian_matrix(&st.h, cols);
    let mut best: Option<(f64, Vec<f32>)> = None;
    let mut at_zero = 0.0;
    for k in 0..=ALPHA_STEPS {
        let alpha = k as f64 / ALPHA_STEPS as f64;
        let raw: Vec<f64> = mean.iter().map(|&m| m.max(floor).powf(alpha)).collect();
        let (lo, hi) = raw.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
        let norm = (lo * hi).sqrt().max(1e-30);
        let s: Vec<f32> = raw.iter().map(|&v| (v / norm) as f32).collect();
        let mut err = 0.0;
        for m in group {
            let d = scaled_residual(m.target, &m.w, cols, &s, &diag);
            err += quad_form(be, &hm, &d, m.rows);
        }
        if k == 0 {
            at_zero = err;
        }
        if best.as_ref().is_none_or(|(e, _)| err < *e) {
            best = Some((err, s));
        }
    }
    let (err, s) = best.expect("at least one α");
    let rel = if at_zero > 0.0 { err / at_zero } else { 1.0 };
    (s, err, rel)
}

/// Scales the group's input columns by `s` (the weights kept as `rescaled`, an imatrix
/// divided by s²) and the group's statistics with them.
fn scale_columns(plan: &mut Plan, group: &mut [Member], s: &[f32], st: &mut Stats) {
    let cols = s.len();
    for m in group.iter_mut() {
        for row in m.w.chunks_exact_mut(cols) {
            for (w, &s) in row.iter_mut().zip(s) {
                *w *= s;
            }
        }
        let t = &mut plan.tensors[m.ti];
        t.rescaled = Some(Arc::new(m.w.clone()));
        if let Some(imp) = &t.importance {
            let v: Vec<f32> = imp
                .iter()
                .enumerate()
                .map(|(i, &x)| x / (s[i % cols] * s[i % cols]))
                .collect();
            t.importance = Some(Arc::new(v));
        }
    }
    for a in 0..cols {
        for b in 0..cols {
            st.h[a * cols + b] /= s[a] * s[b];
        }
        st.abs_sum[a] /= s[a] as f64;
    }
}

/// Divides rows of the matrix `name` (already rescaled or not) by `s`.
fn scale_rows(plan: &mut Plan, g: &Source, name: &str, s: &[f32]) -> Result<(), Stop> {
    let ti = index_of(plan, name).ok_or_else(|| anyhow!("AWQ: {name} is missing"))?;
    let mut w = source_rows(plan, g, ti)?;
    let cols = plan.tensors[ti].source.dims[0] as usize;
    for (row, &s) in w.chunks_exact_mut(cols).zip(s) {
        for v in row.iter_mut() {
            *v /= s;
        }
    }
    plan.tensors[ti].rescaled = Some(Arc::new(w));
    Ok(())
}

/// Divides the f32 vector `name` (a norm or bias) by `s` in the plan (its bytes written as
/// they are now) and returns the new values.
fn fold_vector(plan: &mut Plan, g: &Source, name: &str, s: &[f32]) -> Result<Vec<f32>, Stop> {
    let ti = index_of(plan, name).ok_or_else(|| {
        anyhow!("AWQ needs {name} to fold its scales into, and the model has none")
    })?;
    let t = &plan.tensors[ti];
    if t.ty != QuantType::F32 || t.source.ty != QuantType::F32 || t.source.dims.len() != 1 {
        return Err(Stop::Failed(anyhow!(
            "AWQ folds its scales into {name}, which is stored as {} (it needs F32)",
            t.source.ty.name()
        )));
    }
    let mut v = match &t.prepared {
        Some(b) => {
            let mut v = vec![0.0f32; b.len() / 4];
            decode_row(QuantType::F32, b, &mut v);
            v
        }
        None => source_rows(plan, g, ti)?,
    };
    for (x, &s) in v.iter_mut().zip(s) {
        *x /= s;
    }
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    plan.tensors[ti].prepared = Some(Arc::new(bytes));
    Ok(v)
}

/// Searches and applies block `li`'s scales (see the module comment), updating the plan, the
/// model's norms and biases, and `stats` to what the scaled matrices will see.
pub fn scale_block(
    plan: &mut Plan,
    g: &Source,
    model: &mut Model,
    li: usize,
    stats: &mut BTreeMap<String, Stats>,
    group: Option<usize>,
    quiet: bool,
) -> Result<(), Stop> {
    let n = |s: &str| format!("blk.{li}.{s}");
    let be = &model.backend;
    let c = &model.config;
    let dense = matches!(model.weights.layers[li].ffn, Ffn::Dense(_));
    let mha = c.n_head == c.n_head_kv && c.head_dim == c.head_dim_v;
    let mut log = Vec::new();
    // q/k/v after the attention norm.
    let key = n("attn_q.weight");
    if let (Some(st), Some(mut group)) = (
        stats.get_mut(&key),
        members(
            plan,
            g,
            &[n("attn_q.weight"), n("attn_k.weight"), n("attn_v.weight")],
            group,
        )?,
    ) {
        let (s, _, rel) = search(be, &group, st);
        scale_columns(plan, &mut group, &s, st);
        let norm = fold_vector(plan, g, &n("attn_norm.weight"), &s)?;
        model.weights.layers[li].attn_norm = norm;
        log.push(format!("qkv {rel:.3}"));
    }
    // v → output, where each query head reads its own value head.
    let key = n("attn_output.weight");
    if let (true, Some(st), Some(mut group)) = (
        mha,
        stats.get_mut(&key),
        members(plan, g, &[n("attn_output.weight")], group)?,
    ) {
        let (s, _, rel) = search(be, &group, st);
        scale_columns(plan, &mut group, &s, st);
        scale_rows(plan, g, &n("attn_v.weight"), &s)?;
        if index_of(plan, &n("attn_v.bias")).is_some() {
            let b = fold_vector(plan, g, &n("attn_v.bias"), &s)?;
            model.weights.layers[li].bv = Some(b);
        }
        log.push(format!("v→o {rel:.3}"));
    }
    if dense {
        // gate/up after the FFN norm.
        let key = n("ffn_gate.weight");
        if let (Some(st), Some(mut group)) = (
            stats.get_mut(&key),
            members(plan, g, &[n("ffn_gate.weight"), n("ffn_up.weight")], group)?,
        ) {
            let (s, _, rel) = search(be, &group, st);
            scale_columns(plan, &mut group, &s, st);
            let norm = fold_vector(plan, g, &n("ffn_norm.weight"), &s)?;
            model.weights.layers[li].ffn_norm = norm;
            log.push(format!("gate/up {rel:.3}"));
        }
        // up → down.
        let key = n("ffn_down.weight");
        if let (Some(st), Some(mut group)) = (
            stats.get_mut(&key),
            members(plan, g, &[n("ffn_down.weight")], group)?,
        ) {
            let (s, _, rel) = search(be, &group, st);
            scale_columns(plan, &mut group, &s, st);
            scale_rows(plan, g, &n("ffn_up.weight"), &s)?;
            log.push(format!("up→down {rel:.3}"));
        }
    }
    if !quiet && !log.is_empty() {
        eprintln!("awq: blk.{li} output error vs unscaled: {}", log.join(", "));
    }
    Ok(())
}

/// AWQ's clipping search for round-to-nearest: each block of each row clipped to the fraction
/// of its largest magnitude (1, 0.95, …, 0.55) whose rounding reproduces the block's output
/// contribution `d·H_bb·dᵀ` best.
pub fn clipped_rows(
    target: Target,
    w: &[f32],
    cols: usize,
    st: &Stats,
    imp: &[f32],
    dst: &mut [u8],
) {
    let ty = target.ty;
    let tb = target.block_len();
    let bb = ty.row_bytes(tb).expect("whole blocks");
    let rb = ty.row_bytes(cols).expect("whole blocks");
    let mut clipped = vec![0.0f32; tb];
    let mut deq = vec![0.0f32; tb];
    let mut cand = vec![0u8; bb];
    for (r, row) in w.chunks_exact(cols).enumerate() {
        for b in 0..cols / tb {
            let x = &row[b * tb..(b + 1) * tb];
            let out = &mut dst[r * rb + b * bb..r * rb + (b + 1) * bb];
            let top = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let mut best = f64::INFINITY;
            for step in 0..10 {
                let lim = top * (1.0 - 0.05 * step as f32);
                for (c, &v) in clipped.iter_mut().zip(x) {
                    *c = v.clamp(-lim, lim);
                }
                target.quantize_row(&clipped, Some(&imp[b * tb..(b + 1) * tb]), &mut cand);
                dequantize_row(ty, &cand, &mut deq);
                let d: Vec<f64> = x.iter().zip(&deq).map(|(a, q)| (a - q) as f64).collect();
                let mut e = 0.0f64;
                for i in 0..tb {
                    let hrow =
                        &st.h[(b * tb + i) * cols + b * tb..(b * tb + i) * cols + (b + 1) * tb];
                    let hd: f64 = hrow.iter().zip(&d).map(|(&h, &d)| h as f64 * d).sum();
                    e += d[i] * hd;
                }
                if e < best {
                    best = e;
                    out.copy_from_slice(&cand);
                }
                if top == 0.0 {
                    break;
                }
            }
        }
    }
}
