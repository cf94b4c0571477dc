#!/usr/bin/env bash
# Time to first token and generation speed of `brisk run` beside llama.cpp's llama-bench on the
# same files and thread count. Usage: scripts/speed-vs-llamacpp.sh THREADS MODEL.gguf...
# Needs ../shared/scripts/llamacpp-anchor.sh to have built llama.cpp (ANCHOR_DIR).
set -euo pipefail
threads=$1; shift
anchor=${ANCHOR_DIR:-$HOME/.cache/brisk-anchor}/bin
brisk=${BRISK:-target/release/brisk}
prompt="Once upon a time there was a little girl who lived in a village near the forest"
printf '| model | brisk pp t/s | brisk ttft ms | brisk tg t/s | llama.cpp pp16 t/s | llama.cpp tg32 t/s |\n|---|---|---|---|---|---|\n'
for m in "$@"; do
  j=$("$brisk" run -m "$m" -p "$prompt" -n 32 --ignore-eos --temp 0 -t "$threads" --json --quiet)
  read -r pp ttft tg < <(python3 -c 'import json,sys; t=json.loads(sys.argv[1])["timings"]; print(round(t["prompt_tps"],1), round(t["prompt_ms"]+1000/t["gen_tps"],1), round(t["gen_tps"],1))' "$j")
  lb=$(LD_LIBRARY_PATH="$anchor" "$anchor/llama-bench" -m "$m" -t "$threads" -p 16 -n 32 -r 2 -o json 2>/dev/null)
  read -r lpp ltg < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(*[round(x["avg_ts"],1) for x in r])' "$lb")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$(basename "$m")" "$pp" "$ttft" "$tg" "$lpp" "$ltg"
done
