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
use common::hf_checkpoint::{write_raw_safetensors, write_safetensors, RawTensor as Raw, Tensor};
use std::path::{Path, PathBuf};

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
            // Zeros of 1…15: a stored zero − 1 of −1 is read differently by AutoGPTQ's nibble
            // arithmetic and GPTQModel's word arithmetic, and brisk's exports never make one.
            r.zero[j * groups + g] = (-lo / s).round().clamp(1.0, 15.0) as u8;
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
    let mut out = packed_tensors(
        base,
        r,
        [r.cols as u64 / 8, r.rows as u64],
        &qweight,
        &qzeros,
    );
    if with_g_idx {
        let g: Vec<u32> = r.group_of.iter().map(|&g| g as u32).collect();
        out.push((
            format!("{base}.g_idx"),
            "I32",
            vec![r.cols as u64],
            i32_bytes(&g),
        ));
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
    packed_tensors(
        base,
        r,
        [r.cols as u64, r.rows as u64 / 8],
        &qweight,
        &qzeros,
    )
}

/// `qweight` (of shape `qweight_shape`), `qzeros` and `scales` as stored tensors.
fn packed_tensors(
    base: &str,
    r: &Rounded,
    qweight_shape: [u64; 2],
    qw: &[u32],
    qz: &[u32],
) -> Vec<Raw> {
    let (rows, groups) = (r.rows as u64, r.groups as u64);
    let t = |suffix: &str, dtype, shape: Vec<u64>, bytes| {
        (format!("{base}.{suffix}"), dtype, shape, bytes)
    };
    vec![
        t("qweight", "I32", qweight_shape.to_vec(), i32_bytes(qw)),
        t("qzeros", "I32", vec![groups, rows / 8], i32_bytes(qz)),
        t("scales", "F16", vec![groups, rows], r.scales_f16()),
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
    numpy_run(packed, float, None)
}

/// The same with the reference compared within f16 rounding of `−scale · zero` (a GGUF's Q4_1
/// `m`): `|Δ| ≤ 2⁻¹⁰ · max|w|` of each layer.
fn numpy_dequant_tol(packed: &Path, reference: &Path) -> Option<(bool, String)> {
    numpy_run(packed, reference, Some("0.0009765625"))
}

fn numpy_run(packed: &Path, float: &Path, tol: Option<&str>) -> Option<(bool, String)> {
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
    let reference = match float.is_dir() {
        true => float.join("model.safetensors"),
        false => float.to_path_buf(),
    };
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(&script).arg(packed).arg(reference);
    if let Some(t) = tol {
        cmd.arg(t);
    }
    let out = cmd.output().unwrap();
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
    let (p, o) = (packed.to_str().unwrap(), gguf.to_str().unwrap());
    brisk_ok("convert", &[p, o, "--outtype", "auto"]);
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

/// A checkpoint of `fixture` to calibrate, and calibration text for it: the fixture's
/// WordLevel tokenizer.json gets a whitespace pre-tokenizer, and the text is its vocabulary in
/// a fixed shuffled order (so every sample is real token ids, not one unknown word).
fn calibration_inputs(root: &Path, fixture: &str) -> Option<(PathBuf, PathBuf)> {
    let hf = root.join("hf");
    assert!(convert(
        &common::arch_fixtures().join(format!("{fixture}.gguf")),
        &hf
    ));
    let tok_path = hf.join("tokenizer.json");
    let mut tok: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&tok_path).unwrap()).unwrap();
    tok["pre_tokenizer"] = serde_json::json!({"type": "WhitespaceSplit"});
    std::fs::write(&tok_path, tok.to_string()).unwrap();
    let vocab: Vec<String> = tok["model"]["vocab"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|w| !w.chars().any(char::is_whitespace) && !w.starts_with('<'))
        .cloned()
        .collect();
    assert!(vocab.len() > 50, "{} usable tokens", vocab.len());
    let mut x = 12345u64;
    let words: Vec<&str> = (0..4096)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            vocab[(x >> 33) as usize % vocab.len()].as_str()
        })
        .collect();
    let text = root.join("calib.txt");
    std::fs::write(&text, words.join(" ")).unwrap();
    Some((hf, text))
}

/// `brisk SUB ARGS`, which must succeed.
fn brisk_ok(sub: &str, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brisk"))
        .arg(sub)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sub} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn quantize(args: &[&str]) -> std::process::Output {
    brisk_ok("quantize", args)
}

/// `--format gptq|awq` writes a checkpoint that loads back in brisk as exactly the weights the
/// GGUF of the same calibration holds (grouped Q4_1), and that numpy dequantizes to them.
fn export_round_trip(format: &str, method: &str, tag: &str) {
    let root = temp(tag);
    let Some((hf, text)) = calibration_inputs(&root, "rand-llama3") else {
        return;
    };
    let calib = [
        "--method",
        method,
        "--calib",
        text.to_str().unwrap(),
        "--calib-tokens",
        "1024",
        "--calib-ctx",
        "64",
        "--group-size",
        "32",
        "--quiet",
    ];
    let dir = root.join("export");
    let gguf = root.join("same.gguf");
    quantize(
        &[
            &calib[..],
            &[
                "--format",
                format,
                hf.to_str().unwrap(),
                dir.to_str().unwrap(),
                "2",
            ],
        ]
        .concat(),
    );
    quantize(
        &[
            &calib[..],
            &[
                "--pure",
                "--token-embedding-type",
                "f32",
                "--output-tensor-type",
                "f32",
            ],
            &[hf.to_str().unwrap(), gguf.to_str().unwrap(), "Q4_1", "2"],
        ]
        .concat(),
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["quantization_config"]["quant_method"], format);
    assert_eq!(config["quantization_config"]["group_size"], 32);
    assert!(dir.join("tokenizer.json").is_file() || dir.join("tokenizer.model").is_file());
    let (worst, scale) = logit_gap(&dir, &gguf);
    assert!(
        worst <= 1e-4 * scale.max(1.0),
        "|Δlogit| {worst} of {scale}"
    );
    // The float weights the GGUF's Q4_1 rows hold, in HF names and row order, for numpy.
    let reference = root.join("reference.safetensors");
    write_safetensors(&reference, &gguf_linear_weights(&gguf, &hf));
    if let Some((ok, report)) = numpy_dequant_tol(&dir, &reference) {
        assert!(ok, "numpy dequantizer: {report}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// The linear layers of a GGUF, dequantized, under the HF names of `hf`'s checkpoint (Llama's
/// Q/K rows back in HF order).
fn gguf_linear_weights(gguf: &Path, hf: &Path) -> Vec<Tensor> {
    let g = brisk::format::gguf::Gguf::open(gguf).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(hf.join("config.json")).unwrap()).unwrap();
    let n_head = config["num_attention_heads"].as_u64().unwrap() as usize;
    let n_kv = config["num_key_value_heads"]
        .as_u64()
        .unwrap_or(n_head as u64) as usize;
    let mut out = Vec::new();
    for (name, _, _) in read_f32_safetensors(&hf.join("model.safetensors")) {
        if !quantized_linear(&name) {
            continue;
        }
        let gname = brisk::format::hf_names::gguf_tensor_name(
            &name,
            brisk::format::hf_config::HfArch::Llama,
        )
        .unwrap();
        let t = g.tensors().iter().find(|t| t.name == gname).unwrap();
        assert_eq!(t.ty, brisk_kernels::QuantType::Q4_1, "{gname}");
        let (cols, rows) = (t.dims[0] as usize, t.dims[1] as usize);
        let mut v = vec![0.0f32; rows * cols];
        brisk_kernels::scalar::dequantize_row(t.ty, g.tensor_bytes(t).as_bytes(), &mut v);
        let v = match gname.rsplit('.').nth(1) {
            Some("attn_q") => common::hf_checkpoint::permute_qk_rows(&v, n_head, cols, false),
            Some("attn_k") => common::hf_checkpoint::permute_qk_rows(&v, n_kv, cols, false),
            _ => v,
        };
        out.push((name, vec![rows as u64, cols as u64], v));
    }
    out
}

#[test]
fn gptq_export_round_trips() {
    export_round_trip("gptq", "gptq", "export-gptq");
}

#[test]
fn awq_export_round_trips() {
    export_round_trip("awq", "awq+gptq", "export-awq");
}

#[test]
fn exports_refuse_what_they_cannot_write_in_one_line() {
    let root = temp("export-bad");
    let Some((hf, text)) = calibration_inputs(&root, "rand-llama3") else {
        return;
    };
    let out_dir = root.join("x");
    let (h, t, o) = (
        hf.to_str().unwrap(),
        text.to_str().unwrap(),
        out_dir.to_str().unwrap(),
    );
    let gguf = common::arch_fixtures().join("rand-llama3.gguf");
    let gptq = ["--format", "gptq", "--method", "gptq", "--calib", t];
    for (args, says) in [
        (
            [&gptq[..], &[gguf.to_str().unwrap(), o]].concat(),
            "needs one as input",
        ),
        (vec!["--format", "awq", h, o], "--method"),
        (
            [&gptq[..], &["--group-size", "4096", h, o]].concat(),
            "groups of 4096",
        ),
        (vec!["--format", "zip", h, o], "unknown format"),
        (vec!["--group-size", "48", h, o, "Q4_1"], "multiple of 32"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_brisk"))
            .arg("quantize")
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!out_dir.exists(), "{args:?} left {}", out_dir.display());
    }
    let _ = std::fs::remove_dir_all(&root);
}
