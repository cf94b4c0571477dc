//! `brisk quantize --format gptq|awq`: the calibrated model written back as a Hugging Face
//! checkpoint in AutoGPTQ's (`gptq` checkpoint format: zero − 1) or AutoAWQ's (GEMM) layout —
//! int32-packed `qweight`/`qzeros`, f16 `scales`, GPTQ's `g_idx`, `quantization_config` in
//! `config.json` — that vLLM, TGI and SGLang serve. Each linear layer comes from its calibrated
//! Q4_1 rows (groups sharing one scale and an integer zero, [`super::calib::target`]; Llama's
//! Q/K rows put back in HF order, experts split again); tensors AWQ folded scales into (norms,
//! biases) are written in their stored dtype; everything else is copied from the input.
use super::calib::grid::Levels;
use super::calib::target::group_scale_zero;
use super::plan::{Plan, PlannedTensor};
use crate::convert::tensors::unpermute_qk;
use crate::format::hf_config::{HfArch, HfConfig};
use crate::format::hf_names::gguf_tensor_name;
use crate::format::safetensors::{Dtype, SafetensorsFile};
use crate::format::TensorBytes;
use anyhow::{anyhow, bail, Context, Result};
use brisk_kernels::QuantType;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Gptq,
    Awq,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Gptq => "gptq",
            Format::Awq => "awq",
        }
    }
}

/// What the export needs besides the plan.
pub struct Export<'a> {
    pub input_dir: &'a Path,
    pub files: &'a [std::path::PathBuf],
    pub out_dir: &'a Path,
    pub format: Format,
    pub group: usize,
    pub damp: f32,
}

/// One output tensor.
struct Out {
    name: String,
    dtype: &'static str,
    shape: Vec<u64>,
    bytes: Bytes,
}

enum Bytes {
    Stored(TensorBytes),
    Owned(Vec<u8>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Stored(b) => b.as_bytes(),
            Bytes::Owned(v) => v,
        }
    }
}

fn i32s(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// AutoAWQ's packing order: nibble k of a word holds output `8c + AWQ_ORDER[k]`.
const AWQ_ORDER: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];

/// The packed tensors of one layer from its grouped Q4_1 rows (`rows × cols`).
fn pack(base: &str, q4: &[u8], rows: usize, cols: usize, group: usize, f: Format) -> Vec<Out> {
    let blocks = cols / 32;
    let groups = cols / group;
    let levels = Levels::of(QuantType::Q4_1).expect("Q4_1 has per-element levels");
    let level = |j: usize, i: usize| levels.get(&q4[j * blocks * 20..(j + 1) * blocks * 20], i);
    let mut scales = Vec::with_capacity(groups * rows * 2);
    let mut zeros = vec![0u8; groups * rows];
    for g in 0..groups {
        for j in 0..rows {
            let first = (j * blocks + g * group / 32) * 20;
            let (d, z) = group_scale_zero(&q4[first..first + 20]);
            scales.extend_from_slice(&d.to_le_bytes());
            zeros[g * rows + j] = z;
        }
    }
    let packs = rows / 8;
    let (r, c, gs) = (rows as u64, cols as u64, groups as u64);
    let t = |suffix: &str, dtype, shape, bytes| Out {
        name: format!("{base}.{suffix}"),
        dtype,
        shape,
        bytes: Bytes::Owned(bytes),
    };
    match f {
        Format::Gptq => {
            let mut qweight = vec![0u32; cols / 8 * rows];
            for j in 0..rows {
                for i in 0..cols {
                    qweight[(i / 8) * rows + j] |= level(j, i) << (4 * (i % 8));
                }
            }
            let mut qzeros = vec![0u32; groups * packs];
            for g in 0..groups {
                for j in 0..rows {
                    let z = u32::from(zeros[g * rows + j]).wrapping_sub(1) & 15;
                    qzeros[g * packs + j / 8] |= z << (4 * (j % 8));
                }
            }
            let g_idx: Vec<u32> = (0..cols).map(|i| (i / group) as u32).collect();
            vec![
                t("qweight", "I32", vec![c / 8, r], i32s(&qweight)),
                t("qzeros", "I32", vec![gs, r / 8], i32s(&qzeros)),
                t("scales", "F16", vec![gs, r], scales),
                t("g_idx", "I32", vec![c], i32s(&g_idx)),
            ]
        }
        Format::Awq => {
            let mut qweight = vec![0u32; cols * packs];
            for i in 0..cols {
                for p in 0..packs {
                    for (k, &o) in AWQ_ORDER.iter().enumerate() {
                        qweight[i * packs + p] |= level(8 * p + o, i) << (4 * k);
                    }
                }
            }
            let mut qzeros = vec![0u32; groups * packs];
            for g in 0..groups {
                for p in 0..packs {
                    for (k, &o) in AWQ_ORDER.iter().enumerate() {
                        qzeros[g * packs + p] |= u32::from(zeros[g * rows + 8 * p + o]) << (4 * k);
                    }
                }
            }
            vec![
                t("qweight", "I32", vec![c, r / 8], i32s(&qweight)),
                t("qzeros", "I32", vec![gs, r / 8], i32s(&qzeros)),
                t("scales", "F16", vec![gs, r], scales),
            ]
        }
    }
}

/// F32 values in a stored float dtype (the kernels' F32/F16/BF16 encoders).
fn encode(values: &[f32], dtype: Dtype) -> Result<Vec<u8>> {
    let ty = dtype
        .quant_type()
        .ok_or_else(|| anyhow!("cannot write a {} tensor", dtype.name()))?;
    let mut out = vec![0u8; ty.row_bytes(values.len()).context("row size")?];
    brisk_kernels::scalar::quantize_row(ty, values, &mut out);
    Ok(out)
}

/// The output tensors for one stored tensor of the input.
fn convert_one(
    name: &str,
    dtype: Dtype,
    shape: &[u64],
    bytes: TensorBytes,
    planned: Option<&PlannedTensor>,
    cx: &Cx,
) -> Result<Vec<Out>> {
    let keep = || {
        Ok(vec![Out {
            name: name.to_string(),
            dtype: dtype.name(),
            shape: shape.to_vec(),
            bytes: Bytes::Stored(bytes.clone()),
        }])
    };
    let Some(pt) = planned else {
        return keep();
    };
    if !pt.converts() && pt.prepared.is_none() {
        return keep();
    }
    let Some(prepared) = &pt.prepared else {
        bail!("{name}: planned as {} but not calibrated", pt.ty.name());
    };
    if pt.ty == QuantType::Q4_1 && shape.len() == 2 {
        let (rows, cols) = (shape[0] as usize, shape[1] as usize);
        let rb = QuantType::Q4_1.row_bytes(cols).context("row size")?;
        let expert = cx.expert.unwrap_or(0);
        let slab = prepared
            .get(expert * rows * rb..(expert + 1) * rows * rb)
            .ok_or_else(|| anyhow!("{name}: the calibrated tensor is shorter than its shape"))?;
        let slab = match cx.n_head_of(&pt.source.name) {
            Some(n_head) => unpermute_qk(slab, rb, n_head)?,
            None => slab.to_vec(),
        };
        if rows % 8 != 0 || cols % cx.group != 0 {
            bail!("{name}: [{rows}, {cols}] cannot be packed in groups of {} (outputs must be a multiple of 8, inputs of the group)", cx.group);
        }
        let base = name.strip_suffix(".weight").unwrap_or(name);
        return Ok(pack(base, &slab, rows, cols, cx.group, cx.format));
    }
    if pt.ty == QuantType::F32 && shape.len() == 1 {
        // A norm or bias AWQ folded scales into: back to the stored dtype (and Gemma's `w`
        // for its `1 + w` norms).
        let mut v: Vec<f32> = prepared
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if cx.arch.norm_plus_one() && pt.source.name.ends_with("norm.weight") {
            v.iter_mut().for_each(|x| *x -= 1.0);
        }
        return Ok(vec![Out {
            name: name.to_string(),
            dtype: dtype.name(),
            shape: shape.to_vec(),
            bytes: Bytes::Owned(encode(&v, dtype)?),
        }]);
    }
    bail!(
        "{name}: planned as {} — the {} layout holds 4-bit linear layers only",
        pt.ty.name(),
        cx.format.name()
    )
}

/// What [`convert_one`] needs to know of the model.
struct Cx {
    arch: HfArch,
    n_head: usize,
    n_head_kv: usize,
    group: usize,
    format: Format,
    expert: Option<usize>,
}

impl Cx {
    /// The head count whose permutation the converter applied to this GGUF tensor, if any.
    fn n_head_of(&self, gguf: &str) -> Option<usize> {
        let llama = matches!(self.arch, HfArch::Llama | HfArch::Mistral | HfArch::Mixtral);
        match gguf {
            n if llama && n.ends_with("attn_q.weight") => Some(self.n_head),
            n if llama && n.ends_with("attn_k.weight") => Some(self.n_head_kv),
            _ => None,
        }
    }
}

/// Writes the export (into a temporary directory beside `out_dir`, renamed when complete).
pub fn write(plan: &Plan, e: &Export) -> Result<()> {
    if e.out_dir.exists() && std::fs::read_dir(e.out_dir).map_or(true, |mut d| d.next().is_some()) {
        bail!(
            "{} exists and is not an empty directory",
            e.out_dir.display()
        );
    }
    let config_path = e.input_dir.join("config.json");
    let hf = HfConfig::from_file(&config_path)?;
    let cfg = crate::model::config::Config::from_hf(&hf)
        .map_err(|err| anyhow!("{}: {err}", config_path.display()))?;
    let mut cx = Cx {
        arch: hf.arch,
        n_head: cfg.n_head,
        n_head_kv: cfg.n_head_kv,
        group: e.group,
        format: e.format,
        expert: None,
    };
    let mut outs = Vec::new();
    for path in e.files {
        let f = SafetensorsFile::open(path)?;
        for t in f.tensors() {
            let gguf = gguf_tensor_name(&t.name, hf.arch);
            let (key, expert) = match gguf.as_deref().and_then(crate::convert::expert_of) {
                Some((s, i)) => (Some(s), Some(i)),
                None => (gguf, None),
            };
            cx.expert = expert;
            let planned = key
                .as_deref()
                .and_then(|k| plan.tensors.iter().find(|p| p.source.name == k));
            outs.extend(convert_one(
                &t.name,
                t.dtype,
                &t.shape,
                f.bytes(t),
                planned,
                &cx,
            )?);
        }
    }
    let parent = e.out_dir.parent().filter(|p| !p.as_os_str().is_empty());
    let parent = parent.unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = parent.join(format!(
        ".{}.brisk-tmp-{}",
        e.out_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("out"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = fill(&tmp, &outs, e).and_then(|()| {
        if e.out_dir.exists() {
            std::fs::remove_dir(e.out_dir)?;
        }
        std::fs::rename(&tmp, e.out_dir)?;
        Ok(())
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.with_context(|| format!("cannot write {}", e.out_dir.display()))
}

fn fill(dir: &Path, outs: &[Out], e: &Export) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    write_safetensors(&dir.join("model.safetensors"), outs)?;
    let config_path = e.input_dir.join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&config_path)
            .with_context(|| format!("cannot read {}", config_path.display()))?,
    )?;
    let quant = match e.format {
        Format::Gptq => serde_json::json!({
            "quant_method": "gptq", "bits": 4, "group_size": e.group, "desc_act": false,
            "sym": false, "true_sequential": true, "damp_percent": e.damp,
            "checkpoint_format": "gptq", "model_file_base_name": "model",
            "quantizer": ["brisk"]}),
        Format::Awq => serde_json::json!({
            "quant_method": "awq", "bits": 4, "group_size": e.group, "zero_point": true,
            "version": "gemm", "modules_to_not_convert": null}),
    };
    config["quantization_config"] = quant.clone();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    let side = match e.format {
        Format::Gptq => ("quantize_config.json", quant),
        Format::Awq => (
            "quant_config.json",
            serde_json::json!({"zero_point": true, "q_group_size": e.group, "w_bit": 4,
                "version": "GEMM"}),
        ),
    };
    std::fs::write(dir.join(side.0), serde_json::to_string_pretty(&side.1)?)?;
    for entry in std::fs::read_dir(e.input_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let skip = name.ends_with(".safetensors")
            || name.ends_with(".safetensors.index.json")
            || name == "config.json"
            || name == "quantize_config.json"
            || name == "quant_config.json"
            || name.ends_with(".bin")
            || name.starts_with('.');
        if !skip && entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), dir.join(&name))?;
        }
    }
    Ok(())
}

/// One safetensors file of `outs`, in order.
fn write_safetensors(path: &Path, outs: &[Out]) -> Result<()> {
    use std::io::Write;
    let mut header = serde_json::Map::new();
    let mut at = 0usize;
    for o in outs {
        let n = o.bytes.as_slice().len();
        header.insert(
            o.name.clone(),
            serde_json::json!({"dtype": o.dtype, "shape": o.shape, "data_offsets": [at, at + n]}),
        );
        at += n;
    }
    header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    let mut h = serde_json::to_vec(&header)?;
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(&(h.len() as u64).to_le_bytes())?;
    f.write_all(&h)?;
    for o in outs {
        f.write_all(o.bytes.as_slice())?;
    }
    f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}
