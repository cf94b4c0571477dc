#!/usr/bin/env bash
# Quantizes models with brisk and with llama.cpp's llama-quantize (from the anchor build,
# scripts/llamacpp-anchor.sh) for every type brisk writes, without and with an importance
# matrix, and checks the outputs are byte for byte equal. Prints one line per case and writes
# the llama.cpp sha256 of each output to $GOLDEN (default: none) for tests/quantize_golden.rs.
#
# usage: scripts/quantize-compare.sh [MODEL.gguf ...]
#   env: BRISK (default target/release/brisk), LLAMA_BIN (anchor build/bin), THREADS (2),
#        TEXT (calibration text, default ../shared/fixtures/text/war-and-peace.txt),
#        TYPES (space-separated), GOLDEN (file to append "model type imatrix sha256" lines)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$root/../shared}
BRISK=${BRISK:-$root/target/release/brisk}
LLAMA_BIN=${LLAMA_BIN:-$HOME/.cache/brisk-anchor/src/vendor/llama.cpp/build/bin}
THREADS=${THREADS:-2}
TEXT=${TEXT:-$shared/fixtures/text/war-and-peace.txt}
TYPES=${TYPES:-"Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q2_K_S Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K F16 BF16 F32 COPY"}
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  models=("$shared/fixtures/models/prose-5m.gguf" "$shared/fixtures/models/rand-llama-256-f16.gguf")
fi
export LD_LIBRARY_PATH="$LLAMA_BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for m in "${models[@]}"; do
  name=$(basename "$m" .gguf)
  imat="$work/$name.imatrix.gguf"
  "$LLAMA_BIN/llama-imatrix" -m "$m" -f "$TEXT" -o "$imat" -c 128 --chunks 20 -t "$THREADS" \
    >"$work/imatrix.log" 2>&1 || { echo "llama-imatrix failed on $m"; cat "$work/imatrix.log"; exit 1; }
  for t in $TYPES; do
    for mode in plain imatrix; do
      args=()
      if [ "$mode" = imatrix ]; then
        case $t in F16|BF16|F32|COPY|Q8_0) continue ;; esac
        args=(--imatrix "$imat")
      fi
      rm -f "$work/l.gguf" "$work/b.gguf"
      if ! "$LLAMA_BIN/llama-quantize" "${args[@]}" "$m" "$work/l.gguf" "$t" "$THREADS" >"$work/l.log" 2>&1; then
        # llama.cpp refuses (Q2_K_S without an imatrix): brisk must refuse too, writing nothing.
        if "$BRISK" quantize --quiet "${args[@]}" "$m" "$work/b.gguf" "$t" "$THREADS" 2>/dev/null \
           || [ -e "$work/b.gguf" ]; then
          echo "DIFF  $name $t $mode: llama-quantize refuses, brisk does not"; fail=1
        else
          echo "same  $name $t $mode refused by both"
        fi
        continue
      fi
      "$BRISK" quantize --quiet "${args[@]}" "$m" "$work/b.gguf" "$t" "$THREADS" \
        || { echo "FAIL $name $t $mode: brisk failed"; fail=1; continue; }
      sum=$(sha256sum "$work/l.gguf" | cut -d' ' -f1)
      if cmp -s "$work/l.gguf" "$work/b.gguf"; then
        echo "same  $name $t $mode $sum"
      else
        echo "DIFF  $name $t $mode $(cmp "$work/l.gguf" "$work/b.gguf" | head -1)"
        fail=1
      fi
      if [ -n "${GOLDEN:-}" ]; then echo "$name $t $mode $sum" >>"$GOLDEN"; fi
    done
  done
done
exit $fail
