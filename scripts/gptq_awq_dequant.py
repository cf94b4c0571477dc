#!/usr/bin/env python3
"""Dequantize a GPTQ (AutoGPTQ `gptq` v1 / `gptq_v2`) or AWQ (AutoAWQ GEMM) checkpoint with numpy,
the way those libraries' own dequantizers unpack it, and check every layer against the float
weights of a reference safetensors file: weight = scales[g_idx] * (q - zeros[g_idx]).

    scripts/gptq_awq_dequant.py PACKED_DIR REFERENCE.safetensors [REL_TOL]

Exact equality by default; with REL_TOL, |difference| <= REL_TOL * max|reference| per layer.

Written from the formats' documentation and reference code (AutoGPTQ's `QuantLinear` unpacking
with `wf = [0, 4, ..., 28]` and its zeros + 1; AutoAWQ's `unpack_awq` + `reverse_awq_order` with
AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]); it shares no code with brisk or its tests."""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "BF16": None}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[8 + n + a : 8 + n + b], dtype=DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"])
    return out


def unpack_cols(packed, bits=4):
    """int32 [..., n] -> int [..., n * 8]: nibble k of each word is element 8c + k."""
    shifts = np.arange(0, 32, bits, dtype=np.uint32)
    words = packed.astype(np.uint32)[..., None]
    vals = (words >> shifts) & ((1 << bits) - 1)
    return vals.reshape(*packed.shape[:-1], packed.shape[-1] * (32 // bits)).astype(np.int32)


def gptq_dequant(t, base, v2):
    qweight, qzeros, scales = t[base + ".qweight"], t[base + ".qzeros"], t[base + ".scales"]
    # qweight [in/8, out]: packed along the input (rows of the stored tensor).
    w = unpack_cols(qweight.T).T  # [in, out]
    zeros = unpack_cols(qzeros)  # [groups, out]
    if not v2:
        zeros = (zeros + 1) & 15
    n_in = w.shape[0]
    g_idx = t.get(base + ".g_idx")
    if g_idx is None:
        group = n_in // scales.shape[0]
        g_idx = np.arange(n_in) // group
    weight = scales.astype(np.float32)[g_idx] * (w - zeros[g_idx]).astype(np.float32)
    return weight.T  # [out, in], as a Linear's weight


def awq_dequant(t, base):
    qweight, qzeros, scales = t[base + ".qweight"], t[base + ".qzeros"], t[base + ".scales"]
    reverse = np.array([0, 4, 1, 5, 2, 6, 3, 7])
    def unpack(x):
        u = unpack_cols(x)
        order = (np.arange(u.shape[-1]).reshape(-1, 8)[:, reverse]).reshape(-1)
        return u[:, order]
    w = unpack(qweight)  # [in, out]
    zeros = unpack(qzeros)  # [groups, out]
    group = w.shape[0] // scales.shape[0]
    g_idx = np.arange(w.shape[0]) // group
    weight = scales.astype(np.float32)[g_idx] * (w - zeros[g_idx]).astype(np.float32)
    return weight.T


def main():
    packed_dir, reference = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else None
    q = json.load(open(f"{packed_dir}/config.json"))["quantization_config"]
    t = read_safetensors(f"{packed_dir}/model.safetensors")
    ref = read_safetensors(reference)
    bases = sorted(n[: -len(".qweight")] for n in t if n.endswith(".qweight"))
    if not bases:
        sys.exit("no packed layers")
    for base in bases:
        if q["quant_method"] == "gptq":
            w = gptq_dequant(t, base, q.get("checkpoint_format") == "gptq_v2")
        else:
            w = awq_dequant(t, base)
        want = ref[base + ".weight"]
        w = w.astype(np.float32)
        if tol is not None and w.shape == want.shape:
            same = np.abs(w - want).max() <= tol * max(np.abs(want).max(), 1e-30)
        else:
            same = w.shape == want.shape and np.array_equal(w, want)
        if not same:
            diff = np.abs(w - want).max() if w.shape == want.shape else "shape"
            sys.exit(f"{base}: numpy's dequantization differs from the reference ({diff})")
    print(f"{len(bases)} layers equal")


if __name__ == "__main__":
    main()
