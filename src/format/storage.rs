//! Zero-copy byte ranges of tensor data: a slice of a shared memory map, or owned bytes.
use memmap2::Mmap;
use std::ops::Range;
use std::sync::Arc;

/// The bytes of one tensor, shared cheaply: either a range of a memory-mapped file or owned memory.
#[derive(Clone)]
pub enum TensorBytes {
    Mapped { map: Arc<Mmap>, range: Range<usize> },
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
