//! The vocabulary: token texts, scores and attributes, text → id lookup, and the special-token
//! bookkeeping llama.cpp does when it loads one (default ids, auto-detected EOT/FIM tokens, the
//! end-of-generation set, the special-token cache used for partitioning).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A fast non-cryptographic hasher (the Fx hash used in rustc) for token lookups, which dominate
/// tokenization time; vocabulary keys are not attacker-chosen in a way that matters here.
#[derive(Clone, Copy, Default)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

// Token attributes (bit flags, as llama.cpp's `llama_token_attr`).
pub const ATTR_UNKNOWN: u32 = 1 << 0;
pub const ATTR_UNUSED: u32 = 1 << 1;
pub const ATTR_NORMAL: u32 = 1 << 2;
pub const ATTR_CONTROL: u32 = 1 << 3;
pub const ATTR_USER_DEFINED: u32 = 1 << 4;
pub const ATTR_BYTE: u32 = 1 << 5;
pub const ATTR_LSTRIP: u32 = 1 << 7;
pub const ATTR_RSTRIP: u32 = 1 << 8;

/// The attribute a GGUF `tokenizer.ggml.token_type` value stands for.
pub fn attr_from_type(t: i64) -> u32 {
    match t {
        1 => ATTR_NORMAL,
        2 => ATTR_UNKNOWN,
        3 => ATTR_CONTROL,
        4 => ATTR_USER_DEFINED,
        5 => ATTR_UNUSED,
        6 => ATTR_BYTE,
        _ => 0,
    }
}

#[derive(Clone, Debug)]
pub struct TokenData {
    pub text: String,
    pub score: f32,
    pub attr: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Vocab {
    pub tokens: Vec<TokenData>,
    pub token_to_id: FastMap<String, u32>,
}

impl Vocab {
    /// Build from parallel lists; empty texts become `[EMPTY_i]` (as llama.cpp does) and a
    /// repeated text maps to its last id.
    pub fn new(tokens: Vec<TokenData>) -> Vocab {
        let mut tokens = tokens;
        let mut token_to_id = FastMap::with_capacity_and_hasher(tokens.len(), Default::default());
        for (i, t) in tokens.iter_mut().enumerate() {
            if t.text.is_empty() {
                t.text = format!("[EMPTY_{i}]");
            }
            token_to_id.insert(t.text.clone(), i as u32);
        }
        Vocab {
            tokens,
            token_to_id,
        }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn get(&self, text: &str) -> Option<u32> {
        self.token_to_id.get(text).copied()
    }

    pub fn attr(&self, id: u32) -> u32 {
        self.tokens.get(id as usize).map_or(0, |t| t.attr)
    }

    fn add_attr(&mut self, id: u32, attr: u32) {
        if let Some(t) = self.tokens.get_mut(id as usize) {
            t.attr |= attr;
        }
    }

    fn set_attr(&mut self, id: u32, attr: u32) {
        if let Some(t) = self.tokens.get_mut(id as usize) {
            t.attr = attr;
        }
    }

    /// The id of the first of `texts` (in list order) the vocabulary has. (llama.cpp takes the
    /// first match in hash-map order, which is unspecified; list order picks `<|eot_id|>` over
    /// `<|end_of_text|>` and `<|im_end|>` over `<|endoftext|>`, the ids llama.cpp reports.)
    fn first_of(&self, texts: &[&str]) -> Option<u32> {
        texts.iter().find_map(|t| self.get(t))
    }
}

/// Special token ids (after defaults, GGUF keys and auto-detection).
#[derive(Clone, Debug, Default)]
pub struct SpecialIds {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub mask: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
}

const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
/// Token texts that end generation (llama.cpp's list).
pub const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// What llama.cpp derives from the vocabulary once ids are known.
pub struct Derived {
    pub eog: Vec<u32>,
    /// Ids matched in raw text before tokenizing (control, user-defined, unknown), longest first.
    pub special_cache: Vec<u32>,
}

/// Auto-detect EOT/EOM/FIM tokens by text (when no id was given), mark them control, build the
/// EOG set and the special-token cache. `model_name` is `general.name` (for Phi-3's rstrip rule).
pub fn derive(vocab: &mut Vocab, ids: &mut SpecialIds, model_name: &str) -> Derived {
    let detect: [(&mut Option<u32>, &[&str]); 8] = [
        (&mut ids.eot, EOT_TEXTS),
        (&mut ids.eom, &["<|eom_id|>"]),
        (&mut ids.fim_pre, FIM_PRE_TEXTS),
        (&mut ids.fim_suf, FIM_SUF_TEXTS),
        (&mut ids.fim_mid, FIM_MID_TEXTS),
        (&mut ids.fim_pad, FIM_PAD_TEXTS),
        (&mut ids.fim_rep, FIM_REP_TEXTS),
        (&mut ids.fim_sep, FIM_SEP_TEXTS),
    ];
    for (slot, texts) in detect {
        if slot.is_none() {
            if let Some(id) = vocab.first_of(texts) {
                *slot = Some(id);
                vocab.add_attr(id, ATTR_CONTROL);
            }
        }
    }

    // Control tokens named "unused…" are unused.
    for t in vocab.tokens.iter_mut() {
        if t.attr & ATTR_CONTROL != 0 && t.text.contains("unused") {
            t.attr |= ATTR_UNUSED;
        }
    }

    let mut eog: Vec<u32> = [ids.fim_pad, ids.fim_rep, ids.fim_sep]
        .into_iter()
        .flatten()
        .collect();
    for text in EOG_TEXTS {
        if let Some(id) = vocab.get(text) {
            eog.push(id);
            vocab.add_attr(id, ATTR_CONTROL);
        }
    }
    // gpt-oss: these always render.
    for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
        if let Some(id) = vocab.get(text) {
            vocab.set_attr(id, ATTR_USER_DEFINED);
        }
    }
    eog.extend([ids.eos, ids.eot, ids.eom].into_iter().flatten());
    eog.retain(|&id| (id as usize) < vocab.len());
    eog.sort_unstable();
    eog.dedup();

    let has = |eog: &[u32], vocab: &Vocab, texts: &[&str]| {
        eog.iter()
            .any(|&id| texts.contains(&vocab.tokens[id as usize].text.as_str()))
    };
    // o200k_harmony / solar-open: "<|end|>" is not end-of-generation there.
    if let Some(end) = eog
        .iter()
        .copied()
        .find(|&id| vocab.tokens[id as usize].text == "<|end|>")
    {
        let ret = has(&eog, vocab, &["<|return|>"]);
        let call = has(&eog, vocab, &["<|call|>", "<|calls|>"]);
        let flush = has(&eog, vocab, &["<|flush|>"]);
        if call && (ret || flush) {
            eog.retain(|&id| id != end);
            vocab.set_attr(end, ATTR_USER_DEFINED);
        }
    }
    // gemma4 / plamo: "</s>" is a normal token there.
    if let Some(s) = eog
        .iter()
        .copied()
        .find(|&id| vocab.tokens[id as usize].text == "</s>")
    {
        if has(&eog, vocab, &["<|tool_response>", "<|plamo:eos|>"]) {
            eog.retain(|&id| id != s);
            vocab.set_attr(s, ATTR_NORMAL);
        }
    }

    let mut special_cache: Vec<u32> = (0..vocab.len() as u32)
        .filter(|&id| vocab.attr(id) & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN) != 0)
        .collect();
    special_cache.sort_by_key(|&id| std::cmp::Reverse(vocab.tokens[id as usize].text.len()));

    let name = model_name.to_lowercase();
    if name.contains("phi-3") || name.contains("phi3") {
        for &id in &special_cache {
            vocab.add_attr(id, ATTR_RSTRIP);
        }
        if let Some(id) = vocab.get("</s>") {
            vocab.add_attr(id, ATTR_RSTRIP);
        }
        for text in ["<unk>", "<s>", "<|endoftext|>"] {
            if let Some(id) = vocab.get(text) {
                if let Some(t) = vocab.tokens.get_mut(id as usize) {
                    t.attr &= !ATTR_RSTRIP;
                }
            }
        }
    }
    Derived { eog, special_cache }
}
