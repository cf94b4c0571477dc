#!/usr/bin/env python3
"""Random-weight qwen3 / qwen3moe GGUF models of real size, for speed work (decode roofline):
laid out as scripts/make_arch_gguf.py lays out the small fixtures, weights Q4_0 (quantized by
gguf-py, bit-exact with ggml's reference quantizer), norms F32, the tok512 vocabulary. The text
they write is noise; only the bytes read per token matter.

    python3 scripts/make_speed_gguf.py dense OUT.gguf   # qwen3, d 2048, 16 layers, ffn 6144 (~0.8 B)
    python3 scripts/make_speed_gguf.py moe OUT.gguf     # qwen3moe, 8 experts x ffn 1408, 2 routed
                                                        # (~1.3 B total, ~0.45 B active)
    brisk bench -m OUT.gguf -p 0 -n 64 -t 1,2 --roofline

Needs: pip install gguf numpy
"""
import sys

import numpy as np
import gguf
from gguf.quants import quantize
from gguf.constants import GGMLQuantizationType as T

sys.path.insert(0, __import__("os").path.dirname(__file__))
from make_arch_gguf import copy_tokenizer, DEFAULT_VOCAB  # noqa: E402

D, LAYERS, HEADS, HD, CTX = 2048, 16, 16, 128, 4096


def main():
    kind, out = sys.argv[1], sys.argv[2]
    moe = kind == "moe"
    arch = "qwen3moe" if moe else "qwen3"
    kv_heads = 4 if moe else 8
    rng = np.random.default_rng(7)
    w = gguf.GGUFWriter(out, arch)
    n_vocab = copy_tokenizer(w, DEFAULT_VOCAB)
    w.add_context_length(CTX)
    w.add_embedding_length(D)
    w.add_block_count(LAYERS)
    w.add_head_count(HEADS)
    w.add_head_count_kv(kv_heads)
    w.add_key_length(HD)
    w.add_value_length(HD)
    w.add_rope_freq_base(1e6)
    w.add_layer_norm_rms_eps(1e-6)
    if moe:
        w.add_expert_count(8)
        w.add_expert_used_count(2)
        w.add_expert_feed_forward_length(1408)
        w.add_feed_forward_length(6144)
    else:
        w.add_feed_forward_length(6144)

    def mat(name, rows, cols, n=None):
        shape = (rows, cols) if n is None else (n, rows, cols)
        x = (rng.standard_normal(shape, dtype=np.float32) / np.sqrt(cols)).astype(np.float32)
        q = quantize(x, T.Q4_0)
        w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=T.Q4_0)

    def vec(name, n):
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    mat("token_embd.weight", n_vocab, D)
    vec("output_norm.weight", D)
    mat("output.weight", n_vocab, D)
    for i in range(LAYERS):
        p = f"blk.{i}."
        vec(p + "attn_norm.weight", D)
        vec(p + "ffn_norm.weight", D)
        vec(p + "attn_q_norm.weight", HD)
        vec(p + "attn_k_norm.weight", HD)
        mat(p + "attn_q.weight", HEADS * HD, D)
        mat(p + "attn_k.weight", kv_heads * HD, D)
        mat(p + "attn_v.weight", kv_heads * HD, D)
        mat(p + "attn_output.weight", D, HEADS * HD)
        if moe:
            w.add_tensor(p + "ffn_gate_inp.weight",
                         (rng.standard_normal((8, D)) / np.sqrt(D)).astype(np.float32))
            mat(p + "ffn_gate_exps.weight", 1408, D, 8)
            mat(p + "ffn_up_exps.weight", 1408, D, 8)
            mat(p + "ffn_down_exps.weight", D, 1408, 8)
        else:
            mat(p + "ffn_gate.weight", 6144, D)
            mat(p + "ffn_up.weight", 6144, D)
            mat(p + "ffn_down.weight", D, 6144)
        print(f"layer {i + 1}/{LAYERS}", file=sys.stderr, end="\r")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(out, file=sys.stderr)


if __name__ == "__main__":
    main()
