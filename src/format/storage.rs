//! Model files' bytes and zero-copy ranges of them: a file is memory-mapped (the default) or,
//! with `--no-mmap`, read into memory; only regular files are opened (a FIFO would block, a
//! device is not a model). A tensor's bytes are a range of a shared file, or owned bytes.
use super::error::{FormatError, Result};
use memmap2::Mmap;
use std::fs::File;
use std::ops::{Deref, Range};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A whole model file in memory: mapped, or read.
pub enum FileData {
    Mapped(Mmap),
    Read(Vec<u8>),
}

impl Deref for FileData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileData::Mapped(m) => m,
            FileData::Read(v) => v,
        }
    }
}

static READ_INSTEAD_OF_MAP: AtomicBool = AtomicBool::new(false);
static LOCK_IN_MEMORY: AtomicBool = AtomicBool::new(false);

/// `--mlock`: lock mapped model files in memory (never paged out) from now on.
pub fn set_mlock(on: bool) {
    LOCK_IN_MEMORY.store(on, Ordering::Relaxed);
}

/// `--no-mmap`: read model files into memory from now on (a file truncated while brisk runs is
/// then an error at load, never a SIGBUS later).
pub fn set_no_mmap(on: bool) {
    READ_INSTEAD_OF_MAP.store(on, Ordering::Relaxed);
}

/// What a path that is not a regular file is, for the message refusing it.
fn not_regular(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_char_device() || t.is_block_device() {
            return Some("a device");
        }
    }
    Some("not a regular file")
}

/// Open a model file: refused unless it is a regular file (checked before opening, so a FIFO
/// cannot block), then mapped or read.
pub fn open_model_file(path: &Path) -> Result<FileData> {
    let meta = std::fs::metadata(path).map_err(|e| FormatError::io(path, e))?;
    if let Some(what) = not_regular(&meta) {
        return Err(FormatError::invalid(
            path,
            format!("is {what}, not a model file"),
        ));
    }
    let file = File::open(path).map_err(|e| FormatError::io(path, e))?;
    if READ_INSTEAD_OF_MAP.load(Ordering::Relaxed) {
        let mut bytes = Vec::new();
        use std::io::Read;
        (&file)
            .take(meta.len())
            .read_to_end(&mut bytes)
            .map_err(|e| FormatError::io(path, e))?;
        return Ok(FileData::Read(bytes));
    }
    // SAFETY: the map is read-only; brisk never writes model files while they are open. A file
    // truncated underneath by another process faults on access (SIGBUS); --no-mmap avoids that.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| FormatError::io(path, e))?;
    if LOCK_IN_MEMORY.load(Ordering::Relaxed) {
        map.lock().map_err(|e| {
            FormatError::invalid(
                path,
                format!(
                    "cannot lock its {} MiB in memory ({e}); raise the limit (ulimit -l) or drop --mlock",
                    map.len() >> 20
                ),
            )
        })?;
    }
    Ok(FileData::Mapped(map))
}

/// The bytes of one tensor, shared cheaply: either a range of a memory-mapped file or owned memory.
#[derive(Clone)]
pub enum TensorBytes {
    Mapped {
        map: Arc<FileData>,
        range: Range<usize>,
    },
    Owned(Arc<Vec<u8>>),
}

impl TensorBytes {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            TensorBytes::Mapped { map, range } => &map[range.clone()],
            TensorBytes::Owned(v) => v,
        }
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes `r` of these bytes (a fused tensor's part): a narrower range of the same map,
    /// or a copy of owned bytes. `r` must lie within `0..len()`.
    pub fn slice(&self, r: Range<usize>) -> TensorBytes {
        match self {
            TensorBytes::Mapped { map, range } => {
                assert!(r.end <= range.len(), "slice past the tensor's bytes");
                TensorBytes::Mapped {
                    map: map.clone(),
                    range: range.start + r.start..range.start + r.end,
                }
            }
            TensorBytes::Owned(v) => TensorBytes::Owned(Arc::new(v[r].to_vec())),
        }
    }
}

impl std::fmt::Debug for TensorBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TensorBytes({} bytes)", self.len())
    }
}

impl TensorBytes {
    /// Tells the kernel these bytes will not be read again soon, so their page-cache pages
    /// stop counting toward this process's resident memory (used after repacking a tensor).
    /// Later reads still work: the pages come back from the file. Owned bytes are untouched.
    pub fn release_pages(&self) {
        if let TensorBytes::Mapped { map, range } = self {
            let FileData::Mapped(map) = &**map else {
                return;
            };
            // SAFETY: the map is read-only and file-backed, so MADV_DONTNEED only drops clean
            // pages that the kernel re-reads from the file on the next access; no byte any
            // reader sees changes. Errors (e.g. an unsupported platform) are harmless.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    range.start,
                    range.len(),
                )
            };
        }
    }
}

/// Turn a fault on a mapped model file (it was truncated or replaced while brisk runs) into one
/// error line and exit status 1 instead of a crash.
pub fn install_sigbus_handler() {
    #[cfg(unix)]
    {
        extern "C" fn on_sigbus(_: libc::c_int) {
            const MSG: &[u8] = b"error: the model file shrank or changed while brisk was reading \
it (SIGBUS); use --no-mmap to read it into memory instead\n";
            // SAFETY: write(2) and _exit(2) are async-signal-safe; MSG is a static buffer.
            unsafe {
                libc::write(2, MSG.as_ptr().cast(), MSG.len());
                libc::_exit(1);
            }
        }
        // SAFETY: installs a handler that only calls async-signal-safe functions.
        unsafe {
            libc::signal(libc::SIGBUS, on_sigbus as *const () as libc::sighandler_t);
        }
    }
}
