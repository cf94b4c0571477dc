//! Hugging Face (transformers) tensor names of the Llama family → GGUF tensor names, the table
//! llama.cpp's converter applies (`model.layers.N.self_attn.q_proj.weight` →
//! `blk.N.attn_q.weight`). Names outside the table (`rotary_emb.inv_freq`, …) map to `None`.

/// Top-level tensors (outside the layer stack).
const GLOBAL: &[(&str, &str)] = &[
    ("embed_tokens.weight", "token_embd.weight"),
    ("norm.weight", "output_norm.weight"),
];

/// Per-layer tensors, relative to `model.layers.N.`; weight and bias alike.
const LAYER: &[(&str, &str)] = &[
    ("input_layernorm", "attn_norm"),
    ("post_attention_layernorm", "ffn_norm"),
    ("self_attn.q_proj", "attn_q"),
    ("self_attn.k_proj", "attn_k"),
    ("self_attn.v_proj", "attn_v"),
    ("self_attn.o_proj", "attn_output"),
    // Qwen3-style per-head norms; harmless for families without them.
    ("self_attn.q_norm", "attn_q_norm"),
    ("self_attn.k_norm", "attn_k_norm"),
    ("mlp.gate_proj", "ffn_gate"),
    ("mlp.up_proj", "ffn_up"),
    ("mlp.down_proj", "ffn_down"),
];

/// The GGUF name of a Hugging Face tensor, or `None` for a tensor brisk does not use.
///
/// Accepts names with or without the `model.` prefix (base-model checkpoints omit it).
pub fn gguf_tensor_name(hf: &str) -> Option<String> {
    if hf == "lm_head.weight" {
        return Some("output.weight".into());
    }
    let rest = hf.strip_prefix("model.").unwrap_or(hf);
    if let Some(&(_, g)) = GLOBAL.iter().find(|(h, _)| *h == rest) {
        return Some(g.into());
    }
    let layer = rest.strip_prefix("layers.")?;
    let (n, tail) = layer.split_once('.')?;
    let idx: u32 = n.parse().ok()?;
    // "01" and "1" must not both map to blk.1: only the canonical spelling is accepted.
    if idx.to_string() != n {
        return None;
    }
    let (module, kind) = tail.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let &(_, g) = LAYER.iter().find(|(h, _)| *h == module)?;
    Some(format!("blk.{idx}.{g}.{kind}"))
}

#[cfg(test)]
mod tests {
    use super::gguf_tensor_name as m;

    #[test]
    fn table() {
        let cases = [
            ("model.embed_tokens.weight", Some("token_embd.weight")),
            ("model.norm.weight", Some("output_norm.weight")),
            ("lm_head.weight", Some("output.weight")),
            (
                "model.layers.0.input_layernorm.weight",
                Some("blk.0.attn_norm.weight"),
            ),
            (
                "model.layers.12.self_attn.q_proj.weight",
                Some("blk.12.attn_q.weight"),
            ),
            (
                "model.layers.3.self_attn.k_proj.bias",
                Some("blk.3.attn_k.bias"),
            ),
            (
                "model.layers.3.self_attn.v_proj.bias",
                Some("blk.3.attn_v.bias"),
            ),
            (
                "model.layers.3.self_attn.o_proj.weight",
                Some("blk.3.attn_output.weight"),
            ),
            (
                "model.layers.1.post_attention_layernorm.weight",
                Some("blk.1.ffn_norm.weight"),
            ),
            (
                "model.layers.1.mlp.gate_proj.weight",
                Some("blk.1.ffn_gate.weight"),
            ),
            (
                "model.layers.1.mlp.up_proj.weight",
                Some("blk.1.ffn_up.weight"),
            ),
            (
                "model.layers.1.mlp.down_proj.weight",
                Some("blk.1.ffn_down.weight"),
            ),
            ("layers.2.mlp.up_proj.weight", Some("blk.2.ffn_up.weight")),
            ("embed_tokens.weight", Some("token_embd.weight")),
            ("model.layers.0.self_attn.rotary_emb.inv_freq", None),
            ("model.layers.01.mlp.up_proj.weight", None),
            ("model.layers.x.mlp.up_proj.weight", None),
            ("model.layers.1.mlp.up_proj.scales", None),
            ("model.layers.1", None),
            ("lm_head.bias", None),
            ("", None),
        ];
        for (hf, gguf) in cases {
            assert_eq!(m(hf).as_deref(), gguf, "{hf}");
        }
    }
}
