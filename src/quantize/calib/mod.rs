//! Calibrated quantization (`brisk quantize --method gptq|awq|awq+gptq --calib FILE`): the
//! model runs block by block over the calibration text — each block's inputs are the outputs
//! of the blocks before it *as already quantized*, so a block corrects for the error that
//! reaches it, and memory holds one block's activations for the samples, never the model's —
//! collecting per input group what the methods need ([`hessian`]); then each of the block's
//! planned matrices is quantized to its planned type ([`gptq`], [`awq`]) and the block is run
//! again, quantized, to give the next block its inputs. What comes out is ordinary GGUF.
pub mod awq;
pub mod gptq;
#[cfg(test)]
mod gptq_tests;
pub mod grid;
pub mod hessian;
pub mod linalg;
pub mod target;

use super::plan::Plan;
use super::run::{decode_row, Stop};
use super::source::Source;
use crate::format::TensorBytes;
use crate::interrupt;
use crate::model::{LoadedModel, Model};
use anyhow::anyhow;
use brisk_kernels::QuantType;
use hessian::{group_of, Recorder, Stats};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

/// How the weights are rounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Round to nearest (llama-quantize's quantizers).
    Rtn,
    Gptq,
    Awq,
    AwqGptq,
}

impl Method {
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s.to_ascii_lowercase().as_str() {
            "rtn" => Method::Rtn,
            "gptq" => Method::Gptq,
            "awq" => Method::Awq,
            "awq+gptq" | "awq-gptq" => Method::AwqGptq,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Rtn => "rtn",
            Method::Gptq => "gptq",
            Method::Awq => "awq",
            Method::AwqGptq => "awq+gptq",
        }
    }

    fn scales(self) -> bool {
        matches!(self, Method::Awq | Method::AwqGptq)
    }

    fn feeds_errors(self) -> bool {
        matches!(self, Method::Gptq | Method::AwqGptq)
    }
}

/// What `--calib-*` and `--gptq-*` asked for.
pub struct Options {
    pub method: Method,
    /// Tokens per sample (`--calib-ctx`).
    pub ctx: usize,
    /// Most tokens used (`--calib-tokens`).
    pub max_tokens: usize,
    pub damp: f32,
    pub act_order: bool,
    /// Q4_1 in groups of this many columns sharing one scale and an integer zero (the grid a
    /// GPTQ/AWQ export stores; `--group-size`).
    pub group: Option<usize>,
    pub quiet: bool,
}

/// How one matrix came out, for the report.
pub struct MatrixReport {
    pub name: String,
    pub ty: QuantType,
    /// ‖(W − Ŵ)X‖² / ‖WX‖² on the calibration inputs, rounding to nearest and as written.
    pub err_rtn: f64,
    pub err_out: f64,
    pub note: &'static str,
}

/// A tensor as quantized: its input name, type and bytes.
type Quantized = (String, QuantType, Arc<Vec<u8>>);

/// Whether calibration can improve on rounding for `ty` (float types keep every weight).
pub fn calibrates(ty: QuantType) -> bool {
    !matches!(ty, QuantType::F32 | QuantType::F16 | QuantType::BF16)
}

/// The samples: `ctx`-token slices of `tokens` (at most `max_tokens` in all), each starting
/// with BOS when the vocabulary adds it, as llama-imatrix cuts its chunks.
pub fn samples(
    tokens: &[u32],
    bos: Option<u32>,
    ctx: usize,
    max_tokens: usize,
) -> anyhow::Result<Vec<Vec<u32>>> {
    let n = (tokens.len() / ctx.max(1)).min(max_tokens / ctx.max(1));
    if ctx < 2 || n == 0 {
        anyhow::bail!(
            "the calibration text is too short: {} tokens, and --calib-ctx {ctx} needs at least \
             {ctx} (--calib-tokens {max_tokens})",
            tokens.len()
        );
    }
    Ok((0..n)
        .map(|c| {
            let mut s = tokens[c * ctx..(c + 1) * ctx].to_vec();
            if let Some(b) = bos {
                s[0] = b;
            }
            s
        })
        .collect())
}

/// Calibrates every planned `blk.*` matrix of `plan`, filling its `prepared` bytes; `lm` is
/// the model of the plan's input (its matrices are replaced by their quantized forms as the
/// blocks are done).
pub fn calibrate(
    plan: &mut Plan,
    g: &Source,
    lm: &mut LoadedModel,
    samples: &[Vec<u32>],
    opts: &Options,
) -> Result<Vec<MatrixReport>, Stop> {
    let recorder = Arc::new(Recorder::default());
    lm.model.backend.set_observer(Some(recorder.clone()));
    let result = run_blocks(plan, g, &mut lm.model, samples, opts, &recorder);
    lm.model.backend.set_observer(None);
    result
}

fn run_blocks(
    plan: &mut Plan,
    g: &Source,
    model: &mut Model,
    samples: &[Vec<u32>],
    opts: &Options,
    recorder: &Recorder,
) -> Result<Vec<MatrixReport>, Stop> {
    let ctx = opts.ctx;
    let n_layer = model.weights.layers.len();
    let bar = (!opts.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new((n_layer * samples.len()) as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:24!} [{bar:30}] {pos}/{len} samples·blocks, {elapsed} eta {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        b
    });
    let t0 = Instant::now();
    let mut xs: Vec<Vec<f32>> = samples.iter().map(|s| model.embed(s)).collect();
    let mut kv = model.new_kv_cache(ctx);
    let mut reports = Vec::new();
    for li in 0..n_layer {
        if let Some(b) = &bar {
            b.set_message(format!("{} blk.{li}", opts.method.name()));
        }
        // 1. The block's inputs, from the quantized blocks before it.
        recorder.watch(Some(format!("blk.{li}.")));
        let mut stats: BTreeMap<String, Stats> = BTreeMap::new();
        for x in &xs {
            let mut y = x.clone();
            model.forward_layer(li, &mut y, &mut kv, 0);
            recorder.flush(&model.backend, &mut stats);
            if interrupt::requested() {
                return Err(Stop::Interrupted);
            }
        }
        recorder.watch(None);
        // 2. Its matrices, quantized.
        if opts.method.scales() {
            awq::scale_block(plan, g, model, li, &mut stats, opts.group, opts.quiet)?;
        }
        let prefix = format!("blk.{li}.");
        let wanted = |name: &str| name.starts_with(&prefix);
        let done = quantize_block(plan, g, model, &wanted, &stats, opts, &mut reports)?;
        replace_matrices(model, li, &done);
        // 3. The next block's inputs.
        for x in xs.iter_mut() {
            model.forward_layer(li, x, &mut kv, 0);
            if let Some(b) = &bar {
                b.inc(1);
            }
            if interrupt::requested() {
                return Err(Stop::Interrupted);
            }
        }
        if bar.is_none() && !opts.quiet {
            eprintln!(
                "calibrate: blk.{li} done ({}/{n_layer}, {:.1} s)",
                li + 1,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if opts.method.feeds_errors() {
        quantize_output(plan, g, model, &xs, opts, &mut reports)?;
    }
    Ok(reports)
}

/// GPTQ for the output projection (when it is its own matrix, not the tied embeddings), on
/// the final-normed outputs of the quantized blocks.
fn quantize_output(
    plan: &mut Plan,
    g: &Source,
    model: &Model,
    xs: &[Vec<f32>],
    opts: &Options,
    reports: &mut Vec<MatrixReport>,
) -> Result<(), Stop> {
    let name = "output.weight";
    let planned = plan
        .tensors
        .iter()
        .any(|t| t.source.name == name && t.converts() && calibrates(t.ty));
    if !planned || model.weights.output.name != name {
        return Ok(());
    }
    let d = model.config.n_embd;
    let mut st = Stats {
        cols: d,
        h: vec![0.0; d * d],
        abs_sum: vec![0.0; d],
        count: 0,
    };
    let rms_norm = model.backend.kernels.rms_norm;
    for x in xs {
        let mut normed = vec![0.0f32; x.len()];
        for (src, dst) in x.chunks_exact(d).zip(normed.chunks_exact_mut(d)) {
            rms_norm(src, &model.weights.output_norm, model.config.rms_eps, dst);
        }
        hessian::add_gram(&model.backend, &normed, x.len() / d, d, &mut st.h);
        st.count += x.len() / d;
        if interrupt::requested() {
            return Err(Stop::Interrupted);
        }
    }
    let stats = BTreeMap::from([(name.to_string(), st)]);
    quantize_block(plan, g, model, &|n| n == name, &stats, opts, reports)?;
    Ok(())
}

/// The f32 rows of a planned tensor's input (the weights as AWQ left them when it rescaled
/// them).
fn source_rows(plan: &Plan, g: &Source, ti: usize) -> Result<Vec<f32>, Stop> {
    let t = &plan.tensors[ti];
    if let Some(w) = &t.rescaled {
        return Ok(w.as_ref().clone());
    }
    let bytes = g.tensor_bytes(&t.source)?;
    let cols = t.source.dims[0] as usize;
    let rows = (t.source.n_elements() / cols as u64) as usize;
    let rb = t
        .source
        .ty
        .row_bytes(cols)
        .ok_or_else(|| anyhow!("bad row size"))?;
    let src = bytes.as_bytes();
    let mut w = vec![0.0f32; rows * cols];
    for (r, dst) in w.chunks_exact_mut(cols).enumerate() {
        decode_row(t.source.ty, &src[r * rb..(r + 1) * rb], dst);
    }
    Ok(w)
}

/// Quantizes the planned matrices whose input names `wanted` accepts; returns
/// `(source name, type, bytes)` of each.
fn quantize_block(
    plan: &mut Plan,
    g: &Source,
    model: &Model,
    wanted: &dyn Fn(&str) -> bool,
    stats: &BTreeMap<String, Stats>,
    opts: &Options,
    reports: &mut Vec<MatrixReport>,
) -> Result<Vec<Quantized>, Stop> {
    let mut done = Vec::new();
    for ti in 0..plan.tensors.len() {
        let t = &plan.tensors[ti];
        if !wanted(&t.source.name)
            || t.source.dims.len() < 2
            || !(t.converts() || t.rescaled.is_some())
        {
            continue;
        }
        let ty = t.ty;
        let target = target::Target::of(ty, opts.group);
        let cols = t.source.dims[0] as usize;
        let rows = t.source.dims[1] as usize;
        let experts = t.source.dims.get(2).copied().unwrap_or(1) as usize;
        let w = source_rows(plan, g, ti)?;
        let t = &plan.tensors[ti];
        let rb = ty.row_bytes(cols).ok_or_else(|| anyhow!("bad row size"))?;
        let mut bytes = Vec::with_capacity(experts * rows * rb);
        for e in 0..experts {
            let slab = &w[e * rows * cols..(e + 1) * rows * cols];
            let imp = t.importance.as_ref().map(|v| &v[e * cols..(e + 1) * cols]);
            let mut group = group_of(&t.source.name);
            if t.source.dims.len() > 2 {
                group.push_str(&format!("[{e}]"));
            }
            let name = match experts {
                1 => t.name.clone(),
                _ => format!("{}[{e}]", t.name),
            };
            let s = stats
                .get(&group)
                .filter(|s| s.count > 0 && s.cols == cols && calibrates(ty));
            let Some(s) = s else {
                // No inputs reached it (an unrouted expert), or a float type: as planned.
                bytes.extend_from_slice(&gptq::rtn_rows(target, slab, cols, imp));
                continue;
            };
            let diag: Vec<f32> = (0..cols).map(|j| s.h[j * cols + j]).collect();
            let search_imp = imp.unwrap_or(&diag);
            let (out, err_rtn, err_out, note) = if opts.method.feeds_errors() {
                let o = gptq::quantize(
                    &model.backend,
                    &gptq::Problem {
                        ty,
                        w: slab,
                        rows,
                        cols,
                        h: &s.h,
                        importance: imp,
                        damp: opts.damp,
                        act_order: opts.act_order,
                        group: target.group,
                    },
                )?;
                let note = if o.kept_rtn { "rtn kept" } else { "" };
                (o.bytes, o.err_rtn, o.err_gptq.min(o.err_rtn), note)
            } else {
                let rtn = gptq::rtn_rows(target, slab, cols, Some(search_imp));
                let mut clipped = vec![0u8; rows * rb];
                awq::clipped_rows(target, slab, cols, s, search_imp, &mut clipped);
                let be = &model.backend;
                let e_rtn = gptq::relative_error_of(be, ty, slab, rows, cols, &s.h, &rtn);
                let e_clip = gptq::relative_error_of(be, ty, slab, rows, cols, &s.h, &clipped);
                if e_clip <= e_rtn {
                    (clipped, e_rtn, e_clip, "")
                } else {
                    (rtn, e_rtn, e_rtn, "rtn kept")
                }
            };
            reports.push(MatrixReport {
                name,
                ty,
                err_rtn,
                err_out,
                note,
            });
            bytes.extend_from_slice(&out);
        }
        if bytes.len() as u64 != plan.tensors[ti].n_bytes {
            return Err(Stop::Failed(anyhow!(
                "{}: calibrated bytes do not match the plan",
                plan.tensors[ti].name
            )));
        }
        let bytes = Arc::new(bytes);
        plan.tensors[ti].prepared = Some(bytes.clone());
        done.push((plan.tensors[ti].source.name.clone(), ty, bytes));
    }
    Ok(done)
}

/// Block `li`'s matrices that were quantized now read their quantized bytes (an expert its
/// slice of the stack). Parts of a fused tensor keep their original weights.
fn replace_matrices(model: &mut Model, li: usize, done: &[Quantized]) {
    for m in model.weights.layers[li].matrices_mut() {
        let (base, expert) = match m.name.strip_suffix(']').and_then(|n| n.rfind('[')) {
            Some(open) => match m.name[open + 1..m.name.len() - 1].parse::<usize>() {
                Ok(e) => (m.name[..open].to_string(), Some(e)),
                Err(_) => continue,
            },
            None => (m.name.clone(), None),
        };
        let Some((_, ty, bytes)) = done.iter().find(|(n, _, _)| *n == base) else {
            continue;
        };
        let Some(rb) = ty.row_bytes(m.cols) else {
            continue;
        };
        let size = m.rows * rb;
        let at = expert.unwrap_or(0) * size;
        if at + size > bytes.len() {
            continue;
        }
        m.ty = *ty;
        m.bytes = TensorBytes::Owned(Arc::new(bytes[at..at + size].to_vec()));
        m.packed = None;
    }
}
