//! GPTQ and AWQ checkpoints load in brisk as the model they quantize: architecture fixtures are
//! written as HF checkpoints, their linear layers rounded to 4 bits (groups of 32…128, one with
//! act-order `g_idx`) and packed the way AutoGPTQ (`gptq` v1, zero − 1) and AutoAWQ (GEMM, the
//! 0 2 4 6 1 3 5 7 order) pack them; brisk's logits on the packed directory must match its
//! logits on a float checkpoint holding the same rounded weights `scale · (q − zero)`. The
//! packing itself is checked by `scripts/gptq_awq_dequant.py`, numpy written from the formats'
//! own dequantizers, when python3 and numpy are here.
mod common;

use brisk::generate::Session;
use brisk::model::{loader, Logits};
use common::arch_checkpoint::{convert, f32s};
use common::hf_checkpoint::{write_safetensors, Tensor};
use std::path::{Path, PathBuf};

/// One stored tensor: name, dtype, shape, bytes.
type Raw = (String, &'static str, Vec<u64>, Vec<u8>);

fn read_f32_safetensors(path: &Path) -> Vec<Tensor> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let mut out = Vec::new();
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        assert_eq!(info["dtype"], "F32", "{name}");
        let shape: Vec<u64> = serde_json::from_value(info["shape"].clone()).unwrap();
        let [a, b]: [usize; 2] = serde_json::from_value(info["data_offsets"].clone()).unwrap();
        out.push((name, shape, f32s(&bytes[8 + n + a..8 + n + b])));
    }
    out
}

fn write_raw_safetensors(path: &Path, tensors: &[Raw]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let start = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut h = serde_json::to_vec(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    std::fs::write(path, out).unwrap();
}

/// A layer rounded to 4 bits: levels `q[j][i]`, and per row and group a scale (f16-exact)
/// and an integer zero, as GPTQ's quantizer chooses them (min/max of the group, 0 included).
struct Rounded {
    rows: usize,
    cols: usize,
    groups: usize,
    group_of: Vec<usize>,
    q: Vec<u8>,
    scale: Vec<f32>,
    zero: Vec<u8>,
}

fn round_layer(w: &[f32], rows: usize, cols: usize, group: usize, act_order: bool) -> Rounded {
    let groups = cols / group;
    let group_of: Vec<usize> = (0..cols)
        .map(|i| match act_order {
            true => (i * 7 % cols) / group,
            false => i / group,
        })
        .collect();
    let mut r = Rounded {
        rows,
        cols,
        groups,
        group_of,
        q: vec![0; rows * cols],
        scale: vec![0.0; rows * groups],
        zero: vec![0; rows * groups],
    };
    for j in 0..rows {
        for g in 0..groups {
            let vals = (0..cols)
                .filter(|&i| r.group_of[i] == g)
                .map(|i| w[j * cols + i]);
            let (lo, hi) = vals.fold((0.0f32, 0.0f32), |(a, b), x| (a.min(x), b.max(x)));
            let s = half::f16::from_f32(((hi - lo) / 15.0).max(1e-6)).to_f32();
            r.scale[j * groups + g] = s;
            r.zero[j * groups + g] = (-lo / s).round().clamp(0.0, 15.0) as u8;
        }
        for i in 0..cols {
            let k = j * groups + r.group_of[i];
            let q = (w[j * cols + i] / r.scale[k]).round() + r.zero[k] as f32;
            r.q[j * cols + i] = q.clamp(0.0, 15.0) as u8;
        }
    }
    r
}

impl Rounded {
    fn weights(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.rows * self.cols];
        for j in 0..self.rows {
            for i in 0..self.cols {
                let k = j * self.groups + self.group_of[i];
                out[j * self.cols + i] =
                    self.scale[k] * (self.q[j * self.cols + i] as f32 - self.zero[k] as f32);
            }
        }
        out
    }

    fn scales_f16(&self) -> Vec<u8> {
        // [groups, rows]
        let mut out = Vec::new();
        for g in 0..self.groups {
            for j in 0..self.rows {
                out.extend(half::f16::from_f32(self.scale[j * self.groups + g]).to_le_bytes());
            }
        }
        out
    }
}

fn i32_bytes(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// AutoGPTQ's `pack`: qweight[i / 8][j] holds q[j][i] at bits 4·(i % 8); qzeros[g][j / 8]
/// holds zero − 1 at bits 4·(j % 8); g_idx[i] the group of input i.
fn pack_gptq(base: &str, r: &Rounded, with_g_idx: bool) -> Vec<Raw> {
    let mut qweight = vec![0u32; r.cols / 8 * r.rows];
    for j in 0..r.rows {
        for i in 0..r.cols {
            qweight[(i / 8) * r.rows + j] |= u32::from(r.q[j * r.cols + i]) << (4 * (i % 8));
        }
    }
    let mut qzeros = vec![0u32; r.groups * r.rows / 8];
    for g in 0..r.groups {
        for j in 0..r.rows {
            let z = u32::from(r.zero[j * r.groups + g]).wrapping_sub(1) & 15;
            qzeros[g * r.rows / 8 + j / 8] |= z << (4 * (j % 8));
        }
    }
    let (rows, cols, groups) = (r.rows as u64, r.cols as u64, r.groups as u64);
    let mut out = vec![
        (
            format!("{base}.qweight"),
            "I32",
            vec![cols / 8, rows],
            i32_bytes(&qweight),
        ),
        (
            format!("{base}.qzeros"),
            "I32",
            vec![groups, rows / 8],
            i32_bytes(&qzeros),
        ),
        (
            format!("{base}.scales"),
            "F16",
            vec![groups, rows],
            r.scales_f16(),
        ),
    ];
    if with_g_idx {
        let g: Vec<u32> = r.group_of.iter().map(|&g| g as u32).collect();
        out.push((format!("{base}.g_idx"), "I32", vec![cols], i32_bytes(&g)));
    }
    out
}

/// AutoAWQ's GEMM `pack`: qweight[i][c] holds q[8c + ORDER[k]][i] at bits 4k, the same for
/// qzeros[g][c], with ORDER = 0 2 4 6 1 3 5 7 (`order` replaces it in the negative check).
fn pack_awq(base: &str, r: &Rounded, order: [usize; 8]) -> Vec<Raw> {
    let packs = r.rows / 8;
    let mut qweight = vec![0u32; r.cols * packs];
    for i in 0..r.cols {
        for c in 0..packs {
            for (k, &o) in order.iter().enumerate() {
                qweight[i * packs + c] |= u32::from(r.q[(8 * c + o) * r.cols + i]) << (4 * k);
            }
        }
    }
    let mut qzeros = vec![0u32; r.groups * packs];
    for g in 0..r.groups {
        for c in 0..packs {
            for (k, &o) in order.iter().enumerate() {
                qzeros[g * packs + c] |= u32::from(r.zero[(8 * c + o) * r.groups + g]) << (4 * k);
            }
        }
    }
    let (rows, cols, groups) = (r.rows as u64, r.cols as u64, r.groups as u64);
    vec![
        (
            format!("{base}.qweight"),
            "I32",
            vec![cols, rows / 8],
            i32_bytes(&qweight),
        ),
        (
            format!("{base}.qzeros"),
            "I32",
            vec![groups, rows / 8],
            i32_bytes(&qzeros),
        ),
        (
            format!("{base}.scales"),
            "F16",
            vec![groups, rows],
            r.scales_f16(),
        ),
    ]
}

const AWQ_ORDER: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];

#[derive(Clone, Copy)]
enum Packing {
    Gptq { act_order: bool },
    Awq { order: [usize; 8] },
}

fn quantized_linear(name: &str) -> bool {
    name.ends_with("_proj.weight")
        || [".w1.weight", ".w2.weight", ".w3.weight"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// The fixture `fixture` as two checkpoints: `packed` (its linear layers packed) and `float`
/// (the same rounded weights as F32).
fn write_pair(fixture: &str, root: &Path, packing: Packing, group: usize) -> (PathBuf, PathBuf) {
    let hf = root.join("hf");
    assert!(convert(
        &common::arch_fixtures().join(format!("{fixture}.gguf")),
        &hf
    ));
    let (packed, float) = (root.join("packed"), root.join("float"));
    let mut raw = Vec::new();
    let mut floats = Vec::new();
    for (name, shape, v) in read_f32_safetensors(&hf.join("model.safetensors")) {
        if shape.len() != 2 || !quantized_linear(&name) {
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            raw.push((name.clone(), "F32", shape.clone(), bytes));
            floats.push((name, shape, v));
            continue;
        }
        let (rows, cols) = (shape[0] as usize, shape[1] as usize);
        let g = group.min(cols);
        let act = matches!(packing, Packing::Gptq { act_order: true });
        let r = round_layer(&v, rows, cols, g, act);
        let base = name.strip_suffix(".weight").unwrap();
        raw.extend(match packing {
            Packing::Gptq { act_order } => pack_gptq(base, &r, act_order || g == 64),
            Packing::Awq { order } => pack_awq(base, &r, order),
        });
        floats.push((name, shape, r.weights()));
    }
    let quant = match packing {
        Packing::Gptq { act_order } => serde_json::json!({"quant_method": "gptq", "bits": 4,
            "group_size": group, "desc_act": act_order, "sym": false, "checkpoint_format": "gptq"}),
        Packing::Awq { .. } => serde_json::json!({"quant_method": "awq", "bits": 4,
            "group_size": group, "zero_point": true, "version": "gemm"}),
    };
    for (dir, quantized) in [(&packed, true), (&float, false)] {
        std::fs::create_dir_all(dir).unwrap();
        for e in std::fs::read_dir(&hf).unwrap().flatten() {
            let n = e.file_name();
            if n != "model.safetensors" && n != "config.json" {
                std::fs::copy(e.path(), dir.join(&n)).unwrap();
            }
        }
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(hf.join("config.json")).unwrap())
                .unwrap();
        if quantized {
            config["quantization_config"] = quant.clone();
            write_raw_safetensors(&dir.join("model.safetensors"), &raw);
        } else {
            write_safetensors(&dir.join("model.safetensors"), &floats);
        }
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    }
    (packed, float)
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("brisk-gptq-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The largest |Δlogit| between two checkpoints over a prompt, and the logits' scale.
fn logit_gap(a: &Path, b: &Path) -> (f32, f32) {
    let a = loader::load(a, 1).unwrap_or_else(|e| panic!("{}: {e}", a.display()));
    let b = loader::load(b, 1).unwrap_or_else(|e| panic!("{}: {e}", b.display()));
    let toks = a.tokenizer.encode("Once upon a time there was", true, true);
    let la = Session::new(&a.model, 64).eval(&toks, Logits::All).unwrap();
    let lb = Session::new(&b.model, 64).eval(&toks, Logits::All).unwrap();
    let scale = la.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let worst = la
        .iter()
        .zip(&lb)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    (worst, scale)
}

/// Packed and float checkpoints give the same logits, within rounding: the f16 rounding of each
/// group's `−scale · zero` (or of F16 weights for act-order layers), and above all the Q8_1
/// rounding of the activations a Q4_1 matmul multiplies (about 0.5% of the logits' scale here;
/// a misread packing is off by several times that, see `a_wrong_packing_order_is_caught`).
fn check(fixture: &str, packing: Packing, group: usize, tag: &str) -> (f32, f32) {
    let root = temp(tag);
    let (packed, float) = write_pair(fixture, &root, packing, group);
    let gap = logit_gap(&packed, &float);
    numpy_check(&packed, &float);
    let _ = std::fs::remove_dir_all(&root);
    gap
}

/// `scripts/gptq_awq_dequant.py` dequantizes the packed checkpoint with numpy as AutoGPTQ and
/// AutoAWQ do; its weights must be exactly the float checkpoint's.
fn numpy_check(packed: &Path, float: &Path) {
    if let Some((ok, report)) = numpy_dequant(packed, float) {
        assert!(ok, "numpy dequantizer: {report}");
    }
}

/// Runs the numpy dequantizer: `None` without python3 + numpy, else (passed, its output).
fn numpy_dequant(packed: &Path, float: &Path) -> Option<(bool, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/gptq_awq_dequant.py");
    let has_numpy = std::process::Command::new("python3")
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_numpy {
        eprintln!(
            "SKIP: python3 with numpy is absent; the independent numpy dequantizer did not run"
        );
        return None;
    }
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(packed)
        .arg(float.join("model.safetensors"))
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), report))
}

#[test]
fn gptq_checkpoints_load_as_the_weights_they_pack() {
    for (fixture, group) in [
        ("rand-llama3", 32),
        ("rand-qwen3", 64),
        ("rand-mixtral", 32),
    ] {
        let (worst, scale) = check(fixture, Packing::Gptq { act_order: false }, group, fixture);
        assert!(
            worst <= 1e-2 * scale.max(1.0),
            "{fixture}: |Δlogit| {worst} of {scale}"
        );
    }
}

/// `brisk convert` turns a GPTQ checkpoint into a GGUF (its layers as Q4_1, Llama's Q/K rows
/// permuted) that runs as the checkpoint does.
#[test]
fn a_gptq_checkpoint_converts_to_gguf() {
    let root = temp("convert");
    let (packed, _) = write_pair("rand-llama3", &root, Packing::Gptq { act_order: false }, 32);
    let gguf = root.join("out.gguf");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args([
            "convert",
            packed.to_str().unwrap(),
            gguf.to_str().unwrap(),
            "--outtype",
            "auto",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g = brisk::format::gguf::Gguf::open(&gguf).unwrap();
    let q = g
        .tensors()
        .iter()
        .find(|t| t.name == "blk.0.attn_q.weight")
        .unwrap();
    assert_eq!(q.ty, brisk_kernels::QuantType::Q4_1);
    let (worst, scale) = logit_gap(&packed, &gguf);
    assert!(
        worst <= 1e-4 * scale.max(1.0),
        "|Δlogit| {worst} of {scale}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn act_order_gptq_loads_through_f16() {
    let (worst, scale) = check("rand-llama3", Packing::Gptq { act_order: true }, 32, "act");
    assert!(
        worst <= 1e-2 * scale.max(1.0),
        "|Δlogit| {worst} of {scale}"
    );
}

#[test]
fn awq_checkpoints_load_as_the_weights_they_pack() {
    for (fixture, group) in [("rand-llama3", 32), ("rand-qwen3", 64)] {
        let tag = format!("awq-{fixture}");
        let (worst, scale) = check(fixture, Packing::Awq { order: AWQ_ORDER }, group, &tag);
        assert!(
            worst <= 1e-2 * scale.max(1.0),
            "{fixture}: |Δlogit| {worst} of {scale}"
        );
    }
}

/// The check can fail: AWQ packed in plain order is read as other weights.
#[test]
fn a_wrong_packing_order_is_caught() {
    let root = temp("wrong");
    let order = [0, 1, 2, 3, 4, 5, 6, 7];
    let (packed, float) = write_pair("rand-llama3", &root, Packing::Awq { order }, 32);
    let (worst, scale) = logit_gap(&packed, &float);
    assert!(worst > 5e-2 * scale.max(1.0), "|Δlogit| {worst} of {scale}");
    if let Some((ok, report)) = numpy_dequant(&packed, &float) {
        assert!(
            !ok && report.contains("differs"),
            "numpy accepted it: {report}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn unsupported_quantization_configs_are_one_line() {
    let root = temp("bad");
    let (packed, _) = write_pair("rand-llama3", &root, Packing::Gptq { act_order: false }, 32);
    let config_path = packed.join("config.json");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    for (edit, says) in [
        (
            serde_json::json!({"quant_method": "gptq", "bits": 8, "group_size": 32}),
            "8-bit",
        ),
        (
            serde_json::json!({"quant_method": "bitsandbytes"}),
            "bitsandbytes",
        ),
        (
            serde_json::json!({"quant_method": "awq", "version": "gemv", "group_size": 32}),
            "gemv",
        ),
        (
            serde_json::json!({"quant_method": "gptq", "bits": 4, "group_size": 64}),
            "shape",
        ),
    ] {
        let mut c = config.clone();
        c["quantization_config"] = edit;
        std::fs::write(&config_path, c.to_string()).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_brisk"))
            .args(["run", "-m", packed.to_str().unwrap(), "-p", "hi", "-n", "1"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(says), "{says}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
