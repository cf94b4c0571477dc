//! GPTQ (AutoGPTQ's `gptq` and `gptq_v2` checkpoint formats) and AWQ (AutoAWQ's GEMM layout)
//! safetensors checkpoints: each linear layer's int32-packed 4-bit `qweight`, `qzeros`,
//! `scales` (and GPTQ's `g_idx`) repacked at load into ggml's Q4_1 blocks — exactly the same
//! weights `scale · (q − zero)`, up to the f16 rounding of `−scale · zero` — or, when the groups
//! do not run in 32-column blocks (act-order `g_idx`), dequantized to F16.
use crate::format::safetensors::Dtype;
use crate::format::storage::TensorBytes;
use crate::format::TensorView;
use brisk_kernels::QuantType;
use half::f16;
use std::sync::Arc;

/// Which packing a checkpoint uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// AutoGPTQ: `qweight` [in/8, out] packed along the input, `qzeros` [groups, out/8]
    /// holding zero − 1 (`v2`: the zero itself), `g_idx` [in].
    Gptq { v2: bool },
    /// AutoAWQ GEMM: `qweight` [in, out/8] and `qzeros` [groups, out/8] packed along the
    /// output in the order 0, 2, 4, 6, 1, 3, 5, 7.
    Awq,
}

/// A checkpoint's `quantization_config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuantConfig {
    pub scheme: Scheme,
    /// Input columns per group (`group_size` −1: the whole row).
    pub group_size: Option<usize>,
}

/// The packed quantization a `config.json` declares: `None` for a float checkpoint, an error
/// for one brisk cannot read (other bit widths, AWQ's GEMV layout, other methods).
pub fn quant_config(config: &serde_json::Value) -> Result<Option<QuantConfig>, String> {
    let Some(q) = config.get("quantization_config") else {
        return Ok(None);
    };
    let method = q
        .get("quant_method")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let num = |keys: &[&str]| keys.iter().find_map(|k| q.get(*k).and_then(|v| v.as_i64()));
    let bits = num(&["bits", "w_bit"]).unwrap_or(4);
    let scheme = match method.as_str() {
        "gptq" => {
            let format = q
                .get("checkpoint_format")
                .and_then(|f| f.as_str())
                .unwrap_or("gptq");
            match format {
                "gptq" => Scheme::Gptq { v2: false },
                "gptq_v2" => Scheme::Gptq { v2: true },
                other => return Err(format!("GPTQ checkpoint format '{other}' is not supported (gptq and gptq_v2 are)")),
            }
        }
        "awq" => {
            let version = q
                .get("version")
                .and_then(|v| v.as_str())
                .unwrap_or("gemm")
                .to_ascii_lowercase();
            if version != "gemm" {
                return Err(format!(
                    "AWQ version '{version}' is not supported (brisk reads AutoAWQ's GEMM layout)"
                ));
            }
            if q.get("zero_point").and_then(|z| z.as_bool()) == Some(false) {
                return Err("AWQ without zero points is not supported".into());
            }
            Scheme::Awq
        }
        "" => return Err("quantization_config names no quant_method".into()),
        other => {
            return Err(format!(
                "quantization method '{other}' is not supported (brisk reads gptq and awq checkpoints, and unquantized ones)"
            ))
        }
    };
    if bits != 4 {
        return Err(format!("{bits}-bit {method} is not supported (4-bit is)"));
    }
    let group = num(&["group_size", "q_group_size"]).unwrap_or(128);
    let group_size = match group {
        -1 => None,
        g if g > 0 && g % 8 == 0 && g <= 1 << 20 => Some(g as usize),
        g => return Err(format!("group_size {g} is not usable")),
    };
    Ok(Some(QuantConfig { scheme, group_size }))
}

/// A stored tensor of any dtype: its name, PyTorch shape (outermost first) and bytes.
#[derive(Clone, Debug)]
pub struct Raw {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<u64>,
    pub bytes: TensorBytes,
}

/// The stored tensors of one packed linear layer.
pub struct PackedLinear<'a> {
    pub name: &'a str,
    pub qweight: &'a Raw,
    pub qzeros: &'a Raw,
    pub scales: &'a Raw,
    pub g_idx: Option<&'a Raw>,
}

/// The unpacked layer: `q[j·in + i]` the level of input `i` in output row `j`, and per output
/// row and group its scale and zero.
pub struct Unpacked {
    pub rows: usize,
    pub cols: usize,
    pub groups: usize,
    pub q: Vec<u8>,
    pub scale: Vec<f32>,
    pub zero: Vec<u8>,
    /// The group of each input column.
    pub group_of: Vec<u32>,
}

impl Unpacked {
    /// The weight `scale · (q − zero)` of row `j`, column `i`.
    pub fn weight(&self, j: usize, i: usize) -> f32 {
        let g = self.group_of[i] as usize;
        let k = j * self.groups + g;
        self.scale[k] * (self.q[j * self.cols + i] as f32 - self.zero[k] as f32)
    }
}

fn int32s(v: &Raw) -> Result<Vec<u32>, String> {
    if v.dtype != Dtype::I32 {
        return Err(format!("{} must be I32, not {}", v.name, v.dtype.name()));
    }
    Ok(v.bytes
        .as_bytes()
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn floats(v: &Raw) -> Result<Vec<f32>, String> {
    let ty = v
        .dtype
        .quant_type()
        .ok_or_else(|| format!("{} must be F16, not {}", v.name, v.dtype.name()))?;
    let b = v.bytes.as_bytes();
    let mut out = vec![0.0f32; b.len() / ty.block_bytes()];
    brisk_kernels::scalar::dequantize_row(ty, b, &mut out);
    Ok(out)
}

/// One Q4_1 block (20 bytes): `d`, `m` as f16, then the 32 levels as ggml packs them (element
/// e < 16 in the low nibble of byte e, element 16 + e in its high nibble).
pub fn write_q4_1_block(d: f32, m: f32, q: &[u8], block: &mut [u8]) {
    block[0..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    block[2..4].copy_from_slice(&f16::from_f32(m).to_le_bytes());
    for e in 0..16 {
        block[4 + e] = q[e] | (q[e + 16] << 4);
    }
}

/// AWQ's packing order: nibble `k` of a word holds output `8c + AWQ_ORDER[k]`.
const AWQ_ORDER: [usize; 8] = [0, 2, 4, 6, 1, 3, 5, 7];

/// A shape check with the tensor's name in the message.
fn expect_dims(v: &Raw, dims: [usize; 2]) -> Result<(), String> {
    if v.shape != [dims[0] as u64, dims[1] as u64] {
        return Err(format!(
            "{} has shape {:?}, expected [{}, {}]",
            v.name, v.shape, dims[0], dims[1]
        ));
    }
    Ok(())
}

/// Unpack one layer (every size checked against the others before anything is allocated by
/// it: the sizes come from the tensors' own byte lengths).
pub fn unpack(cfg: &QuantConfig, l: &PackedLinear) -> Result<Unpacked, String> {
    let d = |v: &Raw| -> Result<[usize; 2], String> {
        match v.shape.as_slice() {
            [a, b] => Ok([*a as usize, *b as usize]),
            _ => Err(format!("{} is not a matrix", v.name)),
        }
    };
    let [a, b] = d(l.qweight)?;
    let (cols, rows) = match cfg.scheme {
        Scheme::Gptq { .. } => (a * 8, b),
        Scheme::Awq => (a, b * 8),
    };
    if rows % 8 != 0 || cols == 0 || rows == 0 {
        return Err(format!("{}: {rows} outputs, not a multiple of 8", l.name));
    }
    let group = cfg.group_size.unwrap_or(cols).min(cols);
    let groups = cols.div_ceil(group);
    expect_dims(l.scales, [groups, rows])?;
    expect_dims(l.qzeros, [groups, rows / 8])?;
    let qw = int32s(l.qweight)?;
    let qz = int32s(l.qzeros)?;
    let sc = floats(l.scales)?;
    let group_of: Vec<u32> = match (cfg.scheme, l.g_idx) {
        (Scheme::Gptq { .. }, Some(g)) => {
            expect_1d(g, cols)?;
            let v = int32s(g)?;
            if let Some(bad) = v.iter().find(|&&x| x as usize >= groups) {
                return Err(format!("{}: group {bad} of {groups}", g.name));
            }
            v
        }
        _ => (0..cols).map(|i| (i / group) as u32).collect(),
    };
    let nib = |w: u32, k: usize| ((w >> (4 * k)) & 15) as u8;
    let mut q = vec![0u8; rows * cols];
    let mut zero = vec![0u8; rows * groups];
    let mut scale = vec![0.0f32; rows * groups];
    match cfg.scheme {
        Scheme::Gptq { v2 } => {
            for r in 0..cols / 8 {
                for j in 0..rows {
                    let w = qw[r * rows + j];
                    for k in 0..8 {
                        q[j * cols + r * 8 + k] = nib(w, k);
                    }
                }
            }
            // v1 stores zero − 1 (GPTQModel: the v2 word minus 0x11111111, whose borrows reach
            // the next nibble): adding 0x11111111 to the word gives the zeros back either way.
            let bump = if v2 { 0 } else { 0x1111_1111u32 };
            for g in 0..groups {
                for c in 0..rows / 8 {
                    let w = qz[g * (rows / 8) + c].wrapping_add(bump);
                    for k in 0..8 {
                        zero[(c * 8 + k) * groups + g] = nib(w, k);
                    }
                }
            }
        }
        Scheme::Awq => {
            for i in 0..cols {
                for c in 0..rows / 8 {
                    let w = qw[i * (rows / 8) + c];
                    for (k, &o) in AWQ_ORDER.iter().enumerate() {
                        q[(c * 8 + o) * cols + i] = nib(w, k);
                    }
                }
            }
            for g in 0..groups {
                for c in 0..rows / 8 {
                    let w = qz[g * (rows / 8) + c];
                    for (k, &o) in AWQ_ORDER.iter().enumerate() {
                        zero[(c * 8 + o) * groups + g] = nib(w, k);
                    }
                }
            }
        }
    }
    for g in 0..groups {
        for j in 0..rows {
            scale[j * groups + g] = sc[g * rows + j];
        }
    }
    Ok(Unpacked {
        rows,
        cols,
        groups,
        q,
        scale,
        zero,
        group_of,
    })
}

fn expect_1d(v: &Raw, n: usize) -> Result<(), String> {
    if v.shape.as_slice() != [n as u64] {
        return Err(format!(
            "{} has shape {:?}, expected [{n}]",
            v.name, v.shape
        ));
    }
    Ok(())
}

/// Whether every aligned run of 32 columns lies in one group (so Q4_1 holds the layer exactly).
fn fits_q4_1(u: &Unpacked) -> bool {
    u.cols.is_multiple_of(32)
        && u.group_of
            .chunks_exact(32)
            .all(|c| c.iter().all(|&g| g == c[0]))
}

/// The layer as a ggml tensor named `name`: Q4_1 when its groups allow, else F16.
pub fn repack(name: String, u: &Unpacked) -> TensorView {
    let dims = vec![u.cols as u64, u.rows as u64];
    if fits_q4_1(u) {
        let blocks = u.cols / 32;
        let mut out = vec![0u8; u.rows * blocks * 20];
        for j in 0..u.rows {
            for b in 0..blocks {
                let g = u.group_of[b * 32] as usize;
                let k = j * u.groups + g;
                let (s, z) = (u.scale[k], u.zero[k] as f32);
                let block = &mut out[(j * blocks + b) * 20..][..20];
                write_q4_1_block(s, -s * z, &u.q[j * u.cols + b * 32..][..32], block);
            }
        }
        return TensorView {
            name,
            dims,
            ty: QuantType::Q4_1,
            bytes: TensorBytes::Owned(Arc::new(out)),
        };
    }
    let mut out = Vec::with_capacity(u.rows * u.cols * 2);
    for j in 0..u.rows {
        for i in 0..u.cols {
            out.extend_from_slice(&f16::from_f32(u.weight(j, i)).to_le_bytes());
        }
    }
    TensorView {
        name,
        dims,
        ty: QuantType::F16,
        bytes: TensorBytes::Owned(Arc::new(out)),
    }
}

/// The layer a packed tensor belongs to: `model.layers.0.mlp.up_proj.qweight` →
/// `model.layers.0.mlp.up_proj`.
pub fn packed_base(name: &str) -> Option<&str> {
    [".qweight", ".qzeros", ".scales", ".g_idx"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
}

/// The ggml tensor `gguf` of the layer `base` from its stored `parts`.
pub fn layer(
    cfg: &QuantConfig,
    base: &str,
    parts: &[Raw],
    gguf: String,
) -> Result<TensorView, String> {
    let part = |suffix: &str| parts.iter().find(|p| p.name == format!("{base}{suffix}"));
    let need = |suffix: &str| {
        part(suffix).ok_or_else(|| {
            format!(
                "{base} has no {suffix} tensor (a packed layer needs qweight, qzeros and scales)"
            )
        })
    };
    let linear = PackedLinear {
        name: base,
        qweight: need(".qweight")?,
        qzeros: need(".qzeros")?,
        scales: need(".scales")?,
        g_idx: part(".g_idx"),
    };
    Ok(repack(gguf, &unpack(cfg, &linear)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, dtype: Dtype, shape: Vec<u64>, bytes: Vec<u8>) -> Raw {
        Raw {
            name: name.into(),
            dtype,
            shape,
            bytes: TensorBytes::Owned(Arc::new(bytes)),
        }
    }

    /// GPTQModel writes v1 zeros as the v2 word minus 0x11111111: a zero of 0 borrows from
    /// the next nibble. Reading the word back through +0x11111111 gives every zero exactly.
    #[test]
    fn v1_zeros_survive_a_borrow() {
        let zeros: [u32; 8] = [0, 3, 15, 1, 0, 0, 8, 2];
        let v2 = zeros
            .iter()
            .enumerate()
            .fold(0u32, |w, (k, &z)| w | (z << (4 * k)));
        let v1 = v2.wrapping_sub(0x1111_1111);
        let (rows, cols) = (8usize, 8usize);
        let l = PackedLinear {
            name: "x",
            qweight: &raw("x.qweight", Dtype::I32, vec![1, 8], vec![0; 32]),
            qzeros: &raw(
                "x.qzeros",
                Dtype::I32,
                vec![1, 1],
                v1.to_le_bytes().to_vec(),
            ),
            scales: &raw("x.scales", Dtype::F16, vec![1, 8], vec![0; 16]),
            g_idx: None,
        };
        let cfg = QuantConfig {
            scheme: Scheme::Gptq { v2: false },
            group_size: Some(cols),
        };
        let u = unpack(&cfg, &l).unwrap();
        assert_eq!((u.rows, u.cols, u.groups), (rows, cols, 1));
        assert_eq!(u.zero, zeros.map(|z| z as u8));
    }
}
