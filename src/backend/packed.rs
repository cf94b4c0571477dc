//! Weight matrices repacked once at load into the interleaved layouts of the matmul
//! microkernels (`brisk_kernels::packed`), held in 64-byte-aligned memory.
use brisk_kernels::packed::{self, Layout};

/// One cache line; the unit of allocation so packed data starts 64-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// A zeroed, 64-byte-aligned byte buffer.
pub struct AlignedBytes {
    lines: Vec<Line>,
    len: usize,
}

impl AlignedBytes {
    pub fn zeroed(len: usize) -> AlignedBytes {
        AlignedBytes {
            lines: vec![Line([0; 64]); len.div_ceil(64)],
            len,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Line` is 64 plain bytes with no padding, the vector holds at least `len`
        // bytes, and the returned slice borrows `self`.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const u8, self.len) }
    }

    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `as_bytes`, with the unique borrow of `self`.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut u8, self.len) }
    }
}

/// A matrix in a packed layout: `groups` row groups of `group_bytes` each.
pub struct PackedMatrix {
    pub layout: Layout,
    pub groups: usize,
    pub group_bytes: usize,
    data: AlignedBytes,
}

impl PackedMatrix {
    /// Packs `rows` × `cols` weights of the layout's source type (`src`, ggml layout).
    pub fn pack(layout: Layout, src: &[u8], rows: usize, cols: usize) -> PackedMatrix {
        let groups = packed::row_groups(rows);
        let group_bytes = packed::group_bytes(layout, cols);
        let mut data = AlignedBytes::zeroed(groups * group_bytes);
        for (g, dst) in data
            .as_bytes_mut()
            .chunks_exact_mut(group_bytes)
            .enumerate()
        {
            packed::pack_group(layout, src, rows, cols, g, dst);
        }
        PackedMatrix {
            layout,
            groups,
            group_bytes,
            data,
        }
    }

    /// The bytes of row group `g`.
    pub fn group(&self, g: usize) -> &[u8] {
        &self.data.as_bytes()[g * self.group_bytes..(g + 1) * self.group_bytes]
    }

    /// Bytes held.
    pub fn size_bytes(&self) -> usize {
        self.data.len
    }
}

impl std::fmt::Debug for PackedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackedMatrix({:?}, {} groups × {} bytes)",
            self.layout, self.groups, self.group_bytes
        )
    }
}
