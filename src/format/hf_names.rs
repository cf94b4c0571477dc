//! Hugging Face (transformers) tensor names → GGUF tensor names, the table llama.cpp's converter
//! applies (`model.layers.N.self_attn.q_proj.weight` → `blk.N.attn_q.weight`), with each
//! architecture's own names (Gemma's four norms, Phi-3's fused matrices, experts). Experts stay
//! one tensor each, named `blk.N.ffn_gate_exps.E.weight`; the binder stacks them. Names outside
//! the table (`rotary_emb.inv_freq`, …) map to `None`.
use super::hf_config::HfArch;

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

/// Gemma 2/3: four norms per layer (llama's `post_attention_layernorm` is Gemma's post-norm).
const LAYER_GEMMA: &[(&str, &str)] = &[
    ("post_attention_layernorm", "post_attention_norm"),
    ("pre_feedforward_layernorm", "ffn_norm"),
    ("post_feedforward_layernorm", "post_ffw_norm"),
];

/// Phi-3: fused Q/K/V and gate/up.
const LAYER_PHI3: &[(&str, &str)] = &[
    ("self_attn.qkv_proj", "attn_qkv"),
    ("mlp.gate_up_proj", "ffn_up"),
];

/// Mixture-of-experts routers (Qwen3-MoE's `mlp.gate`, Mixtral's `block_sparse_moe.gate`).
const LAYER_MOE: &[(&str, &str)] = &[
    ("mlp.gate", "ffn_gate_inp"),
    ("block_sparse_moe.gate", "ffn_gate_inp"),
];

/// One expert's matrices, relative to `…experts.E.`: Qwen3-MoE's names and Mixtral's w1/w3/w2.
const EXPERT: &[(&str, &str)] = &[
    ("gate_proj", "ffn_gate_exps"),
    ("up_proj", "ffn_up_exps"),
    ("down_proj", "ffn_down_exps"),
    ("w1", "ffn_gate_exps"),
    ("w3", "ffn_up_exps"),
    ("w2", "ffn_down_exps"),
];

/// A decimal index in its canonical spelling ("01" is refused, so two names cannot collide).
fn index(n: &str) -> Option<u32> {
    let i: u32 = n.parse().ok()?;
    (i.to_string() == n).then_some(i)
}

/// The GGUF name of a Hugging Face tensor of architecture `arch`, or `None` for a tensor brisk
/// does not use.
///
/// Accepts names with or without the `model.` prefix (base-model checkpoints omit it).
pub fn gguf_tensor_name(hf: &str, arch: HfArch) -> Option<String> {
    if hf == "lm_head.weight" {
        return Some("output.weight".into());
    }
    let rest = hf.strip_prefix("model.").unwrap_or(hf);
    if let Some(&(_, g)) = GLOBAL.iter().find(|(h, _)| *h == rest) {
        return Some(g.into());
    }
    let layer = rest.strip_prefix("layers.")?;
    let (n, tail) = layer.split_once('.')?;
    let idx = index(n)?;
    let (module, kind) = tail.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let moe = matches!(arch, HfArch::Mixtral | HfArch::Qwen3Moe);
    if moe {
        let experts = module
            .strip_prefix("mlp.experts.")
            .or_else(|| module.strip_prefix("block_sparse_moe.experts."));
        if let Some((e, m)) = experts.and_then(|x| x.split_once('.')) {
            let &(_, g) = EXPERT.iter().find(|(h, _)| *h == m)?;
            let e = index(e)?;
            return (kind == "weight").then(|| format!("blk.{idx}.{g}.{e}.weight"));
        }
    }
    let specific: &[(&str, &str)] = match arch {
        HfArch::Gemma2 | HfArch::Gemma3 => LAYER_GEMMA,
        HfArch::Phi3 => LAYER_PHI3,
        HfArch::Mixtral | HfArch::Qwen3Moe => LAYER_MOE,
        _ => &[],
    };
    let &(_, g) = specific.iter().chain(LAYER).find(|(h, _)| *h == module)?;
    Some(format!("blk.{idx}.{g}.{kind}"))
}

#[cfg(test)]
mod tests {
    use super::gguf_tensor_name;
    use super::HfArch;

    fn m(hf: &str) -> Option<String> {
        gguf_tensor_name(hf, HfArch::Llama)
    }

    #[test]
    fn architecture_specific_names() {
        let cases = [
            (
                HfArch::Gemma3,
                "model.layers.2.post_attention_layernorm.weight",
                Some("blk.2.post_attention_norm.weight"),
            ),
            (
                HfArch::Gemma2,
                "model.layers.2.pre_feedforward_layernorm.weight",
                Some("blk.2.ffn_norm.weight"),
            ),
            (
                HfArch::Gemma2,
                "model.layers.0.post_feedforward_layernorm.weight",
                Some("blk.0.post_ffw_norm.weight"),
            ),
            (
                HfArch::Llama,
                "model.layers.2.post_attention_layernorm.weight",
                Some("blk.2.ffn_norm.weight"),
            ),
            (
                HfArch::Phi3,
                "model.layers.1.self_attn.qkv_proj.weight",
                Some("blk.1.attn_qkv.weight"),
            ),
            (
                HfArch::Phi3,
                "model.layers.1.mlp.gate_up_proj.weight",
                Some("blk.1.ffn_up.weight"),
            ),
            (
                HfArch::Qwen3Moe,
                "model.layers.1.mlp.gate.weight",
                Some("blk.1.ffn_gate_inp.weight"),
            ),
            (
                HfArch::Qwen3Moe,
                "model.layers.1.mlp.experts.7.down_proj.weight",
                Some("blk.1.ffn_down_exps.7.weight"),
            ),
            (
                HfArch::Mixtral,
                "model.layers.0.block_sparse_moe.gate.weight",
                Some("blk.0.ffn_gate_inp.weight"),
            ),
            (
                HfArch::Mixtral,
                "model.layers.0.block_sparse_moe.experts.3.w3.weight",
                Some("blk.0.ffn_up_exps.3.weight"),
            ),
            (
                HfArch::Mixtral,
                "model.layers.0.block_sparse_moe.experts.03.w3.weight",
                None,
            ),
            (
                HfArch::Llama,
                "model.layers.1.mlp.experts.7.down_proj.weight",
                None,
            ),
        ];
        for (arch, hf, gguf) in cases {
            assert_eq!(gguf_tensor_name(hf, arch).as_deref(), gguf, "{arch:?} {hf}");
        }
    }

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
