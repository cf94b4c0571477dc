#!/usr/bin/env bash
# Records llama-imatrix's importance matrices that tests/imatrix.rs compares brisk's with:
# prose-5m and rand-llama-256-f16 (also used by tests/quantize.rs) and the MoE fixture
# rand-mixtral, on war-and-peace.txt. Needs scripts/llamacpp-anchor.sh's build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${BRISK_SHARED:-$root/../shared}
bin=${LLAMA_BIN:-$HOME/.cache/brisk-anchor/src/vendor/llama.cpp/build/bin}
text=$shared/fixtures/text/war-and-peace.txt
im() { LD_LIBRARY_PATH=$bin "$bin/llama-imatrix" -t 2 -f "$text" -c 128 "$@" >/dev/null 2>&1; }
out=$root/tests/data/imatrix
for m in prose-5m rand-llama-256-f16; do
    im -m "$shared/fixtures/models/$m.gguf" --chunks 20 -o "$out/$m.imatrix.gguf"
done
im -m "$root/tests/fixtures/arch/rand-mixtral.gguf" --chunks 8 -o "$out/rand-mixtral.imatrix.gguf"
ls -l "$out"
