//! Split GGUF models (`name-00001-of-00003.gguf` …) laid out as llama.cpp's `gguf-split` writes
//! them: all metadata plus `split.no`/`split.count` (u16) and `split.tensors.count` (i32) in the
//! first part, only those three keys in the others. Opening any part yields the whole model.
use brisk::format::gguf::{Gguf, GgufWriter, Value};
use brisk_kernels::QuantType;
use std::path::{Path, PathBuf};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brisk-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Tensor {
    name: String,
    dims: Vec<u64>,
    ty: QuantType,
    data: Vec<u8>,
}

fn model() -> (Vec<(String, Value)>, Vec<Tensor>) {
    let meta = vec![
        (
            "general.architecture".to_string(),
            Value::String("llama".into()),
        ),
        ("llama.block_count".to_string(), Value::U32(2)),
        (
            "tokenizer.ggml.tokens".to_string(),
            Value::string_array(["a", "b"]),
        ),
    ];
    let mut tensors = Vec::new();
    let shapes: [(&str, &[u64], QuantType); 7] = [
        ("token_embd.weight", &[32, 2], QuantType::F16),
        ("blk.0.attn_norm.weight", &[32], QuantType::F32),
        ("blk.0.attn_q.weight", &[32, 32], QuantType::Q8_0),
        ("blk.1.attn_norm.weight", &[32], QuantType::F32),
        ("blk.1.attn_q.weight", &[32, 32], QuantType::Q4_0),
        ("output_norm.weight", &[32], QuantType::F32),
        ("output.weight", &[32, 2], QuantType::BF16),
    ];
    for (i, (name, dims, ty)) in shapes.into_iter().enumerate() {
        let n = brisk::format::gguf::tensor_byte_size(name, dims, ty).unwrap() as usize;
        tensors.push(Tensor {
            name: name.into(),
            dims: dims.to_vec(),
            ty,
            data: (0..n).map(|j| (j * 7 + i * 13) as u8).collect(),
        });
    }
    (meta, tensors)
}

/// Write `tensors` in order over `sizes.len()` parts, `sizes[i]` of them in part i.
/// `tweak(part, writer)` may corrupt a part before it is written.
fn write_split(
    dir: &Path,
    meta: &[(String, Value)],
    tensors: &[Tensor],
    sizes: &[usize],
    tweak: impl Fn(usize, &mut GgufWriter),
) -> Vec<PathBuf> {
    let n = sizes.len();
    let mut paths = Vec::new();
    let mut next = 0;
    for (part, &size) in sizes.iter().enumerate() {
        let mut w = GgufWriter::new();
        if part == 0 {
            for (k, v) in meta {
                w.set(k, v.clone());
            }
        }
        w.set("split.no", Value::U16(part as u16));
        w.set("split.count", Value::U16(n as u16));
        w.set("split.tensors.count", Value::I32(tensors.len() as i32));
        for t in &tensors[next..next + size] {
            w.add_tensor(&t.name, &t.dims, t.ty, t.data.clone())
                .unwrap();
        }
        next += size;
        tweak(part, &mut w);
        let path = dir.join(format!("model-{:05}-of-{n:05}.gguf", part + 1));
        w.write(&path).unwrap();
        paths.push(path);
    }
    paths
}

#[test]
fn any_part_opens_the_whole_model() {
    let dir = temp_dir("split-ok");
    let (meta, tensors) = model();
    let paths = write_split(&dir, &meta, &tensors, &[3, 2, 2], |_, _| {});
    for p in &paths {
        let g = Gguf::open(p).unwrap();
        assert_eq!(g.split_count(), 3);
        for (k, v) in &meta {
            assert_eq!(g.get(k), Some(v), "{k}");
        }
        assert_eq!(g.get_u64("split.no"), Some(0));
        assert_eq!(g.get_u64("split.count"), Some(3));
        assert_eq!(g.get_u64("split.tensors.count"), Some(7));
        assert_eq!(g.tensors().len(), tensors.len());
        for (info, t) in g.tensors().iter().zip(&tensors) {
            assert_eq!(info.name, t.name);
            assert_eq!(info.dims, t.dims);
            assert_eq!(info.ty, t.ty);
            assert_eq!(g.tensor_bytes(info).as_bytes(), &t.data[..], "{}", t.name);
        }
        let split_of: Vec<usize> = g.tensors().iter().map(|t| t.split).collect();
        assert_eq!(split_of, [0, 0, 0, 1, 1, 2, 2]);
        let views = g.tensor_views();
        assert_eq!(views[6].name, "output.weight");
        assert_eq!(views[6].bytes.as_bytes(), &tensors[6].data[..]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_part_without_tensors_is_allowed() {
    // gguf-split --no-tensor-first-split: the first part holds metadata only.
    let dir = temp_dir("split-empty-first");
    let (meta, tensors) = model();
    let paths = write_split(&dir, &meta, &tensors, &[0, 4, 3], |_, _| {});
    let g = Gguf::open(&paths[2]).unwrap();
    assert_eq!(g.tensors().len(), 7);
    assert_eq!(g.tensors()[0].split, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn open_err(paths: &[PathBuf]) -> String {
    match Gguf::open(&paths[0]) {
        Ok(_) => panic!("opened a broken split model"),
        Err(e) => e.to_string(),
    }
}

/// Corrupts part `usize` before it is written.
type Tweak = dyn Fn(usize, &mut GgufWriter);

#[test]
fn broken_split_models_are_rejected() {
    let (meta, tensors) = model();
    let cases: Vec<(&str, Box<Tweak>, &str)> = vec![
        (
            "wrong-no",
            Box::new(|p, w: &mut GgufWriter| {
                if p == 2 {
                    w.set("split.no", Value::U16(1));
                }
            }),
            "split.no is 1, expected 2",
        ),
        (
            "first-no",
            Box::new(|p, w: &mut GgufWriter| {
                if p == 0 {
                    w.set("split.no", Value::U16(1));
                }
            }),
            "expected 0 in the first part",
        ),
        (
            "wrong-count",
            Box::new(|p, w: &mut GgufWriter| {
                if p == 0 {
                    w.set("split.count", Value::U16(2));
                }
            }),
            "split.count is 2 but the file name says 3 parts",
        ),
        (
            "wrong-count-later",
            Box::new(|p, w: &mut GgufWriter| {
                if p == 1 {
                    w.set("split.count", Value::U16(4));
                }
            }),
            "split.count is 4",
        ),
        (
            "tensor-count",
            Box::new(|p, w: &mut GgufWriter| {
                if p == 0 {
                    w.set("split.tensors.count", Value::I32(8));
                }
            }),
            "split.tensors.count is 8 but the parts hold 7 tensors",
        ),
        (
            "duplicate",
            Box::new(|p, w: &mut GgufWriter| {
                if p == 2 {
                    w.add_tensor("token_embd.weight", &[1], QuantType::F32, vec![0; 4])
                        .unwrap();
                }
            }),
            "tensor 'token_embd.weight' appears in two split files",
        ),
    ];
    for (tag, tweak, expect) in cases {
        let dir = temp_dir(&format!("split-{tag}"));
        let paths = write_split(&dir, &meta, &tensors, &[3, 2, 2], tweak);
        let err = open_err(&paths);
        assert!(err.contains(expect), "{tag}: {err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    // A missing part is an I/O error naming that part.
    let dir = temp_dir("split-missing");
    let paths = write_split(&dir, &meta, &tensors, &[3, 2, 2], |_, _| {});
    std::fs::remove_file(&paths[1]).unwrap();
    let err = open_err(&paths);
    assert!(err.contains("model-00002-of-00003.gguf"), "{err}");
    assert!(
        err.contains("part 2 of the 3-part split model is missing"),
        "{err}"
    );
    // Opened from a later part, the parts are still found by their names.
    let again = write_split(
        &temp_dir("split-later"),
        &meta,
        &tensors,
        &[3, 2, 2],
        |_, _| {},
    );
    assert_eq!(Gguf::open(&again[2]).unwrap().tensors().len(), 7);
    // One part renamed so its name no longer says it is split.
    let lone = dir.join("lone.gguf");
    std::fs::rename(&paths[0], &lone).unwrap();
    let err = Gguf::open(&lone).err().unwrap().to_string();
    assert!(err.contains("one part of a 3-part split model"), "{err}");
    assert!(!err.contains("Some(") && !err.contains("None"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
