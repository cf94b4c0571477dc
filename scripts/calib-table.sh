#!/usr/bin/env bash
# GPTQ / AWQ against llama.cpp on prose-5m, judged by llama.cpp's own llama-perplexity
# --kl-divergence against the F32 model's logits (brisk perplexity beside it: they must agree).
# Calibration (brisk's methods and llama-imatrix alike): the first 95% of war-and-peace.txt,
# 65536 tokens in chunks of 512. Scoring: the held-out last 5% of war-and-peace.txt and
# tinyshakespeare.txt ("heldout"), and wiki.test.raw ("wiki", first $WIKI_CHUNKS chunks).
# Rows per type: llama-quantize RTN, llama-quantize --imatrix, brisk gptq, awq, awq+gptq.
#
#   scripts/calib-table.sh [TYPE...]        (default: Q4_0 Q4_K_M Q3_K_M Q2_K)
# Needs the anchor build (../shared/scripts/llamacpp-anchor.sh) and target/release/brisk.
# Markdown on stdout; the files stay in $WORK (default: a temporary directory, removed).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${BRISK_SHARED:-$root/../shared}
brisk=${BRISK:-$root/target/release/brisk}
anchor=${ANCHOR_DIR:-$HOME/.cache/brisk-anchor}/bin
model=${MODEL:-$shared/fixtures/models/prose-5m.gguf}
wiki_chunks=${WIKI_CHUNKS:-100}
export LD_LIBRARY_PATH=$anchor${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(Q4_0 Q4_K_M Q3_K_M Q2_K)
if [ -n "${WORK:-}" ]; then mkdir -p "$WORK"; work=$WORK; else
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
text=$shared/fixtures/text
python3 - "$text" "$work" <<'PY'
import sys
src, out = sys.argv[1], sys.argv[2]
held = []
for name in ["war-and-peace.txt", "tinyshakespeare.txt"]:
    t = open(f"{src}/{name}", encoding="utf-8").read()
    cut = t.index("\n", int(len(t) * 0.95)) + 1
    held.append(t[cut:])
    if name == "war-and-peace.txt":
        open(f"{out}/train.txt", "w", encoding="utf-8").write(t[:cut])
open(f"{out}/heldout.txt", "w", encoding="utf-8").write("".join(held))
PY
cp "$text/wiki.test.raw" "$work/wiki.txt"
calib=(--calib "$work/train.txt" --calib-tokens 65536 --calib-ctx 512)
secs() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$@"; }
if [ ! -f "$work/imatrix.gguf" ]; then
  t0=$(date +%s.%N)
  "$anchor/llama-imatrix" -m "$model" -f "$work/train.txt" -c 512 --chunks 128 -t 2 \
    -o "$work/imatrix.gguf" >"$work/imatrix.log" 2>&1
  secs "$t0" "$(date +%s.%N)" >"$work/imatrix.secs"
fi
for s in heldout wiki; do
  chunks=(); [ $s = wiki ] && chunks=(--chunks "$wiki_chunks")
  [ -f "$work/base-$s.kld" ] || "$anchor/llama-perplexity" -m "$model" -f "$work/$s.txt" -c 512 \
    "${chunks[@]}" -t 2 --kl-divergence-base "$work/base-$s.kld" >/dev/null 2>&1
done
# llama-perplexity's numbers for one file and text: PPL, mean KLD, 99% KLD, same top p.
judge() {
  local try
  for try in 1 2 3; do judge_once "$@" && return; done
  return 1
}
judge_once() {
  "$anchor/llama-perplexity" -m "$1" -t 2 --kl-divergence-base "$work/base-$2.kld" \
    --kl-divergence 2>&1 | python3 -c '
import re, sys
t = sys.stdin.read()
g = lambda p: re.search(p, t).group(1)
print(g(r"Mean PPL\(Q\)\s*:\s*([0-9.]+)"), g(r"Mean\s+KLD:\s*([0-9.]+)"),
      g(r"99\.0%\s+KLD:\s*([0-9.]+)"), g(r"Same top p:\s*([0-9.]+)"))'
}
brisk_kld() {
  "$brisk" perplexity --quiet -m "$1" --kl-divergence-base "$work/base-$2.kld" --kl-divergence \
    2>&1 | sed -n 's/.*Mean *KLD: *\([0-9.]*\).*/\1/p'
}
size() {
  python3 -c '
import sys, os
sys.path.insert(0, sys.argv[2])
import gguf
r = gguf.GGUFReader(sys.argv[1])
n = sum(int(t.n_elements) for t in r.tensors)
b = sum(int(t.n_bytes) for t in r.tensors)
print(f"{b / 2**20:.3f} {8 * b / n:.3f}")' "$1" "${GGUF_PY:-$anchor/../src/vendor/llama.cpp/gguf-py}"
}
echo "| type | method | size MiB | bpw | text | PPL | mean KLD | 99% KLD | same top p % | brisk mean KLD | calib s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for ty in "${types[@]}"; do
  for m in llama-rtn llama-imatrix gptq awq awq+gptq; do
    out=$work/$ty-$m.gguf
    t0=$(date +%s.%N)
    case $m in
      llama-rtn) "$anchor/llama-quantize" "$model" "$out" "$ty" 2 >/dev/null 2>&1 ;;
      llama-imatrix) "$anchor/llama-quantize" --imatrix "$work/imatrix.gguf" "$model" "$out" "$ty" 2 \
          >/dev/null 2>&1 ;;
      *) "$brisk" quantize --method "$m" "${calib[@]}" "$model" "$out" "$ty" 2 \
          >"$work/$ty-$m.log" 2>&1 ;;
    esac
    t=$(secs "$t0" "$(date +%s.%N)")
    [ $m = llama-imatrix ] && t="$(cat "$work/imatrix.secs") + $t"
    [ $m = llama-rtn ] && t=-
    read -r mib bpw < <(size "$out")
    for s in heldout wiki; do
      read -r ppl kld k99 top < <(judge "$out" $s)
      echo "| $ty | $m | $mib | $bpw | $s | $ppl | $kld | $k99 | $top | $(brisk_kld "$out" $s) | $t |"
    done
  done
done
