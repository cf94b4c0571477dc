//! Writing Hugging Face checkpoints in tests: F32 safetensors files, and Llama's Q/K row order
//! between HF (half-split RoPE pairs) and llama.cpp's converted GGUF (adjacent pairs).
use std::path::Path;

/// A tensor as HF stores it: name, shape (row-major, outermost first), values.
pub type Tensor = (String, Vec<u64>, Vec<f32>);

/// A stored tensor of any dtype: name, dtype, shape, bytes.
pub type RawTensor = (String, &'static str, Vec<u64>, Vec<u8>);

/// Writes `tensors` as one F32 safetensors file.
pub fn write_safetensors(path: &Path, tensors: &[Tensor]) {
    let raw: Vec<RawTensor> = tensors
        .iter()
        .map(|(n, shape, v)| {
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (n.clone(), "F32", shape.clone(), bytes)
        })
        .collect();
    write_raw_safetensors(path, &raw);
}

/// Writes `tensors` (each in its own dtype) as one safetensors file.
pub fn write_raw_safetensors(path: &Path, tensors: &[RawTensor]) {
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
    let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
    bytes.extend(h);
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

/// The converter's Q/K row permutation, HF → GGUF (`to_gguf`) or back: within each head, GGUF
/// row `2i + j` is HF row `j·(hd/2) + i`.
pub fn permute_qk_rows(w: &[f32], n_head: usize, cols: usize, to_gguf: bool) -> Vec<f32> {
    let hd = w.len() / cols / n_head;
    let mut out = vec![0.0; w.len()];
    for h in 0..n_head {
        for i in 0..hd / 2 {
            for j in 0..2 {
                let gguf = h * hd + 2 * i + j;
                let hf = h * hd + j * (hd / 2) + i;
                let (dst, src) = if to_gguf { (gguf, hf) } else { (hf, gguf) };
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}
