#!/usr/bin/env bash
# The quantization quality table for prose-5m on text it was not trained on (the last 5% of
# war-and-peace.txt and of tinyshakespeare.txt): for every type brisk quantize writes, without
# and with an importance matrix (brisk imatrix over the first 95% of war-and-peace.txt), the
# file size, bits per weight, perplexity, mean KL-divergence against the F32 model and how often
# the top token agrees. Markdown on stdout. Usage: scripts/quality-table.sh [CHUNKS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${BRISK_SHARED:-$root/../shared}
brisk=${BRISK:-$root/target/release/brisk}
chunks=${1:-100}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=$shared/fixtures/models/prose-5m.gguf
text=$shared/fixtures/text
python3 - "$text" "$work" <<'PY'
import sys
src, out = sys.argv[1], sys.argv[2]
held, train = [], []
for name in ["war-and-peace.txt", "tinyshakespeare.txt"]:
    t = open(f"{src}/{name}", encoding="utf-8").read()
    cut = t.index("\n", int(len(t) * 0.95)) + 1
    held.append(t[cut:])
    if name == "war-and-peace.txt":
        train.append(t[:cut])
open(f"{out}/heldout.txt", "w", encoding="utf-8").write("".join(held))
open(f"{out}/train.txt", "w", encoding="utf-8").write("".join(train))
PY
q() { "$brisk" "$@" --quiet 2>/dev/null; }
"$brisk" imatrix --quiet -m "$model" -f "$work/train.txt" -c 256 --chunks 200 --no-ppl \
    -o "$work/imatrix.gguf" >/dev/null
"$brisk" perplexity --quiet -m "$model" -f "$work/heldout.txt" -c 256 --chunks "$chunks" \
    --kl-divergence-base "$work/base.kld" >/dev/null
bpw() {
    python3 -c '
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
n = sum(int(t.n_elements) for t in r.tensors)
b = sum(int(t.n_bytes) for t in r.tensors)
print(f"{b / 2**20:.2f} | {8 * b / n:.2f}")' "$1"
}
echo "| type | imatrix | size MiB | bits/weight | PPL | mean KLD | same top p |"
echo "|---|---|---|---|---|---|---|"
for ty in F32 F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 IQ4_NL IQ4_XS \
    Q3_K_L Q3_K_M Q3_K_S IQ3_M IQ3_S IQ3_XS IQ3_XXS Q2_K Q2_K_S IQ2_M IQ2_S IQ2_XS IQ2_XXS \
    IQ1_M IQ1_S; do
    for mode in rtn imatrix; do
        out=$work/$ty-$mode.gguf
        args=()
        if [ $mode = imatrix ]; then
            case $ty in F32|F16|BF16|Q8_0) continue ;; esac
            args=(--imatrix "$work/imatrix.gguf")
        else
            # llama-quantize (and brisk) refuse these without an importance matrix.
            case $ty in Q2_K_S|IQ3_XS|IQ3_XXS|IQ2_*|IQ1_*) continue ;; esac
        fi
        "$brisk" quantize --quiet "${args[@]}" "$model" "$out" "$ty" >/dev/null
        j=$("$brisk" perplexity --quiet --json -m "$out" --kl-divergence-base "$work/base.kld" --kl-divergence)
        stats=$(python3 -c '
import json, sys
k = json.loads(sys.argv[1])["kld"]
print("%.3f ± %.3f | %.5f | %.2f%%" % (k["ppl"], k["ppl_error"], k["mean_kld"], 100 * k["same_top_p"]))' "$j")
        echo "| $ty | $([ $mode = imatrix ] && echo yes || echo no) | $(bpw "$out") | $stats |"
    done
done
