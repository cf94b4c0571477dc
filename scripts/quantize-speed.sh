#!/usr/bin/env bash
# Whole-file quantization time, brisk against llama-quantize, back to back on the same input
# and thread count, with a check that the outputs are the same bytes. Prints a markdown table.
#   LLAMA_BIN=~/.cache/brisk-anchor/bin scripts/quantize-speed.sh MODEL.gguf THREADS [IMATRIX] TYPE...
# A TYPE written TYPE+i is quantized with IMATRIX (from llama-imatrix or brisk imatrix).
# Run with nothing else on the machine; each file is written to $TMPDIR and removed.
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_BIN=${LLAMA_BIN:-$HOME/.cache/brisk-anchor/bin}
export LD_LIBRARY_PATH="$LLAMA_BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
model=$1 threads=$2; shift 2
imatrix=""
if [ $# -gt 0 ] && [ -f "$1" ]; then imatrix=$1; shift; fi
cargo build --release -q
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qspeed.XXXX"); trap 'rm -rf "$tmp"' EXIT
secs() { /usr/bin/time -f %e "$@" 2>&1 >/dev/null | tail -1; }
echo "| type | brisk s | llama-quantize s | llama / brisk | same bytes |"
echo "|---|---|---|---|---|"
for spec in "$@"; do
  ty=${spec%+i}; im=()
  if [ "$spec" != "$ty" ]; then im=(--imatrix "$imatrix"); fi
  tb=$(secs target/release/brisk quantize --quiet "${im[@]}" "$model" "$tmp/b.gguf" "$ty" "$threads")
  tl=$(secs "$LLAMA_BIN/llama-quantize" "${im[@]}" "$model" "$tmp/l.gguf" "$ty" "$threads")
  same=$(cmp -s "$tmp/b.gguf" "$tmp/l.gguf" && echo yes || echo NO)
  ratio=$(python3 -c "print(f'{$tl/$tb:.2f}')")
  echo "| $spec | $tb | $tl | $ratio | $same |"
  rm -f "$tmp/b.gguf" "$tmp/l.gguf"
done
