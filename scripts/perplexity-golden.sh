#!/usr/bin/env bash
# Records llama-perplexity's base-logits files and KL-divergence report for tests/perplexity.rs:
# the base log-probabilities of prose-5m (F32) and of prose-5m-q4_k_m on wiki.test.raw
# (-c 128 --chunks 8), and llama-perplexity's report scoring prose-5m against the Q4_K_M base.
# Needs the anchor build (../shared/scripts/llamacpp-anchor.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${BRISK_SHARED:-$here/../shared}
bin=${LLAMA_BIN:-$HOME/.cache/brisk-anchor/src/vendor/llama.cpp/build/bin}
out=$here/tests/data/perplexity
models=$shared/fixtures/models
text=$shared/fixtures/text/wiki.test.raw
ppl() { LD_LIBRARY_PATH=$bin "$bin/llama-perplexity" -t 2 "$@"; }
mkdir -p "$out"
for m in prose-5m prose-5m-q4_k_m; do
    ppl -m "$models/$m.gguf" -f "$text" -c 128 --chunks 8 --kl-divergence-base "$out/$m.base" >/dev/null 2>&1
done
ppl -m "$models/prose-5m.gguf" --kl-divergence-base "$out/prose-5m-q4_k_m.base" --kl-divergence \
    2>/dev/null | sed -n '/^====== Perplexity statistics/,$p' > "$out/prose-5m-vs-q4_k_m-base.txt"
ls -l "$out"
