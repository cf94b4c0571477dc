//! Executes a [`Plan`]: streams each output file tensor by tensor (header first, since every
//! type and size is known up front), quantizing rows on all threads in bounded slabs, so peak
//! memory is a couple of slabs plus the memory-mapped input. A writer thread writes one slab
//! while the next is quantized (copying into the page cache costs as much as quantizing the
//! cheaper types). Output goes through [`AtomicFile`], so an error or Ctrl-C leaves no partial
//! file.
use super::plan::{Plan, PlannedTensor};
use super::source::Source;
use crate::format::atomic_file::AtomicFile;
use crate::format::gguf::writer::{alignment_of, encode_header, HeaderTensor};
use crate::format::TensorBytes;
use crate::interrupt;
use anyhow::{Context, Result};
use brisk_kernels::scalar::{dequantize_row, weighted::quantize_row_weighted};
use brisk_kernels::QuantType;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
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

/// Output on its way to the writer thread.
enum Piece {
    /// Bytes to write; the buffer comes back for reuse.
    Owned(Vec<u8>),
    /// A tensor written as it is in the input; its pages are released once written.
    Mapped(TensorBytes),
}

/// The producer's end of the writer thread: pieces out, spent buffers back.
struct Sink {
    tx: SyncSender<Piece>,
    spent: Receiver<Vec<u8>>,
}

impl Sink {
    /// A zeroed buffer of `n` bytes, reusing one the writer is done with when there is one (so
    /// its pages are not faulted in again).
    fn buffer(&self, n: usize) -> Vec<u8> {
        let mut b = self.spent.try_recv().unwrap_or_default();
        b.clear();
        b.resize(n, 0);
        b
    }

    /// Hand `p` to the writer; `Err` when the writer has stopped (its error says why).
    fn send(&self, p: Piece) -> Result<(), Stop> {
        self.tx
            .send(p)
            .map_err(|_| Stop::Failed(anyhow::anyhow!("the writer thread stopped early")))
    }
}

/// Writes every file of the plan.
pub fn execute(
    plan: &Plan,
    g: &Source,
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
        let (tx, rx) = sync_channel::<Piece>(1);
        let (spent_tx, spent) = channel::<Vec<u8>>();
        let produced = std::thread::scope(|s| {
            let out = &mut out;
            let writer = s.spawn(move || -> std::io::Result<()> {
                for piece in rx {
                    match piece {
                        Piece::Owned(b) => {
                            out.write_all(&b)?;
                            let _ = spent_tx.send(b);
                        }
                        Piece::Mapped(bytes) => {
                            out.write_all(bytes.as_bytes())?;
                            // Its pages need not stay resident (peak memory stays one tensor).
                            bytes.release_pages();
                        }
                    }
                }
                Ok(())
            });
            let sink = Sink { tx, spent };
            let produced = produce(
                plan, g, file, &header, align, threads, max_buffer, progress, &sink,
            );
            drop(sink);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the writer thread panicked")));
            // A writer error is the cause of any "writer stopped" the producer saw.
            match (produced, written) {
                (_, Err(e)) => Err(Stop::Failed(io(e))),
                (r, Ok(())) => r,
            }
        });
        produced?;
        out.commit().map_err(io)?;
    }
    Ok(())
}

/// Quantizes (or copies) every tensor of `file` into pieces for the writer, in file order.
#[allow(clippy::too_many_arguments)]
fn produce(
    plan: &Plan,
    g: &Source,
    file: &super::plan::PlannedFile,
    header: &[u8],
    align: u64,
    threads: usize,
    max_buffer: usize,
    progress: Progress,
    sink: &Sink,
) -> Result<(), Stop> {
    sink.send(Piece::Owned(header.to_vec()))?;
    let mut done_bytes = 0u64;
    for &i in &file.tensors {
        let t = &plan.tensors[i];
        let mapped = g.tensor_bytes(&t.source)?;
        if let Some(bytes) = &t.prepared {
            sink.send(Piece::Owned(bytes.as_ref().clone()))?;
            mapped.release_pages();
        } else if t.converts() {
            convert(t, mapped.as_bytes(), threads, max_buffer, sink, &|d| {
                progress(i, done_bytes + d)
            })?;
            // Done with this tensor's input (the writer releases the pages of copied ones).
            mapped.release_pages();
        } else {
            sink.send(Piece::Mapped(mapped))?;
        }
        done_bytes += t.source.n_bytes;
        progress(i, done_bytes);
        let pad = t.n_bytes.div_ceil(align) * align - t.n_bytes;
        if pad > 0 {
            sink.send(Piece::Owned(vec![0u8; pad as usize]))?;
        }
        if interrupt::requested() {
            return Err(Stop::Interrupted);
        }
    }
    Ok(())
}

/// Decodes one row of `ty` into f32 (F32 rows are read as little-endian floats).
pub(crate) fn decode_row(ty: QuantType, src: &[u8], dst: &mut [f32]) {
    if ty == QuantType::F32 {
        for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
            *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    } else if ty == QuantType::F16 {
        brisk_kernels::convert::f16_row_to_f32(src, dst);
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
    sink: &Sink,
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
    let mut first = 0;
    while first < nrows {
        let rows = slab_rows.min(nrows - first);
        let mut dst = sink.buffer(rows * dst_row);
        let slab = &mut dst[..];
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
        sink.send(Piece::Owned(dst))?;
        first += rows;
        progress((first * src_row) as u64);
    }
    Ok(())
}
