//! What tells one transformer family from another, as data for the one forward pass: RoPE
//! pairing, activation, embedding scale, extra norms, Q/K norms, fused tensors, sliding-window
//! layout. Adding an architecture means adding a row here (and its metadata keys in `config`),
//! not another forward pass.
use crate::backend::rope::RopeStyle;

/// Architecture families brisk runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Llama 2/3, TinyLlama, Mistral, SmolLM: no biases (Mixtral when it has experts).
    Llama,
    /// Qwen2: q/k/v biases, NeoX RoPE.
    Qwen2,
    /// Qwen3: per-head RMSNorm of Q and K before RoPE.
    Qwen3,
    /// Qwen3-MoE: Qwen3 with a mixture-of-experts feed-forward.
    Qwen3Moe,
    /// Gemma 2: GeGLU, √d embedding scale, post-attention/post-FFN norms, soft-capped attention
    /// and logits, alternating sliding-window layers.
    Gemma2,
    /// Gemma 3: Gemma 2 with Q/K norms instead of attention soft-capping, 5 local : 1 global
    /// layers, a separate RoPE base for the local layers.
    Gemma3,
    /// Phi-3/Phi-4: fused QKV and gate/up matrices, longrope frequency factors.
    Phi3,
}

/// The feed-forward gate's activation: `act(gate) · up`.
pub use crate::backend::Glu as Activation;

/// Which layers attend within a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwaLayers {
    /// None (the window key, if present, is ignored as llama.cpp ignores it).
    None,
    /// Of every `period` layers, the first `period − 1` are local and the last is global
    /// (llama.cpp's `set_swa_pattern`; the GGUF key `attention.sliding_window_pattern` may
    /// override the period or give a per-layer list).
    Period(usize),
}

/// One architecture's fixed traits.
#[derive(Clone, Copy, Debug)]
pub struct ArchSpec {
    pub arch: Arch,
    /// `general.architecture` in GGUF.
    pub name: &'static str,
    pub rope_style: RopeStyle,
    pub act: Activation,
    /// Embeddings are multiplied by √n_embd.
    pub embed_scale: bool,
    /// `post_attention_norm` / `post_ffw_norm` after each block's output projection.
    pub post_norms: bool,
    /// `attn_q_norm` / `attn_k_norm`: per-head RMSNorm of Q and K before RoPE.
    pub qk_norm: bool,
    /// Attention scores are soft-capped (`attn_logit_softcapping`).
    pub attn_softcap: bool,
    pub swa: SwaLayers,
    /// Always a mixture of experts (`llama` may be one too when it has `expert_count`).
    pub moe: bool,
}

const fn spec(arch: Arch, name: &'static str, rope_style: RopeStyle) -> ArchSpec {
    ArchSpec {
        arch,
        name,
        rope_style,
        act: Activation::Silu,
        embed_scale: false,
        post_norms: false,
        qk_norm: false,
        attn_softcap: false,
        swa: SwaLayers::None,
        moe: false,
    }
}

const GEMMA: ArchSpec = ArchSpec {
    act: Activation::GeluTanh,
    embed_scale: true,
    post_norms: true,
    ..spec(Arch::Gemma2, "gemma2", RopeStyle::NeoX)
};

/// Every architecture, by GGUF name.
pub const ARCHES: &[ArchSpec] = &[
    spec(Arch::Llama, "llama", RopeStyle::Adjacent),
    spec(Arch::Qwen2, "qwen2", RopeStyle::NeoX),
    ArchSpec {
        qk_norm: true,
        ..spec(Arch::Qwen3, "qwen3", RopeStyle::NeoX)
    },
    ArchSpec {
        qk_norm: true,
        moe: true,
        ..spec(Arch::Qwen3Moe, "qwen3moe", RopeStyle::NeoX)
    },
    ArchSpec {
        attn_softcap: true,
        swa: SwaLayers::Period(2),
        ..GEMMA
    },
    ArchSpec {
        arch: Arch::Gemma3,
        name: "gemma3",
        qk_norm: true,
        swa: SwaLayers::Period(6),
        ..GEMMA
    },
    spec(Arch::Phi3, "phi3", RopeStyle::NeoX),
];

impl Arch {
    /// The architecture of a GGUF `general.architecture` value (`mistral` is `llama`).
    pub fn from_name(name: &str) -> Option<Arch> {
        let name = if name == "mistral" { "llama" } else { name };
        ARCHES.iter().find(|s| s.name == name).map(|s| s.arch)
    }

    pub fn spec(self) -> &'static ArchSpec {
        ARCHES
            .iter()
            .find(|s| s.arch == self)
            .expect("every Arch has a row in ARCHES")
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The supported names, for error messages.
    pub fn supported() -> String {
        let mut names: Vec<&str> = ARCHES.iter().map(|s| s.name).collect();
        names.insert(1, "mistral");
        names.join(", ")
    }
}
