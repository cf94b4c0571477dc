#!/usr/bin/env bash
# Make the IQ / TQ / MXFP4 model fixtures in tests/fixtures/arch/ with llama.cpp's own tools.
#
# Quantized copies of the random-weight models from scripts/make_arch_gguf.py, so that brisk's
# readers of ggml's IQ4_NL, IQ4_XS, IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M, TQ1_0,
# TQ2_0 and MXFP4 weights are checked end to end against llama.cpp goldens:
#
#   rand-qwen3.imatrix.gguf   llama-imatrix on rand-qwen3.gguf over the first 20 KB of
#                             tinyshakespeare.txt (-c 128 --chunks 20); used for every IQ type
#   rand-qwen3-<type>.gguf    llama-quantize --pure --imatrix ... rand-qwen3.gguf <ftype>: every
#                             2-D weight (attention, FFN, token_embd = tied output) is <type>, except
#                             that token_embd is Q5_K for IQ2_XXS/IQ2_XS/IQ2_S/IQ1_S (ggml requires an
#                             imatrix for those and llama-imatrix collects none for token_embd; Q5_K
#                             is what llama.cpp's own mixes pick for it).  IQ2_S tensors come from
#                             ftype IQ2_M (llama.cpp's ftype IQ2_S means IQ2_XS tensors).
#                             TQ1_0/TQ2_0 have no imatrix (the ternary quantizers ignore it); both
#                             round to the same ternary weights, so their goldens coincide.
#   rand-qwen3moe-mxfp4.gguf  llama-quantize --pure rand-qwen3moe.gguf MXFP4_MOE: every 2-D/3-D
#                             weight MXFP4 (experts rows 64/96, blocks of 32); router stays F32
#
# With --golden also records NAME.json for each (../shared/scripts/golden.py: --n 24 --ctx 512, the
# three prompts of rand-qwen3.json), adds the "note", and runs llama.cpp against itself on case 2
# (golden vs n_batch 512 without / with flash attention vs n_batch 1, max |dlogit| over the golden
# top-10 ids); where that spread exceeds 0.1 it is stored as "self_spread".
#
# Tools: ANCHOR (default ~/.cache/brisk-anchor: bin/llama-*, src/ = llama-cpp-python), GGML_LIB
# (default /tmp/anchor-hybrid: the anchor's libs with a libggml-cpu.so built GGML_AVX_VNNI=OFF,
# since the anchor's SIGILLs on CPUs without AVX-VNNI).  Needs python3 with gguf + numpy.
#
#   scripts/make_iq_fixtures.sh [--golden]
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHOR=${ANCHOR:-$HOME/.cache/brisk-anchor}
BIN=${LLAMA_BIN:-$ANCHOR/bin}
GGML_LIB=${GGML_LIB:-/tmp/anchor-hybrid}
TEXT=${TEXT:-$ROOT/../shared/fixtures/text/tinyshakespeare.txt}
GOLDEN_PY=${GOLDEN_PY:-$ROOT/../shared/scripts/golden.py}
OUT=$(cd "${OUT_DIR:-$ROOT/tests/fixtures/arch}" && pwd)
GOLDEN=0
[ "${1:-}" = "--golden" ] && GOLDEN=1

export LD_LIBRARY_PATH=$GGML_LIB
IMATRIX=$OUT/rand-qwen3.imatrix.gguf
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- importance matrix (the dataset name stored in it is the basename of -f) ---
head -c 20000 "$TEXT" > "$TMP/tinyshakespeare-20k.txt"
(cd "$TMP" && "$BIN/llama-imatrix" -m "$OUT/rand-qwen3.gguf" -f tinyshakespeare-20k.txt \
    -c 128 --chunks 20 -t 2 -o "$IMATRIX" > imatrix.log 2>&1) || { cat "$TMP/imatrix.log"; exit 1; }

# --- quantize: suffix | llama-quantize ftype | extra args ---
FIXTURES="
iq4_nl  IQ4_NL  --imatrix=rand-qwen3.imatrix.gguf
iq4_xs  IQ4_XS  --imatrix=rand-qwen3.imatrix.gguf
iq3_xxs IQ3_XXS --imatrix=rand-qwen3.imatrix.gguf
iq3_s   IQ3_S   --imatrix=rand-qwen3.imatrix.gguf
iq2_xxs IQ2_XXS --imatrix=rand-qwen3.imatrix.gguf --token-embedding-type=q5_k
iq2_xs  IQ2_XS  --imatrix=rand-qwen3.imatrix.gguf --token-embedding-type=q5_k
iq2_s   IQ2_M   --imatrix=rand-qwen3.imatrix.gguf --token-embedding-type=q5_k
iq1_s   IQ1_S   --imatrix=rand-qwen3.imatrix.gguf --token-embedding-type=q5_k
iq1_m   IQ1_M   --imatrix=rand-qwen3.imatrix.gguf
tq1_0   TQ1_0
tq2_0   TQ2_0
"
NAMES=()
quant() {  # base suffix ftype [args...]; --opt=value -> --opt value
    local base=$1 sfx=$2 ft=$3; shift 3
    local args=() a
    for a in "$@"; do args+=("${a%%=*}" "${a#*=}"); done
    local out="$OUT/$base-$sfx.gguf"
    # run in $OUT so the quantize.imatrix.file key holds the bare file name
    (cd "$OUT" && "$BIN/llama-quantize" --pure ${args[@]+"${args[@]}"} "$base.gguf" "$base-$sfx.gguf" "$ft" 2) \
        > "$TMP/q.log" 2>&1 || { tail -20 "$TMP/q.log"; echo "FAILED: $out"; exit 1; }
    NAMES+=("$base-$sfx")
    echo "$out"
}
while read -r sfx ft rest; do
    [ -n "$sfx" ] || continue
    # shellcheck disable=SC2086
    quant rand-qwen3 "$sfx" "$ft" $rest
done <<< "$FIXTURES"
quant rand-qwen3moe mxfp4 MXFP4_MOE

# --- the weight types each file really holds ---
python3 - "${NAMES[@]/#/$OUT/}" <<'EOF'
import sys, os, collections, gguf
for f in sys.argv[1:]:
    f += ".gguf"
    d = collections.OrderedDict()
    for t in gguf.GGUFReader(f).tensors:
        if len(t.shape) >= 2:
            d.setdefault(t.name.split(".", 2)[-1] if t.name.startswith("blk.") else t.name, set()).add(t.tensor_type.name)
    print(f"{os.path.basename(f):28s} {os.path.getsize(f):8d}  "
          + " ".join(f"{k.replace('.weight', '')}={'/'.join(sorted(v))}" for k, v in d.items()))
EOF

[ $GOLDEN = 1 ] || exit 0

# --- goldens, notes, self-spread ---
export LLAMA_CPP_LIB_PATH=$GGML_LIB PYTHONPATH=$ANCHOR/src
mapfile -t PROMPTS < <(python3 -c "import json,sys; [print(c['prompt']) for c in json.load(open(sys.argv[1]))['cases']]" "$OUT/rand-qwen3.json")
PARGS=(); for p in "${PROMPTS[@]}"; do PARGS+=(--prompt "$p"); done
for n in "${NAMES[@]}"; do
    python3 "$GOLDEN_PY" "$OUT/$n.gguf" "$OUT/$n.json" --n 24 --ctx 512 "${PARGS[@]}"
done
# FIXTURES lines for the notes: name -> "ftype args"
python3 - "$OUT" "${NAMES[@]}" <<EOF
import json, sys
import numpy as np
from llama_cpp import Llama
out, names = sys.argv[1], sys.argv[2:]
made = {}
for line in """$FIXTURES""".strip().splitlines():
    sfx, ft, *rest = line.split()
    made["rand-qwen3-" + sfx] = ("rand-qwen3.gguf", ft, rest)
made["rand-qwen3moe-mxfp4"] = ("rand-qwen3moe.gguf", "MXFP4_MOE", [])
for n in names:
    base, ft, rest = made[n]
    cmd = " ".join(["llama-quantize --pure"] + [r.replace("=", " ") for r in rest] + [base, n + ".gguf", ft])
    imx = (", the imatrix from llama-imatrix on rand-qwen3.gguf over the first 20 KB of tinyshakespeare.txt "
           "(-c 128 --chunks 20)") if "imatrix" in cmd else ""
    path = f"{out}/{n}.json"
    g = json.load(open(path))
    g["note"] = ("recorded with the anchor's libllama.so and a libggml-cpu.so rebuilt from the same tree with "
                 "GGML_AVX_VNNI=OFF (/tmp/anchor-hybrid), since the anchor build SIGILLs on this CPU; the model "
                 f"was made by \`{cmd}\`{imx} (scripts/make_iq_fixtures.sh)")
    # llama.cpp against itself on case 2, as for the other fixtures
    c = g["cases"][2]
    seq = c["tokens"] + c["greedy"]
    ids = np.array([[t for t, _ in row] for row in c["top"]])
    vals = [np.array([[v for _, v in row] for row in c["top"]], dtype=np.float64)]
    for nb, fa in [(512, False), (512, True), (1, False)]:
        m = Llama(f"{out}/{n}.gguf", logits_all=True, n_ctx=512, n_batch=nb, n_threads=1, flash_attn=fa, verbose=False, seed=0)
        m.reset(); m.eval(seq)
        sc = np.array([m.scores[i] for i in range(len(c["top"]))], dtype=np.float64)
        vals.append(np.take_along_axis(sc, ids, axis=1))
        del m
    spread = max(float(np.abs(a - b).max()) for i, a in enumerate(vals) for b in vals[i + 1:])
    g.pop("self_spread", None); g.pop("self_spread_note", None)
    if spread > 0.1:
        g["self_spread"] = round(spread, 4)
        g["self_spread_note"] = ("llama.cpp against itself on case 2 (prompt + greedy), max |dlogit| over the golden "
                                 "top-10 ids: the golden vs n_batch 512 without flash attention vs with it vs n_batch 1; "
                                 "a correct implementation may differ from llama.cpp by as much")
    marg = np.concatenate([np.array(cc["top1_margin"]) for cc in g["cases"]])
    print(f"{n:28s} spread={spread:.4g}  top1_margin min={marg.min():.3g} median={np.median(marg):.3g}")
    keys = ["model", "sha256", "n_ctx", "source", "note", "self_spread", "self_spread_note", "cases"]
    json.dump({k: g[k] for k in keys if k in g}, open(path, "w"))
EOF
