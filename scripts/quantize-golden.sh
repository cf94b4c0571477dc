#!/usr/bin/env bash
# Records the sha256 of llama-quantize's output for the fixture models, every type brisk writes,
# without and with the committed llama-imatrix files (tests/data/imatrix/, made by llama-imatrix
# on war-and-peace.txt: -c 128 --chunks 20), into tests/data/quantize-golden.txt, which
# tests/quantize.rs checks brisk against. Run from anywhere; needs scripts/llamacpp-anchor.sh's
# build. The imatrix is passed by the same relative path the test uses, since llama-quantize
# records it in the output (quantize.imatrix.file).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${LLAMA_BIN:-$HOME/.cache/brisk-anchor/src/vendor/llama.cpp/build/bin}
export LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
out=tests/data/quantize-golden.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# model type mode sha256 of llama-quantize's output (scripts/quantize-golden.sh)" >"$out"
for m in prose-5m rand-llama-256-f16; do
  for t in Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q2_K_S Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K \
    F16 BF16 F32 COPY IQ4_NL IQ4_XS TQ1_0 TQ2_0 MXFP4_MOE \
    IQ2_XXS IQ2_XS IQ2_S IQ2_M IQ3_XXS IQ3_XS IQ3_S IQ3_M IQ1_S IQ1_M; do
    for mode in plain imatrix; do
      args=()
      if [ $mode = imatrix ]; then
        case $t in F16|BF16|F32|COPY|Q8_0) continue ;; esac
        args=(--imatrix "tests/data/imatrix/$m.imatrix.gguf")
      fi
      rm -f "$tmp/l.gguf"
      if "$bin/llama-quantize" "${args[@]}" "../shared/fixtures/models/$m.gguf" "$tmp/l.gguf" "$t" 2 >/dev/null 2>&1; then
        echo "$m $t $mode $(sha256sum "$tmp/l.gguf" | cut -c1-64)" >>"$out"
      else
        echo "$m $t $mode refused" >>"$out"
      fi
    done
  done
done
