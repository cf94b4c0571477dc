//! Executes a [`Plan`]: streams each output file tensor by tensor (header first, since every
//! type and size is known up front), quantizing rows on all threads in bounded slabs, so peak
//! memory is one slab plus the memory-mapped input. Output goes through [`AtomicFile`], so an
//! error or Ctrl-C leaves no partial file.
use super::plan::{Plan, PlannedTensor};
use crate::format::atomic_file::AtomicFile;
use crate::format::gguf::writer::{alignment_of, encode_header, HeaderTensor};
use crate::format::gguf::Gguf;
use crate::interrupt;
use anyhow::{Context, Result};
use brisk_kernels::scalar::{dequantize_row, weighted::quantize_row_weighted};
use brisk_kernels::QuantType;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Why a run stopped early.
#[derive(Debug)]
pub enum Stop {
    Interrupted,
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Self {
        Stop::Failed(e)
    }
}

/// How the run reports progress: called with (tensor index, bytes of input done so far).
pub type Progress<'a> = &'a (dyn Fn(usize, u64) + Sync);

/// Row-chunk size handed to one thread at a time (llama.cpp's 16 Ki elements).
const CHUNK_ELEMENTS: usize = 32 * 512;

/// Writes every file of the plan.
pub fn execute(
    plan: &Plan,
    g: &Gguf,
    threads: usize,
    max_buffer: usize,
    progress: Progress,
) -> Result<(), Stop> {
    for file in &plan.files {
        let align = alignment_of(&file.metadata);
        let infos: Vec<HeaderTensor> = file
            .tensors
            .iter()
            .map(|&i| {
                let t = &plan.tensors[i];
                HeaderTensor {
                    name: &t.name,
                    dims: &t.dims,
                    ty: t.ty,
                    n_bytes: t.n_bytes,
                }
            })
            .collect();
        let (header, _) = encode_header(&file.metadata, &infos, align);
        let io = |e: std::io::Error| anyhow::anyhow!("cannot write {}: {e}", file.path.display());
        let mut out = AtomicFile::create(&file.path).map_err(io)?;
        out.write_all(&header).map_err(io)?;
        let mut done_bytes = 0u64;
        for &i in &file.tensors {
            let t = &plan.tensors[i];
            let mapped = g.tensor_bytes(&t.source);
            let src = mapped.as_bytes();
            if t.converts() {
                convert(t, src, threads, max_buffer, &mut out, &|d| {
                    progress(i, done_bytes + d)
                })?;
            } else {
                out.write_all(src).map_err(io)?;
            }
            // Done with this tensor's input: its pages need not stay resident (peak memory is
            // then one tensor, not the whole model).
            mapped.release_pages();
            done_bytes += t.source.n_bytes;
            progress(i, done_bytes);
            let pad = t.n_bytes.div_ceil(align) * align - t.n_bytes;
            out.write_all(&vec![0u8; pad as usize]).map_err(io)?;
            if interrupt::requested() {
                return Err(Stop::Interrupted);
            }
        }
        out.commit().map_err(io)?;
    }
    Ok(())
}

/// Decodes one row of `ty` into f32 (F32 rows are read as little-endian floats).
fn decode_row(ty: QuantType, src: &[u8], dst: &mut [f32]) {
    if ty == QuantType::F32 {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
            *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    } else {
        dequantize_row(ty, src, dst);
    }
}

/// Quantizes one tensor slab by slab, each slab's row chunks spread over `threads`.
fn convert(
    t: &PlannedTensor,
    src: &[u8],
    threads: usize,
    max_buffer: usize,
    out: &mut AtomicFile,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), Stop> {
    let n_per_row = t.source.dims[0] as usize;
    let nrows = (t.source.n_elements() / n_per_row as u64) as usize;
    let rows_per_expert = t.source.dims.get(1).copied().unwrap_or(1).max(1) as usize;
    let src_row = t
        .source
        .ty
        .row_bytes(n_per_row)
        .context("row size of the input")?;
    let dst_row =
        t.ty.row_bytes(n_per_row)
            .context("row size of the output")?;
    let per_row = dst_row + 4 * n_per_row;
    let slab_rows = (max_buffer / per_row).clamp(1, nrows.max(1));
    let chunk_rows = CHUNK_ELEMENTS.div_ceil(n_per_row).max(1);
    let mut dst = vec![0u8; slab_rows * dst_row];
    let mut first = 0;
    while first < nrows {
        let rows = slab_rows.min(nrows - first);
        let slab = &mut dst[..rows * dst_row];
        let src_slab = &src[first * src_row..(first + rows) * src_row];
        let work = Mutex::new(slab.chunks_mut(chunk_rows * dst_row).enumerate());
        let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
        let stop = AtomicBool::new(false);
        let worker = || {
            let mut row_f32 = vec![0.0f32; n_per_row];
            loop {
                if stop.load(Ordering::Relaxed) || interrupt::requested() {
                    return;
                }
                let next = work.lock().map(|mut w| w.next()).unwrap_or(None);
                let (ci, chunk) = match next {
                    Some(x) => x,
                    None => return,
                };
                for (k, dst_bytes) in chunk.chunks_exact_mut(dst_row).enumerate() {
                    let local = ci * chunk_rows + k;
                    let row = first + local;
                    decode_row(
                        t.source.ty,
                        &src_slab[local * src_row..(local + 1) * src_row],
                        &mut row_f32,
                    );
                    if let Some(col) = row_f32.iter().position(|v| !v.is_finite()) {
                        let msg = format!(
                            "{}: row {row}, column {col} is {} — the input is corrupt; \
                             refusing to write a broken file",
                            t.name, row_f32[col]
                        );
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(anyhow::anyhow!(msg));
                        }
                        stop.store(true, Ordering::Relaxed);
                        return;
                    }
                    let imp = t.importance.as_ref().map(|v| {
                        let e = row / rows_per_expert;
                        &v[e * n_per_row..(e + 1) * n_per_row]
                    });
                    quantize_row_weighted(t.ty, &row_f32, imp, dst_bytes);
                }
            }
        };
        std::thread::scope(|s| {
            for _ in 1..threads.max(1) {
                s.spawn(worker);
            }
            worker();
        });
        if let Some(e) = failure.into_inner().unwrap_or(None) {
            return Err(Stop::Failed(e));
        }
        if interrupt::requested() {
            return Err(Stop::Interrupted);
        }
        out.write_all(slab)
            .with_context(|| format!("cannot write {}", out.temp_path().display()))?;
        first += rows;
        progress((first * src_row) as u64);
    }
    Ok(())
}
