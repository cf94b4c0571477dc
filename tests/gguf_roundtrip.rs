//! GGUF round trips: every value type and several tensor types/alignments written by `GgufWriter`
//! read back identically by `Gguf::open`; every shared fixture re-read, rewritten and re-read.
use brisk::format::gguf::{Gguf, GgufWriter, Value, ValueType};
use brisk_kernels::QuantType;
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brisk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Equality that compares floats by bits (NaN == NaN, -0 != +0), recursing into arrays.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(ta, xa), Value::Array(tb, xb)) => {
            ta == tb && xa.len() == xb.len() && xa.iter().zip(xb).all(|(x, y)| same(x, y))
        }
        _ => a == b,
    }
}

fn assert_same_metadata(a: &[(String, Value)], b: &[(String, Value)], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: metadata count");
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        assert_eq!(ka, kb, "{what}: key order");
        assert!(same(va, vb), "{what}: value of '{ka}': {va:?} != {vb:?}");
    }
}

fn all_value_types() -> Vec<(String, Value)> {
    let v = vec![
        ("t.u8", Value::U8(255)),
        ("t.i8", Value::I8(-128)),
        ("t.u16", Value::U16(65535)),
        ("t.i16", Value::I16(-32768)),
        ("t.u32", Value::U32(u32::MAX)),
        ("t.i32", Value::I32(i32::MIN)),
        ("t.f32", Value::F32(-1.5e-7)),
        ("t.f32_nan", Value::F32(f32::NAN)),
        ("t.bool_t", Value::Bool(true)),
        ("t.bool_f", Value::Bool(false)),
        ("t.string", Value::String("héllo ✓ \u{0}tail".into())),
        ("t.string_empty", Value::String(String::new())),
        ("t.u64", Value::U64(u64::MAX)),
        ("t.i64", Value::I64(i64::MIN)),
        ("t.f64", Value::F64(std::f64::consts::PI)),
        ("t.f64_negzero", Value::F64(-0.0)),
        (
            "t.arr_u8",
            Value::Array(ValueType::U8, vec![Value::U8(1), Value::U8(2)]),
        ),
        (
            "t.arr_i32",
            Value::Array(ValueType::I32, vec![Value::I32(-1), Value::I32(7)]),
        ),
        (
            "t.arr_f32",
            Value::Array(ValueType::F32, vec![Value::F32(0.25), Value::F32(-3.0)]),
        ),
        (
            "t.arr_bool",
            Value::Array(ValueType::Bool, vec![Value::Bool(true), Value::Bool(false)]),
        ),
        ("t.arr_str", Value::string_array(["a", "", "b c", "ü"])),
        (
            "t.arr_u64",
            Value::Array(ValueType::U64, vec![Value::U64(u64::MAX)]),
        ),
        (
            "t.arr_i64",
            Value::Array(ValueType::I64, vec![Value::I64(-5)]),
        ),
        (
            "t.arr_f64",
            Value::Array(ValueType::F64, vec![Value::F64(1e300)]),
        ),
        (
            "t.arr_u16_i16_i8",
            Value::Array(
                ValueType::Array,
                vec![
                    Value::Array(ValueType::U16, vec![Value::U16(9)]),
                    Value::Array(ValueType::I16, vec![Value::I16(-9)]),
                    Value::Array(ValueType::I8, vec![Value::I8(-1)]),
                    Value::Array(ValueType::U32, vec![]),
                ],
            ),
        ),
        ("t.arr_empty_u32", Value::Array(ValueType::U32, vec![])),
        ("t.arr_empty_str", Value::Array(ValueType::String, vec![])),
        ("t.arr_empty_arr", Value::Array(ValueType::Array, vec![])),
        (
            "t.arr_nested3",
            Value::Array(
                ValueType::Array,
                vec![Value::Array(
                    ValueType::Array,
                    vec![Value::string_array(["deep"]), Value::string_array([""; 0])],
                )],
            ),
        ),
    ];
    v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// (name, dims, type) of tensors whose sizes are deliberately not multiples of the alignment.
fn test_tensors() -> Vec<(&'static str, Vec<u64>, QuantType)> {
    vec![
        ("a.f32", vec![3], QuantType::F32),
        ("b.f16", vec![5, 3], QuantType::F16),
        ("c.bf16", vec![7, 1, 2], QuantType::BF16),
        ("d.q4_0", vec![64, 3], QuantType::Q4_0),
        ("e.q8_0", vec![32, 1, 1, 2], QuantType::Q8_0),
        ("f.q4_k", vec![256, 2], QuantType::Q4_K),
        ("g.q6_k", vec![512], QuantType::Q6_K),
        ("h.f32", vec![1], QuantType::F32),
    ]
}

fn roundtrip(alignment: Option<u32>) {
    let dir = temp_dir(&format!("rt-{alignment:?}"));
    let mut w = GgufWriter::new();
    w.set("general.architecture", Value::String("llama".into()));
    if let Some(a) = alignment {
        w.set("general.alignment", Value::U32(a));
    }
    for (k, v) in all_value_types() {
        w.set(&k, v);
    }
    assert_eq!(w.error(), None);
    let mut expect = Vec::new();
    for (i, (name, dims, ty)) in test_tensors().into_iter().enumerate() {
        let n = brisk::format::gguf::tensor_byte_size(name, &dims, ty).unwrap() as usize;
        let data = bytes(n, i as u64 + 1);
        w.add_tensor(name, &dims, ty, data.clone()).unwrap();
        expect.push((name, dims, ty, data));
    }
    let path = dir.join("rt.gguf");
    w.write(&path).unwrap();

    let g = Gguf::open(&path).unwrap();
    let align = alignment.unwrap_or(32) as u64;
    assert_eq!(g.version, 3);
    assert_eq!(g.alignment, align);
    assert_same_metadata(g.metadata(), w.metadata(), "round trip");
    assert_eq!(g.tensors().len(), expect.len());
    for (t, (name, dims, ty, data)) in g.tensors().iter().zip(&expect) {
        assert_eq!(&t.name, name);
        assert_eq!(&t.dims, dims);
        assert_eq!(t.ty, *ty);
        assert_eq!(t.offset % align, 0, "{name} aligned");
        assert_eq!(g.tensor_bytes(t).as_bytes(), &data[..], "{name} bytes");
        let view = g.tensor_view(t);
        assert_eq!(view.bytes.as_bytes(), &data[..]);
    }
    assert_eq!(std::fs::metadata(&path).unwrap().len() % align, 0);
    // Writing what was read gives the same bytes.
    let mut w2 = GgufWriter::new();
    for (k, v) in g.metadata() {
        w2.set(k, v.clone());
    }
    for t in g.tensors() {
        w2.add_tensor(
            &t.name,
            &t.dims,
            t.ty,
            g.tensor_bytes(t).as_bytes().to_vec(),
        )
        .unwrap();
    }
    assert_eq!(w2.to_bytes(), std::fs::read(&path).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn roundtrip_default_alignment() {
    roundtrip(None);
}

#[test]
fn roundtrip_alignment_64() {
    roundtrip(Some(64));
}

#[test]
fn roundtrip_alignment_1_and_4096() {
    roundtrip(Some(1));
    roundtrip(Some(4096));
}

#[test]
fn empty_file_roundtrip() {
    let dir = temp_dir("rt-empty");
    let path = dir.join("empty.gguf");
    GgufWriter::new().write(&path).unwrap();
    let g = Gguf::open(&path).unwrap();
    assert!(g.metadata().is_empty());
    assert!(g.tensors().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn writer_refuses_what_it_cannot_write() {
    let mut w = GgufWriter::new();
    let mixed = Value::Array(ValueType::U32, vec![Value::U32(1), Value::I32(2)]);
    let err = w.try_set("bad.array", mixed.clone()).err().unwrap();
    assert!(err.contains("array element 1"), "{err}");
    let nested = Value::Array(ValueType::Array, vec![mixed]);
    assert!(w.try_set("bad.nested", nested).is_err());
    for bad in [Value::U32(0), Value::U32(3), Value::U64(32)] {
        let err = w.try_set("general.alignment", bad).err().unwrap();
        assert!(err.contains("general.alignment"), "{err}");
    }
    assert!(w.metadata().is_empty());
    w.set("general.alignment", Value::U32(48));
    assert!(w.error().unwrap().contains("general.alignment"));
    let dir = temp_dir("rt-refuse");
    let path = dir.join("x.gguf");
    let err = w.write(&path).unwrap_err().to_string();
    assert!(err.contains("general.alignment"), "{err}");
    assert!(!path.exists());

    let mut w = GgufWriter::new();
    let err = w
        .add_tensor("t", &[], QuantType::F32, vec![])
        .err()
        .unwrap();
    assert!(err.contains("0 dimensions"), "{err}");
    let err = w
        .add_tensor("t", &[1, 1, 1, 1, 1], QuantType::F32, vec![0; 4])
        .err()
        .unwrap();
    assert!(err.contains("5 dimensions"), "{err}");
    let err = w
        .add_tensor("t", &[4], QuantType::F32, vec![0; 15])
        .err()
        .unwrap();
    assert!(err.contains("15 bytes given"), "{err}");
    let err = w
        .add_tensor("t", &[16], QuantType::Q4_0, vec![0; 9])
        .err()
        .unwrap();
    assert!(err.contains("not a multiple"), "{err}");
    w.add_tensor("t", &[1], QuantType::F32, vec![0; 4]).unwrap();
    let err = w
        .add_tensor("t", &[1], QuantType::F32, vec![0; 4])
        .err()
        .unwrap();
    assert!(err.contains("added twice"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

fn gguf_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "gguf"));
    v.sort();
    v
}

/// True when the file is laid out exactly as `GgufWriter` (and ggml's own writer) lays it out:
/// version 3, tensors packed in directory order each padded to the alignment, file padded.
fn standard_layout(g: &Gguf, file_len: u64) -> bool {
    let align = g.alignment;
    let mut offset = 0u64;
    for t in g.tensors() {
        if t.offset != offset {
            return false;
        }
        offset = (offset + t.n_bytes).div_ceil(align) * align;
    }
    let data_start = match g.tensors().first() {
        Some(t) => {
            let b = g.tensor_bytes(t);
            match b {
                brisk::format::TensorBytes::Mapped { range, .. } => range.start as u64,
                _ => return false,
            }
        }
        None => return false,
    };
    g.version == 3 && data_start + offset == file_len
}

#[test]
fn fixtures_rewrite_identically() {
    let Some(shared) = shared_dir() else { return };
    let mut files = gguf_files(&shared.join("fixtures/models"));
    files.extend(gguf_files(&shared.join("fixtures/tokenizers/gguf")));
    if files.is_empty() {
        eprintln!("skipping: no fixture GGUF files under {}", shared.display());
        return;
    }
    let dir = temp_dir("rt-fixtures");
    let (mut identical, mut standard) = (0, 0);
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let g = Gguf::open(file).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut w = GgufWriter::new();
        for (k, v) in g.metadata() {
            w.try_set(k, v.clone())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for t in g.tensors() {
            w.add_tensor(
                &t.name,
                &t.dims,
                t.ty,
                g.tensor_bytes(t).as_bytes().to_vec(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let out = dir.join(&name);
        w.write(&out).unwrap();
        let r = Gguf::open(&out).unwrap_or_else(|e| panic!("{name} rewritten: {e}"));
        assert_same_metadata(r.metadata(), g.metadata(), &name);
        assert_eq!(r.alignment, g.alignment, "{name}");
        assert_eq!(r.tensors().len(), g.tensors().len(), "{name}");
        for (a, b) in r.tensors().iter().zip(g.tensors()) {
            assert_eq!((&a.name, &a.dims, a.ty), (&b.name, &b.dims, b.ty), "{name}");
            assert!(
                r.tensor_bytes(a).as_bytes() == g.tensor_bytes(b).as_bytes(),
                "{name}: tensor {} bytes differ",
                a.name
            );
        }
        let original = std::fs::read(file).unwrap();
        let rewritten = std::fs::read(&out).unwrap();
        let same_bytes = original == rewritten;
        if standard_layout(&g, original.len() as u64) {
            standard += 1;
            assert!(
                same_bytes,
                "{name}: standard layout but rewritten bytes differ"
            );
        }
        if g.tensors().is_empty() && g.version == 3 {
            // gguf-py leaves a tensor-less file unpadded; ggml (and brisk) pad the header.
            let (head, pad) = rewritten.split_at(original.len().min(rewritten.len()));
            assert!(
                head == &original[..] && pad.iter().all(|&b| b == 0),
                "{name}: rewritten vocab file is not the original plus padding"
            );
        }
        identical += same_bytes as usize;
        eprintln!(
            "{name}: v{} align {} {} tensors, rewritten byte-identical: {same_bytes}",
            g.version,
            g.alignment,
            g.tensors().len()
        );
        let _ = std::fs::remove_file(&out);
    }
    eprintln!(
        "{} files, {standard} with standard layout, {identical} byte-identical",
        files.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
