#!/usr/bin/env python3
"""Writes the golden vectors of brisk-kernels into kernels/tests/golden/.

Oracles:
  * gguf-py (`pip install gguf numpy`): `gguf.quants.quantize` for Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/BF16
    (ggml's reference quantizers re-implemented in numpy, bit-exact) and
    `gguf.quants.dequantize` for every legacy and K type; numpy for f32 -> f16.
  * optionally ggml itself: when gcc and llama.cpp's source are present (LLAMA_CPP_SRC, default
    the anchor unpacked by scripts/llamacpp-anchor.sh), ggml-quants.c is compiled into a small
    shared library (no FMA contraction, no F16C: the portable reference path) and its
    `quantize_row_*_ref` give the K-quant / Q8_1 / Q8_K golden bytes that gguf-py cannot.

Everything is deterministic (fixed seeds). Files are raw little-endian arrays:
  quant_input.f32            ROWS x 256 f32 inputs (random normal rows + edge rows)
  <type>.quant.gguf.bin      gguf-py quantization of quant_input   (legacy types)
  <type>.quant.ggml.bin      ggml reference quantization           (all quantized types, optional)
  <type>.dequant.blocks.bin  blocks: quantized rows + random bytes with sane f16 scales
  <type>.dequant.f32         gguf-py dequantization of those blocks
  vec_dot_act.f32            activations for the vec_dot goldens (same shape as quant_input)
  <type>.vec_dot.ggml.f32    ggml_vec_dot_*_generic per row of <type>.quant.ggml.bin with the
                             quantized activation row, then one dot over all rows (optional)
  f16.in.f32 / f16.out.u16   f32 -> f16 (numpy), signalling NaNs excluded
  bf16.out.u16               f32 -> bf16 (gguf-py, = ggml) of the same inputs
  f16_all.f32                f16 -> f32 (numpy) for all 65536 patterns

The i-quants, ternary types and MXFP4 (IQ_TYPES: iq4_nl, iq4_xs, iq3_xxs, iq3_s, iq2_xxs, iq2_xs,
iq2_s, iq1_s, iq1_m, tq1_0, tq2_0, mxfp4) have no quant_input goldens (their ggml quantizers
need importance weights / grid searches); instead, IQ_ROWS rows of 256 elements per type:
  <type>.dequant.blocks.bin  random bytes with sane f16 scales (IQ1_M: the f16 scale split over
                             the top nibbles of its 4 scale u16; MXFP4: E8M0 exponents around
                             127, the first row's blocks also 0, 1, 2)
  <type>.dequant.f32         gguf-py dequantization of those blocks, checked bit for bit against
                             ggml's dequantize_row_<type> when the library builds
  <type>.vec_dot.ggml.f32    ggml_vec_dot_<type>_<partner>_generic of each block row against row r
                             of vec_dot_act.f32 quantized with quantize_row_q8_0_ref (IQ4_NL,
                             MXFP4) or quantize_row_q8_K_ref (the others), then all IQ_ROWS rows
                             at once (IQ_ROWS + 1 values; optional, needs the library)

Run from the repository root:  python3 scripts/make_quant_golden.py
"""

import ctypes
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from gguf.constants import GGMLQuantizationType as T
import gguf.quants as gq

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "kernels" / "tests" / "golden"
ROW = 256

LEGACY = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]
KQUANTS = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
GGML_QUANT = LEGACY + ["Q8_1"] + KQUANTS + ["Q8_K"]
BLOCK = {  # (elements, bytes)
    "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24), "Q8_0": (32, 34),
    "Q8_1": (32, 36), "Q2_K": (256, 84), "Q3_K": (256, 110), "Q4_K": (256, 144),
    "Q5_K": (256, 176), "Q6_K": (256, 210), "Q8_K": (256, 292),
}
# The i-quants, ternary types and MXFP4: (elements, bytes) per block, as in ggml-common.h.
IQ_TYPES = ["IQ4_NL", "IQ4_XS", "IQ3_XXS", "IQ3_S", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M",
            "TQ1_0", "TQ2_0", "MXFP4"]
IQ_BLOCK = {
    "IQ4_NL": (32, 18), "IQ4_XS": (256, 136), "IQ3_XXS": (256, 98), "IQ3_S": (256, 110),
    "IQ2_XXS": (256, 66), "IQ2_XS": (256, 74), "IQ2_S": (256, 82), "IQ1_S": (256, 50),
    "IQ1_M": (256, 56), "TQ1_0": (256, 54), "TQ2_0": (256, 66), "MXFP4": (32, 17),
}
# Byte offset of the f16 super-block scale (IQ1_M and MXFP4 are handled apart).
IQ_F16_FIELD = {
    "IQ4_NL": 0, "IQ4_XS": 0, "IQ3_XXS": 0, "IQ3_S": 0, "IQ2_XXS": 0, "IQ2_XS": 0, "IQ2_S": 0,
    "IQ1_S": 0, "TQ1_0": 52, "TQ2_0": 64,
}
IQ_PARTNER = {"IQ4_NL": "Q8_0", "MXFP4": "Q8_0"}  # the others pair with Q8_K
IQ_ROWS = 8
IQ1M_SCALES = 48  # byte offset of block_iq1_m.scales

# Byte offsets of the f16 scale fields, to make random blocks sane.
F16_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}


def inputs() -> np.ndarray:
    rng = np.random.default_rng(20240607)
    rows = []
    for _ in range(20):
        scale = 10.0 ** rng.uniform(-3, 2)
        rows.append(rng.standard_normal(ROW) * scale)
    # Heavy tails / outliers within a row.
    r = rng.standard_normal(ROW)
    r[rng.integers(0, ROW, 4)] *= 30
    rows.append(r)
    i = np.arange(ROW, dtype=np.float64)
    rows.append(0.1 + 2 * np.cos(i))                                  # the field's test vector
    rows.append(np.zeros(ROW))                                         # all zeros
    huge = np.zeros(ROW); huge[37] = 1.0e6; rows.append(huge)          # one huge value (f16 d -> inf)
    big = rng.standard_normal(ROW) * 0.01; big[200] = -3.0e4; rows.append(big)  # one large value
    rows.append(rng.standard_normal(ROW) * 1e-6)                       # tiny (f16-subnormal scales)
    rows.append(rng.standard_normal(ROW) * 1e-30)                      # tiny (scales flush to 0)
    rows.append(np.where(i % 2 == 0, 1.0, -1.0) * (1 + i / ROW))       # alternating signs
    rows.append(np.full(ROW, 1.5))                                     # constant (max == min)
    rows.append(np.abs(rng.standard_normal(ROW)) + 0.5)                # all positive
    rows.append(-np.abs(rng.standard_normal(ROW)) - 0.5)               # all negative
    rows.append(rng.integers(-8, 8, ROW).astype(np.float64))           # exact small integers
    return np.array(rows, dtype=np.float32)


def ggml_lib():
    """Compiles ggml-quants.c into a shared library; None if not possible."""
    src = Path(os.environ.get("LLAMA_CPP_SRC",
                              Path.home() / ".cache/brisk-anchor/src/vendor/llama.cpp"))
    g = src / "ggml"
    if not (g / "src" / "ggml-quants.c").exists():
        print(f"note: {g}/src/ggml-quants.c not found; skipping ggml-reference goldens")
        return None
    tmp = Path(tempfile.mkdtemp(prefix="brisk-ggmlq-"))
    stubs = tmp / "stubs.c"
    stubs.write_text(
        "#include <stdio.h>\n#include <stdlib.h>\n#include <stddef.h>\n#include <stdint.h>\n"
        "void ggml_abort(const char *f, int l, const char *fmt, ...) { fprintf(stderr, \"abort %s:%d\\n\", f, l); abort(); }\n"
        "void ggml_log_internal(int level, const char *fmt, ...) {}\n"
        "size_t ggml_row_size(int t, int64_t ne) { abort(); }\n"
        "const char *ggml_type_name(int t) { return \"?\"; }\n"
        "size_t ggml_type_size(int t) { abort(); }\n"
        "float ggml_table_f32_f16[1 << 16];\n")
    lib = tmp / "libggmlq.so"
    cmd = ["gcc", "-O2", "-fPIC", "-shared", "-ffp-contract=off",
           f"-I{g}/include", f"-I{g}/src", f"-I{g}/src/ggml-cpu",
           "-DGGML_CPU_GENERIC",  # the portable scalar vec_dot (ggml_vec_dot_*_generic)
           str(g / "src" / "ggml-quants.c"), str(g / "src" / "ggml-cpu" / "quants.c"),
           str(stubs), "-o", str(lib), "-lm"]
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"note: could not compile ggml-quants.c ({e}); skipping ggml-reference goldens")
        return None
    dll = ctypes.CDLL(str(lib))
    table = (ctypes.c_float * 65536).in_dll(dll, "ggml_table_f32_f16")
    vals = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)
    ctypes.memmove(table, vals.ctypes.data, vals.nbytes)
    return dll


def ggml_vec_dot(lib, wname: str, aname: str, w: np.ndarray, a: np.ndarray, n: int) -> float:
    f = getattr(lib, f"ggml_vec_dot_{wname.lower().replace('_k', '_K')}_{aname.lower().replace('_k', '_K')}")
    f.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                  ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    f.restype = None
    out = np.zeros(1, dtype=np.float32)
    f(n, out.ctypes.data, 0, w.ctypes.data, 0, a.ctypes.data, 0, 1)
    return out[0]


def ggml_quantize(lib, name: str, x: np.ndarray) -> np.ndarray:
    n, nbytes = BLOCK[name]
    flat = np.ascontiguousarray(x, dtype=np.float32).ravel()
    out = np.zeros(flat.size // n * nbytes, dtype=np.uint8)
    f = getattr(lib, f"quantize_row_{name.lower().replace('_k', '_K')}_ref")
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    f.restype = None
    f(flat.ctypes.data, out.ctypes.data, flat.size)
    return out


def sane_random_blocks(name: str, count: int, rng) -> np.ndarray:
    n, nbytes = BLOCK[name]
    b = rng.integers(0, 256, (count, nbytes), dtype=np.uint8)
    for off in F16_FIELDS[name]:
        d = (rng.standard_normal(count) * 10.0 ** rng.uniform(-4, 0, count)).astype(np.float16)
        if name in ("Q2_K", "Q4_K", "Q5_K") or off == 2:
            d = np.abs(d)  # scales/mins stored non-negative by the quantizers; any sign decodes
        b[:, off:off + 2] = d.view(np.uint8).reshape(count, 2)
    return b.ravel()


def sane_random_iq_blocks(name: str, rows: int, rng) -> np.ndarray:
    """`rows` rows of 256 elements of random blocks of an IQ_TYPES type, with sane scales."""
    n, nbytes = IQ_BLOCK[name]
    count = rows * 256 // n
    b = rng.integers(0, 256, (count, nbytes), dtype=np.uint8)
    d = (rng.standard_normal(count) * 10.0 ** rng.uniform(-4, 0, count)).astype(np.float16)
    if name == "MXFP4":
        b[:, 0] = rng.integers(127 - 24, 127 + 8, count)  # half scales 2^-25 .. 2^6
        b[:3, 0] = [0, 1, 2]  # the subnormal / smallest-normal paths of ggml_e8m0_to_fp32_half
    elif name == "IQ1_M":
        # The f16 scale: bits 4k..4k+4 in the top nibble of scale u16 k (its high byte).
        bits = d.view(np.uint16)
        for k in range(4):
            hi = IQ1M_SCALES + 2 * k + 1
            b[:, hi] = (b[:, hi] & 0x0F) | (((bits >> (4 * k)) & 0xF) << 4).astype(np.uint8)
    else:
        off = IQ_F16_FIELD[name]
        b[:, off:off + 2] = d.view(np.uint8).reshape(count, 2)
    return b.ravel()


def ggml_dequantize(lib, name: str, blocks: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float32)
    f = getattr(lib, f"dequantize_row_{name.lower()}")
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    f.restype = None
    f(blocks.ctypes.data, out.ctypes.data, n)
    return out


def iq_goldens(lib, x: np.ndarray):
    """Dequantization and vec_dot goldens of IQ_TYPES (see the module docstring)."""
    rng = np.random.default_rng(20)
    # The first IQ_ROWS rows of vec_dot_act.f32 (same generator and size as in main).
    act = (np.random.default_rng(99).standard_normal(x.size) * 2.0).astype(np.float32)
    act = np.ascontiguousarray(act[:IQ_ROWS * ROW])
    for name in IQ_TYPES:
        n, nbytes = IQ_BLOCK[name]
        blocks = np.ascontiguousarray(sane_random_iq_blocks(name, IQ_ROWS, rng))
        deq = gq.dequantize(blocks, T[name]).astype(np.float32).ravel()
        assert deq.size == blocks.size // nbytes * n == IQ_ROWS * 256
        if lib is not None:
            ref = ggml_dequantize(lib, name, blocks, deq.size)
            same = (ref.view(np.uint32) == deq.view(np.uint32)) | (np.isnan(ref) & np.isnan(deq))
            if not same.all():
                i = int(np.argmin(same))
                print(f"warning: ggml and gguf-py dequantization disagree on {name} "
                      f"({int((~same).sum())} elements, first {i}: {ref[i]} vs {deq[i]})",
                      file=sys.stderr)
        write(f"{name.lower()}.dequant.blocks.bin", blocks)
        write(f"{name.lower()}.dequant.f32", deq)

        if lib is not None:
            pname = IQ_PARTNER.get(name, "Q8_K")
            a = ggml_quantize(lib, pname, act)
            wr, ar = 256 // n * nbytes, 256 // BLOCK[pname][0] * BLOCK[pname][1]
            res = [ggml_vec_dot(lib, name, pname, blocks[i * wr:(i + 1) * wr].copy(),
                                a[i * ar:(i + 1) * ar].copy(), 256) for i in range(IQ_ROWS)]
            res.append(ggml_vec_dot(lib, name, pname, blocks, a, IQ_ROWS * 256))
            write(f"{name.lower()}.vec_dot.ggml.f32", np.array(res, dtype=np.float32))


def write(name: str, arr: np.ndarray):
    (OUT / name).write_bytes(np.ascontiguousarray(arr).tobytes())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    x = inputs()
    write("quant_input.f32", x)

    for name in LEGACY:
        write(f"{name.lower()}.quant.gguf.bin", gq.quantize(x, T[name]))

    lib = ggml_lib()
    if lib is not None:
        for name in GGML_QUANT:
            q = ggml_quantize(lib, name, x)
            if name in LEGACY:
                ref = gq.quantize(x, T[name]).ravel()
                if not np.array_equal(q, ref):
                    print(f"warning: ggml and gguf-py disagree on {name}", file=sys.stderr)
            write(f"{name.lower()}.quant.ggml.bin", q)

    if lib is not None:
        # ggml's generic scalar vec_dot: each weight row (the ggml-quantized quant_input rows)
        # against the same activation row, then all rows as one long dot product.
        act = (np.random.default_rng(99).standard_normal(x.size) * 2.0).astype(np.float32)
        write("vec_dot_act.f32", act)
        partner = {"Q4_0": "Q8_0", "Q5_0": "Q8_0", "Q8_0": "Q8_0", "Q4_1": "Q8_1", "Q5_1": "Q8_1"}
        for name in LEGACY + KQUANTS:
            pname = partner.get(name, "Q8_K")
            n, wbytes = BLOCK[name]
            _, abytes = BLOCK[pname]
            w = ggml_quantize(lib, name, x)
            a = ggml_quantize(lib, pname, act)
            wr, ar = ROW // n * wbytes, ROW // BLOCK[pname][0] * abytes
            res = [ggml_vec_dot(lib, name, pname, w[i * wr:(i + 1) * wr].copy(),
                                a[i * ar:(i + 1) * ar].copy(), ROW) for i in range(x.shape[0])]
            res.append(ggml_vec_dot(lib, name, pname, w, a, x.size))
            write(f"{name.lower()}.vec_dot.ggml.f32", np.array(res, dtype=np.float32))

    rng = np.random.default_rng(7)
    for name in LEGACY + KQUANTS:
        n, nbytes = BLOCK[name]
        if name in LEGACY:
            quantized = gq.quantize(x, T[name]).ravel()
        elif lib is not None:
            quantized = ggml_quantize(lib, name, x)
        else:
            quantized = np.zeros(0, dtype=np.uint8)
        blocks = np.concatenate([quantized, sane_random_blocks(name, 16, rng)])
        deq = gq.dequantize(blocks, T[name]).astype(np.float32)
        assert deq.size == blocks.size // nbytes * n
        write(f"{name.lower()}.dequant.blocks.bin", blocks)
        write(f"{name.lower()}.dequant.f32", deq)

    iq_goldens(lib, x)

    # f32 -> f16 / bf16 on edge values and random bit patterns.
    edge = np.array([0.0, -0.0, 1.0, -1.0, 65504.0, 65519.99, 65520.0, 1e10, -1e10,
                     5.96e-8, 2.98e-8, 2.9802322e-8, 2.9802326e-8, 6.1e-5, 6.103515625e-5,
                     1e-40, np.inf, -np.inf, np.nan, 0.1, 1.0 / 3.0, 3.4e38],
                    dtype=np.float32)
    bits = np.random.default_rng(11).integers(0, 2**32, 6000, dtype=np.uint64).astype(np.uint32)
    # Exponents concentrated around the f16 range so rounding paths are exercised.
    near = (bits & np.uint32(0x807FFFFF)) | ((np.uint32(100) + (bits >> np.uint32(8)) % np.uint32(50)) << np.uint32(23))
    allbits = np.concatenate([edge.view(np.uint32), bits, near.astype(np.uint32)])
    f = allbits.view(np.float32)
    is_snan = ((allbits & 0x7F800000) == 0x7F800000) & ((allbits & 0x007FFFFF) != 0) & ((allbits & 0x00400000) == 0)
    f = f[~is_snan]
    write("f16.in.f32", f)
    with np.errstate(over="ignore"):
        write("f16.out.u16", f.astype(np.float16).view(np.uint16))
    write("bf16.out.u16", gq.quantize(f, T.BF16).view(np.uint16))
    write("f16_all.f32", np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32))

    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total} bytes, to {OUT}")


if __name__ == "__main__":
    main()
