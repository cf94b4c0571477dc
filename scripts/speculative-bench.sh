#!/usr/bin/env bash
# Speculative decoding side by side: for each (target, drafter, prompt) row, brisk's plain
# decode and its speculative decode (one `brisk run --compare` run: both in one process, back
# to back), then llama.cpp's plain decode (llama-completion) and llama-speculative-simple on
# the same files, prompt and settings (-t 2, greedy, at most 16 drafted, p-min 0.75).
# Prints one markdown row per case: decode tokens/s and ratios (fixture rows: medians of 5).
#
#   scripts/fetch-qwen-coder.sh --f16 && scripts/speculative-bench.sh [N_PREDICT]
#
# Needs the llama.cpp anchor build (../shared/scripts/llamacpp-anchor.sh) and the fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-128}
# The fixture models decode thousands of tokens a second: longer runs (prose-5m's context is
# 256), each row the median of 5.
N_STORIES=${N_STORIES:-1500}
N_PROSE=${N_PROSE:-200}
M=${BRISK_MODELS:-$HOME/.cache/brisk-models}
F=../shared/fixtures/models
BIN=${BRISK_ANCHOR_BIN:-$HOME/.cache/brisk-anchor/bin}
export LD_LIBRARY_PATH=$BIN
BRISK=target/release/brisk
cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

CODE1='<|im_start|>user
Write a Python function that checks whether a number is prime, with a docstring and tests.<|im_end|>
<|im_start|>assistant
'
CODE2='<|im_start|>user
Write a C function that reverses a singly linked list, and a main() that tests it.<|im_end|>
<|im_start|>assistant
'
EDIT='<|im_start|>user
Rename the variable `items` to `records` in this Python code and return the whole code.

```python
def summarize(items):
    total = 0
    count = 0
    for item in items:
        if item is None:
            continue
        total += item.value
        count += 1
    average = total / count if count else 0.0
    largest = max((item.value for item in items if item is not None), default=0.0)
    smallest = min((item.value for item in items if item is not None), default=0.0)
    return {"total": total, "count": count, "average": average,
            "largest": largest, "smallest": smallest}
```<|im_end|>
<|im_start|>assistant
'
STORY='Once upon a time, there was a little girl named Lily. She'

# llama.cpp's decode speed from its "eval time" line (llama-completion) or "decoded" line.
lc_plain() { # target prompt-file
  "$BIN/llama-completion" -m "$1" -f "$2" -n "$N" --temp 0 -t 2 -no-cnv --no-display-prompt \
    --ignore-eos -c 4096 2>&1 >/dev/null | grep -E "(common_perf_print|llama_perf_context_print): +eval time" \
    | sed -E 's/.*\( *[0-9.]+ ms per token, +([0-9.]+) tokens per second\).*/\1/' | tail -1
}
lc_spec() { # target draft-or-lookup prompt-file
  local how=(--spec-type draft-simple -md "$2")
  [ "$2" = lookup ] && how=(--spec-type ngram-simple)
  "$BIN/llama-speculative-simple" -m "$1" "${how[@]}" -f "$3" -n "$N" --temp 0 -t 2 -td 2 -c 4096 --ignore-eos \
    --spec-draft-n-max 16 --spec-draft-n-min 0 --spec-draft-p-min 0.75 2>&1 >/dev/null \
    | grep -E "decoded +[0-9]+ tokens" | sed -E 's/.*speed: +([0-9.]+) t\/s.*/\1/' | tail -1
}
brisk_pair() { # target prompt-file spec-args... → "plain spec acceptance same"
  local t=$1 f=$2; shift 2
  # To a file, parsed afterwards: a reader starting on the pipe would take a core mid-decode.
  "$BRISK" run -m "$t" -f "$f" -n "$N" --temp 0 -t 2 --ignore-eos --json --compare "$@" \
    > "$work/out.json" 2>/dev/null
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); s=j["speculative"]; print("%.2f %.2f %.0f%% %s" % (s["plain_tokens_per_s"], j["timings"]["gen_tps"], 100*s["acceptance_rate"], s["same_text"]))' "$work/out.json"
}

echo "| target | drafter | prompt | brisk plain t/s | brisk spec t/s | × plain | acceptance | same text | llama.cpp plain t/s | llama-speculative-simple t/s | brisk spec ÷ llama spec |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
# median of the numbers given
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "—")}'; }

row() { # reps label-target label-drafter label-prompt target draft-or-lookup prompt
  local reps=$1 lt=$2 ld=$3 lp=$4 t=$5 d=$6 p=$7 f="$work/prompt.txt" i
  printf '%s' "$p" > "$f"
  local spec_args=(-md "$d")
  [ "$d" = lookup ] && spec_args=(--lookup)
  local bps=() bss=() accs=() sames=() lps=() lss=()
  for ((i = 0; i < reps; i++)); do
    read -r bp bs acc same < <(brisk_pair "$t" "$f" "${spec_args[@]}")
    bps+=("$bp"); bss+=("$bs"); accs+=("${acc%\%}"); sames+=("$same")
    lps+=("$(lc_plain "$t" "$f" || true)")
    lss+=("$(lc_spec "$t" "$d" "$f" || true)")
  done
  local bp bs acc lp_ ls_ same=True
  bp=$(median "${bps[@]}"); bs=$(median "${bss[@]}"); acc=$(median "${accs[@]}")
  lp_=$(median "${lps[@]}"); ls_=$(median "${lss[@]}")
  for x in "${sames[@]}"; do [ "$x" = True ] || same=$x; done
  local ratio vs=—
  ratio=$(python3 -c "print('%.2f' % ($bs/$bp))")
  if [ -n "$ls_" ] && [ "$ls_" != — ]; then vs=$(python3 -c "print('%.2f' % ($bs/$ls_))"); fi
  echo "| $lt | $ld | $lp | $bp | $bs | $ratio | $acc% | $same | ${lp_:-—} | ${ls_:-—} | $vs |"
}

Q05=$M/qwen2.5-coder-0.5b-instruct.gguf
Q15=$M/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
Q15F=$M/qwen2.5-coder-1.5b-instruct-f16.gguf
if [ -f "$Q05" ] && [ -f "$Q15F" ]; then
  row 1 "Qwen2.5-Coder-1.5B F16" "0.5B" "code (Python)" "$Q15F" "$Q05" "$CODE1"
  row 1 "Qwen2.5-Coder-1.5B F16" "0.5B" "code (C)" "$Q15F" "$Q05" "$CODE2"
  row 1 "Qwen2.5-Coder-1.5B F16" "lookup" "code edit" "$Q15F" lookup "$EDIT"
fi
if [ -f "$Q05" ] && [ -f "$Q15" ]; then
  row 1 "Qwen2.5-Coder-1.5B Q4_K_M" "0.5B" "code (Python)" "$Q15" "$Q05" "$CODE1"
  row 1 "Qwen2.5-Coder-1.5B Q4_K_M" "0.5B" "code (C)" "$Q15" "$Q05" "$CODE2"
  row 1 "Qwen2.5-Coder-1.5B Q4_K_M" "lookup" "code edit" "$Q15" lookup "$EDIT"
fi
N=$N_STORIES row 5 "stories260K" "llama2xs" "story" "$F/stories260K.gguf" "$F/llama2xs.gguf" "$STORY"
N=$N_PROSE row 5 "prose-5m" "prose-0.5m" "story" "$F/prose-5m.gguf" "$F/prose-0.5m.gguf" "$STORY"
# Low acceptance: a draft trained on other text.
N=$N_STORIES row 5 "stories260K" "prose-0.5m" "story" "$F/stories260K.gguf" "$F/prose-0.5m.gguf" "$STORY"
