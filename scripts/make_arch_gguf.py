#!/usr/bin/env python3
"""Write small random-weight GGUF models for architectures beyond plain Llama.

One file per architecture, laid out (metadata keys, tensor names, shapes, norm
conventions) the way llama.cpp's convert_hf_to_gguf.py writes the real models,
so that llama.cpp loads them and its outputs can be recorded as golden data:

    rand-llama3.gguf      llama, rope base 500000, rope_freqs.weight (Llama 3.1 "llama3" scaling)
    rand-llama-yarn.gguf  llama, rope.scaling.type = yarn, factor 4, original ctx 64
    rand-qwen3.gguf       qwen3, per-head q/k RMS norm, key_length != n_embd/n_head, tied output
    rand-gemma2.gguf      gemma2, attn + final logit soft-capping, sliding window 8 on even layers,
                          post-attn / post-ffw norms, GeGLU, tied output, norms stored as 1 + w
    rand-gemma3.gguf      gemma3, 7 layers (5 local : 1 global), window 8, rope base 1e6 / local 1e4,
                          q/k norms, norms stored as 1 + w
    rand-phi3.gguf        phi3, fused attn_qkv and ffn_up (gate|up), longrope long/short factors
    rand-qwen3moe.gguf    qwen3moe, 8 experts (2 used), 3-D expert tensors, q/k norm
    rand-mixtral.gguf     llama with 8 experts (2 used), Mixtral layout

The tokenizer (every tokenizer.* key) is copied from a vocab GGUF; by default the
512-token SentencePiece vocabulary of stories260K, which keeps each file at a few MB.
Weights are F32, seeded (deterministic for a given --seed).  The scales (LOGIT_STD and the
constants around it) make the models well-conditioned -- llama.cpp agrees with itself (flash
attention on/off, n_batch 512/1) to < 0.01 on the F32 files and < 0.1 on the quantized copies --
while keeping a median top-1 margin > 1: RMS ~1 residual stream, blocks that perturb it
modestly, decisive MoE routing, output logits of std 3.5-6 (the EOS row damped so decodes run to
the full length).  Tied-output models get a zero-mean final norm (Gen.signed_norm).

    python3 scripts/make_arch_gguf.py [--vocab stories260K.gguf] [--out-dir tests/fixtures/arch] \
        [--only gemma3,phi3] [--seed 0]

Golden outputs (tests/fixtures/arch/NAME.json) come from llama.cpp through
../shared/scripts/golden.py (--n 24 --ctx 512, three prompts of 5, 38 and 88 tokens);
rand-gemma3-q8_0.gguf and rand-qwen3-q4_k_m.gguf are `llama-quantize` copies (Q8_0, Q4_K_M)
of the F32 files.  rand-qwen3 uses n_embd 256 with every row length a multiple of 256 so
Q4_K_M quantizes without k-quant fallbacks.

Needs: pip install gguf numpy
"""
import argparse
import math
import os

import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VOCAB = "/work/shared/fixtures/models/stories260K.gguf"
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "arch")
# Scales.  The models must be well-conditioned: llama.cpp run with flash attention on/off or
# n_batch 512/1 must agree with itself far inside the golden tests' tolerances, else a test
# cannot tell a bug from rounding noise (the old scales -- logit std 24, Gemma residual RMS 8,
# q gain 3 -- made llama.cpp disagree with itself by 0.1 on F32 and 3 on Q4_K_M).  So: residual
# stream RMS ~1 (Gemma too: its graph multiplies the embeddings by sqrt(n_embd), so they are
# stored at 1/sqrt(n_embd)); every block a modest perturbation of it (matrices that write into
# the residual at RESID_GAIN/sqrt(fan_in), Gemma's post-norms at GEMMA_POST_NORM); attention
# scores of std ~1.5, not one-hot.
#
# Final logits have std LOGIT_STD: top-1 margins scale with it (the gap between the two largest
# of 512 normals is ~std/3.5), and so does every rounding error, so it is as small as a median
# margin > 1 allows.
LOGIT_STD = 6.0
QK_GAIN = 1.2            # q and k projections (score std ~ QK_GAIN^2 without q/k norms)
V_GAIN = 1.0
IN_GAIN = 1.0            # ffn gate / up (and expert gate / up)
RESID_GAIN = 0.3         # attn_output, ffn_down (and expert down)
QNORM, KNORM = 1.2, 1.0  # q/k RMS-norm weights (qwen3*, gemma3): score std ~ QNORM * KNORM
GEMMA_POST_NORM = 0.3    # Gemma post-attention / post-ffw norms: each block adds RMS ~0.3
GEMMA2_Q_GAIN = 2.0      # gemma2 has no q/k norm: the score tails reach its attention soft-cap (5)
GEMMA_EMB_RMS = 1.0      # RMS of sqrt(n_embd) * token_embd
TIED_EMB_STD = 1.0       # qwen3 (dense, tied output) token_embd std
# MoE routing: router logits of std ROUTER_GAIN (5x the old 3).  A 2nd/3rd-expert near-tie flips
# under any rounding difference and moves the output by w2 * (expert2 - expert3); the chance of a
# near-tie relative to the router's noise does not depend on the gain, but a sharper router makes
# w2 small wherever one happens (median w2 is then ~0.002; about a third of decisions still give
# the 2nd expert > 2%).
ROUTER_GAIN = 15.0
# rand-qwen3 and rand-gemma3 have quantized copies (Q4_K_M, Q8_0).  There every matmul rounds its
# input to Q8, and any tiny difference (flash attention's F16 rounding, another summation order)
# flips some of those roundings by a whole quantum, so noise grows like sqrt(perturbation * quantum)
# at each matmul -- worst at the output matmul, whose error lands on the logits directly.  These
# two therefore have weaker blocks (this gain replaces RESID_GAIN / GEMMA_POST_NORM) and smaller
# logits, which brings llama.cpp's self-disagreement on the quantized copies to < 0.1.
QWEN3_GAIN, QWEN3_LOGIT_STD = 0.07, 4.5
GEMMA3_GAIN, GEMMA3_LOGIT_STD = 0.1, 3.5


def copy_tokenizer(w, vocab_path, add_space_prefix=None):
    """Copy every tokenizer.* key from vocab_path; returns n_vocab."""
    voc = gguf.GGUFReader(vocab_path)
    n_vocab = None
    for f in voc.fields.values():
        if not f.name.startswith("tokenizer."):
            continue
        if add_space_prefix is not None and f.name == "tokenizer.ggml.add_space_prefix":
            continue
        vt = f.types[0]
        if vt == gguf.GGUFValueType.ARRAY:
            et = f.types[-1]
            if et == gguf.GGUFValueType.STRING:
                val = [bytes(f.parts[i]) for i in f.data]
            else:
                val = [f.parts[i].tolist()[0] for i in f.data]
            if f.name == "tokenizer.ggml.tokens":
                n_vocab = len(val)
            w.add_key_value(f.name, val, vt, sub_type=et)
        elif vt == gguf.GGUFValueType.STRING:
            w.add_key_value(f.name, bytes(f.parts[-1]).decode("utf-8"), vt)
        else:
            w.add_key_value(f.name, f.parts[-1].tolist()[0], vt)
    assert n_vocab, "vocab file has no tokenizer.ggml.tokens"
    if add_space_prefix is not None:
        # Gemma converters call add_add_space_prefix(False)
        w.add_add_space_prefix(add_space_prefix)
    return n_vocab


class Gen:
    """Seeded weight factory. numpy shapes are (rows, cols) = (out, in); GGUF ne is reversed."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def normal(self, shape, std):
        return (self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)

    def mat(self, n_out, n_in, gain=1.0):
        return self.normal((n_out, n_in), gain / math.sqrt(n_in))

    def experts(self, n_exp, n_out, n_in, gain=1.0):
        return self.normal((n_exp, n_out, n_in), gain / math.sqrt(n_in))

    def norm(self, n, center=1.0, spread=0.1):
        """An RMSNorm weight as the model uses it (centre +- spread)."""
        return (np.float32(center) + self.normal((n,), spread)).astype(np.float32)

    def signed_norm(self, n, scale, spread=0.1):
        """An RMSNorm weight of random sign and magnitude ~scale.  Used as the final norm of a
        model with tied embeddings: with a positive weight the logit of the current token would
        be ~||e||^2 (the residual stream is mostly its embedding), so every position would
        predict its own token; a zero-mean weight removes that bias."""
        sign = np.where(self.rng.random(n) < 0.5, -1.0, 1.0).astype(np.float32)
        return (sign * np.float32(scale) * (np.float32(1.0) + self.normal((n,), spread))).astype(np.float32)

    def embedding(self, n_vocab, n_embd, std):
        return self.normal((n_vocab, n_embd), std)

    def output(self, n_vocab, n_embd, logit_std, eos_id):
        out = self.normal((n_vocab, n_embd), logit_std / math.sqrt(n_embd))
        if eos_id is not None and 0 <= eos_id < n_vocab:
            out[eos_id] *= np.float32(0.05)
        return out


def gemma_norm(g, n, center, spread=0.1):
    """HF Gemma RMSNorm computes x * (1 + w); the converter stores w + 1.  We draw the
    HF-side w around (center - 1) and store w + 1, exactly like convert_hf_to_gguf.py."""
    w_hf = (np.float32(center - 1.0) + g.normal((n,), spread)).astype(np.float32)
    return (w_hf + np.float32(1.0)).astype(np.float32)


def llama3_rope_factors(base, dim, factor, low_freq_factor, high_freq_factor, old_context_len):
    """Same computation as LlamaModel.generate_extra_tensors in convert_hf_to_gguf."""
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / float(freq)
        if wavelen < high_freq_wavelen:
            out.append(1.0)
        elif wavelen > low_freq_wavelen:
            out.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def new_writer(path, arch, name, vocab, add_space_prefix=None):
    w = gguf.GGUFWriter(path, arch)
    w.add_type("model")
    w.add_name(name)
    n_vocab = copy_tokenizer(w, vocab, add_space_prefix)
    eos = None
    r = gguf.GGUFReader(vocab)
    f = r.fields.get("tokenizer.ggml.eos_token_id")
    if f is not None:
        eos = int(f.parts[-1][0])
    return w, n_vocab, eos


def finish(w, path):
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


def common_keys(w, *, ctx, n_embd, n_layer, n_ff, n_head, n_head_kv, eps, rope_base=None):
    """TextModel.set_gguf_parameters (the base-class part every converter calls)."""
    w.add_block_count(n_layer)
    w.add_context_length(ctx)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    if rope_base is not None:
        w.add_rope_freq_base(rope_base)
    w.add_layer_norm_rms_eps(eps)


# ----------------------------------------------------------------------------------------
# llama family: rand-llama3, rand-llama-yarn, rand-mixtral


def make_llama(path, vocab, seed, variant):
    g = Gen(seed)
    if variant == "llama3":
        E, L, H, HKV, HD, FF = 64, 3, 2, 1, 32, 192
        name = "rand-llama3"
    elif variant == "yarn":
        E, L, H, HKV, HD, FF = 64, 3, 2, 2, 32, 192
        name = "rand-llama-yarn"
    elif variant == "mixtral":
        E, L, H, HKV, HD, FF = 64, 3, 4, 2, 16, 96  # n_ff != n_embd: expert tensor orientation is unambiguous
        NEXP, NUSED = 8, 2
        name = "rand-mixtral"
    else:
        raise ValueError(variant)
    w, V, eos = new_writer(path, "llama", name, vocab)
    rope_base = {"llama3": 500000.0, "yarn": 10000.0, "mixtral": 1000000.0}[variant]
    common_keys(w, ctx=512, n_embd=E, n_layer=L, n_ff=FF, n_head=H, n_head_kv=HKV, eps=1e-5, rope_base=rope_base)
    if variant == "yarn":
        # TextModel.set_gguf_parameters for rope_scaling {"rope_type": "yarn", "factor": 4,
        # "original_max_position_embeddings": 64} (no beta_fast/beta_slow/attn_factor in config)
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(4.0)
        w.add_rope_scaling_orig_ctx_len(64)
    if variant == "mixtral":
        w.add_expert_count(NEXP)
        w.add_expert_used_count(NUSED)
    if variant == "llama3":
        # Llama 3.x configs carry head_dim -> key_length / value_length
        w.add_key_length(HD)
        w.add_value_length(HD)
    # LlamaModel.set_gguf_parameters
    w.add_vocab_size(V)
    w.add_rope_dimension_count(HD)

    if variant == "llama3":
        # generate_extra_tensors comes first in the converter's tensor order
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(rope_base, HD, 8.0, 1.0, 4.0, 64))

    w.add_tensor("token_embd.weight", g.embedding(V, E, 1.0))
    for i in range(L):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", g.norm(E))
        w.add_tensor(p + "attn_q.weight", g.mat(H * HD, E, QK_GAIN))
        w.add_tensor(p + "attn_k.weight", g.mat(HKV * HD, E, QK_GAIN))
        w.add_tensor(p + "attn_v.weight", g.mat(HKV * HD, E, V_GAIN))
        w.add_tensor(p + "attn_output.weight", g.mat(E, H * HD, RESID_GAIN))
        w.add_tensor(p + "ffn_norm.weight", g.norm(E))
        if variant == "mixtral":
            # w1 (gate), w3 (up), w2 (down) stacked over experts: torch (n_exp, out, in)
            w.add_tensor(p + "ffn_gate_inp.weight", g.mat(NEXP, E, ROUTER_GAIN))
            w.add_tensor(p + "ffn_gate_exps.weight", g.experts(NEXP, FF, E, IN_GAIN))
            w.add_tensor(p + "ffn_down_exps.weight", g.experts(NEXP, E, FF, RESID_GAIN))
            w.add_tensor(p + "ffn_up_exps.weight", g.experts(NEXP, FF, E, IN_GAIN))
        else:
            w.add_tensor(p + "ffn_gate.weight", g.mat(FF, E, IN_GAIN))
            w.add_tensor(p + "ffn_down.weight", g.mat(E, FF, RESID_GAIN))
            w.add_tensor(p + "ffn_up.weight", g.mat(FF, E, IN_GAIN))
    w.add_tensor("output_norm.weight", g.norm(E))
    w.add_tensor("output.weight", g.output(V, E, LOGIT_STD, eos))
    finish(w, path)


# ----------------------------------------------------------------------------------------
# qwen3 / qwen3moe


def make_qwen3(path, vocab, seed, moe):
    g = Gen(seed)
    rg = RESID_GAIN if moe else QWEN3_GAIN
    if moe:
        E, L, H, HKV, HD, FF, FFE, NEXP, NUSED = 64, 3, 4, 2, 32, 192, 96, 8, 2
        name, arch = "rand-qwen3moe", "qwen3moe"
    else:
        # n_embd 256 and every matrix row length a multiple of 256 so Q4_K_M really uses k-quants
        E, L, H, HKV, HD, FF = 256, 2, 4, 1, 128, 256
        name, arch = "rand-qwen3", "qwen3"
    w, V, eos = new_writer(path, arch, name, vocab)
    common_keys(w, ctx=512, n_embd=E, n_layer=L, n_ff=FF, n_head=H, n_head_kv=HKV, eps=1e-6, rope_base=1000000.0)
    if moe:
        w.add_expert_count(NEXP)
        w.add_expert_used_count(NUSED)
    w.add_key_length(HD)
    w.add_value_length(HD)
    if moe:
        # Qwen2MoeModel.set_gguf_parameters: moe_intermediate_size
        w.add_expert_feed_forward_length(FFE)

    emb_std = 1.0 if moe else TIED_EMB_STD
    emb = g.embedding(V, E, emb_std)
    if not moe and eos is not None:
        emb[eos] *= np.float32(0.05)
    w.add_tensor("token_embd.weight", emb)
    for i in range(L):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", g.norm(E))
        w.add_tensor(p + "attn_q.weight", g.mat(H * HD, E, QK_GAIN))
        w.add_tensor(p + "attn_k.weight", g.mat(HKV * HD, E, QK_GAIN))
        w.add_tensor(p + "attn_v.weight", g.mat(HKV * HD, E, V_GAIN))
        w.add_tensor(p + "attn_output.weight", g.mat(E, H * HD, rg))
        w.add_tensor(p + "attn_q_norm.weight", g.norm(HD, QNORM, 0.2))
        w.add_tensor(p + "attn_k_norm.weight", g.norm(HD, KNORM, 0.1))
        w.add_tensor(p + "ffn_norm.weight", g.norm(E))
        if moe:
            w.add_tensor(p + "ffn_gate_inp.weight", g.mat(NEXP, E, ROUTER_GAIN))
            w.add_tensor(p + "ffn_gate_exps.weight", g.experts(NEXP, FFE, E, IN_GAIN))
            w.add_tensor(p + "ffn_down_exps.weight", g.experts(NEXP, E, FFE, rg))
            w.add_tensor(p + "ffn_up_exps.weight", g.experts(NEXP, FFE, E, IN_GAIN))
        else:
            w.add_tensor(p + "ffn_gate.weight", g.mat(FF, E, IN_GAIN))
            w.add_tensor(p + "ffn_down.weight", g.mat(E, FF, rg))
            w.add_tensor(p + "ffn_up.weight", g.mat(FF, E, IN_GAIN))
    # tied (dense): logits std = emb_std * sqrt(E) * output_norm
    w.add_tensor("output_norm.weight", g.norm(E) if moe else g.signed_norm(E, QWEN3_LOGIT_STD / (emb_std * math.sqrt(E))))
    if moe:
        w.add_tensor("output.weight", g.output(V, E, LOGIT_STD, eos))
    finish(w, path)


# ----------------------------------------------------------------------------------------
# gemma2 / gemma3


def make_gemma(path, vocab, seed, version, final_cap=None, attn_cap=None):
    g = Gen(seed)
    post = GEMMA_POST_NORM if version == 2 else GEMMA3_GAIN
    if version == 2:
        E, L, H, HKV, HD, FF, SWA = 64, 4, 4, 2, 32, 128, 8
        name, arch = "rand-gemma2", "gemma2"
    else:
        E, L, H, HKV, HD, FF, SWA = 64, 7, 4, 1, 32, 128, 8
        name, arch = "rand-gemma3", "gemma3"
    w, V, eos = new_writer(path, arch, name, vocab, add_space_prefix=False)
    if version == 2:
        # Gemma2Model.set_gguf_parameters (does not call the base class: no rope.freq_base)
        w.add_context_length(512)
        w.add_embedding_length(E)
        w.add_block_count(L)
        w.add_feed_forward_length(FF)
        w.add_head_count(H)
        w.add_head_count_kv(HKV)
        w.add_layer_norm_rms_eps(1e-6)
        w.add_key_length(HD)
        w.add_value_length(HD)
        w.add_attn_logit_softcapping(attn_cap)
        w.add_final_logit_softcapping(final_cap)
        w.add_sliding_window(SWA)
    else:
        # TextModel.set_gguf_parameters then Gemma3Model's own keys; HF config has
        # rope_theta 1e6 and rope_local_base_freq 1e4 (-> rope.freq_base_swa)
        common_keys(w, ctx=512, n_embd=E, n_layer=L, n_ff=FF, n_head=H, n_head_kv=HKV, eps=1e-6,
                    rope_base=1000000.0)
        w.add_rope_freq_base_swa(10000.0)
        w.add_key_length(HD)
        w.add_value_length(HD)
        w.add_sliding_window(SWA)

    # tied output; the graph scales the input by sqrt(n_embd), so the residual RMS is ~1
    emb = g.embedding(V, E, GEMMA_EMB_RMS / math.sqrt(E))
    if eos is not None:
        emb[eos] *= np.float32(0.05)
    w.add_tensor("token_embd.weight", emb)
    for i in range(L):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", gemma_norm(g, E, 1.0))
        # gemma2 (no q/k norm): q gain 2 puts the scores' tails against the attention soft-cap of 5
        w.add_tensor(p + "attn_q.weight", g.mat(H * HD, E, QK_GAIN if version == 3 else GEMMA2_Q_GAIN))
        w.add_tensor(p + "attn_k.weight", g.mat(HKV * HD, E, QK_GAIN))
        w.add_tensor(p + "attn_v.weight", g.mat(HKV * HD, E, V_GAIN))
        w.add_tensor(p + "attn_output.weight", g.mat(E, H * HD, RESID_GAIN))
        if version == 3:
            w.add_tensor(p + "attn_q_norm.weight", gemma_norm(g, HD, QNORM, 0.2))
            w.add_tensor(p + "attn_k_norm.weight", gemma_norm(g, HD, KNORM, 0.1))
        w.add_tensor(p + "post_attention_norm.weight", gemma_norm(g, E, post, 0.05))
        w.add_tensor(p + "ffn_norm.weight", gemma_norm(g, E, 1.0))
        w.add_tensor(p + "ffn_gate.weight", g.mat(FF, E, IN_GAIN))
        w.add_tensor(p + "ffn_up.weight", g.mat(FF, E, IN_GAIN))
        w.add_tensor(p + "ffn_down.weight", g.mat(E, FF, RESID_GAIN))
        w.add_tensor(p + "post_ffw_norm.weight", gemma_norm(g, E, post, 0.05))
    # tied: the embedding rows have norm ~1, so logits std ~ output_norm (gemma2: under a final cap
    # of 50 that bends the top logits by a few tenths)
    # (signed, see Gen.signed_norm; this is the stored multiplier, i.e. HF 1 + w)
    w.add_tensor("output_norm.weight", g.signed_norm(E, (LOGIT_STD if version == 2 else GEMMA3_LOGIT_STD) / GEMMA_EMB_RMS))
    finish(w, path)


# ----------------------------------------------------------------------------------------
# phi3 (longrope)


def make_phi3(path, vocab, seed):
    g = Gen(seed)
    E, L, H, HKV, FF = 64, 3, 4, 2, 128
    HD = E // H
    CTX, ORIG = 512, 64
    w, V, eos = new_writer(path, "phi3", "rand-phimini", vocab)  # a name containing "phi3"/"phi-3" makes llama.cpp demand <|endoftext|>
    # Phi3MiniModel.set_gguf_parameters
    w.add_context_length(CTX)
    w.add_rope_scaling_orig_ctx_len(ORIG)
    w.add_embedding_length(E)
    w.add_feed_forward_length(FF)
    w.add_block_count(L)
    w.add_head_count(H)
    w.add_head_count_kv(HKV)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(HD)
    w.add_rope_freq_base(10000.0)
    w.add_sliding_window(32)  # llama.cpp ignores Phi-3 SWA (sets n_swa = 0)
    # Phi3MiniModel.generate_extra_tensors (rope_type "longrope")
    scale = CTX / ORIG
    w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(ORIG)))
    t = np.arange(HD // 2, dtype=np.float32) / (HD // 2 - 1)
    long_f = (1.0 * (24.0 ** t)).astype(np.float32)          # 1 .. 24
    short_f = (1.0 + 0.5 * t * t).astype(np.float32)         # 1 .. 1.5
    w.add_tensor("rope_factors_long.weight", long_f)
    w.add_tensor("rope_factors_short.weight", short_f)

    w.add_tensor("token_embd.weight", g.embedding(V, E, 1.0))
    for i in range(L):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", g.norm(E))
        # HF qkv_proj is [q; k; v] stacked on the output dim
        qkv = np.concatenate([g.mat(H * HD, E, QK_GAIN), g.mat(HKV * HD, E, QK_GAIN),
                              g.mat(HKV * HD, E, V_GAIN)], axis=0)
        w.add_tensor(p + "attn_qkv.weight", qkv)
        w.add_tensor(p + "attn_output.weight", g.mat(E, H * HD, RESID_GAIN))
        w.add_tensor(p + "ffn_norm.weight", g.norm(E))
        # HF gate_up_proj is [gate; up] stacked on the output dim (-> ffn_up, 2*n_ff rows)
        gate_up = np.concatenate([g.mat(FF, E, IN_GAIN), g.mat(FF, E, IN_GAIN)], axis=0)
        w.add_tensor(p + "ffn_up.weight", gate_up)
        w.add_tensor(p + "ffn_down.weight", g.mat(E, FF, RESID_GAIN))
    w.add_tensor("output_norm.weight", g.norm(E))
    w.add_tensor("output.weight", g.output(V, E, LOGIT_STD, eos))
    finish(w, path)


MODELS = {
    "llama3": lambda p, v, s: make_llama(p, v, s, "llama3"),
    "llama-yarn": lambda p, v, s: make_llama(p, v, s, "yarn"),
    "qwen3": lambda p, v, s: make_qwen3(p, v, s, False),
    "gemma2": lambda p, v, s: make_gemma(p, v, s, 2, final_cap=50.0, attn_cap=5.0),
    "gemma3": lambda p, v, s: make_gemma(p, v, s, 3),
    "phi3": lambda p, v, s: make_phi3(p, v, s),
    "qwen3moe": lambda p, v, s: make_qwen3(p, v, s, True),
    "mixtral": lambda p, v, s: make_llama(p, v, s, "mixtral"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", default=DEFAULT_VOCAB, help="GGUF to copy tokenizer.* keys from")
    ap.add_argument("--out-dir", default=DEFAULT_OUT)
    ap.add_argument("--only", default=None, help="comma-separated subset of: " + ", ".join(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    names = a.only.split(",") if a.only else list(MODELS)
    for k, name in enumerate(MODELS):
        if name not in names:
            continue
        # per-model seed so regenerating one file does not change the others
        MODELS[name](os.path.join(a.out_dir, f"rand-{name}.gguf"), a.vocab, a.seed * 1000 + k)


if __name__ == "__main__":
    main()
