//! Malformed GGUF corpus, generated here from a valid file: each defect must give an `Err` with a
//! specific message, never a panic, and never an allocation sized by an untrusted count (checked
//! with a counting global allocator). Plus 2000 random mutations that must not panic.
mod common;

use brisk::format::gguf::Gguf;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Records the largest single allocation, so a count taken from a file and used as a capacity
/// would show up as a huge request (the files here are all under a few kilobytes).
struct Counting;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// No test here legitimately allocates more than this in one piece.
const ALLOC_LIMIT: usize = 1 << 20;

const T_U8: u32 = 0;
const T_U32: u32 = 4;
const T_BOOL: u32 = 7;
const T_STRING: u32 = 8;
const T_ARRAY: u32 = 9;
const T_U64: u32 = 10;

fn enc_str(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

#[derive(Clone)]
struct Kv {
    key: Vec<u8>,
    ty: u32,
    val: Vec<u8>,
}

fn kv(key: &str, ty: u32, val: Vec<u8>) -> Kv {
    Kv {
        key: key.as_bytes().to_vec(),
        ty,
        val,
    }
}

#[derive(Clone)]
struct Ti {
    name: Vec<u8>,
    n_dims: u32,
    dims: Vec<u64>,
    ty: u32,
    offset: u64,
}

fn ti(name: &str, dims: &[u64], ty: u32, offset: u64) -> Ti {
    Ti {
        name: name.as_bytes().to_vec(),
        n_dims: dims.len() as u32,
        dims: dims.to_vec(),
        ty,
        offset,
    }
}

/// A GGUF file as raw parts, every field free to be wrong.
#[derive(Clone)]
struct Raw {
    magic: [u8; 4],
    version: u32,
    n_tensors: Option<u64>,
    n_kv: Option<u64>,
    kvs: Vec<Kv>,
    tis: Vec<Ti>,
    align: usize,
    data: Vec<u8>,
}

impl Raw {
    fn header(&self) -> Vec<u8> {
        let mut b = self.magic.to_vec();
        b.extend_from_slice(&self.version.to_le_bytes());
        let n_tensors = self.n_tensors.unwrap_or(self.tis.len() as u64);
        b.extend_from_slice(&n_tensors.to_le_bytes());
        let n_kv = self.n_kv.unwrap_or(self.kvs.len() as u64);
        b.extend_from_slice(&n_kv.to_le_bytes());
        for kv in &self.kvs {
            b.extend_from_slice(&enc_str(&kv.key));
            b.extend_from_slice(&kv.ty.to_le_bytes());
            b.extend_from_slice(&kv.val);
        }
        for t in &self.tis {
            b.extend_from_slice(&enc_str(&t.name));
            b.extend_from_slice(&t.n_dims.to_le_bytes());
            for d in &t.dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&t.ty.to_le_bytes());
            b.extend_from_slice(&t.offset.to_le_bytes());
        }
        b
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = self.header();
        b.resize(b.len().div_ceil(self.align) * self.align, 0);
        b.extend_from_slice(&self.data);
        b
    }
}

/// A valid file: three metadata keys (one an array), an F32 and a Q8_0 tensor, alignment 32.
fn valid() -> Raw {
    let mut arr = T_U32.to_le_bytes().to_vec();
    arr.extend_from_slice(&3u64.to_le_bytes());
    for x in [1u32, 2, 3] {
        arr.extend_from_slice(&x.to_le_bytes());
    }
    Raw {
        magic: *b"GGUF",
        version: 3,
        n_tensors: None,
        n_kv: None,
        kvs: vec![
            kv("general.architecture", T_STRING, enc_str(b"llama")),
            kv("x.arr", T_ARRAY, arr),
            kv("general.alignment", T_U32, 32u32.to_le_bytes().to_vec()),
        ],
        tis: vec![ti("a", &[8, 2], 0, 0), ti("b", &[32], 8, 64)],
        align: 32,
        data: (0..128u32).map(|i| i as u8).collect(),
    }
}

fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("brisk-malformed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{tag}-{}.gguf", N.fetch_add(1, Ordering::Relaxed)))
}

/// Open `bytes` as a file; return the error text (panics if it opened).
fn open_err(tag: &str, bytes: &[u8]) -> String {
    let path = temp_path(tag);
    std::fs::write(&path, bytes).unwrap();
    let result = Gguf::open(&path);
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(_) => panic!("{tag}: malformed file opened"),
        Err(e) => {
            let msg = e.to_string();
            common::assert_plain_message(&msg);
            msg
        }
    }
}

fn expect_err(tag: &str, raw: &Raw, needle: &str) {
    let err = open_err(tag, &raw.bytes());
    assert!(
        err.contains(needle),
        "{tag}: error {err:?} lacks {needle:?}"
    );
    assert!(
        LARGEST.load(Ordering::Relaxed) < ALLOC_LIMIT,
        "{tag}: allocated {} bytes at once",
        LARGEST.load(Ordering::Relaxed)
    );
}

#[test]
fn the_base_file_is_valid() {
    let path = temp_path("valid");
    std::fs::write(&path, valid().bytes()).unwrap();
    let g = Gguf::open(&path).unwrap();
    assert_eq!(g.tensors().len(), 2);
    assert_eq!(g.tensor_bytes(&g.tensors()[1]).len(), 34);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn truncation_anywhere_is_an_error() {
    let raw = valid();
    let full = raw.bytes();
    let header_len = raw.header().len();
    let data_start = full.len() - raw.data.len();
    let data_cuts = [data_start, data_start + 1, data_start + 64, data_start + 97];
    for cut in (0..=header_len).chain(data_cuts) {
        let err = open_err("trunc", &full[..cut]);
        let ok = if cut < 4 {
            err.contains("too short")
        } else if cut < header_len {
            err.contains("truncated")
                || err.contains("larger than the file can hold")
                || err.contains("cannot fit in the")
                || err.contains("runs past the end")
        } else {
            err.contains("runs past the end of the file")
        };
        assert!(ok, "cut at {cut} of {}: {err}", full.len());
    }
    // One byte short of the end of the data.
    let err = open_err("trunc-end", &full[..data_start + 97]);
    assert!(err.contains("tensor 'b'"), "{err}");
}

#[test]
fn bad_magic_and_version() {
    let mut raw = valid();
    raw.magic = *b"GGML";
    expect_err("magic", &raw, "bad magic");
    for v in [0, 1, 4, u32::MAX] {
        let mut raw = valid();
        raw.version = v;
        expect_err("version", &raw, &format!("unsupported GGUF version {v}"));
    }
    let mut raw = valid();
    raw.version = 3u32.swap_bytes();
    expect_err(
        "big-endian",
        &raw,
        "big-endian GGUF (version 3 byte-swapped)",
    );
    let mut raw = valid();
    raw.version = 2;
    let path = temp_path("v2");
    std::fs::write(&path, raw.bytes()).unwrap();
    assert_eq!(Gguf::open(&path).unwrap().version, 2);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn huge_counts_and_lengths() {
    for n in [u64::MAX, 1 << 40, 1_000_000] {
        let mut raw = valid();
        raw.n_kv = Some(n);
        expect_err("kv-count", &raw, &format!("metadata count {n} is larger"));
        let mut raw = valid();
        raw.n_tensors = Some(n);
        expect_err("tensor-count", &raw, &format!("tensor count {n} is larger"));
    }
    let file_len = valid().bytes().len() as u64;
    for len in [u64::MAX, file_len + 1, 1 << 33] {
        // The first key's length field lies (the header is 24 bytes: magic, version, counts).
        let mut bytes = valid().header();
        bytes[24..32].copy_from_slice(&len.to_le_bytes());
        let err = open_err("key-len", &bytes);
        assert!(
            err.contains(&format!("metadata key #0: string length {len}")),
            "{err}"
        );

        let mut raw = valid();
        raw.kvs[0].val = len.to_le_bytes().to_vec();
        expect_err("str-len", &raw, &format!("string length {len}"));

        let mut raw = valid();
        let mut arr = T_U32.to_le_bytes().to_vec();
        arr.extend_from_slice(&len.to_le_bytes());
        raw.kvs[1].val = arr;
        expect_err(
            "arr-len",
            &raw,
            &format!("array of {len} elements cannot fit"),
        );

        // The first tensor name's length field lies: it sits right after the metadata.
        let mut raw = valid();
        raw.tis.clear();
        let at = raw.header().len();
        let mut bytes = valid().header();
        bytes[at..at + 8].copy_from_slice(&len.to_le_bytes());
        let err = open_err("name-len", &bytes);
        assert!(err.contains("tensor name #0: string length"), "{err}");
    }
    // An array of strings whose count fits the bytes left as u8 but not as strings.
    let mut raw = valid();
    let mut arr = T_STRING.to_le_bytes().to_vec();
    arr.extend_from_slice(&100u64.to_le_bytes());
    raw.kvs[1].val = arr;
    expect_err("str-arr-count", &raw, "array of 100 elements cannot fit");
}

#[test]
fn bad_values() {
    // Arrays nested 9 deep (the limit is 8), each of one element.
    let mut raw = valid();
    let mut v = Vec::new();
    for _ in 0..9 {
        v.extend_from_slice(&T_ARRAY.to_le_bytes());
        v.extend_from_slice(&1u64.to_le_bytes());
    }
    v.extend_from_slice(&T_U8.to_le_bytes());
    v.extend_from_slice(&1u64.to_le_bytes());
    v.push(7);
    raw.kvs[1].val = v;
    expect_err("nest", &raw, "arrays nested deeper than 8");

    let mut raw = valid();
    raw.kvs[0].ty = 13;
    expect_err(
        "type",
        &raw,
        "metadata key 'general.architecture': unknown value type 13",
    );
    let mut raw = valid();
    raw.kvs[0].ty = u32::MAX;
    expect_err("type-max", &raw, "unknown value type 4294967295");
    let mut raw = valid();
    raw.kvs[1].val[..4].copy_from_slice(&99u32.to_le_bytes());
    expect_err("elem-type", &raw, "unknown array element type 99");

    let mut raw = valid();
    raw.kvs.push(kv("x.bool", T_BOOL, vec![2]));
    expect_err("bool", &raw, "bool value 2 is neither 0 nor 1");
    let mut raw = valid();
    let mut arr = T_BOOL.to_le_bytes().to_vec();
    arr.extend_from_slice(&2u64.to_le_bytes());
    arr.extend_from_slice(&[1, 255]);
    raw.kvs.push(kv("x.bools", T_ARRAY, arr));
    expect_err("bool-arr", &raw, "bool value 255");

    let mut raw = valid();
    raw.kvs[0].key = b"general.\xffarch".to_vec();
    expect_err(
        "utf8-key",
        &raw,
        "metadata key #0: string at offset 32 is not valid UTF-8",
    );
    let mut raw = valid();
    raw.kvs[0].val = enc_str(b"lla\xc3\x28ma");
    expect_err(
        "utf8-val",
        &raw,
        "metadata key 'general.architecture': string at offset",
    );
    let mut raw = valid();
    raw.tis[1].name = b"b\xfe".to_vec();
    expect_err("utf8-name", &raw, "tensor name #1: string at offset");

    let mut raw = valid();
    raw.kvs
        .push(kv("x.arr", T_U64, 5u64.to_le_bytes().to_vec()));
    expect_err("dup-key", &raw, "metadata key 'x.arr' appears twice");

    for (tag, ty, val, needle) in [
        ("align0", T_U32, 0u32.to_le_bytes().to_vec(), "U32(0)"),
        ("align3", T_U32, 3u32.to_le_bytes().to_vec(), "U32(3)"),
        ("align-u64", T_U64, 32u64.to_le_bytes().to_vec(), "U64(32)"),
        ("align-str", T_STRING, enc_str(b"32"), "String(\"32\")"),
    ] {
        let mut raw = valid();
        raw.kvs[2].ty = ty;
        raw.kvs[2].val = val;
        let err = open_err(tag, &raw.bytes());
        assert!(
            err.contains("general.alignment must be a u32 power of two") && err.contains(needle),
            "{tag}: {err}"
        );
    }
}

type Tweak = dyn Fn(&mut Raw);

#[test]
fn bad_tensor_entries() {
    let cases: Vec<(&str, Box<Tweak>, String)> = vec![
        (
            "ndims0",
            Box::new(|r| {
                r.tis[0].n_dims = 0;
                r.tis[0].dims.clear();
            }),
            "tensor 'a': 0 dimensions (1 to 4 allowed)".into(),
        ),
        (
            "ndims5",
            Box::new(|r| {
                r.tis[0].n_dims = 5;
                r.tis[0].dims = vec![8, 2, 1, 1, 1];
            }),
            "tensor 'a': 5 dimensions".into(),
        ),
        (
            "ndims-max",
            Box::new(|r| r.tis[0].n_dims = u32::MAX),
            "tensor 'a': 4294967295 dimensions".into(),
        ),
        (
            "zero-dim",
            Box::new(|r| r.tis[0].dims = vec![8, 0]),
            "tensor 'a': a dimension is zero".into(),
        ),
        (
            "overflow",
            Box::new(|r| r.tis[0].dims = vec![1 << 32, 1 << 32]),
            "tensor 'a': dimensions [4294967296, 4294967296] overflow".into(),
        ),
        (
            "overflow4",
            Box::new(|r| {
                r.tis[0].n_dims = 4;
                r.tis[0].dims = vec![u64::MAX, 2, 1, 1];
            }),
            "overflow".into(),
        ),
        (
            "bytes-overflow",
            // 2^62 elements fit in an i64, but their 2^64 F32 bytes do not fit a u64.
            Box::new(|r| r.tis[0].dims = vec![1 << 31, 1 << 31]),
            "tensor 'a': byte size overflows".into(),
        ),
        (
            "type99",
            Box::new(|r| r.tis[1].ty = 99),
            "tensor 'b': unsupported or unknown ggml type id 99".into(),
        ),
        (
            "type4",
            Box::new(|r| r.tis[1].ty = 4),
            "tensor 'b': unsupported or unknown ggml type id 4".into(),
        ),
        (
            "block",
            Box::new(|r| r.tis[1].dims = vec![16, 2]),
            "tensor 'b': row length 16 is not a multiple of the".into(),
        ),
        (
            "misaligned",
            Box::new(|r| r.tis[1].offset = 65),
            "tensor 'b': data offset 65 is not a multiple of the alignment 32".into(),
        ),
        (
            "offset-past-end",
            Box::new(|r| r.tis[1].offset = 1 << 20),
            "tensor 'b': data (34 bytes at offset 1048576) runs past the end of the file".into(),
        ),
        (
            "offset-max",
            Box::new(|r| r.tis[1].offset = u64::MAX - 31),
            "tensor 'b': data (34 bytes at offset 18446744073709551584) runs past".into(),
        ),
        (
            "data-past-end",
            Box::new(|r| r.tis[1].offset = 96),
            "tensor 'b': data (34 bytes at offset 96) runs past the end".into(),
        ),
        (
            "overlap",
            Box::new(|r| r.tis[1].offset = 32),
            "tensor 'b': data at offset 32 overlaps tensor 'a'".into(),
        ),
        (
            "dup-name",
            Box::new(|r| r.tis[1].name = b"a".to_vec()),
            "tensor 'a' appears twice".into(),
        ),
    ];
    for (tag, tweak, needle) in cases {
        let mut raw = valid();
        tweak(&mut raw);
        expect_err(tag, &raw, &needle);
    }
}

/// xorshift64*, so failures reproduce from the printed iteration.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_mutations_never_panic() {
    let base = valid().bytes();
    let header_len = valid().header().len();
    let path = temp_path("fuzz");
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let (mut ok, mut err) = (0, 0);
    for i in 0..2000 {
        let mut b = base.clone();
        for _ in 0..1 + rng.below(4) {
            // Mostly hit the header, where the structure is.
            let pos = if rng.below(4) == 0 {
                rng.below(b.len())
            } else {
                rng.below(header_len.min(b.len()))
            };
            match rng.below(6) {
                0 => b[pos] ^= 1 << rng.below(8),
                1 => b[pos] = 0xFF,
                2 => b[pos] = 0,
                3 => b[pos] = rng.next() as u8,
                4 => b.truncate(pos),
                _ => {
                    let v = (rng.next() as u8) % 16;
                    b.insert(pos, v)
                }
            }
            if b.is_empty() {
                break;
            }
        }
        std::fs::write(&path, &b).unwrap();
        match Gguf::open(&path) {
            Ok(g) => {
                ok += 1;
                for t in g.tensors() {
                    let bytes = g.tensor_bytes(t);
                    assert_eq!(bytes.len() as u64, t.n_bytes, "iteration {i}");
                }
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().is_empty());
                common::assert_plain_message(&e.to_string());
            }
        }
        assert!(
            LARGEST.load(Ordering::Relaxed) < ALLOC_LIMIT,
            "iteration {i}: allocated {} bytes at once",
            LARGEST.load(Ordering::Relaxed)
        );
    }
    let _ = std::fs::remove_file(&path);
    eprintln!(
        "2000 mutations: {ok} opened, {err} rejected; largest allocation {} bytes",
        LARGEST.load(Ordering::Relaxed)
    );
    assert!(err > 500, "mutations should mostly break the file");
}
